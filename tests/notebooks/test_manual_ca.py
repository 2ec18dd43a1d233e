"""The manual CA flow under `cucmkit run`: stop as waiting (exit 3), drop the CA's files, re-run to done."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from cucmkit.evidence import verify
from cucmkit.lab import LabCluster
from cucmkit.runner import EXIT_WAITING

from .conftest import REPO, assert_nowhere, child_env, evidence_folders, make_lab, sentinels, write_params

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def manual_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    lab = make_lab(tmp_path_factory.mktemp("manuallab") / "state")
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


def _params(lab: LabCluster, tmp_path: Path) -> tuple[Path, Path]:
    """The lab's parameter file with the manual CA's outbox and inbox under tmp_path."""
    params = write_params(lab, tmp_path / "lab.yaml")
    data = yaml.safe_load(params.read_text())
    exchange = tmp_path / "ca-exchange"
    data["ca"].update(outbox=str(exchange / "outbox"), inbox=str(exchange / "inbox"))
    params.write_text(yaml.safe_dump(data, sort_keys=False))
    return params, exchange


def _run(lab: LabCluster, tmp_path: Path, params: Path) -> subprocess.CompletedProcess[str]:
    """From tmp_path as working directory, the project root (notebooks/) named by CUCMKIT_ROOT."""
    args = ["tomcat", "-f", str(params), "--ticket", "CHG-500", "--ca", "manual", "--approve", "--timeout", "120",
            "--evidence-root", str(tmp_path / "evidence"), "--state-dir", str(tmp_path / "state")]
    return subprocess.run([sys.executable, "-m", "cucmkit", "run", *args], cwd=tmp_path, text=True,
                          capture_output=True, env=child_env(lab, CUCMKIT_ROOT=str(REPO)), timeout=240)


def test_manual_flow_waits_then_resumes(manual_lab: LabCluster, tmp_path: Path) -> None:
    params, exchange = _params(manual_lab, tmp_path)
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
