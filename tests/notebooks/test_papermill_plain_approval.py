"""(ipsec, and the approval interlock) Plain `papermill notebooks/x.ipynb out.ipynb -f <lab parameters>` runs every notebook.

The cluster-changing runbooks run as dry runs here (`-p dry_run True`: every
cell executes, nothing changes; `cucmkit run` tests do the real renewals).
Without approval a runbook stops at the approval cell, before any change.
papermill's own output holds no secret because only references are passed.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from cucmkit.lab import LabCluster

from .conftest import assert_nowhere, child_env, papermill, run_plain_papermill, sentinels, write_params

pytestmark = pytest.mark.notebook



@pytest.mark.parametrize("notebook,options", [
    ("ipsec.ipynb", ("-p", "dry_run", "True")),
])
def test_plain_papermill(nb_lab: LabCluster, tmp_path: Path, notebook: str, options: tuple[str, ...]) -> None:
    run_plain_papermill(nb_lab, tmp_path, notebook, options)


def test_without_approval_stops_before_any_change(nb_lab: LabCluster, tmp_path: Path) -> None:
    params = write_params(nb_lab, tmp_path / "parameters" / "lab.yaml")
    out = tmp_path / "out" / "tomcat.ipynb"
    out.parent.mkdir()
    before = {name: own.pem for name, own in nb_lab.state.node("cucm-pub").own().items()}
    run = papermill("tomcat.ipynb", out, params, "-p", "state_dir", str(tmp_path / "state"), env=child_env(nb_lab))
    assert run.returncode == 1
    assert "WaitingError" in run.stderr and "approval required" in run.stderr
    nb = nbformat.read(out, as_version=4)
    csr = next(c for c in nb.cells if "step-csr" in c.metadata.get("tags", []))
    assert not csr.get("execution_count")
    assert nb_lab.state.node("cucm-pub").pending_csr("tomcat") is None
    assert {name: own.pem for name, own in nb_lab.state.node("cucm-pub").own().items()} == before
    assert_nowhere(sentinels(nb_lab), folder=out.parent, texts=(run.stdout, run.stderr))
