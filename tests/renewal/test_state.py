from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import FrozenInstanceError

import pytest

from cucmkit.errors import InterlockError
from cucmkit.renewal.lock import ClusterLock
from cucmkit.renewal.plan import PlannedNode, Step
from cucmkit.renewal.state import (
    STATE_VERSION,
    CertChange,
    CsrEntry,
    Ledger,
    PhoneGate,
    StepRecord,
    StoredPlan,
    atomic_write_json,
    load_state,
    utcnow,
)


def _plan(*keys: str) -> StoredPlan:
    steps = tuple(Step(k, k.split(":")[0], k.split(":")[0], k.split(":")[1] if ":" in k else None) for k in keys)
    return StoredPlan(nodes=(PlannedNode("a", "a", "publisher", "CUCM", "renew", "due"),), steps=steps,
                      threshold_days=60.0)


def test_ledger_persists_every_step_and_reloads(tmp_path):
    ledger = Ledger.open(tmp_path, "lab", "tomcat")
    assert not ledger.active
    ledger.begin(ticket="CHG1", nodes=["a"], plan=_plan("csr:a"), certificates={"a": CertChange(before="ee")})
    ledger.record(StepRecord("csr:a", "csr", "a", "csr", "done", utcnow(), utcnow(), "ok"))
    ledger.put_csr("a", CsrEntry(pem="PEM", fingerprint="ff", at=utcnow()))
    again = Ledger.open(tmp_path, "lab", "tomcat")
    assert again.active and again.step("csr:a").finished and again.state.csrs["a"].fingerprint == "ff"
    assert again.state == ledger.state and again.state.order == ("csr:a",)
    assert again.get("csrs", "a")["fingerprint"] == "ff"                  # the JSON form, for tools
    raw = json.loads((tmp_path / "lab" / "tomcat.json").read_text())
    assert raw["ticket"] == "CHG1" and raw["version"] == STATE_VERSION
    assert not list((tmp_path / "lab").glob(".*.tmp"))


def test_state_is_a_value_only_the_ledger_changes(tmp_path):
    ledger = Ledger.open(tmp_path, "lab", "tomcat")
    ledger.begin(ticket="CHG1", nodes=["a"], plan=_plan("csr:a"))
    before = ledger.state
    with pytest.raises(FrozenInstanceError):
        before.status = "completed"
    ledger.set_status("failed")
    assert before.status == "running" and ledger.state.status == "failed"
    ledger.snapshot()["status"] = "completed"                            # a copy: changes nothing
    assert Ledger.open(tmp_path, "lab", "tomcat").state.status == "failed"


def test_finished_run_is_archived_when_a_new_one_begins(tmp_path):
    ledger = Ledger.open(tmp_path, "lab", "ipsec")
    ledger.begin(ticket="CHG1", nodes=["a"], plan=_plan())
    ledger.set_status("completed")
    ledger.begin(ticket="CHG2", nodes=["b"], plan=_plan())
    history = list((tmp_path / "lab" / "history").glob("ipsec-*.json"))
    assert len(history) == 1 and json.loads(history[0].read_text())["ticket"] == "CHG1"
    assert ledger.state.ticket == "CHG2" and dict(ledger.state.steps) == {}


def test_force_forgets_a_nodes_csr_chain(tmp_path):
    ledger = Ledger.open(tmp_path, "lab", "ipsec")
    ledger.begin(ticket="CHG1", nodes=["a"], plan=_plan("csr:a", "identity:a"))
    ledger.record(StepRecord("csr:a", "csr", "a", "csr", "done", utcnow(), utcnow()))
    ledger.put_csr("a", CsrEntry(pem="PEM", fingerprint="ff", at=utcnow()))
    ledger.forget("a", ["csr:a"], why="force_csr")
    state = Ledger.open(tmp_path, "lab", "ipsec").state
    assert "csr:a" not in state.steps and "a" not in state.csrs and state.events[-1].text == "force_csr"


V1_LEDGER = {
    "version": 1, "cluster": "lab", "purpose": "ipsec", "run_id": "abc123", "ticket": "CHG1", "status": "waiting",
    "created": "2026-11-26T20:00:00+00:00", "finished": None, "nodes": ["a"],
    "order": ["csr:a", "ca-submit:a"],
    "steps": {"csr:a": {"key": "csr:a", "name": "csr", "node": "a", "phase": "csr", "outcome": "done",
                        "started": "2026-11-26T20:00:01+00:00", "ended": "2026-11-26T20:00:02+00:00",
                        "detail": "ok", "data": {}}},
    "csrs": {"a": {"pem": "PEM", "fingerprint": "ff", "at": "2026-11-26T20:00:02+00:00"}},
    "requests": {"a": {"id": "7", "backend": "lab", "csr_fingerprint": "ff", "at": "2026-11-26T20:00:03+00:00"}},
    "certificates": {"a": {"before": "ee"}}, "overrides": [], "checks": [
        {"name": "single_run", "status": "passed", "reason": "held", "remedy": "", "guards": ["csr"],
         "override_reason": ""}],
    "events": [{"at": "2026-11-26T20:00:00+00:00", "text": "started"}], "baseline": None,
    "plan": {"nodes": [{"name": "a", "short": "a", "role": "publisher", "kind": "CUCM", "action": "renew",
                        "reason": "due", "days_left": 3.0, "not_after": None, "fingerprint": "ee"}],
             "steps": [{"key": "csr:a", "phase": "csr", "name": "csr", "node": "a", "service": None, "detail": ""},
                       {"key": "ca-submit:a", "phase": "ca", "name": "ca-submit", "node": "a", "service": None,
                        "detail": ""}],
             "threshold_days": 60, "security_mode": None, "notes": []},
}


def test_version_1_ledger_is_migrated_on_load(tmp_path):
    path = tmp_path / "lab" / "ipsec.json"
    atomic_write_json(path, V1_LEDGER)
    ledger = Ledger.open(tmp_path, "lab", "ipsec")
    state = ledger.state
    assert state.version == STATE_VERSION and state.status == "waiting" and state.active
    assert state.order == ("csr:a", "ca-submit:a") and state.steps["csr:a"].finished
    assert state.requests["a"].id == "7" and state.certificates["a"].before == "ee"
    assert state.checks[0].guards == ("csr",) and state.plan.nodes[0].fingerprint == "ee"
    ledger.event("resumed")                                          # the next write is version 2
    assert json.loads(path.read_text())["version"] == STATE_VERSION


@pytest.mark.parametrize("content, why", [
    (json.dumps({**V1_LEDGER, "version": 99}), "version is 99"),
    ("{not json", "not JSON"),
    (json.dumps({**V1_LEDGER, "steps": {"csr:a": {"outcome": "exploded"}}}), "does not match"),
])
def test_unreadable_ledger_is_refused_naming_file_and_remedy(tmp_path, content, why):
    path = tmp_path / "lab" / "ipsec.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(InterlockError) as caught:
        Ledger.open(tmp_path, "lab", "ipsec")
    text = str(caught.value)
    assert str(path) in text and why in text and "history" in text and "Remedy" in text
    assert load_state(tmp_path / "lab" / "missing.json") is None


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "x.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"b": 2})
    assert json.loads(target.read_text()) == {"b": 2}


def test_lock_excludes_a_second_run(tmp_path):
    first = ClusterLock.for_cluster(tmp_path, "lab")
    first.acquire(purpose="tomcat", ticket="CHG1")
    second = ClusterLock.for_cluster(tmp_path, "lab")
    with pytest.raises(InterlockError, match="CHG1"):
        second.acquire(purpose="ipsec", ticket="CHG2")
    first.release()
    second.acquire(purpose="ipsec", ticket="CHG2")
    assert second.holder().ticket == "CHG2"
    second.release()
    assert not (tmp_path / "lab" / "lock").exists()


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
    code = ("import sys; from pathlib import Path; from cucmkit.renewal.lock import ClusterLock;"
            "ClusterLock.for_cluster(Path(sys.argv[1]), 'lab').acquire(purpose='CAPF', ticket='CHG9')")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)   # exits holding the lock
    lock = ClusterLock.for_cluster(tmp_path, "lab")
    assert lock.holder().ticket == "CHG9"
    lock.acquire(purpose="tomcat", ticket="CHG10")
    assert lock.took_over.ticket == "CHG9" and "gone" in lock.stale
    lock.release()


def test_phone_gate_open_clear(tmp_path):
    gate = PhoneGate.for_cluster(tmp_path, "lab")
    gate.open("CallManager", reason="identity installed", ticket="CHG1")
    gate.open("CallManager", reason="services restarted")
    pending = PhoneGate.for_cluster(tmp_path, "lab").pending()
    assert list(pending) == ["CallManager"] and pending["CallManager"].reason == "identity installed"
    gate.clear("CallManager", detail="40 registered")
    assert gate.pending() == {}


def test_unreadable_lock_file_is_debris_after_a_grace(tmp_path):
    path = tmp_path / "lab" / "lock"
    path.parent.mkdir(parents=True)
    path.write_text("")                                  # a crash between create and write
    old = path.stat().st_mtime - 60
    os.utime(path, (old, old))
    lock = ClusterLock.for_cluster(tmp_path, "lab")
    lock.acquire(purpose="tomcat", ticket="CHG1")
    assert lock.holder().ticket == "CHG1"
    lock.release()
