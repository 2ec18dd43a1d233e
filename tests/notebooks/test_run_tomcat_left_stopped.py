"""`cucmkit run tomcat` after an attempt that died mid Tomcat restart, with Tomcat left stopped: the
inventory cell names the node instead of failing, and the run goes on to the restart step and completes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from cucmkit.lab import LabCluster
from cucmkit.params import load_parameters
from cucmkit.renewal.state import StepRecord, utcnow
from cucmkit.wiring import open_renewal

from .conftest import ENV_VAR, child_env, cucmkit_run, evidence_folders, make_lab, write_params

pytestmark = pytest.mark.notebook


@pytest.fixture
def own_lab(tmp_path: Path):
    with make_lab(tmp_path / "lab") as lab:
        yield lab


def test_run_goes_on_past_a_stopped_tomcat(own_lab: LabCluster, tmp_path: Path, monkeypatch) -> None:
    params_file = write_params(own_lab, tmp_path / "parameters" / "lab.yaml")
    monkeypatch.setenv(ENV_VAR, own_lab.state.secret("os_admin"))
    params = load_parameters(params_file)
    state_dir = tmp_path / "state"
    with open_renewal(params, "tomcat", state_dir=state_dir, ticket="CHG-100", ca="lab") as first:
        for phase in ("csr", "ca", "install"):
            assert getattr(first, phase)().status == "done"
        restart = next(s for s in first.plan().steps if s.name == "restart")
        long_ago = utcnow() - timedelta(seconds=params.timeouts.restart + 60)   # past its restart deadline
        first.ledger.record(StepRecord(restart.key, "restart", restart.node, "activate", "running", long_ago))
    short = restart.node.split(".")[0]
    own_lab.state.node(short).stop("Cisco Tomcat")                            # the dead attempt left it stopped

    root = tmp_path / "evidence"
    run = cucmkit_run(["tomcat", "-f", str(params_file), "--ticket", "CHG-100", "--ca", "lab", "--approve",
                       "--evidence-root", str(root), "--state-dir", str(state_dir), "--timeout", "120"],
                      env=child_env(own_lab))
    assert run.returncode == 0, run.stdout + run.stderr
    folder = evidence_folders(root)[0]
    record = json.loads((folder / "result.json").read_text())
    assert record["status"] == "done"
    notebook = (folder / "tomcat.ipynb").read_text()
    assert f"{restart.node} does not answer" in notebook and "the activate step restarts Tomcat" in notebook
    assert own_lab.state.node(short).service("Cisco Tomcat").status == "Started"
