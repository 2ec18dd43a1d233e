"""The per-cluster unit a scheduler runs (docs/scheduler.md) needs nothing from the machine but its inputs.

``cucmkit run tomcat -f <parameter file>`` for one cluster, started from an empty working directory with a
clean environment: PATH, a fresh HOME, the one secret variable the parameter file references, and PYTHONPATH
so that this checkout is the one imported (the test's own need, not the unit's). The other secrets are file
references in the parameter file. The run must complete and write only where it was told: the evidence under
--evidence-root, the engine's state under --state-dir; nothing in the working directory, no secret anywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cucmkit.lab.renewal_fleet import RenewalFleet

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(900)
def test_one_cluster_from_an_empty_directory_with_a_clean_environment(tmp_path: Path) -> None:
    with RenewalFleet(tmp_path / "lab", clusters=1, scale=0.005, os_admin_env="UNIT_OS_ADMIN", first=800) as fleet:
        (params,) = fleet.parameter_files()
        work, home, evidence, state = (tmp_path / n for n in ("work", "home", "out/evidence", "out/state"))
        work.mkdir()
        home.mkdir()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "PYTHONPATH": str(REPO),
               **fleet.environment()}
        assert list(fleet.environment()) == ["UNIT_OS_ADMIN_FLEET800"]
        run = subprocess.run([sys.executable, "-m", "cucmkit", "run", "tomcat", "-f", str(params), "--ticket",
                              "CHG-UNIT", "--ca", "lab", "--approve", "--evidence-root", str(evidence),
                              "--state-dir", str(state), "--timeout", "300"],
                             cwd=work, env=env, text=True, capture_output=True, timeout=800)
        assert run.returncode == 0, run.stdout + run.stderr[-3000:]
        (folder,) = evidence.glob("fleet800/CHG-UNIT/*-tomcat")
        assert json.loads((folder / "result.json").read_text())["status"] == "done"
        assert str(folder) in run.stdout
        assert json.loads((state / "fleet800" / "tomcat.json").read_text())["status"] == "completed"
        assert sorted(p.name for p in evidence.parent.iterdir()) == ["evidence", "state"]
        assert list(work.iterdir()) == []                     # nothing written where it ran
        written = [p for root in (work, home, evidence, state) for p in root.rglob("*") if p.is_file()]
        for secret in fleet.secrets():
            assert secret not in run.stdout and secret not in run.stderr
            for path in written:
                assert secret not in path.read_text(errors="replace"), path
