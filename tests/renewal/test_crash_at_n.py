"""Kill a fresh run after step n (CUCMKIT_CRASH_AFTER_STEP) and re-run: it always ends correct.

The engine runs in a child process (``cucmkit renew ... --approve``) against the
lab in this process. ``CUCMKIT_CRASH_AFTER_STEP=n`` ends the child with exit
code 137 right after its n-th completed step was persisted.
"""

from __future__ import annotations

import pytest

from cucmkit.lab import pki

from .crashkit import finished_steps, renew_child, requests_for
from .labcheck import assert_no_repeats, assert_restart_order


@pytest.mark.parametrize("n", [1, 4, 5, 7])
def test_crash_at_step_n_then_rerun(env, n):
    """A fresh run killed after step n (CSR, CA collect, trust, identity...), then one re-run finishes it."""
    purpose, nodes = "ipsec", ("cucm-sub1",)
    crashed = renew_child(env, purpose, f"CHG-N{n}", nodes, crash=n)
    assert crashed.returncode == 137, crashed.stderr[-2000:]
    assert len(finished_steps(env, purpose)) == n
    csr = env.ledger(purpose).state.csrs["cucm-sub1.lab.example"]
    with env.open(purpose, ticket=f"CHG-N{n}", nodes=nodes) as renewal:
        status = renewal.status()                  # the ledger's word, nothing touched
    assert status.status == "failed" and "interrupted" in status.message and len(status.steps) >= n
    rerun = renew_child(env, purpose, f"CHG-N{n}", nodes)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-2000:]
    state = env.ledger(purpose).state
    assert state.csrs["cucm-sub1.lab.example"].fingerprint == csr.fingerprint
    assert len(requests_for(env.lab, state.csrs["cucm-sub1.lab.example"].pem)) == 1
    own = env.lab.state.node("cucm-sub1").own()["ipsec"]
    assert pki.fingerprint(own.pem) == state.certificates["cucm-sub1.lab.example"].after
    assert own.active_pem == own.pem
    assert_no_repeats(env, purpose)            # the lab's log: the crash did not cause a second CSR or upload
    assert_restart_order(env, purpose)
