"""The cluster lock: holder identity (pid + start time + host), stale vs live vs foreign, explicit release."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from cucmkit.errors import InterlockError
from cucmkit.renewal.lock import ClusterLock, judge, lock_log, process_start, release_lock
from cucmkit.renewal.state import Ledger, StoredPlan, utcnow


def _write(path: Path, **fields: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"token": "t0", "pid": os.getpid(), "host": socket.gethostname(), "purpose": "CAPF",
            "ticket": "CHG9", "acquired": utcnow().isoformat(), **fields}
    path.write_text(json.dumps({k: v for k, v in body.items() if v is not None}))


def _log_entries(tmp_path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in lock_log(tmp_path / "lab").read_text().splitlines()]


@pytest.fixture
def sleeper():
    """A live process on this host, started now."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait()


def test_the_lock_records_pid_start_time_and_host(tmp_path):
    lock = ClusterLock.for_cluster(tmp_path, "lab")
    lock.acquire(purpose="tomcat", ticket="CHG1")
    holder = lock.holder()
    assert holder.pid == os.getpid() and holder.host == socket.gethostname()
    assert holder.started is not None and holder.started == process_start(os.getpid())
    assert lock.status().verdict == "mine"
    lock.release()


def test_a_live_holder_is_never_taken_over_at_any_age(tmp_path, sleeper):
    path = tmp_path / "lab" / "lock"
    _write(path, pid=sleeper.pid, started=process_start(sleeper.pid),
           acquired=(utcnow() - timedelta(hours=30)).isoformat())
    lock = ClusterLock.for_cluster(tmp_path, "lab")
    with pytest.raises(InterlockError) as caught:
        lock.acquire(purpose="ipsec", ticket="NEW")
    assert f"pid {sleeper.pid}" in caught.value.message and "CHG9" in caught.value.message
    assert "never taken over" in caught.value.remedy and "expires when" not in str(caught.value)
    assert json.loads(path.read_text())["ticket"] == "CHG9"


def test_a_reused_pid_is_stale_at_once(tmp_path, sleeper):
    path = tmp_path / "lab" / "lock"
    _write(path, pid=sleeper.pid, started="proc:some-earlier-boot:12")   # the pid's process is another one
    verdict = ClusterLock.for_cluster(tmp_path, "lab").status()
    assert verdict.verdict == "stale" and "reused" in verdict.reason
    lock = ClusterLock.for_cluster(tmp_path, "lab")
    lock.acquire(purpose="tomcat", ticket="NEW")
    assert lock.took_over.ticket == "CHG9" and "reused" in lock.stale
    assert _log_entries(tmp_path)[-1]["action"] == "took-over"
    lock.release()


def test_an_old_format_lock_of_a_reused_pid_is_stale(tmp_path, sleeper):
    """Today's files have no start time: a pid whose process started after the lock was taken is reused."""
    path = tmp_path / "lab" / "lock"
    _write(path, pid=sleeper.pid, acquired=(utcnow() - timedelta(minutes=10)).isoformat())
    assert ClusterLock.for_cluster(tmp_path, "lab").status().verdict == "stale"
    _write(path, pid=sleeper.pid, acquired=(utcnow() + timedelta(minutes=1)).isoformat())
    assert ClusterLock.for_cluster(tmp_path, "lab").status().verdict == "held"


def test_an_old_format_lock_of_a_dead_pid_is_stale(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    _write(tmp_path / "lab" / "lock", pid=int(done.stdout))
    verdict = ClusterLock.for_cluster(tmp_path, "lab").status()
    assert verdict.verdict == "stale" and "gone" in verdict.reason


def test_another_hosts_lock_is_never_broken_and_names_the_host(tmp_path):
    path = tmp_path / "lab" / "lock"
    _write(path, host="jump-host-7", pid=999999, acquired=(utcnow() - timedelta(days=3)).isoformat())
    lock = ClusterLock.for_cluster(tmp_path, "lab")
    with pytest.raises(InterlockError) as caught:
        lock.acquire(purpose="tomcat", ticket="NEW")
    assert "jump-host-7" in str(caught.value) and "cucmkit lock release" in caught.value.remedy
    assert path.exists()


def test_release_records_the_reason_in_the_log_and_the_holders_ledger(tmp_path):
    ledger = Ledger.open(tmp_path, "lab", "CAPF")
    ledger.begin(ticket="CHG9", plan=StoredPlan(nodes=(), steps=(), threshold_days=60), nodes=[])
    _write(tmp_path / "lab" / "lock", host="jump-host-7")
    noted: list[str] = []
    verdict = release_lock(tmp_path, "lab", reason="jump-host-7 rebooted mid-run", by="alice@here",
                           on_released=lambda h: noted.append(h.ticket))
    assert verdict.verdict == "foreign" and noted == ["CHG9"]
    assert not (tmp_path / "lab" / "lock").exists()
    entry = _log_entries(tmp_path)[-1]
    assert entry["action"] == "released" and entry["reason"] == "jump-host-7 rebooted mid-run"
    assert entry["by"] == "alice@here" and entry["was"]["host"] == "jump-host-7"


def test_release_refuses_a_live_holder_and_a_missing_reason(tmp_path, sleeper):
    _write(tmp_path / "lab" / "lock", pid=sleeper.pid, started=process_start(sleeper.pid))
    with pytest.raises(InterlockError, match="running process"):
        release_lock(tmp_path, "lab", reason="impatient", by="bob")
    with pytest.raises(ValueError, match="reason"):
        release_lock(tmp_path, "lab", reason="  ", by="bob")
    assert (tmp_path / "lab" / "lock").exists()


def test_judge_is_pure_over_the_holder(tmp_path):
    lock = ClusterLock.for_cluster(tmp_path, "lab")
    lock.acquire(purpose="tomcat", ticket="CHG1")
    assert judge(lock.holder()).verdict == "held"
    assert judge(lock.holder(), host="elsewhere").verdict == "foreign"
    lock.release()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run([sys.executable, "-m", "cucmkit", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_cucmkit_lock_status_and_release(tmp_path):
    params = tmp_path / "parameters" / "lab.yaml"
    params.parent.mkdir()
    params.write_text((Path(__file__).resolve().parents[2] / "parameters" / "lab.yaml").read_text())
    state_dir = tmp_path / "state"
    lock_path = state_dir / "lab" / "lock"
    _write(lock_path, host="jump-host-7")
    status = _cli("lock", "status", "-f", str(params), "--state-dir", str(state_dir), cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "foreign" in status.stdout and "jump-host-7" in status.stdout and "cucmkit lock release" in status.stdout
    released = _cli("lock", "release", "-f", str(params), "--state-dir", str(state_dir),
                    "--reason", "host died", cwd=tmp_path)
    assert released.returncode == 0, released.stderr
    assert "released" in released.stdout and "host died" in released.stdout and not lock_path.exists()
    again = _cli("lock", "status", "-f", str(params), "--state-dir", str(state_dir), "--json", cwd=tmp_path)
    assert json.loads(again.stdout)["verdict"] == "free"
    missing = _cli("lock", "release", "-f", str(params), "--state-dir", str(state_dir), cwd=tmp_path)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
