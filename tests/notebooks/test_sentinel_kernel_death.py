"""A real runbook whose kernel is killed while services restart: truthful, secret-free evidence."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from cucmkit.evidence import verify
from cucmkit.lab import LabCluster

from .conftest import ENV_VAR, REPO, assert_nowhere, child_env, evidence_folders, sentinels, write_params
from .sentinels import assert_no_encoding

pytestmark = pytest.mark.notebook


def _args(purpose: str, params: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [purpose, "-f", str(params), "--ticket", "CHG-901", "--evidence-root", str(tmp_path / "evidence"),
            "--state-dir", str(tmp_path / "state"), "--ca", "lab", "--approve", *extra]


def _phases(record: dict) -> list[tuple[str, str]]:
    return [(p["name"], p["status"]) for p in record["phases"]]


def _kernel_pids(mark: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"ipykernel" in cmdline and f"CUCMKIT_TEST_MARK={mark}".encode() in environ:
            pids.append(int(entry.name))
    return pids


def _restarting(lab: LabCluster) -> bool:
    return any(state.status in ("Stopping", "Starting")
               for name in ("cucm-pub", "cucm-sub1", "cucm-sub2") for state in lab.state.node(name).services().values())


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to find the kernel")
def test_kernel_death_during_activate(slow_lab: LabCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = write_params(slow_lab, tmp_path / "lab.yaml")
    monkeypatch.setenv(ENV_VAR, slow_lab.state.secret("os_admin"))
    mark = uuid.uuid4().hex
    proc = subprocess.Popen([sys.executable, "-m", "cucmkit", "run",
                             *_args("CallManager", params, tmp_path, "--timeout", "120")],
                            cwd=REPO, env=child_env(slow_lab, CUCMKIT_TEST_MARK=mark), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while not _restarting(slow_lab):
            assert proc.poll() is None and time.monotonic() < deadline, "activate never started"
            time.sleep(0.2)
        pids = _kernel_pids(mark)
        assert len(pids) == 1
        os.kill(pids[0], signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stdout + stderr
    folders = evidence_folders(tmp_path / "evidence")
    assert len(folders) == 1
    folder, record = folders[0], json.loads((folders[0] / "result.json").read_text())
    assert (record["status"], record["papermill"]["failure"]) == ("failed", "kernel-died")
    assert record["papermill"]["exception"] == "DeadKernelError"
    assert _phases(record)[-1] == ("activate", "interrupted")
    activate = record["phases"][-1]["steps"]
    assert activate and activate[-1]["outcome"] == "interrupted" and activate[-1]["ended"] is None
    assert all(s["ended"] and s["outcome"] != "running" for s in activate[:-1])
    assert ("phones", "done") not in _phases(record)
    assert record["last_cell_started"]["step"] == "activate"
    assert "KERNEL-DIED" in (folder / "CallManager.html").read_text().upper()
    assert_nowhere(sentinels(slow_lab), folder=tmp_path / "evidence", texts=(stdout, stderr))
    assert_no_encoding(sentinels(slow_lab), folder=tmp_path / "evidence", texts=(stdout, stderr))
    assert verify(folder, parameter_files=[params]).ok
