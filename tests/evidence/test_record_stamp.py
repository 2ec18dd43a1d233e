"""The result record never claims an unrun step; stamping corrects papermill's metadata."""

from __future__ import annotations

import nbformat

from cucmkit.evidence.record import CellInfo, PapermillOutcome, build_record, phases_from_journal
from cucmkit.evidence.stamp import cell_infos, correct_statuses, scrub_parameters, stamp_verdict

STEP = {"name": "csr", "node": "n1", "started": "t0", "ended": "t1", "outcome": "done", "detail": ""}


def _events(*items: tuple[str, dict]) -> list[dict]:
    return [{"event": kind, "time": f"t{i}", **data} for i, (kind, data) in enumerate(items)]


def _record(events: list[dict], outcome: PapermillOutcome, cells: list[CellInfo] | None = None):
    return build_record(events=events, outcome=outcome, cells=cells or [], purpose="tomcat", ticket="CHG1",
                        ca="lab", approve=True, dry_run=False, run_by="me@host", started="s", ended="e",
                        parameters_files=("p.yaml",), notebook="tomcat.ipynb", cluster="c1")


def test_phase_without_end_is_interrupted_with_no_steps() -> None:
    events = _events(("phase-start", {"phase": "csr"}), ("phase-end", {"phase": "csr", "status": "done", "steps": [STEP]}),
                     ("phase-start", {"phase": "activate"}))
    phases = phases_from_journal(events)
    assert [(p.name, p.status, len(p.steps)) for p in phases] == [("csr", "done", 1), ("activate", "interrupted", 0)]


def test_timeout_is_failed_even_though_papermill_exited_cleanly_in_metadata() -> None:
    events = _events(("phase-start", {"phase": "activate"}))
    record = _record(events, PapermillOutcome(exit_code=1, exception="CellTimeoutError", failure="timeout"))
    assert record.status == "failed"
    assert record.steps == ()


def test_exit_zero_with_interrupted_phase_is_still_failed() -> None:
    record = _record(_events(("phase-start", {"phase": "csr"})), PapermillOutcome(exit_code=0))
    assert record.status == "failed"


def test_cell_errors_map_to_waiting_and_blocked() -> None:
    waiting = _record([], PapermillOutcome(exit_code=1, exception="PapermillExecutionError",
                                           error_name="WaitingError", failure="cell-error"))
    blocked = _record([], PapermillOutcome(exit_code=1, exception="PapermillExecutionError",
                                           error_name="InterlockError", failure="cell-error"))
    other = _record([], PapermillOutcome(exit_code=1, exception="PapermillExecutionError",
                                         error_name="HttpStatusError", failure="cell-error"))
    assert (waiting.status, blocked.status, other.status) == ("waiting", "blocked", "failed")


def test_success_takes_the_journal_end_status_and_certs() -> None:
    cert = {"node": "n1", "purpose": "tomcat", "store": "own", "filename": "tomcat.pem", "subject": "CN=n1",
            "issuer": "CN=ca", "serial": "1", "not_before": "a", "not_after": "b", "fingerprint_sha256": "ab",
            "self_signed": False}
    events = _events(("open", {"cluster": "lab"}), ("certs", {"when": "before", "certs": [cert]}),
                     ("csr", {"node": "n1", "pem": "-----BEGIN CERTIFICATE REQUEST-----"}),
                     ("end", {"status": "dry-run"}))
    record = _record(events, PapermillOutcome(exit_code=0), [CellInfo(0, None, "t"), CellInfo(1, "csr", None)])
    assert record.status == "dry-run" and record.cluster == "lab"
    assert record.certs_before[0].fingerprint_sha256 == "ab" and record.certs_after == ()
    assert record.csrs[0]["node"] == "n1"
    assert (record.cells_run, record.cells_total, record.last_cell_started.index) == (1, 2, 0)


def _executed_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("a"), nbformat.v4.new_code_cell("b"), nbformat.v4.new_code_cell("c")]
    nb.cells[1].metadata["tags"] = ["step-activate"]
    for cell, started in zip(nb.cells, ["t0", "t1", None], strict=True):
        cell.metadata["papermill"] = {"start_time": started, "status": "completed", "exception": False}
    nb.metadata["papermill"] = {"exception": None, "parameters": {"parameters_file": "p.yaml", "ticket": "C",
                                                                  "credentials": {"os_admin": "x"}},
                                "default_parameters": {}, "environment_variables": {"A": "b"}}
    return nb


def test_correct_statuses_after_timeout() -> None:
    nb = _executed_notebook()
    correct_statuses(nb, failure="timeout")
    statuses = [c.metadata["papermill"]["status"] for c in nb.cells]
    assert statuses == ["completed", "failed", "not-run"]
    assert nb.metadata["papermill"]["exception"] is True
    assert nb.cells[1].metadata["cucmkit"]["interrupted_by"] == "timeout"
    assert [c.step for c in cell_infos(nb)] == [None, "activate", None]


def test_scrub_keeps_only_references() -> None:
    nb = _executed_notebook()
    dropped = scrub_parameters(nb)
    assert nb.metadata["papermill"]["parameters"] == {"parameters_file": "p.yaml", "ticket": "C"}
    assert nb.metadata["papermill"]["environment_variables"] == {}
    assert dropped == ["credentials"]


def test_verdict_is_the_first_cell_and_replaced_not_duplicated() -> None:
    nb = _executed_notebook()
    record = _record([], PapermillOutcome(exit_code=138, exception="DeadKernelError", failure="kernel-died"),
                     cell_infos(nb))
    stamp_verdict(nb, record)
    stamp_verdict(nb, record)
    assert nb.cells[0].cell_type == "markdown" and "FAILED" in nb.cells[0].source
    assert "kernel-died" in nb.cells[0].source
    assert sum("cucmkit-verdict" in c.metadata.get("tags", []) for c in nb.cells) == 1
    nbformat.validate(nb)


def test_runs_of_one_cluster_are_grouped_to_run_one_after_another(tmp_path) -> None:
    from cucmkit.runner import RunSpec, _cluster_groups

    files = []
    for index, cluster in enumerate(("a", "b", "a")):
        path = tmp_path / f"p{index}.yaml"
        path.write_text(f"cluster: {cluster}\n")
        files.append(path)
    groups = _cluster_groups([RunSpec(purpose="inventory", parameters_file=f, ticket="T") for f in files])
    assert [[s.parameters_file.name for s in g] for g in groups] == [["p0.yaml", "p2.yaml"], ["p1.yaml"]]


def test_interrupted_phase_claims_only_ledger_steps_that_ended(tmp_path) -> None:
    import json

    from cucmkit.evidence.record import read_ledger

    ledger = {"steps": {
        "restart:pub": {"name": "restart", "node": "pub", "phase": "activate", "outcome": "done",
                        "started": "2026-11-26T20:00:01.5+00:00", "ended": "2026-11-26T20:00:03+00:00", "detail": "ok"},
        "restart:sub": {"name": "restart", "node": "sub", "phase": "activate", "outcome": "running",
                        "started": "2026-11-26T20:00:03.1+00:00", "ended": None, "detail": ""},
        "old:pub": {"name": "restart", "node": "pub", "phase": "activate", "outcome": "done",
                    "started": "2026-11-25T10:00:00+00:00", "ended": "2026-11-25T10:00:01+00:00", "detail": ""},
        "csr:pub": {"name": "csr", "node": "pub", "phase": "csr", "outcome": "done",
                    "started": "2026-11-26T20:00:00.2+00:00", "ended": "2026-11-26T20:00:00.9+00:00", "detail": ""},
    }}
    path = tmp_path / "tomcat.json"
    path.write_text(json.dumps(ledger))
    events = [{"event": "ledger", "time": "x", "path": str(path)},
              {"event": "phase-start", "time": "2026-11-26T20:00:01+00:00", "phase": "activate"}]
    (phase,) = phases_from_journal(events, read_ledger(events))
    assert phase.status == "interrupted"
    assert [(s.node, s.outcome, s.ended) for s in phase.steps] == [
        ("pub", "done", "2026-11-26T20:00:03+00:00"), ("sub", "interrupted", None)]


def test_a_stop_at_a_step_boundary_is_stopped_and_exits_130(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cucmkit.runner import EXIT_INTERRUPTED, RunOutcome, RunSpec, exit_code

    stopped = _record(_events(("phase-start", {"phase": "activate"})),
                      PapermillOutcome(exit_code=1, exception="PapermillExecutionError", error_name="StoppedError",
                                       failure="cell-error", message="stopped before restart: SIGTERM received"))
    assert stopped.status == "stopped" and "SIGTERM" in stopped.message
    spec = RunSpec(purpose="tomcat", parameters_file=tmp_path / "p.yaml", ticket="CHG1")
    assert exit_code([RunOutcome(spec, tmp_path, stopped)]) == EXIT_INTERRUPTED
    failed = _record([], PapermillOutcome(exit_code=138, exception="DeadKernelError", failure="kernel-died"))
    assert exit_code([RunOutcome(spec, tmp_path, stopped), RunOutcome(spec, tmp_path, failed)]) == 1
