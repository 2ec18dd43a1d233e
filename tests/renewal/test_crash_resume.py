"""Kill the run right after every step (CUCMKIT_CRASH_AFTER_STEP) and re-run: it always ends correct.

The engine runs in a child process (``cucmkit renew ... --approve``) against the
lab in this process. ``CUCMKIT_CRASH_AFTER_STEP=n`` ends the child with exit
code 137 right after its n-th completed step was persisted.
"""

from __future__ import annotations

import json

from cucmkit.lab import pki

from .crashkit import crash_after_every_step, renew_child, requests_for
from .labcheck import assert_ctl, assert_no_repeats, assert_restart_order


def test_crash_after_every_step_then_resume(env):
    """Each child completes exactly one more step and dies; the last one finishes the run."""
    env.lab.state.set_security_mode(1)
    purpose, nodes = "CAPF", ("cucm-pub",)
    child, crashes = crash_after_every_step(env, purpose, "CHG-CRASH", nodes,
                                            csr_node=env.lab.state.publisher.fqdn)
    result = json.loads(child.stdout)
    assert result["status"] == "done"
    state = env.ledger(purpose).state
    assert crashes == len(state.order)    # a crash after every step, the last one included
    pub = env.lab.state.publisher.fqdn
    assert len(requests_for(env.lab, state.csrs[pub].pem)) == 1     # one CA request, never resubmitted
    own = env.lab.state.node("cucm-pub").own()["CAPF"]
    assert pki.fingerprint(own.pem) == state.certificates[pub].after and own.active_pem == own.pem
    assert env.lab.state.phone_summary()["registered"] == env.lab.state.phone_summary()["total"]
    assert_no_repeats(env, purpose)            # the lab's log: one CSR, one upload across every crash
    assert_restart_order(env, purpose)
    assert_ctl(env, purpose)
    again = renew_child(env, purpose, "CHG-CRASH", nodes)
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "skipped"
