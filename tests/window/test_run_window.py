"""`cucmkit run` on the lab as the engineer sees it: live lines while it runs; after a stop, where the cluster stands.

Findings: "`cucmkit run` prints nothing until the end ... no step, no node"; "Ctrl-C 25 s into CallManager printed
'stopped by the operator' ... Nothing said the cluster was half-activated, or that a re-run finishes it".
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cucmkit.lab import LabCluster
from tests.notebooks.conftest import REPO, child_env, evidence_folders, make_lab, write_params

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def window_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    with make_lab(tmp_path_factory.mktemp("windowlab") / "state") as lab:
        yield lab


def _args(tmp_path: Path, purpose: str, *extra: str) -> list[str]:
    return [purpose, "-f", str(tmp_path / "lab.yaml"), "--ticket", "CHG-WIN", "--evidence-root",
            str(tmp_path / "evidence"), "--state-dir", str(tmp_path / "state"), "--ca", "lab", "--approve",
            "--timeout", "120", *extra]


def _popen(lab: LabCluster, args: list[str], **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "cucmkit", "run", *args], cwd=REPO, text=True,
                            env=child_env(lab, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_live_lines_while_tomcat_runs_and_the_approver_is_recorded(window_lab: LabCluster, tmp_path: Path) -> None:
    write_params(window_lab, tmp_path / "lab.yaml")
    proc = _popen(window_lab, _args(tmp_path, "tomcat", "--approver", "J. Smith", "--override-window", "P1 outage"))
    first_line_at = None
    lines: list[str] = []
    assert proc.stderr is not None
    for line in proc.stderr:                     # read while it runs: lines arrive before the end
        lines.append(line)
        if first_line_at is None and " done " in line and "csr on " in line:
            first_line_at = time.monotonic()
    stdout = proc.stdout.read() if proc.stdout else ""
    ended = time.monotonic()
    assert proc.wait() == 0, "".join(lines) + stdout
    live = "".join(lines)
    assert first_line_at is not None and ended - first_line_at > 0.5, live   # seen before the run ended
    assert "\x1b[" not in live                                               # plain lines when not a terminal
    assert "plan: due" in live and "approved by J. Smith" in live
    assert "restart on cucm-pub ... (up to" in live and "restarts 1 of " in live
    assert "phase activate: done" in live and "done     identity on cucm-pub" in live
    record = json.loads((evidence_folders(tmp_path / "evidence")[0] / "result.json").read_text())
    assert record["approver"] == "J. Smith" and record["overrides"] == {"maintenance_window": "P1 outage"}
    assert record["standing"] == [] and record["resume"] == ""


def test_a_stop_mid_activation_says_where_each_node_stands_and_the_resume_command_finishes(
        window_lab: LabCluster, tmp_path: Path) -> None:
    write_params(window_lab, tmp_path / "lab.yaml")
    window_lab.state.faults.set("*", "slow_restart", 6)
    try:
        since = time.time()
        proc = _popen(window_lab, _args(tmp_path, "CallManager"), CUCMKIT_STOP_GRACE="2")
        deadline = time.monotonic() + 180
        while not [e for e in window_lab.state.events(since=since, kind="restart_completed")
                   if e.get("door") != "api"]:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        window_lab.state.faults.set("*", "slow_restart", 0)
    assert proc.returncode == 130, stdout + stderr
    assert "where the cluster stands:" in stdout, stdout + stderr
    assert "installed, NOT active until restart" in stdout and "half-activated: a re-run finishes it" in stdout
    resume = next(line.split("resume: ", 1)[1] for line in stdout.splitlines() if "resume: " in line)
    words = shlex.split(resume)
    assert words[:3] == ["cucmkit", "run", "CallManager"] and "--approve" in words
    record = json.loads((evidence_folders(tmp_path / "evidence")[0] / "result.json").read_text())
    assert record["status"] == "stopped" and record["resume"] == resume
    assert any(n["installed"] and n["pending"] for n in record["standing"])
    rerun_since = time.time()
    again = subprocess.run([sys.executable, "-m", "cucmkit", *words[1:]], cwd=REPO, text=True, capture_output=True,
                           env=child_env(window_lab), timeout=400)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.startswith("DONE")
    planned = re.search(r"plan: due, \d+ steps, (\d+) restarts", again.stderr)
    assert planned, again.stderr
    total = planned.group(1)                                   # the release's list (CallManager adds HAProxy on 14)
    assert f"restarts 1 of {total} done" not in again.stderr          # a resumed run never counts from zero
    requested = [e for e in window_lab.state.events(since=rerun_since, kind="restart_requested")
                 if e.get("door") != "api"]
    shown = re.findall(r"restart on \S+ \.\.\.", again.stderr)
    assert len(shown) >= len(requested), (requested, again.stderr)    # every restart the re-run asked for is shown
    if shown:                                                          # restarts were still left when it stopped
        assert re.search(rf"restarts ([2-9]|1\d) of {total} done", again.stderr), again.stderr
    (tmp_path / "transcript.txt").write_text(stdout + stderr + again.stdout + again.stderr)
