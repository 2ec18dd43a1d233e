"""Run the engine in a child process (the crash tests).

``crash=n`` puts ``crashhook/`` (a ``sitecustomize`` step observer) on the child's
``PYTHONPATH`` with ``CUCMKIT_CRASH_AFTER_STEP=n``: the child ends with exit code
137 right after its n-th finished step was persisted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cucmkit.renewal.state import Ledger

__all__ = ["renew_child", "finished_steps", "requests_for", "CRASH_ENV", "HOOK_DIR"]

CRASH_ENV = "CUCMKIT_CRASH_AFTER_STEP"
HOOK_DIR = Path(__file__).with_name("crashhook")


def renew_child(env, purpose, ticket, nodes, crash=None, extra=()):
    cmd = [sys.executable, "-m", "cucmkit.renewal.command", "renew", purpose, "-f", str(env.params_file), "--ticket", ticket,
           "--ca", "lab", "--approve", "--json", "--state-dir", str(env.state_dir), *extra, "--nodes", *nodes]
    child_env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    if crash is not None:
        child_env[CRASH_ENV] = str(crash)
        child_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HOOK_DIR), os.environ.get("PYTHONPATH")) if p)
    return subprocess.run(cmd, env=child_env, capture_output=True, text=True, timeout=120)


def finished_steps(env, purpose):
    state = Ledger.open(env.state_dir, env.params.cluster, purpose).state
    return [r.key for r in state.records() if r.finished]


def requests_for(lab, csr_pem):
    found, req_id = [], 1
    while (req := lab.ca.request(req_id)) is not None:
        if req.csr_pem.strip() == csr_pem.strip():
            found.append(req_id)
        req_id += 1
    return found
