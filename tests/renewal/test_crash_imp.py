"""cup-xmpp (IM&P, Cisco XCP Router): kill the run right after every step and re-run; it always ends correct."""

from __future__ import annotations

import json

import pytest

from cucmkit.lab import pki

from .crashkit import finished_steps, renew_child, requests_for
from .labcheck import assert_no_repeats, assert_restart_order


def test_cup_xmpp_crash_after_every_step_then_resume(env):
    purpose, nodes = "cup-xmpp", ("imp-pub",)
    imp = env.lab.state.node("imp-pub")
    csr_seen, crashes = None, 0
    for _ in range(40):
        before = finished_steps(env, purpose)
        child = renew_child(env, purpose, "CHG-IMP", nodes, crash=1)
        if child.returncode == 0:
            break
        assert child.returncode == 137, child.stderr[-2000:]
        crashes += 1
        after = finished_steps(env, purpose)
        assert len(after) == len(before) + 1 and after[: len(before)] == before
        csr = env.ledger(purpose).state.csrs.get(imp.fqdn)
        if csr_seen is None and csr:
            csr_seen = csr.fingerprint
        assert csr is None or csr.fingerprint == csr_seen, "a CSR was regenerated after a crash"
    else:
        pytest.fail("the run never finished")
    assert json.loads(child.stdout)["status"] == "done"
    state = env.ledger(purpose).state
    assert crashes == len(state.order)
    assert [k for k in state.order if k.startswith("restart:")] == [
        f"restart:{imp.fqdn}:Cisco XCP Router", f"restart:{imp.fqdn}:Cisco Intercluster Sync Agent"]
    assert len(requests_for(env.lab, state.csrs[imp.fqdn].pem)) == 1     # one CA request across every crash
    own = imp.own()[purpose]
    assert pki.fingerprint(own.pem) == state.certificates[imp.fqdn].after and own.active_pem == own.pem
    assert imp.xmpp_sessions() == env.lab.state.knobs.jabber_sessions      # Jabber is back
    assert_no_repeats(env, purpose)
    assert_restart_order(env, purpose)
    again = renew_child(env, purpose, "CHG-IMP", nodes)
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "skipped"
