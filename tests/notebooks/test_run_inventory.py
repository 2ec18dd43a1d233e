"""`cucmkit run inventory` against the lab: every certificate, secret-free verified evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cucmkit.cli import main
from cucmkit.lab import LabCluster

from .conftest import run_purpose

pytestmark = pytest.mark.notebook


def test_inventory(nb_lab: LabCluster, tmp_path: Path) -> None:
    folder, run = run_purpose(nb_lab, tmp_path, "inventory")
    assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["inventory.html", "inventory.ipynb", "manifest.json",
                                                        "result.json"]
    assert main(["evidence", "verify", str(folder)]) == 0
    record = json.loads((folder / "result.json").read_text())
    assert record["status"] == "done" and record["cluster"] == "lab" and record["ticket"] == "CHG-100"
    assert len(record["certs_before"]) >= 4 * 5      # every node's identities
    assert record["cells_run"] == record["cells_total"]
    assert "image/png" in (folder / "inventory.ipynb").read_text()   # the expiry timeline
