"""Faults end in a clear stop with consistent state, and a re-run finishes the job.

The clients' back-off is shortened on the test's own Cluster (AXL 503 and the
RisPort throttle otherwise wait tens of seconds, as they should on a real CUCM).
"""

from __future__ import annotations

from cucmkit.params import Backoff, Retries
from cucmkit.renewal.state import PhoneGate

from .labcheck import RESTART_KINDS, assert_renewed, engine_events

SUB1 = "cucm-sub1.lab.example"
PUB = "cucm-pub.lab.example"


def _drf_restarts(env, node):
    return [e.kind for e in engine_events(env, RESTART_KINDS) if e.node == node and e.get("service") == "Cisco DRF Local"]


def test_node_down_mid_restart_then_resume(env):
    def progress(text: str) -> None:
        if text.startswith(f"restart:{PUB}:Cisco DRF Local: done"):
            env.lab.state.faults.set("cucm-sub1", "unreachable")

    with env.open("ipsec", nodes=("cucm-sub1",), progress=progress) as renewal:
        result = renewal.run()
        assert result.status == "failed" and "cucm-sub1" in result.message
        outcomes = {s.key: s.outcome for s in result.steps}
        assert outcomes[f"restart:{PUB}:Cisco DRF Local"] == "done"
        assert outcomes[f"restart:{SUB1}:Cisco DRF Local"] == "failed"
        assert "restart:cucm-sub2.lab.example:Cisco DRF Local" not in outcomes    # stopped, went no further
        assert env.ledger("ipsec").state.status == "failed"
        assert _drf_restarts(env, PUB) == ["restart_requested", "restart_completed"]
        assert _drf_restarts(env, SUB1) == []                      # refused at the door: never reached it
        env.lab.state.faults.clear("cucm-sub1")
        result = renewal.run()
    assert_renewed(env, "ipsec", result)
    assert _drf_restarts(env, PUB) == ["restart_requested", "restart_completed"]   # not restarted again


def test_service_that_will_not_start(env):
    env.lab.state.faults.set("cucm-sub2", "service_fail", "Cisco DRF Local")
    with env.open("ipsec", nodes=("cucm-sub2",)) as renewal:
        result = renewal.run()
        assert result.status == "failed"
        failed = [s for s in result.steps if s.outcome == "failed"]
        assert [s.key for s in failed] == ["restart:cucm-sub2.lab.example:Cisco DRF Local"]
        assert "Cisco DRF Local" in failed[0].detail
        assert _drf_restarts(env, "cucm-sub2.lab.example") == ["restart_requested", "restart_failed"]
        env.lab.state.faults.clear("cucm-sub2")
        assert_renewed(env, "ipsec", renewal.run())


def _through_activate(renewal) -> None:
    for phase in ("csr", "ca", "install", "activate"):
        assert getattr(renewal, phase)().status == "done"


def test_risport_throttling_stops_then_resumes(env):
    env.cluster.params = env.cluster.params.with_overrides(retries=Retries(risport=Backoff(
        attempts=4, backoff_seconds=0.05, max_backoff_seconds=0.1)))   # as `retries:` in the parameter file
    env.cluster.budget.rate = 1000
    with env.open("CAPF", nodes=("cucm-pub",), self_signed=False, registration_timeout=1.5) as renewal:
        _through_activate(renewal)
        env.lab.state.faults.set("*", "risport_throttle")
        result = renewal.phones()
        assert result.status == "failed" and "RisPort gave no answer" in result.message
        assert "CAPF" in PhoneGate.for_cluster(env.state_dir, env.params.cluster).pending()
        env.lab.state.faults.clear("*")
        assert renewal.phones().status == "done"
        assert PhoneGate.for_cluster(env.state_dir, env.params.cluster).pending() == {}
        assert renewal.status().status == "done"


def test_axl_503_on_reset_stops_then_resumes(env):
    env.cluster.params = env.cluster.params.with_overrides(retries=Retries(axl=Backoff(
        attempts=5, backoff_seconds=0.01, max_backoff_seconds=0.1)))    # as `retries:` in the parameter file
    with env.open("CAPF", nodes=("cucm-pub",), self_signed=False) as renewal:
        _through_activate(renewal)
        env.lab.state.faults.set("cucm-pub", "axl_503")
        result = renewal.phones()
        assert result.status == "failed" and "503" in result.message
        assert [s.key for s in result.steps if s.outcome == "failed"] == ["phones-reset"]
        assert "CAPF" in PhoneGate.for_cluster(env.state_dir, env.params.cluster).pending()
        env.lab.state.faults.clear("cucm-pub")
        assert renewal.phones().status == "done"


def test_ca_never_answering_waits_without_new_csr_and_resumes_on_approval(env):
    env.lab.state.knobs.set("ca_approval", "manual")
    try:
        with env.open("ipsec", nodes=("cucm-sub1",)) as renewal:
            first = renewal.run()
            assert first.status == "waiting" and "waiting for the CA" in first.message
            csr = env.ledger("ipsec").state.csrs[SUB1]
            request = env.ledger("ipsec").state.requests[SUB1]
            again = renewal.run()
            assert again.status == "waiting"
            assert env.ledger("ipsec").state.csrs[SUB1] == csr and env.ledger("ipsec").state.requests[SUB1] == request
            assert env.lab.ca.request(int(request.id) + 1) is None          # no second request filed
            assert env.lab.state.node("cucm-sub1").pending_csr("ipsec").strip() == csr.pem.strip()
            env.lab.ca.approve(int(request.id))
            assert_renewed(env, "ipsec", renewal.run())
    finally:
        env.lab.state.knobs.set("ca_approval", "auto")


def test_ca_denial_is_a_clear_failure(env):
    env.lab.state.knobs.set("ca_approval", "manual")
    try:
        with env.open("ipsec", nodes=("cucm-sub2",)) as renewal:
            assert renewal.run().status == "waiting"
            env.lab.ca.deny(int(env.ledger("ipsec").state.requests["cucm-sub2.lab.example"].id))
            result = renewal.run()
            assert result.status == "failed" and "denied" in result.message
    finally:
        env.lab.state.knobs.set("ca_approval", "auto")
