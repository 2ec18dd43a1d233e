"""Run the engine in a child process (the crash tests)."""

from __future__ import annotations

import os
import subprocess
import sys

from cucmkit.renewal.state import Ledger

__all__ = ["renew_child", "finished_steps", "requests_for"]


def renew_child(env, purpose, ticket, nodes, crash=None):
    cmd = [sys.executable, "-m", "cucmkit.renewal.command", "renew", purpose, "-f", str(env.params_file), "--ticket", ticket,
           "--ca", "lab", "--approve", "--json", "--state-dir", str(env.state_dir), "--nodes", *nodes]
    child_env = {k: v for k, v in os.environ.items() if k != "CUCMKIT_CRASH_AFTER_STEP"}
    if crash is not None:
        child_env["CUCMKIT_CRASH_AFTER_STEP"] = str(crash)
    return subprocess.run(cmd, env=child_env, capture_output=True, text=True, timeout=120)


def finished_steps(env, purpose):
    data = Ledger.open(env.state_dir, env.params.cluster, purpose).data
    return [k for k in data["order"] if data["steps"].get(k, {}).get("outcome") in ("done", "skipped")]


def requests_for(lab, csr_pem):
    found, req_id = [], 1
    while (req := lab.ca.request(req_id)) is not None:
        if req.csr_pem.strip() == csr_pem.strip():
            found.append(req_id)
        req_id += 1
    return found
