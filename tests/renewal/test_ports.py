"""The engine's ports match the kit's facade: every member the engine needs exists on Cluster and Node.

mypy proves the full signatures (``cucmkit/wiring.py`` hands a ``Cluster`` to ``Renewal.open``, which
takes a ``ClusterPort``); this test fails fast, without mypy, when a facade method is renamed.
"""

from __future__ import annotations

import inspect

import pytest

from cucmkit.ca.manual import ManualCa
from cucmkit.cucm.node import Cluster, Node
from cucmkit.renewal.ports import ClusterPort, InboxCa, NodePort


def _members(protocol: type) -> set[str]:
    return {name for name in vars(protocol) if not name.startswith("_")}


@pytest.mark.parametrize("protocol, facade, attributes", [
    (ClusterPort, Cluster, {"name", "nodes", "publisher"}),
    (NodePort, Node, {"name", "short", "role", "kind"}),
])
def test_facade_has_every_member_the_engine_needs(protocol, facade, attributes):
    members = _members(protocol)
    assert attributes <= members
    methods = members - attributes
    missing = [m for m in methods if not callable(getattr(facade, m, None))]
    assert not missing, f"{facade.__name__} lacks {missing} that the engine calls"
    for name in methods:
        wanted = set(inspect.signature(getattr(protocol, name)).parameters)
        assert wanted <= set(inspect.signature(getattr(facade, name)).parameters), name


def test_manual_ca_is_an_inbox_ca(tmp_path):
    assert isinstance(ManualCa(folder=tmp_path), InboxCa)
