"""Ctrl-C on ``cucmkit renew``: the run stops at the next step boundary (a second Ctrl-C: at once),
one line on stderr, no traceback, exit 130, the lock released, and a re-run finishes the job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

from cucmkit.renewal.lock import ClusterLock

from .crashkit import CRASH_ENV

PUB = "cucm-pub.lab.example"


def _start(env) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "cucmkit", "renew", "CAPF", "-f", str(env.params_file), "--ticket", "CHG-INT",
           "--ca", "lab", "--approve", "--json", "--state-dir", str(env.state_dir), "--nodes", "cucm-pub"]
    child_env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    return subprocess.Popen(cmd, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class _Stderr:
    """The child's stderr read as it comes (a thread), so a test can wait for one line before acting."""

    def __init__(self, child: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(child,), daemon=True)
        self._thread.start()

    def _read(self, child: subprocess.Popen[str]) -> None:
        assert child.stderr is not None
        for line in child.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, prefix: str, child: subprocess.Popen[str], timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((line for line in self.lines if line.startswith(prefix)), None)
            if found is not None:
                return found
            if child.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no line starting {prefix!r} on stderr: {self.lines[-20:]}")

    def text(self) -> str:
        self._thread.join(timeout=10)
        return "\n".join(self.lines)


def _until_restarting(env, child: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        state = env.ledger("CAPF").reload() if env.ledger("CAPF").path.exists() else None
        if state and any(r.name == "restart" and r.outcome == "running" for r in state.steps.values()):
            return
        time.sleep(0.05)
    raise AssertionError(f"the child never reached a restart step: {child.communicate()[1][-2000:]}")


def test_ctrl_c_stops_at_the_step_boundary_with_one_line_and_exit_130(env):
    env.lab.state.faults.set("cucm-pub", "slow_restart", 300)          # a restart takes ~3 s
    child = _start(env)
    _until_restarting(env, child)
    stderr = _Stderr(child)
    child.send_signal(signal.SIGINT)
    announced = stderr.wait_for("cucmkit renew: SIGINT:", child)       # said at once, not after the restart
    assert "next step boundary" in announced and "Ctrl-C again" in announced
    child.wait(timeout=120)
    err = stderr.text()
    env.lab.state.faults.clear("cucm-pub")
    assert child.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    last = [line for line in err.splitlines() if not line.startswith("  .. ") and line != announced]
    assert last[0].startswith("interrupted:") and "re-run" in last[0]       # one line says what happened
    standing = last[1:]                                                      # then where the cluster stands
    assert standing[0] == "where the cluster stands:" and standing[-1].startswith("resume: cucmkit renew CAPF")
    assert all(line.startswith("  ") or line.startswith("the cluster is half-activated") for line in standing[1:-1])
    state = env.ledger("CAPF").reload()
    assert state.status == "stopped"
    restarts = [r for r in state.steps.values() if r.name == "restart"]
    assert restarts and all(r.outcome == "done" for r in restarts)   # the step in flight finished
    assert ClusterLock.for_cluster(env.state_dir, env.params.cluster).status().verdict == "free"
    again = _start(env)
    out, err = again.communicate(timeout=180)
    assert again.returncode == 0, err[-2000:]
    assert json.loads(out)["status"] == "done"


def test_a_second_ctrl_c_stops_at_once_without_a_traceback(env):
    env.lab.state.faults.set("cucm-pub", "slow_restart", 3000)         # a restart takes minutes
    child = _start(env)
    _until_restarting(env, child)
    stderr = _Stderr(child)
    child.send_signal(signal.SIGINT)
    stderr.wait_for("cucmkit renew: SIGINT:", child)    # the first one was handled (two at once coalesce)
    child.send_signal(signal.SIGINT)
    started = time.monotonic()
    try:
        child.wait(timeout=60)
    except subprocess.TimeoutExpired:
        child.kill()
        raise AssertionError(f"a second Ctrl-C did not stop the run within 60 s: {stderr.text()[-2000:]}") from None
    err = stderr.text()
    env.lab.state.faults.clear("cucm-pub")
    assert child.returncode == 130 and time.monotonic() - started < 25, err[-2000:]
    assert "Traceback" not in err and "interrupted: stopped at once" in err
    assert ClusterLock.for_cluster(env.state_dir, env.params.cluster).status().verdict == "free"
