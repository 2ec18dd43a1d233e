"""Evidence after a cell timeout and a dead kernel: truthful, secret-free."""

from __future__ import annotations

from pathlib import Path

import nbformat

from ._notebooks import _assert_clean, _run


def test_timeout_does_not_claim_unrun_cells(tmp_path: Path, params: Path) -> None:
    outcome = _run(tmp_path, params, "timeout", timeout=2)
    record = outcome.record
    assert (record.status, record.papermill.failure, record.papermill.exception) == ("failed", "timeout", "CellTimeoutError")
    assert record.last_cell_started.step == "risky"
    assert record.steps == ()
    nb = nbformat.read(outcome.folder / "inventory.ipynb", as_version=4)
    statuses = [c.metadata.get("papermill", {}).get("status") for c in nb.cells[1:]]
    assert statuses[-2:] == ["not-run", "not-run"]          # papermill had written "completed"
    risky = next(c for c in nb.cells if "step-risky" in c.metadata.get("tags", []))
    assert risky.metadata.papermill.status == "failed"
    assert nb.metadata.papermill.exception is True
    assert "TIMEOUT" in nb.cells[0].source.upper() and "FAILED" in nb.cells[0].source
    _assert_clean(outcome.folder, params)


def test_dead_kernel(tmp_path: Path, params: Path) -> None:
    outcome = _run(tmp_path, params, "die", timeout=30)
    record = outcome.record
    assert (record.status, record.papermill.failure, record.papermill.exit_code) == ("failed", "kernel-died", 138)
    assert [(p.name, p.status) for p in record.phases] == [("csr", "interrupted")]
    _assert_clean(outcome.folder, params)


def test_ctrl_c_stops_the_batch_and_still_writes_evidence(tmp_path: Path, params: Path) -> None:
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from . import _notebooks

    notebooks = _notebooks._notebook(tmp_path / "nb", _notebooks.BODIES["timeout"])
    root = tmp_path / "ev"
    scratch = tmp_path / "tmp"          # the runner's staging folder lands here: we watch its journal
    scratch.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "cucmkit", "run", "inventory", "-f", str(params), "--ticket", "CHG-3",
                             "--evidence-root", str(root), "--notebooks", str(notebooks), "--timeout", "100"],
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "TMPDIR": str(scratch)})
    deadline = time.monotonic() + 60
    while not any("phase-start" in j.read_text() for j in scratch.glob("cucmkit-run-*/journal.jsonl")):
        assert proc.poll() is None and time.monotonic() < deadline, "the notebook never reached its phase"
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    (folder,) = [p for p in root.glob("*/*/*") if p.is_dir()]
    record = json.loads((folder / "result.json").read_text())
    assert (record["status"], record["papermill"]["failure"]) == ("failed", "interrupted")
    assert [(p["name"], p["status"]) for p in record["phases"]] == [("csr", "interrupted")]
    assert str(folder) in stdout
    _assert_clean(folder, params)
