"""Signals to `cucmkit run` (real processes, no lab): the parent owns its children.

The notebook's "steps" call ``cucmkit.stopping.check()`` between steps, as the
engine does, and log each step's start to a change log outside the run (the
lab's event log plays that part in tests/notebooks/test_sentinel_signals.py).
SIGTERM, a second signal and the grace period stop the run with evidence and
exit 130; a SIGKILLed runner leaves no kernel changing anything, and its
papermill child files the evidence.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from . import _notebooks
from ._notebooks import _assert_clean

_ATTACH = """import os, time
from cucmkit import stopping
runner = stopping.attach_to_runner()
journal.write("kernel", pid=os.getpid(), runner=runner)
"""

_STEPS = _ATTACH + """for i in range(400):
    stopping.check(where=f"step-{i}")
    with open(CHANGES, "a") as log:
        log.write(f"{time.time()} {i}\\n")
    time.sleep(0.6)
"""

_STUCK = _ATTACH + """with open(CHANGES, "a") as log:
    log.write(f"{time.time()} stuck\\n{time.time()} stuck\\n")
time.sleep(300)                      # a step that never reaches a boundary
"""


def _start(tmp_path: Path, params: Path, body: str, **env: str) -> tuple[subprocess.Popen[str], Path, Path]:
    changes = tmp_path / "changes.log"
    notebooks = _notebooks._notebook(tmp_path / "nb", f"CHANGES = {str(changes)!r}\n" + body)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "cucmkit", "run", "inventory", "-f", str(params), "--ticket",
                             "CHG-SIG", "--evidence-root", str(tmp_path / "ev"), "--notebooks", str(notebooks),
                             "--timeout", "200"], text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "TMPDIR": str(scratch), **env})
    deadline = time.monotonic() + 90
    while len(_changes(changes)) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, "the notebook never started its steps"
        time.sleep(0.1)
    return proc, changes, scratch


def _changes(path: Path) -> list[float]:
    return [float(line.split()[0]) for line in path.read_text().splitlines()] if path.is_file() else []


def _kernels(scratch: Path) -> list[int]:
    return [p.pid for p in psutil.process_iter(["environ"])
            if (p.info["environ"] or {}).get("TMPDIR") == str(scratch) and p.pid != os.getpid()]


def _record(tmp_path: Path) -> tuple[Path, dict]:
    (folder,) = [p for p in (tmp_path / "ev").glob("*/*/*") if p.is_dir()]
    return folder, json.loads((folder / "result.json").read_text())


def test_sigterm_stops_at_the_next_step_boundary(tmp_path: Path, params: Path) -> None:
    proc, changes, scratch = _start(tmp_path, params, _STEPS)
    signalled = time.time()
    os.kill(proc.pid, signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    assert len([t for t in _changes(changes) if t > signalled]) <= 1      # at most the step in flight's neighbour
    folder, record = _record(tmp_path)
    assert record["status"] == "stopped"
    assert (record["papermill"]["failure"], record["papermill"]["error_name"]) == ("cell-error", "StoppedError")
    assert "SIGTERM received" in (folder / "inventory.ipynb").read_text()
    assert "re-run the same command to resume" in (folder / "inventory.html").read_text()
    assert "STOPPED" in stdout and str(folder) in stdout
    assert list(scratch.iterdir()) == [] and _kernels(scratch) == []
    _assert_clean(folder, params)


def test_a_second_signal_kills_a_kernel_that_does_not_reach_a_step_boundary(tmp_path: Path, params: Path) -> None:
    proc, _, scratch = _start_stuck(tmp_path, params, CUCMKIT_STOP_GRACE="120")
    os.kill(proc.pid, signal.SIGTERM)
    time.sleep(1.0)
    assert proc.poll() is None                  # the kernel is stuck in a step: the runner waits for it
    os.kill(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    folder, record = _record(tmp_path)
    assert (record["status"], record["papermill"]["failure"]) == ("failed", "interrupted")
    assert "killed" in record["papermill"]["message"]
    assert list(scratch.iterdir()) == [] and _kernels(scratch) == []
    _assert_clean(folder, params)


def _start_stuck(tmp_path: Path, params: Path, **env: str) -> tuple[subprocess.Popen[str], Path, Path]:
    return _start(tmp_path, params, _STUCK, **env)


def test_the_grace_period_ends_a_stuck_kernel(tmp_path: Path, params: Path) -> None:
    proc, _, scratch = _start_stuck(tmp_path, params, CUCMKIT_STOP_GRACE="2")
    started = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and time.monotonic() - started < 30, stdout + stderr
    folder, record = _record(tmp_path)
    assert (record["status"], record["papermill"]["failure"]) == ("failed", "interrupted")
    assert "after 2 s" in record["papermill"]["message"]
    assert list(scratch.iterdir()) == [] and _kernels(scratch) == []
    _assert_clean(folder, params)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_sigkill_of_the_runner_stops_the_kernel_and_the_child_files_the_evidence(tmp_path: Path,
                                                                                 params: Path) -> None:
    proc, changes, scratch = _start(tmp_path, params, _STEPS)
    killed = time.time()
    os.kill(proc.pid, signal.SIGKILL)           # not reaped yet: a zombie runner must count as gone
    deadline = time.monotonic() + 60
    while not list((tmp_path / "ev").glob("*/*/*/manifest.json")):
        assert time.monotonic() < deadline, "nobody filed the evidence"
        time.sleep(0.2)
    proc.wait()
    assert len([t for t in _changes(changes) if t > killed]) <= 1
    folder, record = _record(tmp_path)
    assert record["status"] == "stopped" and record["papermill"]["error_name"] == "StoppedError"
    assert f"runner (pid {proc.pid})" in record["papermill"]["message"]
    while list(scratch.iterdir()) or _kernels(scratch):
        assert time.monotonic() < deadline, "a temporary folder or a kernel was left behind"
        time.sleep(0.2)
    _assert_clean(folder, params)
