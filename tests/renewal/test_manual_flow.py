"""Each purpose renewed with the manual outbox/inbox CA flow, in mixed mode.

The run stops cleanly with "waiting for the CA"; a thread plays the person at
the CA (outbox -> lab CA -> inbox); the next run picks the files up.
"""

from __future__ import annotations

import pytest

from .conftest import CaPlayer
from .labcheck import assert_renewed

CASES = [
    ("tomcat", (), ()),
    ("ipsec", ("cucm-sub1",), ()),
    ("CAPF", ("cucm-pub",), ("cucm-sub1", "cucm-sub2")),
    ("CallManager", (), ()),
    ("TVS", ("cucm-pub", "cucm-sub1"), ()),
]


@pytest.mark.parametrize(("purpose", "explicit", "self_signed"), CASES, ids=[c[0] for c in CASES])
def test_purpose_with_manual_ca_in_mixed_mode(env, purpose, explicit, self_signed):
    env.lab.state.set_security_mode(1)
    ctl_before = env.lab.state.ctl
    ca = env.manual_ca()
    with env.open(purpose, ca=ca, nodes=explicit) as renewal:
        first = renewal.run()
        renew = [n.name for n in renewal.plan().renew]
        assert first.status == "waiting" and "waiting for the CA" in first.message
        assert sorted(ca.pending()) == sorted(ca.request_name(n, purpose) for n in renew)
        assert all(env.lab.state.node(n).pending_csr(purpose) for n in renew)   # nothing installed yet
        again = renewal.run()                       # still nothing in the inbox: still waiting, no new CSR
        assert again.status == "waiting"
        assert [s.detail for s in again.steps if s.name == "csr"] == [s.detail for s in first.steps if s.name == "csr"]
        player = CaPlayer(ca, env.lab, purpose).answer_all(timeout=10)
        result = renewal.run()
    ledger = assert_renewed(env, purpose, result, self_signed=self_signed)
    assert sorted(player.answered) == sorted(ca.request_name(n, purpose) for n in renew)
    if renewal.purpose.ctl_update_in_mixed_mode:
        order = ledger["order"]
        assert order.index("ctl-update") < min(i for i, k in enumerate(order) if k.startswith("restart:"))
        assert env.lab.state.ctl.version == ctl_before.version + 1    # the lab's log: before every restart
    else:
        assert "ctl-update" not in ledger["order"]
