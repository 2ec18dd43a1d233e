"""Plain `papermill notebooks/x.ipynb out.ipynb -f <lab parameters>` runs every notebook.

The cluster-changing runbooks run as dry runs here (`-p dry_run True`: every
cell executes, nothing changes; `cucmkit run` tests do the real renewals).
Without approval a runbook stops at the approval cell, before any change.
papermill's own output holds no secret because only references are passed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cucmkit.lab import LabCluster

from .conftest import run_plain_papermill

pytestmark = pytest.mark.notebook



@pytest.mark.parametrize("notebook,options", [
    ("inventory.ipynb", ()),
    ("tomcat.ipynb", ("-p", "dry_run", "True", "-p", "purpose", "tomcat-ECDSA")),
])
def test_plain_papermill(nb_lab: LabCluster, tmp_path: Path, notebook: str, options: tuple[str, ...]) -> None:
    run_plain_papermill(nb_lab, tmp_path, notebook, options)
