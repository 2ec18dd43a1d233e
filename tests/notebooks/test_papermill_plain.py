"""Plain `papermill notebooks/x.ipynb out.ipynb -f <lab parameters>` runs every notebook.

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

from .conftest import assert_nowhere, child_env, papermill, sentinels, write_params

pytestmark = pytest.mark.notebook


def _ran_every_cell(path: Path) -> bool:
    nb = nbformat.read(path, as_version=4)
    return all(c.get("execution_count") for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("notebook,options", [
    ("inventory.ipynb", ()),
    ("tomcat.ipynb", ("-p", "dry_run", "True", "-p", "purpose", "tomcat-ECDSA")),
])
def test_plain_papermill(nb_lab: LabCluster, tmp_path: Path, notebook: str, options: tuple[str, ...]) -> None:
    params = write_params(nb_lab, tmp_path / "parameters" / "lab.yaml")
    out = tmp_path / "out" / notebook
    out.parent.mkdir()
    run = papermill(notebook, out, params, "-p", "state_dir", str(tmp_path / "state"), *options,
                    env=child_env(nb_lab))
    assert run.returncode == 0, run.stderr[-3000:]
    assert _ran_every_cell(out)
    assert_nowhere(sentinels(nb_lab), folder=out.parent, texts=(run.stdout, run.stderr))
