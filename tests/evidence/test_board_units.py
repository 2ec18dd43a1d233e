"""The board page's parts on their own: verdict looks, approver words, times, page title, notebook clean-up."""

from __future__ import annotations

from dataclasses import replace

import nbformat

from cucmkit.evidence.board import VERDICT_LOOK, first_screen, page, when
from cucmkit.evidence.record import VERDICTS, PapermillOutcome, build_record
from cucmkit.evidence.stamp import calm_errors, drop_papermill_banners, hide_internal_paths, number_cells


def _record(**changes: object):  # type: ignore[no-untyped-def]
    record = build_record(events=[{"event": "open", "cluster": "c1"}], outcome=PapermillOutcome(exit_code=0),
                          cells=[], purpose="tomcat", ticket="CHG-1", ca=None, approve=True, dry_run=False,
                          run_by="op@host", started="2026-11-27T22:00:00.123456+00:00",
                          ended="2026-11-27T22:30:00+00:00", parameters_files=(), notebook="tomcat.ipynb")
    return replace(record, **changes)


def test_every_verdict_has_its_own_colour_and_words_and_only_failed_is_red() -> None:
    assert set(VERDICT_LOOK) == set(VERDICTS)
    looks = list(VERDICT_LOOK.values())
    assert len({v.colour for v in looks}) == len({v.label for v in looks}) == len({v.words for v in looks}) == 7
    for name in ("waiting", "stopped", "nothing-due"):
        screen = first_screen(_record(verdict=name, status="done" if name == "nothing-due" else name))
        assert f"<b>{VERDICT_LOOK[name].label}</b>" in screen and VERDICT_LOOK["failed"].colour not in screen


def test_approver_named_or_said_not_named() -> None:
    named = _record(approval={"approved": True, "how": "button", "approver": "Jane Doe"})
    unnamed = _record(approval={"approved": True, "how": "parameter approve=True", "by": "op@host"})
    assert "approver: <b>Jane Doe</b> (button)" in first_screen(named)
    assert "approver: <b>not named</b> (parameter approve=True, op@host)" in first_screen(unnamed)
    assert "not approved yet" in first_screen(_record(approval={"approved": False}))


def test_times_to_the_second_and_the_page_title() -> None:
    assert when("2026-11-27T22:00:00.123456+00:00") == "2026-11-27 22:00:00 UTC"
    body = page("<html><head><title>Notebook</title></head><body class=x><p>cells</p></body></html>",
                _record(verdict="done", status="done"))
    assert "<title>DONE: tomcat on c1, ticket CHG-1</title>" in body
    assert body.index('id="cucmkit-board"') < body.index("<p>cells</p>")


def test_notebook_clean_up() -> None:
    nb = nbformat.v4.new_notebook()
    banner = nbformat.v4.new_markdown_cell("An Exception was encountered")
    banner.metadata["tags"] = ["papermill-error-cell-tag"]
    injected = nbformat.v4.new_code_cell('ticket = "C"\njournal_file = "/tmp/cucmkit-run-x/journal.jsonl"')
    injected.metadata["tags"] = ["injected-parameters"]
    failing = nbformat.v4.new_code_cell("book.approval()")
    failing.outputs = [nbformat.v4.new_output("error", ename="WaitingError", evalue="approval required",
                                              traceback=["red"])]
    for cell in (injected, failing):
        cell.metadata["papermill"] = {"start_time": "t"}
    nb.cells = [banner, injected, nbformat.v4.new_code_cell("never ran"), failing]
    drop_papermill_banners(nb)
    hide_internal_paths(nb)
    number_cells(nb)
    calm_errors(nb)
    assert len(nb.cells) == 3 and nb.cells[0].source == 'ticket = "C"'
    assert [c.execution_count for c in nb.cells] == [1, None, 3]
    assert nb.cells[2].outputs[0]["output_type"] == "stream"
    assert nb.cells[2].outputs[0]["text"] == "WAITING: approval required\n"
