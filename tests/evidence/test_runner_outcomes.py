"""Evidence of runs that end by themselves: success, cell error, waiting."""

from __future__ import annotations

import json
from pathlib import Path

from cucmkit.runner import EXIT_WAITING, exit_code

from ._notebooks import _assert_clean, _run


def test_success(tmp_path: Path, params: Path) -> None:
    outcome = _run(tmp_path, params, "done", timeout=30)
    record = json.loads((outcome.folder / "result.json").read_text())
    assert record["status"] == "done" and record["papermill"]["exit_code"] == 0
    assert [(p["name"], p["status"]) for p in record["phases"]] == [("csr", "done")]
    assert record["steps"][0]["node"] == "n1" and "@" in record["run_by"]
    assert outcome.folder.parent == tmp_path / "ev" / "c1" / "CHG-1"
    assert outcome.folder.name.endswith("Z-inventory")
    _assert_clean(outcome.folder, params)


def test_cell_error(tmp_path: Path, params: Path) -> None:
    outcome = _run(tmp_path, params, "error", timeout=30)
    assert outcome.record.status == "failed"
    assert (outcome.record.papermill.exception, outcome.record.papermill.error_name) == ("PapermillExecutionError", "CucmError")
    assert [(p.name, p.status) for p in outcome.record.phases] == [("csr", "interrupted")]
    assert outcome.record.steps == ()
    _assert_clean(outcome.folder, params)
    assert exit_code([outcome]) == 1


def test_waiting_has_its_own_exit_code(tmp_path: Path, params: Path) -> None:
    outcome = _run(tmp_path, params, "waiting", timeout=30)
    assert outcome.record.status == "waiting"
    assert exit_code([outcome]) == EXIT_WAITING
