"""Faults at fleet size, small: 5 clusters, 3 broken, ``--parallel 5``; the re-run touches only the 3.

The real command an engineer runs (``cucmkit run tomcat -f ... -f ... --approve --parallel 5``, a subprocess).
Broken: a node unreachable (its listeners reset every connection), Cisco Tomcat that will not start on a
subscriber, AXL answering HTTP 503 to everything. No timing assertions (bench/fleet_run.py measures).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cucmkit.lab.renewal_fleet import RenewalFleet

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
TICKET = "CHG-FLEET"
BROKEN = {1: ("cucm-sub1", "unreachable", True, "cannot connect"),
          2: ("cucm-sub2", "service_fail", "Cisco Tomcat", "Cisco Tomcat did not start"),
          3: ("cucm-pub", "axl_503", "all", "AXL answered HTTP 503")}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RenewalFleet]:
    with RenewalFleet(tmp_path_factory.mktemp("fleet"), clusters=5, scale=0.005, first=700) as running:
        yield running


def _run(fleet: RenewalFleet, root: Path) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "cucmkit", "run", "tomcat"]
    for path in fleet.parameter_files():
        args += ["-f", str(path)]
    args += ["--ticket", TICKET, "--approve", "--ca", "lab", "--parallel", "5", "--timeout", "300",
             "--evidence-root", str(root / "evidence"), "--state-dir", str(root / "state")]
    env = {**os.environ, "PYTHONPATH": str(REPO), **fleet.environment()}
    return subprocess.run(args, cwd=root, env=env, text=True, capture_output=True, timeout=1500)


def _records(root: Path, cluster: str) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted((root / "evidence" / cluster / TICKET).glob("*/result.json"))]


@pytest.mark.timeout(1800)
def test_three_broken_clusters_stop_cleanly_and_the_re_run_touches_only_them(fleet: RenewalFleet,
                                                                           tmp_path: Path) -> None:
    names = fleet.names()
    broken = {names[i]: why for i, (node, fault, value, why) in BROKEN.items()}
    for index, (node, fault, value, _why) in BROKEN.items():
        fleet.fault(index, node, fault, value)
    first = _run(fleet, tmp_path)
    out = first.stdout
    assert first.returncode == 1, out + first.stderr[-3000:]
    assert "summary: 2 of 5 clusters finished; 3 did not:" in out, out
    for name, why in broken.items():
        line = next(line for line in out.splitlines() if line.startswith(f"  {name} FAILED: "))
        assert why in line, line
        assert f"re-run: cucmkit run tomcat -f {fleet.root / 'parameters' / name}.yaml --ticket {TICKET}" in line
        (record,) = _records(tmp_path, name)              # stopped with its evidence filed
        assert record["status"] == "failed" and why in str(record["message"])
    for name in set(names) - set(broken):
        (record,) = _records(tmp_path, name)
        assert record["status"] == "done"
    for secret in fleet.secrets():
        assert secret not in out and secret not in first.stderr

    fleet.clear_faults()
    before = fleet.touches()
    again = _run(fleet, tmp_path)
    after = fleet.touches()
    assert again.returncode == 0, again.stdout + again.stderr[-3000:]
    moved = {name for name in names if after[name] != before[name]}
    assert moved == set(broken), (before, after)          # the finished ones: no connection, no event
    assert again.stdout.count(f"already completed under {TICKET} at") == 2
    for name in set(names) - set(broken):
        assert len(_records(tmp_path, name)) == 1          # no new evidence for them either
    for name in broken:
        assert [r["status"] for r in _records(tmp_path, name)] == ["failed", "done"]
    assert "summary: 5 of 5 clusters finished (2 already completed, not contacted)." in again.stdout
