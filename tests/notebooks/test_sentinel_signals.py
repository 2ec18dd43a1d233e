"""Kill `cucmkit run` (SIGTERM, SIGKILL) at points across a real CallManager run on the lab, re-run each time.

After every signal: no change on the lab beyond the step in flight (the lab's
event log, with timestamps), evidence filed and truthful (``stopped``, by the
runner or, after a SIGKILL, by its orphaned papermill child), no kernel left,
no temporary folder left, the lock free (the next run takes it). The last
re-run completes: every service restarted exactly once, no CSR regenerated.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psutil
import pytest

from cucmkit.evidence import verify
from cucmkit.lab import LabCluster
from cucmkit.stopping import PARENT_POLL

from .conftest import ENV_VAR, REPO, assert_nowhere, child_env, evidence_folders, make_lab, sentinels, write_params

_EXECUTOR = Path(__file__).resolve().parents[2] / "cucmkit" / "renewal" / "executor.py"
pytestmark = [pytest.mark.notebook,
              pytest.mark.skipif("stopping.check(" not in _EXECUTOR.read_text(),
                                 reason="needs the engine's stop at step boundaries (executor calls stopping.check)")]

# (lab event that marks the kill point, signal): among the CSRs, during a restart, between two restarts
KILLS = (("csr_generated", signal.SIGTERM), ("restart_requested", signal.SIGKILL),
         ("restart_completed", signal.SIGTERM))
STARTS = ("restart_requested", "service_stopped", "csr_generated", "identity_uploaded", "trust_uploaded",
          "trust_deleted", "regenerated", "ctl_updated", "devices_reset", "itl_deleted")   # a change begins


@pytest.fixture(scope="module")
def kill_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    with make_lab(tmp_path_factory.mktemp("killlab") / "state") as lab:
        lab.state.faults.set("*", "slow_restart", 8)      # a restart lasts a few seconds: a kill lands in one
        yield lab


def _start(lab: LabCluster, tmp_path: Path, mark: str) -> subprocess.Popen[str]:
    args = ["CallManager", "-f", str(tmp_path / "lab.yaml"), "--ticket", "CHG-KILL", "--evidence-root",
            str(tmp_path / "evidence"), "--state-dir", str(tmp_path / "state"), "--ca", "lab", "--approve",
            "--timeout", "120"]
    env = child_env(lab, CUCMKIT_TEST_MARK=mark, TMPDIR=str(tmp_path / "tmp"))
    return subprocess.Popen([sys.executable, "-m", "cucmkit", "run", *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _engine_events(lab: LabCluster, since: float, kind: str | tuple[str, ...]) -> list:
    return [e for e in lab.state.events(since=since, kind=kind) if e.get("door") != "api"]


def _leftovers(tmp_path: Path, mark: str) -> list[str]:
    kernels = [p.pid for p in psutil.process_iter(["environ"])
               if (p.info["environ"] or {}).get("CUCMKIT_TEST_MARK") == mark]
    return [f"process {pid}" for pid in kernels] + [p.name for p in (tmp_path / "tmp").iterdir()]


def _wait(condition, what: str, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _kill_at(lab: LabCluster, tmp_path: Path, kind: str, sig: int, count: int) -> float:
    """Start a run, send ``sig`` when the lab sees ``kind``; return when the evidence is filed. The signal time."""
    mark, since = uuid.uuid4().hex, time.time()
    proc = _start(lab, tmp_path, mark)
    try:
        _wait(lambda: _engine_events(lab, since, kind) or proc.poll() is not None, f"never reached {kind}")
        assert proc.poll() is None, proc.communicate()
        signalled = time.time()
        os.kill(proc.pid, sig)
        if sig == signal.SIGTERM:
            stdout, stderr = proc.communicate(timeout=120)
            assert proc.returncode == 130, stdout + stderr
            assert "STOPPED" in stdout
            assert_nowhere(sentinels(lab), texts=(stdout, stderr))
        _wait(lambda: len(list((tmp_path / "evidence").glob("*/*/*/manifest.json"))) == count, "no evidence")
        _wait(lambda: not _leftovers(tmp_path, mark), f"left behind: {_leftovers(tmp_path, mark)}", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    return signalled


def _moment(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def _assert_only_the_steps_in_flight(lab: LabCluster, signalled: float, latency: float, record: dict) -> None:
    """No step starts after the signal (give or take how long the stop takes to arrive); the lab's changes after
    the signal all belong to a step that was in flight (the CSR phase runs its nodes' steps in parallel)."""
    steps = [(s["node"], _moment(s["started"]), _moment(s["ended"])) for s in record["steps"]]
    late_steps = [(node, start - signalled) for node, start, _ in steps if start and start > signalled + latency]
    assert not late_steps, late_steps
    in_flight = {node for node, start, end in steps if start and (end is None or end >= signalled)}
    in_flight |= {node.split(".")[0] for node in in_flight if node}
    late = _engine_events(lab, signalled, STARTS)
    strays = [(e.kind, e.node, e.time - signalled) for e in late
              if e.node not in in_flight and e.node.split(".")[0] not in in_flight]
    assert not strays, (strays, in_flight)


def _stopped_record(tmp_path: Path, params: Path) -> dict:
    folder = evidence_folders(tmp_path / "evidence")[-1]
    record = json.loads((folder / "result.json").read_text())
    assert (record["status"], record["papermill"]["error_name"]) == ("stopped", "StoppedError"), record["message"]
    assert record["phases"][-1]["status"] == "interrupted"      # the phase it stopped in never ended
    assert all(s["ended"] for s in record["steps"] if s["outcome"] == "done")
    assert not any(s["outcome"] == "running" for s in record["steps"])
    report = verify(folder, parameter_files=[params])
    assert report.ok, report.lines()
    return record


def test_sigterm_and_sigkill_across_a_callmanager_run(kill_lab: LabCluster, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    params = write_params(kill_lab, tmp_path / "lab.yaml")
    monkeypatch.setenv(ENV_VAR, kill_lab.state.secret("os_admin"))    # so that verify can look for it here too
    (tmp_path / "tmp").mkdir()
    begin = time.time()
    for count, (kind, sig) in enumerate(KILLS, start=1):
        signalled = _kill_at(kill_lab, tmp_path, kind, sig, count)
        latency = 0.3 if sig == signal.SIGTERM else PARENT_POLL + 0.3   # SIGKILL: the kernel polls for its runner
        _assert_only_the_steps_in_flight(kill_lab, signalled, latency, _stopped_record(tmp_path, params))
    proc = _start(kill_lab, tmp_path, uuid.uuid4().hex)         # the lock is free: the re-run resumes and ends
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 0, stdout + stderr
    folder = evidence_folders(tmp_path / "evidence")[-1]
    assert json.loads((folder / "result.json").read_text())["status"] == "done"
    events = _engine_events(kill_lab, begin, ("restart_completed", "csr_generated"))
    restarts = Counter((e.node, e.get("service")) for e in events if e.kind == "restart_completed")
    assert restarts and set(restarts.values()) == {1}, restarts
    csrs = Counter(e.node for e in events if e.kind == "csr_generated")
    assert csrs and set(csrs.values()) == {1}, csrs
    assert_nowhere(sentinels(kill_lab), folder=tmp_path / "evidence", texts=(stdout, stderr))
    assert list((tmp_path / "tmp").iterdir()) == []
