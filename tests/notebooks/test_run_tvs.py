"""`cucmkit run TVS --approve` on the lab: a finished run, verified secret-free evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cucmkit.evidence import verify
from cucmkit.lab import LabCluster

from .conftest import run_purpose

pytestmark = pytest.mark.notebook


def test_tvs(nb_lab: LabCluster, tmp_path: Path) -> None:
    folder, run = run_purpose(nb_lab, tmp_path, "tvs", "--ca", "lab", "--approve")
    assert run.returncode == 0, run.stdout + run.stderr
    assert folder.name.endswith("-TVS") and (folder / "TVS.html").is_file()
    assert verify(folder).ok
    record = json.loads((folder / "result.json").read_text())
    assert record["status"] == "done" and record["purpose"] == "TVS"
    assert [p["name"] for p in record["phases"]] == ["csr", "ca", "install", "activate", "phones"]
    assert all(p["status"] in ("done", "skipped") for p in record["phases"])
    assert {c["purpose"] for c in record["certs_before"]} == {"TVS"}


def test_dry_run_of_an_ecdsa_variant_changes_nothing(nb_lab: LabCluster, tmp_path: Path) -> None:
    before = {n: nb_lab.state.node(n).own()["tomcat-ECDSA"].pem for n in ("cucm-pub", "cucm-sub1")}
    folder, run = run_purpose(nb_lab, tmp_path, "tomcat-ECDSA", "--dry-run")
    assert run.returncode == 0, run.stdout + run.stderr
    assert folder.name.endswith("-tomcat-ECDSA") and (folder / "tomcat-ECDSA.ipynb").is_file()
    record = json.loads((folder / "result.json").read_text())
    assert (record["status"], record["dry_run"], record["purpose"]) == ("dry-run", True, "tomcat-ECDSA")
    assert all(p["status"] == "skipped" for p in record["phases"]) and record["steps"] == []
    assert {n: nb_lab.state.node(n).own()["tomcat-ECDSA"].pem for n in before} == before
    assert "DRY-RUN" in (folder / "tomcat-ECDSA.html").read_text()
