"""cup-xmpp (IM&P, Cisco XCP Router): kill the run right after every step and re-run; it always ends correct."""

from __future__ import annotations

import json

from cucmkit.lab import pki

from .crashkit import crash_after_every_step, renew_child, requests_for
from .labcheck import assert_no_repeats, assert_restart_order


def test_cup_xmpp_crash_after_every_step_then_resume(env):
    purpose, nodes = "cup-xmpp", ("imp-pub",)
    imp = env.lab.state.node("imp-pub")
    child, crashes = crash_after_every_step(env, purpose, "CHG-IMP", nodes, csr_node=imp.fqdn)
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
