"""CUCM's certificate rules in the lab state, each with its exact message (no network)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cucmkit import catalogue
from cucmkit.catalogue import MESSAGES
from cucmkit.lab import pki
from cucmkit.lab.pki import LabCA
from cucmkit.lab.starting import EXPIRED_CN, ensure_cas
from cucmkit.lab.state import LabRefusal, LabState
from cucmkit.lab.topology import Topology


@pytest.fixture
def state(tmp_path: Path) -> LabState:
    return LabState.open(tmp_path / "s", topology=Topology(phones=6), speed=0.01)


@pytest.fixture
def ca(state: LabState) -> LabCA:
    old, current = ensure_cas(state.state_dir)
    return LabCA(pair=current, old=old, directory=state.state_dir / "ca", knobs=state.knobs)


def _trust_chain(node, purpose: str, ca: LabCA) -> None:
    for pem in (ca.root_pem, ca.intermediate_pem):
        assert node.upload_trust(purpose, pem).stored


def _refused(fn, *args) -> LabRefusal:
    with pytest.raises(LabRefusal) as info:
        fn(*args)
    return info.value


def _der(pem: str) -> bytes:
    return pki.load_cert(pem).public_bytes(serialization.Encoding.DER)


# ------------------------------------------------------------------ identity upload rules


def test_bad_format_is_refused_first(state: LabState) -> None:
    node = state.node("cucm-pub")
    err = _refused(node.upload_identity, "tomcat", b"this is not a certificate")
    assert err.message == MESSAGES.bad_format and err.status == 400


def test_wildcard_is_refused_before_the_csr_check(state: LabState, ca: LabCA) -> None:
    node = state.node("cucm-pub")
    csr = node.generate_csr("tomcat")
    leaf, _ = ca.issue(csr, "tomcat", wildcard=True)
    node.certs.csrs.clear()  # no pending CSR either: wildcard still wins
    assert _refused(node.upload_identity, "tomcat", leaf).message == MESSAGES.wildcard


def test_key_over_4096_bits_is_refused(state: LabState, ca: LabCA) -> None:
    node = state.node("cucm-pub")
    csr = node.generate_csr("tomcat")
    big = pki.new_key("rsa", 4160)
    leaf, _ = ca.issue(csr, "tomcat", public_key=big.public_key())
    assert _refused(node.upload_identity, "tomcat", leaf).message == MESSAGES.key_too_large


def test_no_pending_csr_names_the_csr_file(state: LabState, ca: LabCA) -> None:
    node = state.node("cucm-sub1")
    other = state.node("cucm-sub2").generate_csr("tomcat")
    leaf, _ = ca.issue(other, "tomcat")
    err = _refused(node.upload_identity, "tomcat", leaf)
    assert err.message == "The file /usr/local/platform/.security/tomcat/keys/tomcat.csr does not exist"
    assert err.message == MESSAGES.no_csr.format(csr_path=catalogue.get("tomcat").csr_path)


def test_missing_issuer_chain_is_refused(state: LabState, ca: LabCA) -> None:
    node = state.node("cucm-pub")
    leaf, _ = ca.issue(node.generate_csr("tomcat"), "tomcat")
    assert _refused(node.upload_identity, "tomcat", leaf).message == MESSAGES.ca_not_in_trust
    node.upload_trust("tomcat", ca.root_pem)  # root only: the intermediate is still missing
    assert _refused(node.upload_identity, "tomcat", leaf).message == MESSAGES.ca_not_in_trust


def test_chain_in_the_wrong_trust_store_is_refused(state: LabState, ca: LabCA) -> None:
    node = state.node("cucm-pub")
    _trust_chain(node, "ipsec", ca)  # the source's slip: chain in the wrong store
    leaf, _ = ca.issue(node.generate_csr("tomcat"), "tomcat")
    assert _refused(node.upload_identity, "tomcat", leaf).message == MESSAGES.ca_not_in_trust


def test_key_mismatch_and_replaced_csr(state: LabState, ca: LabCA) -> None:
    node = state.node("cucm-pub")
    _trust_chain(node, "tomcat", ca)
    leaf_wrong, _ = ca.issue(node.generate_csr("tomcat"), "tomcat", wrong_key=True)
    assert _refused(node.upload_identity, "tomcat", leaf_wrong).message == MESSAGES.key_mismatch
    first_csr = node.pending_csr("tomcat")
    leaf_old, _ = ca.issue(first_csr, "tomcat")
    second_csr = node.generate_csr("tomcat")  # a new CSR replaces the pending one
    assert second_csr != first_csr and node.pending_csr("tomcat") == second_csr
    assert _refused(node.upload_identity, "tomcat", leaf_old).message == MESSAGES.key_mismatch


@pytest.mark.parametrize("override", [{"extra_sans": ["IP:10.0.0.1"]}, {"no_san": True},
                                      {"sans": ["DNS:cucm-pub.lab.example"]}])
def test_san_mismatch(state: LabState, ca: LabCA, override: dict) -> None:
    node = state.node("cucm-pub")
    _trust_chain(node, "tomcat", ca)
    leaf, _ = ca.issue(node.generate_csr("tomcat"), "tomcat", **override)
    assert _refused(node.upload_identity, "tomcat", leaf).message == MESSAGES.san_mismatch


def test_success_clears_csr_and_activates_only_after_restart(state: LabState, ca: LabCA) -> None:
    node = state.node("cucm-pub")
    before = node.own()["tomcat"]
    _trust_chain(node, "tomcat", ca)
    csr = node.generate_csr("tomcat")
    names = sorted(pki.san_strings(x509.load_pem_x509_csr(csr.encode())), reverse=True)
    leaf, _ = ca.issue(csr, "tomcat", sans=names)  # same SAN set, other order
    assert node.upload_identity("tomcat", _der(leaf)) == "Successfully imported certificate for tomcat."
    assert node.pending_csr("tomcat") is None
    own = node.own()["tomcat"]
    assert pki.fingerprint(own.pem) == pki.fingerprint(leaf)
    assert own.active_pem == before.active_pem  # not live until Cisco Tomcat restarts
    assert node.tls_chain()[0] == before.active_pem
    node.restart("Cisco CallManager")  # the wrong service changes nothing
    _wait(lambda: node.service("Cisco CallManager").status == "Started")
    assert node.own()["tomcat"].active_pem == before.active_pem
    state.knobs.set("tomcat_restart_seconds", 100)  # 1 s: the check below holds on a loaded machine
    node.restart("Cisco Tomcat")
    assert node.service("Cisco Tomcat").status in ("Stopping", "Starting")
    assert node.tls_chain()[0] == before.active_pem
    _wait(lambda: node.service("Cisco Tomcat").status == "Started")
    assert pki.fingerprint(node.own()["tomcat"].active_pem) == pki.fingerprint(leaf)
    cert, _key, chain = node.tls_chain()
    assert pki.fingerprint(cert) == pki.fingerprint(leaf)
    assert [pki.common_name(pki.load_cert(c)) for c in chain] == ["Lab Issuing CA", "Lab Root CA"]


def test_rule_order_format_wildcard_key_csr_chain(state: LabState, ca: LabCA) -> None:
    node = state.node("cucm-sub2")
    leaf, _ = ca.issue(state.node("cucm-sub1").generate_csr("tomcat"), "tomcat", wrong_key=True, extra_sans=["DNS:x.y"])
    # no CSR on sub2, no chain, wrong key, wrong SANs: the CSR check comes first
    assert _refused(node.upload_identity, "tomcat", leaf).message.startswith("The file ")
    node.generate_csr("tomcat")
    assert _refused(node.upload_identity, "tomcat", leaf).message == MESSAGES.ca_not_in_trust
    _trust_chain(node, "tomcat", ca)
    assert _refused(node.upload_identity, "tomcat", leaf).message == MESSAGES.key_mismatch


def test_ecdsa_and_callmanager_units(state: LabState, ca: LabCA) -> None:
    node = state.node("cucm-sub1")
    csr = node.generate_csr("CallManager-ECDSA", key_type="ec", key_length=384)
    assert isinstance(x509.load_pem_x509_csr(csr.encode()).public_key().key_size, int)
    _trust_chain(node, "CallManager-ECDSA", ca)
    leaf, _ = ca.issue(csr, "CallManager-ECDSA")
    assert node.upload_identity("CallManager-ECDSA", leaf).endswith("CallManager-ECDSA.")
    with pytest.raises(LabRefusal):
        state.node("imp-pub").generate_csr("CallManager")
    assert "cup-xmpp" in state.node("imp-pub").own()


def test_multi_server_csr(state: LabState, ca: LabCA) -> None:
    pub = state.node("cucm-pub")
    err = _refused(lambda: pub.generate_csr("tomcat", distribution="multi-server", alt_names=["10.1.1.1"]))
    assert err.status == 400
    csr = pub.generate_csr("tomcat", distribution="multi-server", alt_names=["uc.lab.example"])
    req = x509.load_pem_x509_csr(csr.encode())
    assert pki.common_name(req) == "cucm-pub-ms.lab.example"
    assert pki.san_strings(req) == {f"DNS:{n.fqdn}" for n in state.nodes.values()} | {"DNS:uc.lab.example"}
    for node in state.nodes.values():
        _trust_chain(node, "tomcat", ca)
    leaf, _ = ca.issue(csr, "tomcat")
    pub.upload_identity("tomcat", leaf)
    assert {pki.fingerprint(n.own()["tomcat"].pem) for n in state.nodes.values()} == {pki.fingerprint(leaf)}


def test_regenerate_overwrites_ca_signed(state: LabState) -> None:
    node = state.node("cucm-pub")
    before = node.own()["CallManager"]
    assert pki.common_name(pki.load_cert(before.pem).issuer) == "Lab Old Issuing CA"
    assert node.regenerate("CallManager") == "Successfully Regenerated Certificate for CallManager."
    after = node.own()["CallManager"]
    cert = pki.load_cert(after.pem)
    assert cert.issuer == cert.subject and after.active_pem == before.active_pem


# ------------------------------------------------------------------ trust store rules


def test_trust_upload_rules(state: LabState, ca: LabCA) -> None:
    node = state.node("cucm-pub")
    assert node.upload_trust("tomcat-trust", _der(ca.root_pem)).filename == "Lab_Root_CA.pem"
    assert "Lab_Root_CA.pem" in node.trust("tomcat")
    expired = node.trust("tomcat")[f"{EXPIRED_CN.replace(' ', '_')}.pem"]
    assert _refused(node.upload_trust, "tomcat", expired).message == MESSAGES.expired
    key = pki.new_key("ec", 256)
    now = pki.utcnow()
    newer = pki.self_signed(cn="Partner CA", key=key, not_before=now - dt.timedelta(days=1), is_ca=True)
    older = pki.self_signed(cn="Partner CA", key=key, not_before=now - dt.timedelta(days=9), is_ca=True)
    assert node.upload_trust("tomcat", newer).stored
    result = node.upload_trust("tomcat", older)
    assert (result.stored, result.reason, result.filename) == (False, MESSAGES.not_replaced_older, "Partner_CA.pem")
    assert node.trust("tomcat")["Partner_CA.pem"] == newer
    newest = pki.self_signed(cn="Partner CA", key=key, not_before=now - dt.timedelta(hours=1), is_ca=True)
    assert node.upload_trust("tomcat", newest).stored and node.trust("tomcat")["Partner_CA.pem"] == newest
    node.delete_trust("tomcat-trust", "Partner_CA.pem")
    assert "Partner_CA.pem" not in node.trust("tomcat")
    assert _refused(node.delete_trust, "tomcat-trust", "Partner_CA.pem").status == 404


def test_starting_state_is_realistic(state: LabState) -> None:
    summary = state.certificate_summary()
    pub = {row["purpose"]: row for row in summary["cucm-pub"]}
    assert pub["tomcat"]["issuer_cn"] == "Lab Old Issuing CA" and 19 <= pub["tomcat"]["days_left"] <= 20.1
    assert 24 <= pub["CallManager"]["days_left"] <= 25.1
    assert pub["TVS"]["self_signed"] and not pub["tomcat"]["self_signed"]
    assert set(summary["imp-pub"][i]["purpose"] for i in range(len(summary["imp-pub"]))) >= {"cup", "cup-xmpp-ECDSA"}
    tomcat_trust = state.node("cucm-sub1").trust("tomcat")
    assert {"Lab_Old_Root_CA.pem", "Lab_Old_Issuing_CA.pem", "Expired_Partner_CA.pem"} <= set(tomcat_trust)
    ec_cert = pki.load_cert(state.node("cucm-pub").own()["tomcat-ECDSA"].pem)
    assert ec_cert.public_key().curve.name == "secp384r1"
    assert (state.state_dir / "secrets" / "os_admin").stat().st_mode & 0o777 == 0o600
    assert (state.state_dir / "ca-bundle.pem").read_text().count("BEGIN CERTIFICATE") == 2


# ------------------------------------------------------------------ services, cluster, auth


def _wait(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_service_lifecycle_and_codes(state: LabState) -> None:
    node = state.node("cucm-sub1")
    assert node.service("Cisco Tomcat").status == "Started"
    capf = node.service("Cisco Certificate Authority Proxy Function")
    assert (capf.activated, capf.status, capf.reason) == (False, "Stopped", -1068)
    assert _refused(node.start, "Cisco Certificate Authority Proxy Function").code == -1068
    assert _refused(node.start, "Cisco TFTP").code == -1039
    assert _refused(node.restart, "Cisco Nonsense").code == -1010
    node.stop("Cisco TFTP")
    assert node.service("Cisco TFTP").status == "Stopped" and node.service("Cisco TFTP").reason == -1019
    assert _refused(node.stop, "Cisco TFTP").code == -1040
    state.knobs.set("restart_seconds", 100)  # 1 s at speed 0.01
    node.start("Cisco TFTP")
    assert node.service("Cisco TFTP").status == "Starting"
    _wait(lambda: node.service("Cisco TFTP").status == "Started")


def test_ctl_update_needs_mixed_mode(state: LabState) -> None:
    err = _refused(state.ctl_update)
    assert err.message == "This cluster is not in Mixed Mode. CTL update is not allowed"
    state.set_security_mode(1)
    version = state.ctl.version
    state.ctl_update()
    assert state.ctl.version == version + 1
    assert state.ctl.signers[0] == state.publisher.active_fingerprint("CallManager")


def test_ctl_holds_the_certificates_active_after_the_restart(state: LabState) -> None:
    """The CTL is updated before the services restart: it lists the installed (next active) certificates."""
    pub = state.publisher
    state.set_security_mode(1)
    pub.regenerate("CallManager")
    own = pub.own()["CallManager"]
    assert own.pem != own.active_pem  # Cisco CallManager has not restarted yet
    state.ctl_update()
    assert state.ctl.signers[0] == pki.fingerprint(own.pem) != pki.fingerprint(own.active_pem)


def test_auth_checks(state: LabState) -> None:
    pw = state.secret("os_admin")
    assert state.check_os_admin("cucm-pub", "admin", pw)
    assert not state.check_os_admin("cucm-pub", "admin", pw + "x")
    assert not state.check_os_admin("cucm-pub", "ccmadmin", pw)
    assert state.check_app_user("ccmadmin", state.secret("app_user"))
    assert not state.check_app_user("admin", state.secret("app_user"))
    assert pw not in repr(state) and pw not in repr(state.node("cucm-pub"))


def test_trust_delete_reaches_every_node_of_the_cluster(state: LabState, ca: LabCA) -> None:
    """CUCM 11.0+ deletes a trust certificate on every node, not only where it was asked (TAC 211300)."""
    sub1 = state.node("cucm-sub1")
    holders = [n for n in state.nodes.values() if "Lab_Old_Root_CA.pem" in n.trust("tomcat-trust")]
    assert len(holders) == len(state.nodes)  # the starting state: every node holds the old root
    t0 = time.time()
    sub1.delete_trust("tomcat-trust", "Lab_Old_Root_CA.pem")
    assert [n.name for n in state.nodes.values() if "Lab_Old_Root_CA.pem" in n.trust("tomcat-trust")] == []
    assert "Lab_Old_Root_CA.pem" in sub1.trust("CallManager-trust")  # other stores keep their copy
    events = state.events(since=t0, kind="trust_deleted")
    assert sorted(e.node for e in events) == sorted(n.fqdn for n in state.nodes.values())


def test_trust_upload_of_several_certificates_is_refused_whole(state: LabState, ca: LabCA) -> None:
    """A PEM text with several certificates is never cut to its first one and reported as imported."""
    node = state.node("cucm-pub")
    before = node.trust("tomcat-trust")
    err = _refused(node.upload_trust, "tomcat-trust", ca.root_pem + ca.intermediate_pem)
    assert err.status == 400 and "2 certificates" in err.message and "one certificate at a time" in err.message
    assert node.trust("tomcat-trust") == before


def test_alternate_host_name_reaches_only_the_tomcat_csr(state: LabState) -> None:
    """``set web-security ... alternatehostname`` names the web server (Tomcat) only (CLI reference)."""
    node = state.node("cucm-pub")
    node.set_web_security(orgunit="UC", orgname="Lab Example", locality="Tokyo", state="Tokyo", country="JP",
                          alternatehostname="cucm.lab.example")
    sans = {unit: pki.san_strings(x509.load_pem_x509_csr(node.generate_csr(unit).encode()))
            for unit in ("tomcat", "tomcat-ECDSA", "CallManager", "ipsec", "CAPF")}
    assert "DNS:cucm.lab.example" in sans["tomcat"] and "DNS:cucm.lab.example" in sans["tomcat-ECDSA"]
    assert all("DNS:cucm.lab.example" not in sans[u] for u in ("CallManager", "ipsec", "CAPF"))
