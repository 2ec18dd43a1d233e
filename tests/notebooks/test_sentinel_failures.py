"""Real runbooks that fail: a cell error and a cell timeout (the dead kernel: test_sentinel_kernel_death).

Secrets are handed to the kernel by reference only; every secret value (the
wrong sentinel password, the lab's real passwords) must appear in no artifact
and in no output of `cucmkit run`. After a timeout or a dead kernel the
result record claims only the phases that really ended.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml

from cucmkit.evidence import verify
from cucmkit.lab import LabCluster

from .conftest import ENV_VAR, assert_nowhere, child_env, cucmkit_run, evidence_folders, sentinels, write_params
from .sentinels import assert_no_encoding

pytestmark = pytest.mark.notebook
SENTINEL = "SENTINEL&<>\"'%+/= -" + uuid.uuid4().hex    # every character HTML, JSON, URLs or base64 treat specially


def _args(purpose: str, params: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [purpose, "-f", str(params), "--ticket", "CHG-900", "--evidence-root", str(tmp_path / "evidence"),
            "--state-dir", str(tmp_path / "state"), "--ca", "lab", "--approve", *extra]


def _record(tmp_path: Path) -> tuple[Path, dict]:
    folders = evidence_folders(tmp_path / "evidence")
    assert len(folders) == 1
    return folders[0], json.loads((folders[0] / "result.json").read_text())


def test_cell_error_with_a_wrong_sentinel_password(slow_lab: LabCluster, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    params = write_params(slow_lab, tmp_path / "lab.yaml")
    monkeypatch.setenv(ENV_VAR, SENTINEL)       # verify resolves the reference in this process too
    run = cucmkit_run(_args("tomcat", params, tmp_path, "--timeout", "60"),
                      env=child_env(slow_lab, CUCMKIT_TEST_OS_ADMIN=SENTINEL))
    assert run.returncode == 1, run.stdout + run.stderr
    folder, record = _record(tmp_path)
    assert record["status"] == "failed"
    assert record["papermill"]["failure"] == "cell-error" and record["papermill"]["error_name"]
    assert record["steps"] == [] and record["certs_after"] == []
    assert "FAILED" in run.stdout and str(folder) in run.stdout
    assert_nowhere([SENTINEL, *sentinels(slow_lab)], folder=tmp_path / "evidence", texts=(run.stdout, run.stderr))
    assert_no_encoding([SENTINEL, *sentinels(slow_lab)], folder=tmp_path / "evidence", texts=(run.stdout, run.stderr))
    filed = {p.name for p in (tmp_path / "evidence").rglob("*") if p.is_file()}
    assert {"index.html", "index.json", "manifest.json.p7s"} <= filed     # the new files were among those scanned
    key = Path(yaml.safe_load(params.read_text())["evidence"]["signing_key"]["file"]).read_text()
    key_body = "".join(key.splitlines()[1:-1])                            # the team's signing key, in no artefact
    assert_no_encoding([key_body[:40], key_body[-40:]], folder=tmp_path / "evidence")
    report = verify(folder, parameter_files=[params])
    assert report.ok and "  looked for: credentials.os_admin.password (env:CUCMKIT_TEST_OS_ADMIN)" in report.lines()
    assert report.signature.state == "signed"


def _phases(record: dict) -> list[tuple[str, str]]:
    return [(p["name"], p["status"]) for p in record["phases"]]


def test_timeout_in_activate_claims_only_what_ended(slow_lab: LabCluster, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    params = write_params(slow_lab, tmp_path / "lab.yaml")
    monkeypatch.setenv(ENV_VAR, slow_lab.state.secret("os_admin"))
    run = cucmkit_run(_args("tomcat", params, tmp_path, "--timeout", "12"), env=child_env(slow_lab))
    assert run.returncode == 1, run.stdout + run.stderr
    folder, record = _record(tmp_path)
    assert (record["status"], record["papermill"]["failure"]) == ("failed", "timeout")
    assert record["papermill"]["exception"] == "CellTimeoutError"
    assert _phases(record) == [("csr", "done"), ("ca", "done"), ("install", "done"), ("activate", "interrupted")]
    assert record["last_cell_started"]["step"] == "activate"
    activate = record["phases"][-1]["steps"]          # from the engine's ledger: only what ended is claimed
    assert activate and (activate[-1]["outcome"], activate[-1]["ended"]) == ("interrupted", None)
    assert all(s["ended"] for s in activate[:-1])
    assert not any(s["name"] in ("restart", "verify-tls") and s["outcome"] == "done" for s in activate)
    nb = json.loads((folder / "tomcat.ipynb").read_text())
    after = [c for c in nb["cells"] if (c["metadata"].get("tags") or [""])[0] in ("step-phones", "step-summary")]
    assert all(c["metadata"]["papermill"]["status"] == "not-run" for c in after)
    assert_no_encoding(sentinels(slow_lab), folder=tmp_path / "evidence", texts=(run.stdout, run.stderr))
    assert verify(folder, parameter_files=[params]).ok
