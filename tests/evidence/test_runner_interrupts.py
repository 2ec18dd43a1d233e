"""Evidence after a cell timeout and a dead kernel: truthful, secret-free."""

from __future__ import annotations

from pathlib import Path

import nbformat

from ._notebooks import _assert_clean, _run, params  # noqa: F401


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
