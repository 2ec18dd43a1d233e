"""Every kind of step a plan can hold has exactly one handler; the registry is typed, not string dispatch."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cucmkit import catalogue
from cucmkit.renewal.plan import TVS_SERVICE, NodeFacts, Step, build_plan
from cucmkit.renewal.steps import HANDLERS, StepKind, handler_for

SERVICES = frozenset({"Cisco Tomcat", "Cisco CallManager", "Cisco Certificate Authority Proxy Function",
                      TVS_SERVICE, "Cisco IPsec Manager"})
NODES = (NodeFacts("pub.example", "pub", "publisher", "CUCM", SERVICES),
         NodeFacts("sub.example", "sub", "subscriber", "CUCM", SERVICES),
         NodeFacts("imp.example", "imp", "publisher", "IM&P", frozenset({"Cisco Tomcat"})))


def test_every_step_kind_has_one_handler():
    assert set(HANDLERS) == set(StepKind)
    assert len({id(h) for h in HANDLERS.values()}) == len(StepKind)


@pytest.mark.parametrize("purpose", catalogue.names())
def test_every_planned_step_has_a_handler(purpose):
    plan = build_plan(cluster="c", purpose=catalogue.get(purpose), nodes=NODES, certificates={},
                      now=datetime.now(UTC), threshold_days=60, security_mode=1)
    assert plan.steps
    for step in plan.steps:
        assert handler_for(step) is HANDLERS[StepKind(step.name)]


def test_unknown_step_kind_is_refused_by_name():
    with pytest.raises(ValueError, match="no handler for step kind 'reboot'"):
        handler_for(Step("reboot:x", "activate", "reboot", "x"))
