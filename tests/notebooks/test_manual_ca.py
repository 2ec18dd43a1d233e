"""The manual CA flow under `cucmkit run`: stop as waiting (exit 3), drop the CA's files, re-run to done."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cucmkit.evidence import verify
from cucmkit.lab import LabCluster
from cucmkit.runner import EXIT_WAITING

from .conftest import assert_nowhere, evidence_folders, manual_ca_params, run_manual_ca, sentinels

pytestmark = pytest.mark.notebook


def _run(lab: LabCluster, tmp_path: Path, params: Path) -> subprocess.CompletedProcess[str]:
    return run_manual_ca(lab, tmp_path, params, "CHG-500")


def test_manual_flow_waits_then_resumes(manual_lab: LabCluster, tmp_path: Path) -> None:
    params, exchange = manual_ca_params(manual_lab, tmp_path)
    first = _run(manual_lab, tmp_path, params)
    assert first.returncode == EXIT_WAITING, first.stdout + first.stderr
    assert "WAITING" in first.stdout
    (waiting,) = evidence_folders(tmp_path / "evidence")
    record = json.loads((waiting / "result.json").read_text())
    assert record["status"] == "waiting" and record["papermill"]["error_name"] == "WaitingError"
    assert [(p["name"], p["status"]) for p in record["phases"]] == [("csr", "done"), ("ca", "waiting")]

    csrs = sorted((exchange / "outbox").glob("*.csr"))
    assert csrs
    for csr in csrs:
        leaf, chain = manual_lab.ca.issue(csr.read_text(), "tomcat")
        (exchange / "inbox" / csr.stem / "issued.pem").write_text(leaf + "".join(chain))

    second = _run(manual_lab, tmp_path, params)
    assert second.returncode == 0, second.stdout + second.stderr
    done = [f for f in evidence_folders(tmp_path / "evidence") if f != waiting]
    record = json.loads((done[0] / "result.json").read_text())
    assert record["status"] == "done"
    assert ("identity", "done") in {(s["name"], s["outcome"]) for s in record["steps"]}
    assert all(verify(f).ok for f in (waiting, done[0]))
    assert_nowhere(sentinels(manual_lab), folder=tmp_path / "evidence",
                   texts=(first.stdout, first.stderr, second.stdout, second.stderr))
