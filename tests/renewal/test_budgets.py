"""Deadlines that bound the whole wait, timeouts from the parameter file, remedies that fit what happened."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from cucmkit import catalogue
from cucmkit.certs.records import CertRecord
from cucmkit.errors import CertificateError, ConnectError, CucmKitError, ThrottledError, TlsError
from cucmkit.params import Backoff, Retries, load_parameters
from cucmkit.renewal.options import RenewalOptions
from cucmkit.renewal.plan import Step
from cucmkit.renewal.state import Baseline, CertChange, Ledger, PhoneGate, StoredPlan
from cucmkit.renewal.steps import StepContext
from cucmkit.renewal.steps.activate import verify_tls
from cucmkit.renewal.steps.phones import phones_wait

NODE = "pub.example"


@dataclass
class FakeNode:
    serves: str | None = None
    error: CucmKitError | None = None
    name: str = NODE

    def served_certificate(self) -> CertRecord:
        if self.error is not None:
            raise self.error
        return _record(self.serves or "")


def _record(fp: str) -> CertRecord:
    class _R:
        fingerprint_sha256 = fp
    return _R()  # type: ignore[return-value]


@dataclass
class FakeCluster:
    node_: FakeNode
    throttle_for: float = 0.0     # each registration() call blocks this long (a back-off), then is throttled
    calls: int = 0
    name: str = "c"

    def node(self, name: str) -> FakeNode:
        return self.node_

    def registration(self, *, names=None, within=None):
        self.calls += 1
        time.sleep(min(self.throttle_for, within if within is not None else self.throttle_for))
        raise ThrottledError("Exceeded allowed rate for Reatime information", operation="selectCmDevice")


def _ctx(tmp_path: Path, cluster: FakeCluster, purpose: str = "tomcat", **options: object) -> StepContext:
    ledger = Ledger.open(tmp_path, "c", purpose)
    ledger.begin(ticket="T", plan=StoredPlan(nodes=(), steps=(), threshold_days=60), nodes=[NODE],
                 certificates={NODE: CertChange(before="old")})
    ledger.note_cert(NODE, after="new")
    ledger.set_baseline(Baseline(registered=3, total=3, names=("SEP1", "SEP2", "SEP3")))
    return StepContext(cluster=cluster, purpose=catalogue.get(purpose), ticket="T", ledger=ledger,  # type: ignore[arg-type]
                       gate=PhoneGate.for_cluster(tmp_path, "c"), ca=None,
                       options=RenewalOptions(**{"poll_interval": 0.05, **options}))  # type: ignore[arg-type]


VERIFY = Step(f"verify-tls:{NODE}", "activate", "verify-tls", NODE)


@pytest.mark.parametrize(("node", "fits", "unfit"), [
    (FakeNode(error=TlsError("handshake failed: certificate verify failed", node=NODE)), "handshake", "restart it"),
    (FakeNode(error=ConnectError("connection refused", node=NODE)), "utils service list", "handshake"),
    (FakeNode(serves="old"), "restart it", "handshake"),
    (FakeNode(serves="other"), "did not install", "restart it"),
])
def test_verify_tls_remedy_fits_what_the_node_did(tmp_path, node, fits, unfit):
    ctx = _ctx(tmp_path, FakeCluster(node), tls_timeout=0.2)
    with pytest.raises(CertificateError) as caught:
        verify_tls(VERIFY, ctx)
    assert fits in (caught.value.remedy or "") and unfit not in (caught.value.remedy or "")


def test_verify_tls_budget_is_the_parameter_files_restart_timeout():
    params = load_parameters(Path(__file__).resolve().parents[2] / "parameters" / "example-cluster.yaml",
                             check_secrets=False)
    options = RenewalOptions.from_parameters(params)
    assert options.tls_timeout == params.timeouts.restart == 900.0


def test_phones_wait_budget_bounds_the_back_off(tmp_path):
    """Each RisPort query gets only the time left: a 30 s back-off cannot stretch a 1 s budget."""
    cluster = FakeCluster(FakeNode(), throttle_for=30.0)
    ctx = _ctx(tmp_path, cluster, purpose="CAPF", registration_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(CucmKitError) as caught:
        phones_wait(Step("phones-wait", "phones", "phones-wait", None), ctx)
    assert time.monotonic() - started < 5.0
    assert "throttled" in (caught.value.remedy or "") and "ITL" not in (caught.value.remedy or "")


def test_phones_wait_on_the_lab_under_throttling_keeps_its_budget(env):
    """RisPort throttles every query; with the real back-off (10 s doubled) the 3 s budget still holds."""
    env.cluster.params = env.cluster.params.with_overrides(retries=Retries(risport=Backoff(
        attempts=4, backoff_seconds=10.0, max_backoff_seconds=60.0)))
    env.cluster.budget.rate = 1000
    with env.open("CAPF", nodes=("cucm-pub",), self_signed=False, registration_timeout=3.0) as renewal:
        for phase in ("csr", "ca", "install", "activate"):
            assert getattr(renewal, phase)().status == "done"
        env.lab.state.faults.set("*", "risport_throttle")
        started = time.monotonic()
        result = renewal.phones()
        took = time.monotonic() - started
        env.lab.state.faults.clear("*")
        assert result.status == "failed", result.message
        assert took < 3.0 + 10.0, f"the phones wait took {took:.1f} s for a 3 s budget"
        wait = next(s for s in result.steps if s.name == "phones-wait")
        assert "ITL" not in wait.detail
