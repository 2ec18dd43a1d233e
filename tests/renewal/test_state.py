from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from cucmkit.errors import InterlockError
from cucmkit.renewal.state import ClusterLock, Ledger, PhoneGate, StepRecord, atomic_write_json, utcnow


def test_ledger_persists_every_step_and_reloads(tmp_path):
    ledger = Ledger.open(tmp_path, "lab", "tomcat")
    assert not ledger.active
    ledger.begin(ticket="CHG1", nodes=["a"], order=["csr:a"])
    ledger.record(StepRecord("csr:a", "csr", "a", "csr", "done", utcnow(), utcnow(), "ok"))
    ledger.put("csrs", "a", {"fingerprint": "ff"})
    again = Ledger.open(tmp_path, "lab", "tomcat")
    assert again.active and again.step("csr:a").finished and again.get("csrs", "a") == {"fingerprint": "ff"}
    assert json.loads((tmp_path / "lab" / "tomcat.json").read_text())["ticket"] == "CHG1"
    assert not list((tmp_path / "lab").glob(".*.tmp"))


def test_finished_run_is_archived_when_a_new_one_begins(tmp_path):
    ledger = Ledger.open(tmp_path, "lab", "ipsec")
    ledger.begin(ticket="CHG1", nodes=["a"], order=[])
    ledger.set_status("completed")
    ledger.begin(ticket="CHG2", nodes=["b"], order=[])
    history = list((tmp_path / "lab" / "history").glob("ipsec-*.json"))
    assert len(history) == 1 and json.loads(history[0].read_text())["ticket"] == "CHG1"
    assert ledger.data["ticket"] == "CHG2" and ledger.data["steps"] == {}


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
    code = ("import sys; from pathlib import Path; from cucmkit.renewal.state import ClusterLock;"
            "ClusterLock.for_cluster(Path(sys.argv[1]), 'lab').acquire(purpose='CAPF', ticket='CHG9')")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)   # exits holding the lock
    lock = ClusterLock.for_cluster(tmp_path, "lab")
    assert lock.holder().ticket == "CHG9"
    lock.acquire(purpose="tomcat", ticket="CHG10")
    assert lock.took_over.ticket == "CHG9" and "gone" in lock.stale
    lock.release()


def test_lock_expires_after_max_age(tmp_path):
    holder = ClusterLock.for_cluster(tmp_path, "lab")
    holder.acquire(purpose="tomcat", ticket="OLD")      # this live process
    raw = json.loads(holder.path.read_text())
    raw["acquired"] = (utcnow() - timedelta(hours=7)).isoformat()
    holder.path.write_text(json.dumps(raw))
    fresh = ClusterLock.for_cluster(tmp_path, "lab", max_age=3600)
    fresh.acquire(purpose="ipsec", ticket="NEW")
    assert "older than" in fresh.stale
    holder.release()                                    # not its lock any more: leaves it alone
    assert fresh.holder().ticket == "NEW"


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
