"""CUCM's own words where a public source gives them (docs/CONTRACTS.md 1.9)."""

from __future__ import annotations

import pytest

from cucmkit.catalogue import MESSAGES
from cucmkit.cucm.cli import parse_backup_status
from cucmkit.cucm.risport import REGISTRATION_FAILURE_CAUSES, UNREGISTRATION_CAUSES, DeviceRegistration, reason_text
from cucmkit.cucm.sso import SsoNodeStatus, parse_sso_cli_status

TAC_217268_ENABLED = """SSO Status: SAML SSO Enabled
IdP Metadata Imported Date = Mon Jan 05 09:30:00 UTC 2026
SP Metadata Exported Date = Mon Jan 05 09:30:00 UTC 2026
SSO Test Result Date = Mon Jan 05 09:31:00 UTC 2026
SAML SSO Test Status = passed
Recovery URL Status = disabled
Entity ID = http://adfs.example.com/adfs/services/trust
"""


def test_upload_messages_are_cucms_words_where_a_source_gives_them() -> None:
    """TAC 200641 quotes CUCM's SAN refusal; HCS CAA1018 the missing-CA one; the CLI reference the import answer."""
    assert MESSAGES.san_mismatch == "CSR SAN and Certificate SAN does not match"
    assert MESSAGES.ca_not_in_trust == "CA certificate is not available in the trust-store"
    assert MESSAGES.import_ok.format(unit="tomcat") == "Successfully imported certificate for tomcat."
    assert MESSAGES.no_csr.format(csr_path="/usr/local/platform/.security/tomcat/keys/tomcat.csr") == (
        "The file /usr/local/platform/.security/tomcat/keys/tomcat.csr does not exist")


def test_sso_cli_status_reads_only_the_sso_status_line() -> None:
    """`Recovery URL Status = disabled` on an enabled node must not read as SSO disabled."""
    status = parse_sso_cli_status(TAC_217268_ENABLED)
    assert status is not None and status.enabled is True and status.status == "SAML SSO Enabled"
    assert (status.recovery_url, status.test_status) == (False, "passed")
    assert status.entity_id == "http://adfs.example.com/adfs/services/trust"
    assert status.idp_metadata_imported == "Mon Jan 05 09:30:00 UTC 2026"
    off = parse_sso_cli_status("SSO Status: SAML SSO Disabled\r\n")
    assert off is not None and off.enabled is False and off.recovery_url is None


@pytest.mark.parametrize("text", ["", "Executed command unsuccessfully", "Recovery URL Status = enabled",
                                  "SSO Status: unknown"])
def test_sso_cli_status_without_a_readable_status_line_is_none(text: str) -> None:
    assert parse_sso_cli_status(text) is None


def test_sso_node_status_is_enabled_when_any_source_says_so() -> None:
    gui_off_cli_on = SsoNodeStatus(node="cucm-sub1", api=False, cli=True, db_mode=2)
    assert gui_off_cli_on.enabled is True and gui_off_cli_on.disagree
    assert "tkssomode 2 (SAML)" in gui_off_cli_on.describe() and "CLI enabled" in gui_off_cli_on.describe()
    assert SsoNodeStatus(node="n", api=False, cli=False, db_mode=0).enabled is False
    assert SsoNodeStatus(node="n", error="CLI: down").enabled is None


def test_drs_restore_status_and_idle_messages() -> None:
    running = parse_backup_status("Status: RUNNING :: Restore in progress\nTar Filename: 2026.tar\n"
                                  "Storage Location: NETWORK\nOperation: RESTORE\nPercentage Complete: 40\n")
    assert (running.in_progress, running.operation, running.percentage) == (True, "RESTORE", 40)
    for idle in ("drfCliMsg: No backup status available", "drfCliMsg: No restore status available"):
        status = parse_backup_status(idle)
        assert (status.available, status.in_progress) == (False, False)


def test_status_reasons_are_the_cisco_ccm_mib_cause_codes() -> None:
    """CISCO-CCM-MIB: 13 is keepAliveTimeout (not an ITL error), 9 callManagerReset; Rejected uses the
    registration-failure codes (13 directoryNumberMismatch, 28 securityMismatch); no code names the ITL."""
    assert reason_text(13, "UnRegistered") == "Keepalive timeout (keepAliveTimeout)"
    assert reason_text(9, "UnRegistered") == "CallManager reset (callManagerReset)"
    assert reason_text(1, "UnRegistered") == "Unknown (unknown)"
    assert reason_text(13, "Rejected") == "Directory number mismatch (directoryNumberMismatch)"
    assert reason_text(28, "Rejected") == "Security mismatch (securityMismatch)"
    assert reason_text(27, "UnRegistered") == "StatusReason 27"          # not in the unregistration codes
    assert not any("ITL" in text for table in (UNREGISTRATION_CAUSES, REGISTRATION_FAILURE_CAUSES)
                   for text in table.values())
    assert DeviceRegistration(name="SEP1", node="n", status="Rejected", status_reason=10).reason == (
        "Authentication error (authenticationError)")


def test_the_phone_wait_remedy_rests_on_no_invented_itl_code() -> None:
    """Only a Rejected phone's certificate/TLS registration-failure causes point at trust; 13 unregistered
    is a keepalive timeout, and the ITL remedy never claims a StatusReason of its own."""
    from cucmkit.cucm.risport import RegistrationSummary
    from cucmkit.renewal.state import Baseline
    from cucmkit.renewal.steps.phones import _Poll, _wait_remedy

    baseline = Baseline(registered=1, total=1, names=("SEP1",))
    poll = _Poll()
    poll.fresh = True

    def remedy(status: str, code: int) -> str:
        device = DeviceRegistration(name="SEP1", node="n", status=status, status_reason=code)
        return _wait_remedy(RegistrationSummary.build([device]), baseline, poll)

    assert "rejected for a security reason" in remedy("Rejected", 28)
    assert "rejected for a security reason" not in remedy("UnRegistered", 13)
    assert "13/17" not in remedy("Rejected", 28) and "no StatusReason of its own" in remedy("UnRegistered", 13)
