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
                                                        "manifest.json.p7s", "result.json"]   # the lab team signs
    assert main(["evidence", "verify", str(folder)]) == 0
    assert json.loads((folder.parent / "index.json").read_text())["attach"] == folder.name
    record = json.loads((folder / "result.json").read_text())
    assert record["status"] == "done" and record["cluster"] == "lab" and record["ticket"] == "CHG-100"
    assert len(record["certs_before"]) >= 4 * 5      # every node's identities
    assert record["cells_run"] == record["cells_total"]
    assert "image/png" in (folder / "inventory.ipynb").read_text()   # the expiry timeline


def test_two_clusters_in_parallel(nb_lab: LabCluster, tmp_path: Path) -> None:
    """One run per cluster, in parallel; one evidence folder per cluster; stdout says where."""
    import yaml

    from .conftest import assert_nowhere, child_env, cucmkit_run, evidence_folders, sentinels, write_params

    files = []
    for name in ("east", "west"):
        path = write_params(nb_lab, tmp_path / "parameters" / f"{name}.yaml")
        data = yaml.safe_load(path.read_text())
        data["cluster"] = name
        path.write_text(yaml.safe_dump(data))
        files += ["-f", str(path)]
    root = tmp_path / "evidence"
    run = cucmkit_run(["inventory", *files, "--ticket", "CHG-2", "--parallel", "2", "--evidence-root", str(root),
                       "--state-dir", str(tmp_path / "state")], env=child_env(nb_lab))
    assert run.returncode == 0, run.stdout + run.stderr
    folders = evidence_folders(root)
    assert [f.parent.parent.name for f in folders] == ["east", "west"]
    assert all(str(f) in run.stdout for f in folders)
    assert_nowhere(sentinels(nb_lab), folder=root, texts=(run.stdout, run.stderr))
