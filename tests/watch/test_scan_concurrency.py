"""Clusters are read at the same time: a fleet whose every request answers late takes about one delay, not one per cluster."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cucmkit.lab.fleet import LabFleet
from cucmkit.params import load_parameters
from cucmkit.watch.scan import scan_fleet

LATENCY = 2.0
CLUSTERS = 4


@pytest.mark.timeout(300)
def test_clusters_are_read_concurrently(tmp_path: Path) -> None:
    with LabFleet(tmp_path, clusters=CLUSTERS, nodes=2, latency=LATENCY) as fleet:
        fleet_params = [(f"{p['cluster']}.yaml", load_parameters(p)) for p in fleet.parameters()]
        started = time.monotonic()
        scans = scan_fleet(fleet_params, workers=CLUSTERS)
        elapsed = time.monotonic() - started
    assert [s.name for s in scans] == [p.cluster for _, p in fleet_params]
    assert all(not s.node_errors and s.records for s in scans)
    # one after the other would take at least CLUSTERS * LATENCY (8 s); generous margin for a loaded machine
    assert elapsed < (CLUSTERS - 1) * LATENCY, f"{elapsed:.1f} s"
