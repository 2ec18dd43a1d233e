"""The admin: CLI interpreter, driven directly (no SSH), over a real LabState.

Read-only checks use the session ``lab``; commands that change the node run
on this module's own lab (``cli_lab``) so other tests see the starting state.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from cucmkit.catalogue import MESSAGES
from cucmkit.certs.records import record_from_pem, record_from_show_cert
from cucmkit.lab import LabCluster, Topology
from cucmkit.lab.shell import (
    BANNER,
    CRLF,
    PAGE_LINES,
    PAGER_PROMPT,
    PROMPT,
    AdminShell,
    show_cert_text,
    sql_table,
)


class Term:
    """A terminal on an AdminShell: feed keys, collect what the shell wrote."""

    def __init__(self, lab: LabCluster, node: str = "cucm-pub", **kw: object) -> None:
        self.chunks: list[str] = []
        self.shell = AdminShell(state=lab.state, node=lab.state.node(node), write=self.chunks.append, **kw)  # type: ignore[arg-type]
        self.shell.start()

    def take(self) -> str:
        text = "".join(self.chunks)
        self.chunks.clear()
        return text

    def keys(self, data: str) -> str:
        self.shell.feed(data)
        return self.take()

    def run(self, line: str, *answers: str) -> str:
        """Type a command (and answers); the output without the echo and the final prompt."""
        self.take()
        out = self.keys(line + "\r")
        for answer in answers:
            out += self.keys(answer + "\r")
        assert out.endswith(PROMPT), f"no prompt after {line!r}: {out[-200:]!r}"
        return out[len(line + CRLF):-len(PROMPT)]

    def lines(self, line: str, *answers: str) -> list[str]:
        """Output lines; a question line (with the typed answer) is left out."""
        return [x for x in self.run(line, *answers).split(CRLF)[:-1] if "(yes|no)?" not in x]


@pytest.fixture(scope="module")
def cli_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    with LabCluster(tmp_path_factory.mktemp("shell") / "state", topology=Topology(phones=8),
                    ports="ephemeral", speed=0.02, ssh=False) as cluster:
        yield cluster


@pytest.fixture
def term(lab: LabCluster) -> Term:
    t = Term(lab)
    t.run("set cli pagination off")
    return t


@pytest.fixture
def mterm(cli_lab: LabCluster) -> Term:
    t = Term(cli_lab)
    t.run("set cli pagination off")
    return t


# --- session ----------------------------------------------------------------------------------


def test_banner_then_prompt_with_crlf(lab: LabCluster) -> None:
    t = Term(lab)
    text = t.take()
    assert text == CRLF.join(BANNER) + CRLF + PROMPT
    assert text.startswith("Command Line Interface is starting up, please wait ...\r\n\r\n")
    assert "   Welcome to the Platform Command Line Interface\r\n" in text
    assert "VMware Installation:" in text
    assert "\n" not in text.replace("\r\n", "")


def test_typed_characters_are_echoed_and_lines_end_in_crlf(term: Term) -> None:
    out = term.keys("show version active\r")
    assert out.startswith("show version active\r\n")
    assert "\n" not in out.replace("\r\n", "")
    assert "Active Master Version: 14.0.1.13900-155\r\n" in out


def test_crlf_and_lf_both_end_a_line_once(term: Term) -> None:
    out = term.keys("show version active\r\nshow version active\n")
    assert out.count("Active Master Version") == 2
    assert out.count(PROMPT) == 2


def test_unknown_command_gets_cucm_error(term: Term) -> None:
    assert term.lines("show me the money") == ["Executed command unsuccessfully", "No valid command entered"]
    assert term.lines("frobnicate") == ["Executed command unsuccessfully", "No valid command entered"]


def test_empty_line_gives_a_new_prompt(term: Term) -> None:
    term.take()
    assert term.keys("\r") == CRLF + PROMPT


def test_backspace_and_ctrl_c_edit_the_line(term: Term) -> None:
    term.take()
    out = term.keys("show versiom\x7fn active\r")
    assert "\b \b" in out and "Active Master Version" in out
    out = term.keys("garbage\x03")
    assert out.endswith("^C" + CRLF + PROMPT)
    assert "No valid command" not in term.keys("")


def test_arrow_keys_are_ignored(term: Term) -> None:
    term.take()
    out = term.keys("\x1b[Ashow version active\r")
    assert "Active Master Version" in out


def test_quit_and_exit_close_the_session(lab: LabCluster) -> None:
    for word in ("quit", "exit"):
        t = Term(lab)
        t.take()
        t.keys(word + "\r")
        assert t.shell.closed


# --- pager ------------------------------------------------------------------------------------


def test_pager_after_24_lines_then_enter_space_q(lab: LabCluster) -> None:
    t = Term(lab)
    t.take()
    full = show_cert_text(lab.state.node("cucm-pub").own()["tomcat"].pem)
    assert len(full) > PAGE_LINES + 3
    out = t.keys("show cert own tomcat/tomcat.pem\r")
    body = out[len("show cert own tomcat/tomcat.pem\r\n"):]
    assert body.endswith(PAGER_PROMPT)
    assert body[: -len(PAGER_PROMPT)].split(CRLF)[:-1] == full[:PAGE_LINES]
    assert PAGER_PROMPT == "\x1b[1mPress <enter> for 1 line, <space> for one page, or <q> to quit\x1b[0m"
    one = t.keys("\r")
    assert one == "\r\x1b[K" + full[PAGE_LINES] + CRLF + PAGER_PROMPT
    assert (out + one).count("\x1b[K") == 1  # the erase sequence is written once, when the prompt goes
    assert t.keys("x") == ""  # other keys do nothing
    rest = t.keys(" ")
    shown = rest.removeprefix("\r\x1b[K")
    assert shown.split(CRLF)[0] == full[PAGE_LINES + 1]
    if len(full) > 2 * PAGE_LINES + 1:
        assert shown.endswith(PAGER_PROMPT)
        assert t.keys("q") == "\r\x1b[K" + PROMPT
    else:
        assert shown.endswith(PROMPT)
    assert "Active Master" in t.keys("show version active\r")


def test_pager_q_quits_at_once(lab: LabCluster) -> None:
    t = Term(lab)
    t.take()
    assert t.keys("show cert own tomcat/tomcat.pem\r").endswith(PAGER_PROMPT)
    assert t.keys("q") == "\r\x1b[K" + PROMPT


def test_pagination_off_prints_everything(lab: LabCluster) -> None:
    t = Term(lab)
    assert t.lines("set cli pagination off") == ["Automatic pagination is turned off"]
    out = t.run("show cert own tomcat/tomcat.pem")
    assert PAGER_PROMPT not in out
    assert out.split(CRLF)[:-1] == show_cert_text(lab.state.node("cucm-pub").own()["tomcat"].pem)
    assert t.lines("set cli pagination on") == ["Automatic pagination is turned on"]
    assert t.keys("show cert own tomcat/tomcat.pem\r").endswith(PAGER_PROMPT)


# --- show cert / csr --------------------------------------------------------------------------


def test_show_cert_list_own_names_every_unit(term: Term, lab: LabCluster) -> None:
    own = lab.state.node("cucm-pub").own()
    lines = term.lines("show cert list own")
    assert len(lines) == len(own)
    by_unit = {line.split("/", 1)[0]: line for line in lines}
    assert set(by_unit) == set(own)
    for unit, cert in own.items():
        parsed = x509.load_pem_x509_certificate(cert.pem.encode())
        line = by_unit[unit]
        assert line.startswith(f"{unit}/{unit}.pem: ")
        if parsed.issuer == parsed.subject:
            assert line.endswith(": Self-signed certificate generated by system")
        else:
            issuer_cn = parsed.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
            assert line.endswith(f": Certificate Signed by {issuer_cn}")


def test_show_cert_list_trust_names_every_file(term: Term, lab: LabCluster) -> None:
    stores = lab.state.node("cucm-pub").trust_stores()
    expected = {f"{store}/{name}" for store, files in stores.items() for name in files}
    lines = term.lines("show cert list trust")
    assert {line.split(":", 1)[0] for line in lines} == expected
    assert all(line.endswith(": Trust Certificate") for line in lines)


def test_show_cert_own_is_the_installed_certificate(term: Term, lab: LabCluster) -> None:
    pem = lab.state.node("cucm-pub").own()["CallManager"].pem
    cert = x509.load_pem_x509_certificate(pem.encode())
    out = term.run("show cert own CallManager/CallManager.pem")
    text = out.replace(CRLF, "\n")
    assert text.startswith("[\n  Version: V3\n")
    assert f"  Serial Number: {cert.serial_number}\n" in text
    assert "  SignatureAlgorithm: SHA256withRSA (1.2.840.113549.1.1.11)\n" in text
    assert f"  Issuer Name: {cert.issuer.rfc4514_string()}\n" in text
    assert f"  Subject Name: {cert.subject.rfc4514_string()}\n" in text
    assert "  Key: RSA (1.2.840.113549.1.1.1)\n" in text
    frm = cert.not_valid_before_utc.strftime("%a %b %d %H:%M:%S UTC %Y")
    assert f"  Validity From: {frm}\n" in text
    assert re.search(r"^           To:   \w{3} \w{3} \d\d \d\d:\d\d:\d\d UTC \d{4}$", text, re.M)
    assert text.rstrip().endswith("-----END CERTIFICATE-----")
    shown = record_from_show_cert(text, node="cucm-pub", purpose="CallManager")
    assert shown.fingerprint_sha256 == record_from_pem(pem).fingerprint_sha256
    # the unit alone is accepted too
    assert term.run("show cert own CallManager") == out


def test_show_cert_own_unknown_unit_or_file(term: Term) -> None:
    assert term.lines("show cert own nosuch/nosuch.pem") == [
        "Executed command unsuccessfully", "Invalid certificate type nosuch for this server"]
    assert term.lines("show cert own tomcat/other.pem") == [
        "Executed command unsuccessfully", "Certificate tomcat/other.pem does not exist"]


def test_show_cert_trust_by_store_and_by_unit(term: Term, lab: LabCluster) -> None:
    files = lab.state.node("cucm-pub").trust("tomcat-trust")
    name, pem = sorted(files.items())[0]
    out = term.run(f"show cert trust tomcat-trust/{name}")
    record = record_from_show_cert(out.replace(CRLF, "\n"), store="tomcat-trust", filename=name)
    assert record.fingerprint_sha256 == record_from_pem(pem).fingerprint_sha256
    assert term.run(f"show cert trust tomcat/{name}") == out
    assert term.lines("show cert trust tomcat-trust/absent.pem")[-1] == "Certificate tomcat-trust/absent.pem does not exist"


def test_incomplete_commands_say_so(term: Term) -> None:
    for line in ("show cert list", "set cert import", "utils ctl update", "run sql", "set web-security a b"):
        assert term.lines(line)[0] == "Executed command unsuccessfully", line


def test_show_csr_without_csr_gives_cucms_message(term: Term, lab: LabCluster) -> None:
    node = lab.state.node("cucm-pub")
    assert node.pending_csr("ipsec") is None
    assert term.lines("show csr own ipsec") == [node.csr_missing_message("ipsec")]
    assert term.lines("show csr own ipsec") == [
        MESSAGES.no_csr.format(csr_path="/usr/local/platform/.security/ipsec/keys/ipsec.csr")]


def test_csr_gen_asks_about_ou_then_show_and_list(mterm: Term, cli_lab: LabCluster) -> None:
    node = cli_lab.state.node("cucm-pub")
    mterm.take()
    out = mterm.keys("set csr gen CallManager\r")
    assert out.endswith("Include OU in CSR (yes|no)?")
    out = mterm.keys("yes\r")
    assert out == "yes" + CRLF + "Successfully Generated CSR for CallManager." + CRLF + PROMPT
    csr_pem = node.pending_csr("CallManager")
    assert csr_pem
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    assert csr.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)
    assert mterm.lines("show csr own CallManager") == csr_pem.strip().splitlines()
    assert "CallManager/CallManager.csr" in mterm.lines("show csr list own")
    mterm.lines("set csr gen CallManager", "no")
    csr2 = x509.load_pem_x509_csr(node.pending_csr("CallManager").encode())
    assert not csr2.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)
    assert csr2.public_key() != csr.public_key()  # a new CSR replaces the old one


# --- import: the full CA-signed path and the rules ---------------------------------------------


def _gen(term: Term, unit: str) -> str:
    assert term.lines(f"set csr gen {unit}", "yes") == [f"Successfully Generated CSR for {unit}."]
    return term.shell.node.pending_csr(unit)


def _paste(term: Term, kind: str, unit: str, pem: str) -> list[str]:
    term.take()
    out = term.keys(f"set cert import {kind} {unit}\r")
    assert out.endswith("Paste the Certificate and Hit Enter" + CRLF)
    out = term.keys("\r".join(pem.strip().splitlines()) + "\r\r")
    assert out.endswith(PROMPT)
    return out.split(CRLF)[:-1][len(pem.strip().splitlines()) + 1:]


def test_csr_gen_then_import_of_lab_ca_issued_certificate(mterm: Term, cli_lab: LabCluster) -> None:
    node = cli_lab.state.node("cucm-pub")
    csr = _gen(mterm, "tomcat")
    leaf, chain = cli_lab.ca.issue(csr, "tomcat")
    for ca_pem in reversed(chain):  # root first, then the intermediate
        assert _paste(mterm, "trust", "tomcat", ca_pem) == [
            "Successfully imported certificate for tomcat.",
            "Please restart services related to tomcat for the new certificate to become active.",
        ]
    assert _paste(mterm, "own", "tomcat", leaf) == [
        "Successfully imported certificate for tomcat.",
        "Please restart services related to tomcat for the new certificate to become active.",
    ]
    own = node.own()["tomcat"]
    assert record_from_pem(own.pem).fingerprint_sha256 == record_from_pem(leaf).fingerprint_sha256
    assert own.active_pem != own.pem  # effective only after Cisco Tomcat restarts
    assert node.pending_csr("tomcat") is None
    issuer_cn = x509.load_pem_x509_certificate(leaf.encode()).issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert f"tomcat/tomcat.pem: Certificate Signed by {issuer_cn}" in mterm.lines("show cert list own")


def test_multi_server_identity_is_refused_through_the_cli(mterm: Term, cli_lab: LabCluster) -> None:
    """From 14SU2 a multi-server certificate cannot be uploaded through the CLI (the lab reports 14SU3)."""
    node = cli_lab.state.node("cucm-pub")
    saved = node.certs.csrs.get("tomcat")
    before = node.own()["tomcat"].pem
    try:
        leaf, _ = cli_lab.ca.issue(node.generate_csr("tomcat", distribution="multi-server"), "tomcat")
        lines = _paste(mterm, "own", "tomcat", leaf)
        assert lines[0] == "Executed command unsuccessfully" and "Multi-server" in lines[1] and len(lines) == 2
        assert node.own()["tomcat"].pem == before and node.pending_distribution("tomcat") == "multi-server"
    finally:
        with cli_lab.state.lock:  # leave the module's lab as found (no door removes a CSR)
            node.certs.csrs.pop("tomcat", None)
            if saved is not None:
                node.certs.csrs["tomcat"] = saved
            cli_lab.state.changed()


def test_trust_import_of_an_older_duplicate_is_not_stored(mterm: Term, cli_lab: LabCluster) -> None:
    node = cli_lab.state.node("cucm-pub")
    name, pem = sorted(node.trust("tomcat-trust").items())[0]
    stored = x509.load_pem_x509_certificate(pem.encode())
    cn = stored.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    csr = _gen(mterm, "ipsec")
    older, _ = cli_lab.ca.issue(csr, "ipsec", common_name=cn,
                                not_before=stored.not_valid_before_utc - timedelta(days=1),
                                not_after=datetime.now(UTC) + timedelta(days=365))
    assert _paste(mterm, "trust", "tomcat", older) == [MESSAGES.not_replaced_older]
    assert node.trust("tomcat-trust")[name] == pem


def test_trust_import_of_a_pasted_bundle_is_refused_whole(mterm: Term, cli_lab: LabCluster) -> None:
    node = cli_lab.state.node("cucm-pub")
    before = node.trust("ipsec-trust")
    lines = _paste(mterm, "trust", "ipsec", cli_lab.ca.root_pem + cli_lab.ca.intermediate_pem)
    assert len(lines) == 1 and "2 certificates" in lines[0] and "Successfully" not in lines[0]
    assert node.trust("ipsec-trust") == before


def test_import_without_paste_content_is_refused(mterm: Term) -> None:
    lines = _paste(mterm, "trust", "tomcat", "not a certificate")
    assert lines == [MESSAGES.bad_format]


def test_import_unknown_unit(mterm: Term) -> None:
    assert mterm.lines("set cert import own nosuch") == [
        "Executed command unsuccessfully", "Invalid certificate type nosuch for this server"]


def test_trust_import_takes_the_unit_not_the_store(mterm: Term) -> None:
    """CLI reference: `set cert import trust tomcat`; the store's name is no unit and is refused."""
    assert mterm.lines("set cert import trust tomcat-trust") == [
        "Executed command unsuccessfully", "Invalid certificate type tomcat-trust for this server"]
    assert mterm.lines("set cert import trust CallManager-trust") == [
        "Executed command unsuccessfully", "Invalid certificate type CallManager-trust for this server"]


# --- regen / delete ---------------------------------------------------------------------------


def test_regen_asks_then_overwrites_with_self_signed(mterm: Term, cli_lab: LabCluster) -> None:
    node = cli_lab.state.node("cucm-pub")
    before = node.own()["ipsec"].pem
    mterm.take()
    out = mterm.keys("set cert regen ipsec\r")
    assert out.endswith(
        "WARNING: This operation will overwrite any CA signed certificate previously imported for  ipsec"
        + CRLF + "Proceed with regeneration (yes|no)?")
    assert "Operation cancelled" in mterm.keys("no\r")
    assert node.own()["ipsec"].pem == before
    assert mterm.lines("set cert regen ipsec", "yes")[-2:] == [
        "Successfully Regenerated Certificate for ipsec.",
        "You must restart services related to ipsec for the regenerated certificates to become active.",
    ]
    after = x509.load_pem_x509_certificate(node.own()["ipsec"].pem.encode())
    assert node.own()["ipsec"].pem != before and after.issuer == after.subject


def test_regen_itl_recovery_warns_about_the_tokenless_ctl(mterm: Term, cli_lab: LabCluster) -> None:
    """The CLI reference's dialog for ``set cert regen ITLRecovery``: its own warning, the same question."""
    mterm.take()
    out = mterm.keys("set cert regen ITLRecovery\r")
    assert "If you are using a tokenless CTL" in out and "overwrite any CA signed" not in out
    assert out.endswith("Are you sure want to proceed?" + CRLF + "Proceed with regeneration (yes|no)?")
    assert "Operation cancelled" in mterm.keys("no\r")
    assert mterm.lines("set cert regen ITLRecovery", "yes")[-2:] == [
        "Successfully Regenerated Certificate for ITLRecovery.",
        "You must restart the services related to ITLRecovery for the regenerated certificates to become active.",
    ]


def test_delete_in_the_cli_references_form(cli_lab: LabCluster) -> None:
    """``set cert delete <unit> <name>`` (CLI reference) deletes from the unit's trust store, on every node."""
    node = cli_lab.state.node("cucm-sub2")
    name = sorted(node.trust("CAPF-trust"))[0]
    t = Term(cli_lab, "cucm-sub2")
    t.run("set cli pagination off")
    assert t.lines(f"set cert delete CAPF {name}", "yes")[-1] == f"Successfully deleted certificate {name}."
    assert all(name not in n.trust("CAPF-trust") for n in cli_lab.state.nodes.values() if n.kind == "CUCM")


def test_delete_trust_confirms(mterm: Term, cli_lab: LabCluster) -> None:
    node = cli_lab.state.node("cucm-sub1")
    t = Term(cli_lab, "cucm-sub1")
    t.run("set cli pagination off")
    name = sorted(node.trust("CallManager-trust"))[0]
    t.take()
    assert t.keys(f"set cert delete trust CallManager-trust {name}\r").endswith("Do you wish to proceed (yes|no)?")
    assert "Operation cancelled" in t.keys("no\r")
    assert name in node.trust("CallManager-trust")
    assert t.lines(f"set cert delete trust CallManager-trust {name}", "yes")[-1] == f"Successfully deleted certificate {name}."
    assert name not in node.trust("CallManager-trust")
    assert t.lines(f"set cert delete trust CallManager-trust {name}", "yes")[-1] == \
        f"Certificate {name} does not exist in CallManager-trust"


# --- services ---------------------------------------------------------------------------------


def test_service_list_shows_every_service(term: Term, lab: LabCluster) -> None:
    lines = term.lines("utils service list")
    assert lines[:6] == ["Requesting service status, please wait...", "System SSH[STARTED]", "Cluster Manager[STARTED]",
                         "Service Manager is running", "Getting list of all services", ">> Return code = 0"]
    services = lab.state.node("cucm-pub").services()
    for name, svc in services.items():
        expected = f"{name}[STARTED]" if svc.status == "Started" else f"{name}[STOPPED]  Service Not Activated"
        if svc.activated or svc.status != "Started":
            assert expected in lines, name


def test_restart_streams_stopping_starting_started(mterm: Term, cli_lab: LabCluster) -> None:
    node = cli_lab.state.node("cucm-sub2")
    t = Term(cli_lab, "cucm-sub2")
    lines = t.lines("utils service restart Cisco TFTP")      # typed in any case; CUCM answers in its spelling
    assert lines[0].startswith("Do not press Ctrl+C while the service is restarting.")
    assert lines[1] == "Service Manager is running"
    phases = [line for line in lines if line.startswith("Cisco Tftp[")]
    assert list(dict.fromkeys(phases)) == ["Cisco Tftp[STOPPING]", "Cisco Tftp[STARTING]", "Cisco Tftp[STARTED]"]
    assert node.service("Cisco Tftp").status == "Started"


def test_restart_polls_state_and_prints_each_phase_as_it_comes(cli_lab: LabCluster) -> None:
    seen: list[tuple[str, str]] = []
    node = cli_lab.state.node("cucm-sub2")

    def write(text: str) -> None:
        for line in text.split(CRLF):
            if line.startswith("Cisco CTIManager["):
                seen.append((line, node.service("Cisco CTIManager").status))

    shell = AdminShell(state=cli_lab.state, node=node, write=write)
    shell.start()
    cli_lab.state.faults.set("cucm-sub2", "slow_restart", 5)  # ~1 s, so a slow machine still sees each phase
    try:
        shell.feed("utils service restart Cisco CTIManager\r")
    finally:
        cli_lab.state.faults.clear("cucm-sub2", "slow_restart")
    assert [line for line, _ in seen] == ["Cisco CTIManager[STOPPING]", "Cisco CTIManager[STARTING]",
                                         "Cisco CTIManager[STARTED]"]
    assert seen[-1][1] == "Started"
    assert seen[0][1] in ("Stopping", "Starting")  # printed while it was still restarting


def test_restart_of_a_service_that_fails_prints_the_failure(cli_lab: LabCluster) -> None:
    cli_lab.state.faults.set("cucm-sub2", "service_fail", "Cisco DRF Local")
    try:
        t = Term(cli_lab, "cucm-sub2")
        lines = t.lines("utils service restart Cisco DRF Local")
    finally:
        cli_lab.state.faults.clear("cucm-sub2", "service_fail")
    assert lines[-1] == "Cisco DRF Local[STOPPED]  Component is not running"
    assert "Cisco DRF Local[STARTED]" not in lines
    assert cli_lab.state.node("cucm-sub2").service("Cisco DRF Local").status == "Stopped"
    t = Term(cli_lab, "cucm-sub2")
    t.run("set cli pagination off")       # the services of 14 make the list longer than one page
    assert "Cisco DRF Local[STOPPED]  Component is not running" in t.lines("utils service list")
    assert t.lines("utils service start Cisco DRF Local")[-1] == "Cisco DRF Local[STARTED]"


def test_stop_then_start(cli_lab: LabCluster) -> None:
    t = Term(cli_lab, "cucm-sub2")
    assert t.lines("utils service stop Cisco Certificate Expiry Monitor")[-2:] == [
        "Cisco Certificate Expiry Monitor[STOPPED]", "Commanded Out of Service"]
    assert t.lines("utils service start Cisco Certificate Expiry Monitor")[-2:] == [
        "Cisco Certificate Expiry Monitor[STARTING]", "Cisco Certificate Expiry Monitor[STARTED]"]
    assert t.lines("utils service start Cisco Certificate Expiry Monitor")[-1] == \
        "Cisco Certificate Expiry Monitor is already started"


def test_restart_unknown_or_deactivated_service(term: Term) -> None:
    assert term.lines("utils service restart Cisco Nothing") == ["Service Manager is running",
                                                                 "Invalid service name: Cisco Nothing"]
    assert term.lines("utils service restart Cisco DirSync") == ["Service Manager is running",
                                                                 "Cisco DirSync[STOPPED]  Service Not Activated"]


def test_tomcat_restart_activates_the_new_certificate(mterm: Term, cli_lab: LabCluster) -> None:
    node = cli_lab.state.node("cucm-pub")
    assert mterm.lines("set cert regen tomcat", "yes")[-2] == "Successfully Regenerated Certificate for tomcat."
    own = node.own()["tomcat"]
    assert own.active_pem != own.pem
    assert mterm.lines("utils service restart Cisco Tomcat")[-1] == "Cisco Tomcat[STARTED]"
    own = node.own()["tomcat"]
    assert own.active_pem == own.pem


# --- cluster-wide -----------------------------------------------------------------------------


def test_ctl_update_only_in_mixed_mode_and_on_the_publisher(cli_lab: LabCluster) -> None:
    state = cli_lab.state
    pub, sub = Term(cli_lab), Term(cli_lab, "cucm-sub1")
    assert pub.lines("utils ctl update CTLFile") == ["This cluster is not in Mixed Mode. CTL update is not allowed"]
    version = state.ctl.version
    state.set_security_mode(1)
    try:
        assert pub.lines("utils ctl update CTLFile") == ["The CTL File was successfully updated"]
        assert state.ctl.version == version + 1
        assert sub.lines("utils ctl update CTLFile") == ["This command can only be run on the publisher"]
    finally:
        state.set_security_mode(0)


def test_backup_status_follows_the_state(cli_lab: LabCluster) -> None:
    t = Term(cli_lab)
    lines = t.lines("utils disaster_recovery status backup")
    assert lines[0] == "Status: SUCCESS :: BACKUP completed successfully"
    assert "Percentage Complete: 100" in lines
    cli_lab.state.set_backup(True)
    try:
        lines = t.lines("utils disaster_recovery status backup")
    finally:
        cli_lab.state.set_backup(False)
    assert lines[0] == "Status: RUNNING :: Backup in progress"
    assert any(line.startswith("Tar Filename: ") and line.endswith(".tar") for line in lines)
    assert "Operation: BACKUP" in lines


def test_sso_status_follows_the_state(cli_lab: LabCluster) -> None:
    t = Term(cli_lab)
    assert t.lines("utils sso status") == ["SSO Status: SAML SSO Disabled"]
    cli_lab.state.set_sso(True)
    try:
        lines = t.lines("utils sso status")
        sub = Term(cli_lab, "cucm-sub1").lines("utils sso status")
    finally:
        cli_lab.state.set_sso(False)
    assert lines[0] == "SSO Status: SAML SSO Enabled"   # TAC 217268's fields, in its order
    assert [line.split(" = ")[0] for line in lines[1:]] == [
        "IdP Metadata Imported Date", "SP Metadata Exported Date", "SSO Test Result Date", "SAML SSO Test Status",
        "Recovery URL Status", "Entity ID"]
    assert "Recovery URL Status = enabled" in lines and "Recovery URL Status = disabled" in sub


def test_sso_status_of_one_node_can_differ_from_the_cluster(cli_lab: LabCluster) -> None:
    """processnode.tkssomode per node (TAC 217268): that node's CLI says so; the web API keeps the cluster's."""
    cli_lab.state.set_sso_node("cucm-sub2", 2)
    try:
        assert Term(cli_lab, "cucm-sub2").lines("utils sso status")[0] == "SSO Status: SAML SSO Enabled"
        assert Term(cli_lab, "cucm-sub1").lines("utils sso status") == ["SSO Status: SAML SSO Disabled"]
        assert cli_lab.state.sso_enabled is False
    finally:
        cli_lab.state.set_sso(False)


def test_restore_status_follows_the_state(cli_lab: LabCluster) -> None:
    t = Term(cli_lab)
    assert t.lines("utils disaster_recovery status restore") == ["drfCliMsg: No restore status available"]
    cli_lab.state.set_restore(True)
    try:
        lines = t.lines("utils disaster_recovery status restore")
    finally:
        cli_lab.state.set_restore(False)
    assert lines[0] == "Status: RUNNING :: Restore in progress" and "Operation: RESTORE" in lines


def test_show_version_active(term: Term) -> None:
    assert term.lines("show version active") == [
        "Active Master Version: 14.0.1.13900-155", "Active Version Installed Software Options:",
        "No Installed Software Options Found."]


def test_show_myself_names_the_account_and_counts_commands(lab: LabCluster) -> None:
    t = Term(lab, "cucm-sub1", username="admin")
    t.run("show version active")
    assert t.lines("show myself") == [
        "Machine Name    : cucm-sub1", "account name    : admin", "privilege level : 4",
        "command count   : 2", "logging setting : disabled"]


@pytest.mark.parametrize("option", ["", " detail", " details"])
def test_show_network_eth0_in_the_guides_layout(term: Term, option: str) -> None:
    lines = term.lines("show network eth0" + option)
    assert lines[:5] == [
        "Ethernet 0", "DHCP         : disabled       Status      : up",
        "IP Address   : 127.0.0.1      IP Mask     : 255.255.255.000",
        "Link Detected: yes            Mode        : Auto disabled, Full, 10000 Mbits/s", "Duplicate IP : no"]
    assert "Domain   : lab.example" in lines and "Gateway  : 127.0.0.1 on Ethernet 0" in lines
    assert ("RX stats:" in lines) == bool(option)
    assert term.lines("show network eth0 bogus")[0] == "Executed command unsuccessfully"


def test_run_sql_security_mode_and_nodes(term: Term, lab: LabCluster) -> None:
    lines = term.lines("run sql select paramname,paramvalue from processconfig where paramname='ClusterSecurityMode'")
    assert [line.split() for line in lines] == [["paramname", "paramvalue"], ["=" * 19, "=" * 10],
                                                ["ClusterSecurityMode", str(lab.state.security_mode)]]
    lines = term.lines("run sql select name,tknodeusage,tkprocessnoderole from processnode")
    rows = [line.split() for line in lines[2:]]
    assert ["EnterpriseWideData", "1", "1"] in rows
    assert ["cucm-pub.lab.example", "0", "1"] in rows
    assert ["imp-pub.lab.example", "0", "2"] in rows
    assert len(rows) == len(lab.state.nodes) + 1


def test_run_sql_refuses_what_it_does_not_know(term: Term) -> None:
    assert term.lines("run sql select * from numplan") == ["The specified table (numplan) is not in the database."]
    assert term.lines("run sql delete from processnode") == ["A syntax error has occurred."]
    assert term.lines("run sql select nosuch from processnode") == [
        "Column (nosuch) not found in any table in the query (or SLV is undefined)."]


def test_sql_table_layout() -> None:
    assert sql_table(("a", "bb"), [("xyz", None)]) == ["a   bb ", "=== == ", "xyz    "]


def test_web_security_regenerates_tomcat_and_shows(cli_lab: LabCluster) -> None:
    node = cli_lab.state.node("cucm-sub1")
    t = Term(cli_lab, "cucm-sub1")
    before = node.own()["tomcat"].pem
    lines = t.lines('set web-security Voice "Example Corp" Osaka Osaka JP')
    assert lines[-1] == "Please restart Cisco Tomcat for the new web-security settings to take effect."
    assert node.web_security["orgname"] == "Example Corp"
    own = node.own()["tomcat"]
    assert own.pem != before and own.active_pem == before  # effective after Cisco Tomcat restarts
    shown = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in t.lines("show web-security")[1:])}
    assert shown["OrgUnit"] == "Voice" and shown["OrgName"] == "Example Corp" and shown["Country"] == "JP"


def test_every_command_of_issue_2_is_known(term: Term) -> None:
    commands = [
        "show cert list own", "show cert list trust", "show cert own tomcat/tomcat.pem",
        "show cert trust tomcat-trust/x.pem", "show csr own tomcat", "show csr list own", "utils service list",
        "utils sso status", "utils disaster_recovery status backup", "show web-security", "show version active",
        "run sql select * from processconfig",
    ]
    for command in commands:
        assert "No valid command entered" not in term.run(command), command


def test_shell_accepts_node_names(lab: LabCluster) -> None:
    chunks: list[str] = []
    shell = AdminShell(state=lab.state, node="cucm-sub1", write=chunks.append)
    shell.feed("show cert list own\r")
    assert "tomcat/tomcat.pem" in "".join(chunks)
    assert Path(lab.state.state_dir).is_dir()


def test_multi_server_identity_is_taken_through_the_cli_before_14su2(mterm: Term, cli_lab: LabCluster) -> None:
    """Before 14SU2 the CLI takes a multi-server upload and CUCM installs it on every node (last in this module:
    it changes tomcat everywhere)."""
    cli_lab.state.knobs.set("cucm_version", "14.0.1.11900-132")
    try:
        assert mterm.lines("show version active")[0] == "Active Master Version: 14.0.1.11900-132"
        node = cli_lab.state.node("cucm-pub")
        leaf, chain = cli_lab.ca.issue(node.generate_csr("tomcat", distribution="multi-server"), "tomcat")
        for ca_pem in reversed(chain):
            _paste(mterm, "trust", "tomcat", ca_pem)
        assert _paste(mterm, "own", "tomcat", leaf)[0] == "Successfully imported certificate for tomcat."
        fingerprint = record_from_pem(leaf).fingerprint_sha256
        for peer in cli_lab.state.nodes.values():
            assert record_from_pem(peer.own()["tomcat"].pem).fingerprint_sha256 == fingerprint, peer.fqdn
    finally:
        cli_lab.state.knobs.set("cucm_version", "")
