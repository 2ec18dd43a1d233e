"""`cucmkit run tomcat --approve` renews tomcat on the lab; the evidence proves what changed."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from cucmkit.cli import main
from cucmkit.evidence.stamp import REFERENCE_KEYS
from cucmkit.lab import LabCluster

from .conftest import run_purpose

pytestmark = pytest.mark.notebook


def test_tomcat(nb_lab: LabCluster, tmp_path: Path) -> None:
    folder, run = run_purpose(nb_lab, tmp_path, "tomcat", "--ca", "lab", "--approve")
    assert run.returncode == 0, run.stdout + run.stderr
    assert main(["evidence", "verify", str(folder)]) == 0

    record = json.loads((folder / "result.json").read_text())
    assert record["status"] == "done" and record["approve"] is True
    assert [p["name"] for p in record["phases"]] == ["csr", "ca", "install", "activate", "phones"]
    renewed = {s["node"] for s in record["steps"] if s["name"] == "identity" and s["outcome"] == "done"}
    assert renewed and all(s["started"] and s["ended"] for s in record["steps"])
    before = {c["node"]: c["fingerprint_sha256"] for c in record["certs_before"]}
    after = {c["node"]: c["fingerprint_sha256"] for c in record["certs_after"]}
    assert all(before[n] != after[n] for n in renewed)
    assert {c["node"] for c in record["csrs"]} == renewed
    assert all("CERTIFICATE REQUEST" in c["pem"] for c in record["csrs"])

    nb = nbformat.read(folder / "tomcat.ipynb", as_version=4)
    assert nb.cells[0].metadata["cucmkit"]["verdict"] == "done"
    assert set(nb.metadata.papermill.parameters) <= set(REFERENCE_KEYS)
    assert all(c.metadata["papermill"]["status"] == "completed" for c in nb.cells[1:])
    html = (folder / "tomcat.html").read_text()
    assert "cucmkit verdict" in html and "DONE" in html
