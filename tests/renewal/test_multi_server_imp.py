"""Multi-server IM&P and the ECDSA multi-server variants at engine level.

- A multi-server cup-xmpp on a lab with two IM&P nodes (imp-pub, the IM&P database publisher, and imp-sub1), the
  ``renew`` child killed after every step and re-run: one CSR on imp-pub naming both IM&P nodes (CN
  ``imp-pub-ms.<domain>``), one CA request, one upload, the same certificate active on both, the XCP Router
  restarted on both and the Intercluster Sync Agent only on imp-pub.
- tomcat-ECDSA and CallManager-ECDSA multi-server on the default lab, cup-xmpp-ECDSA multi-server on the two-IM&P
  lab: one CSR with an EC key, one upload, the same certificate on every node that holds the purpose.
- The validator's refusal: a CA that drops imp-sub1's FQDN from a multi-server cup-xmpp (lab knob ``ca_drop_san``)
  fails the run before any upload, naming the missing SAN.
Two labs of their own (``rlab``, ``imp2_rlab``, speed 0.01); the module took about 30 s on the shared machine.
"""

from __future__ import annotations

import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from cucmkit.lab import pki
from cucmkit.lab.services import XCP_ROUTER

from .conftest import Env
from .crashkit import crash_after_every_step, renew_child, requests_for
from .labcheck import assert_no_repeats, assert_restart_order, engine_events

IMP_PUB, IMP_SUB = "imp-pub.lab.example", "imp-sub1.lab.example"
ICSA = "Cisco Intercluster Sync Agent"
CONVERT = {"convert_multi_server": "CAB-14: one multi-server certificate"}   # the lab starts per node
CONVERT_ARGS = ("--multi-server", "--override", "convert_multi_server=CAB-14")


def _holders(env: Env, purpose: str) -> list[str]:
    """The lab nodes that hold ``purpose`` (FQDNs, the lab's order)."""
    return [n.fqdn for n in env.lab.state.nodes.values() if purpose in n.own()]


def _own(env: Env, purpose: str) -> dict[str, str]:
    return {fqdn: env.lab.state.node(fqdn).own()[purpose].pem for fqdn in _holders(env, purpose)}


def _restarted(env: Env, service: str) -> list[str]:
    return [e.node for e in engine_events(env, "restart_completed") if e.get("service") == service]


def _assert_one_certificate_everywhere(env: Env, purpose: str) -> x509.CertificateSigningRequest:
    """One CSR on the holder, one CA request, one upload there, the new certificate active on every holder."""
    state = env.ledger(purpose).state
    [holder] = list(state.csrs)
    csr_pem = state.csrs[holder].pem
    assert len(requests_for(env.lab, csr_pem)) == 1                                     # one CA request
    uploads = [e for e in engine_events(env, "identity_uploaded") if e.get("purpose", "").lower() == purpose.lower()]
    assert [e.node for e in uploads] == [holder], uploads                               # one upload, on the holder
    new = state.certificates[holder].after
    holders = _holders(env, purpose)
    assert set(state.nodes) == set(holders)
    for fqdn in holders:                                            # the same certificate, active, on every holder
        own = env.lab.state.node(fqdn).own()[purpose]
        assert pki.fingerprint(own.pem) == new and own.active_pem == own.pem, fqdn
        assert state.certificates[fqdn].after == new
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    names = {f"DNS:{fqdn}" for fqdn in holders}                     # every holder's FQDN, nothing else
    leaf = pki.load_cert(env.lab.state.node(holder).own()[purpose].pem)
    assert set(pki.san_strings(csr)) == set(pki.san_strings(leaf)) == names
    assert pki.common_name(csr.subject) == pki.common_name(leaf) == holder.replace(".", "-ms.", 1)
    return csr


def test_multi_server_cup_xmpp_crash_after_every_step_then_resume(imp2_env: Env) -> None:
    env, purpose = imp2_env, "cup-xmpp"
    child, crashes = crash_after_every_step(env, purpose, "CHG-MSIMP", ("imp-pub",), csr_node=IMP_PUB,
                                            extra=CONVERT_ARGS)
    assert json.loads(child.stdout)["status"] == "done", child.stdout[:2000]
    state = env.ledger(purpose).state
    assert crashes == len(state.order)                   # one crash per step: every step was a crash point
    assert list(state.csrs) == [IMP_PUB]                 # never regenerated, never a second node's CSR
    assert [k for k in state.order if k.startswith(("restart:", "distributed:"))] == [
        f"distributed:{IMP_SUB}", f"restart:{IMP_PUB}:{XCP_ROUTER}", f"restart:{IMP_PUB}:{ICSA}",
        f"restart:{IMP_SUB}:{XCP_ROUTER}"]
    assert _holders(env, purpose) == [IMP_PUB, IMP_SUB]
    csr = _assert_one_certificate_everywhere(env, purpose)
    assert set(pki.san_strings(csr)) == {f"DNS:{IMP_PUB}", f"DNS:{IMP_SUB}"}        # the IM&P nodes, no CUCM node
    assert pki.common_name(csr.subject) == "imp-pub-ms.lab.example"
    assert sorted(_restarted(env, XCP_ROUTER)) == [IMP_PUB, IMP_SUB]                  # on both IM&P nodes
    assert _restarted(env, ICSA) == [IMP_PUB]                                         # on the database publisher only
    [generated] = engine_events(env, "csr_generated")
    assert (generated.node, generated.get("distribution")) == (IMP_PUB, "multi-server")
    [upload] = engine_events(env, "identity_uploaded")
    assert sorted(upload.get("targets")) == [IMP_PUB, IMP_SUB]                       # CUCM's distribution
    assert_no_repeats(env, purpose)
    assert_restart_order(env, purpose)
    sessions = env.lab.state.knobs.jabber_sessions
    assert all(env.lab.state.node(n).xmpp_sessions() == sessions for n in (IMP_PUB, IMP_SUB))   # Jabber is back
    again = renew_child(env, purpose, "CHG-MSIMP", ("imp-pub",), extra=CONVERT_ARGS)
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "skipped", again.stdout[:2000]


def _renew_multi_server(env: Env, purpose: str, holder: str) -> x509.CertificateSigningRequest:
    with env.open(purpose, nodes=(holder,), multi_server=True, overrides=CONVERT) as renewal:
        result = renewal.run()
    assert result.status == "done", result
    csr = _assert_one_certificate_everywhere(env, purpose)
    assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey)                       # an EC key
    leaf = pki.load_cert(env.lab.state.node(next(iter(env.ledger(purpose).state.csrs))).own()[purpose].pem)
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    assert_restart_order(env, purpose)
    return csr


@pytest.mark.parametrize("purpose", ["tomcat-ECDSA", "CallManager-ECDSA"])
def test_ecdsa_multi_server_on_the_cucm_nodes(env: Env, purpose: str) -> None:
    csr = _renew_multi_server(env, purpose, "cucm-pub")
    assert pki.common_name(csr.subject) == "cucm-pub-ms.lab.example"
    cucm = {f"DNS:{n.fqdn}" for n in env.lab.state.nodes.values() if n.kind == "CUCM"}
    expected = cucm | ({"DNS:imp-pub.lab.example"} if purpose == "tomcat-ECDSA" else set())   # CallManager: CUCM only
    assert set(pki.san_strings(csr)) == expected


def test_cup_xmpp_ecdsa_multi_server_on_two_imp_nodes(imp2_env: Env) -> None:
    csr = _renew_multi_server(imp2_env, "cup-xmpp-ECDSA", "imp-pub")
    assert set(pki.san_strings(csr)) == {f"DNS:{IMP_PUB}", f"DNS:{IMP_SUB}"}
    assert pki.common_name(csr.subject) == "imp-pub-ms.lab.example"


def test_a_ca_that_drops_the_imp_subscriber_is_refused_before_any_upload(imp2_env: Env) -> None:
    env, purpose = imp2_env, "cup-xmpp"
    before = _own(env, purpose)
    env.lab.state.knobs.set("ca_drop_san", "imp-sub1")              # the lab CA leaves imp-sub1 out of the SAN
    try:
        with env.open(purpose, nodes=("imp-pub",), multi_server=True, overrides=CONVERT) as renewal:
            result = renewal.run()
    finally:
        env.lab.state.knobs.set("ca_drop_san", "")
    assert result.status == "failed", result
    assert "san_missing" in result.message and f"DNS:{IMP_SUB}" in result.message, result.message
    state = env.ledger(purpose).state
    key = f"ca-collect:{IMP_PUB}"
    assert state.steps[key].outcome == "failed" and IMP_SUB in state.steps[key].detail
    finished = [r.key for r in state.records() if r.finished]
    assert f"ca-submit:{IMP_PUB}" in finished
    assert all(state.order.index(k) < state.order.index(key) for k in finished)      # nothing after the refusal
    assert not engine_events(env, ("identity_uploaded", "trust_uploaded", "restart_requested"))
    assert _own(env, purpose) == before                             # nothing changed on either IM&P node
