from __future__ import annotations

from datetime import timedelta

import pytest

from cucmkit import catalogue
from cucmkit.renewal import RenewalOptions
from cucmkit.renewal.checks import (
    CheckReport,
    MaintenanceWindow,
    check_backup,
    check_conflict,
    check_mixed_mode,
    check_sso,
    check_window,
)

from .certutil import NOW

TOMCAT, IPSEC, CM, TVS, CAPF = (catalogue.get(n) for n in ("tomcat", "ipsec", "CallManager", "TVS", "CAPF"))


def test_sso_blocks_tomcat_only():
    assert check_sso(TOMCAT, True).blocking
    assert "disable SAML SSO" in check_sso(TOMCAT, True).remedy
    assert check_sso(TOMCAT, False).status == "passed"
    assert check_sso(CM, True).status == "skipped"
    assert check_sso(TOMCAT, None).blocking


def test_backup_blocks_ipsec_only():
    failed = check_backup(IPSEC, {"cucm-pub": "backup IN PROGRESS"})
    assert failed.blocking and "cucm-pub" in failed.reason
    assert check_backup(IPSEC, {}).status == "passed"
    assert check_backup(TOMCAT, {"cucm-pub": "backup"}).status == "skipped"


def test_callmanager_and_tvs_exclude_each_other():
    r = check_conflict(TVS, {"CallManager": "identity installed"})
    assert r.blocking and "ITL" in r.reason
    assert check_conflict(CM, {"TVS": "services restarted"}).blocking
    assert check_conflict(CM, {"CallManager": "x"}).status == "passed"   # resuming itself
    assert check_conflict(TOMCAT, {"CAPF": "x"}).blocking                 # phones first, then next purpose
    assert check_conflict(TVS, {}).status == "passed"


def test_window_with_and_without_override():
    window = MaintenanceWindow(NOW + timedelta(hours=2), NOW + timedelta(hours=6))
    assert check_window(window, NOW).blocking
    assert check_window(window, NOW + timedelta(hours=3)).status == "passed"
    over = check_window(window, NOW, "P1 outage, CAB approved")
    assert over.status == "overridden" and over.override_reason == "P1 outage, CAB approved"
    assert check_window(window, NOW).guards == ("activate", "phones")
    assert MaintenanceWindow().contains(NOW)
    assert MaintenanceWindow.from_any({"start": "2026-11-26T22:00:00+00:00", "end": "2026-11-27T04:00:00+00:00"}).contains(
        NOW + timedelta(hours=3))


def test_only_the_window_can_be_overridden():
    RenewalOptions(overrides={"maintenance_window": "emergency"})
    for name in ("sso_disabled", "no_backup", "phones_gate", "single_run"):
        with pytest.raises(ValueError, match="cannot be overridden"):
            RenewalOptions(overrides={name: "because"})
    with pytest.raises(ValueError, match="reason"):
        RenewalOptions(overrides={"maintenance_window": "  "})


def test_mixed_mode_check_and_report():
    assert "CTL update" in check_mixed_mode(CAPF, 1).reason
    assert check_mixed_mode(CAPF, None).blocking
    report = CheckReport("tomcat", (check_sso(TOMCAT, True), check_window(MaintenanceWindow(), NOW)))
    assert not report.ok
    assert [c.name for c in report.blocking("csr")] == ["sso_disabled"]
    assert report.blocking("phones") == (check_sso(TOMCAT, True),)
    assert "BLOCKED" in str(report) and "<table" in report._repr_html_()
