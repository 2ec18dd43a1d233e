"""`utils sso status` before and after a tomcat renewal: the evidence table and what changed."""

from __future__ import annotations

from cucmkit import catalogue
from cucmkit.renewal.checks import check_sso
from cucmkit.ssowatch import SsoReading, sso_changes, sso_frame

TOMCAT = catalogue.get("tomcat")
ON = SsoReading("cucm-pub", "SAML SSO Enabled", "Mon Jan 05 09:30:00 UTC 2026", "passed")


def test_the_table_has_a_row_per_node_and_flags_a_change() -> None:
    sub = SsoReading("cucm-sub1", "SAML SSO Enabled", "Mon Jan 05 09:30:00 UTC 2026", "passed")
    after = (ON, SsoReading("cucm-sub1", "SAML SSO Disabled"))
    frame = sso_frame((ON, sub), after)
    assert list(frame["node"]) == ["cucm-pub", "cucm-sub1"]
    assert list(frame["changed"]) == [False, True]
    assert list(frame["status after"]) == ["SAML SSO Enabled", "SAML SSO Disabled"]
    assert sso_changes((ON, sub), after) == [
        "cucm-sub1: SAML SSO Enabled, SP metadata Mon Jan 05 09:30:00 UTC 2026, test passed -> SAML SSO Disabled, "
        "SP metadata -, test -"]
    assert sso_changes((ON, sub), (ON, sub)) == []


def test_an_unread_node_is_listed_with_the_reason() -> None:
    unread = SsoReading("cucm-sub2", error="no SSH answer")
    assert sso_changes((unread,), (SsoReading("cucm-sub2", "SAML SSO Disabled"),))[0].startswith(
        "cucm-sub2: unread: no SSH answer")
    assert SsoReading.from_json(unread.to_json()) == unread


def test_cluster_wide_sso_needs_multi_server_and_14_to_pass() -> None:
    per_node = check_sso(TOMCAT, True, cluster_wide=True, multi_server=False, release_allows=True)
    assert per_node.status == "failed" and "needs a multi-server tomcat" in per_node.reason
    assert "--multi-server" in per_node.remedy
    assert check_sso(TOMCAT, True, cluster_wide=True, multi_server=True, release_allows=True).status == "passed"
    before_14 = check_sso(TOMCAT, True, cluster_wide=True, multi_server=True, release_allows=False)
    assert before_14.status == "failed" and "disable SAML SSO" in before_14.remedy     # PROCEDURE.md's rule
    partial = check_sso(TOMCAT, True, cluster_wide=False, multi_server=True, release_allows=True)
    assert partial.status == "failed"
