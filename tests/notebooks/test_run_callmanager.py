"""`cucmkit run CallManager --approve`: services restart, phones reset and come back; a recovery plot."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from cucmkit.evidence import verify
from cucmkit.lab import LabCluster

from .conftest import run_purpose

pytestmark = pytest.mark.notebook


def test_callmanager(nb_lab: LabCluster, tmp_path: Path) -> None:
    folder, run = run_purpose(nb_lab, tmp_path, "CallManager", "--ca", "lab", "--approve")
    assert run.returncode == 0, run.stdout + run.stderr
    assert verify(folder).ok
    record = json.loads((folder / "result.json").read_text())
    assert record["status"] == "done"
    names = [s["name"] for s in record["steps"]]
    assert "phones-reset" in names and "phones-wait" in names
    nb = nbformat.read(folder / "CallManager.ipynb", as_version=4)
    phones = next(c for c in nb.cells if "step-phones" in c.metadata.get("tags", []))
    assert any("image/png" in o.get("data", {}) for o in phones.outputs), "no registration-recovery plot"
