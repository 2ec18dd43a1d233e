"""The terminal's live view follows a run's journal: steps with node and outcome, restarts N of M, phones."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

from cucmkit.evidence.journal import Journal
from cucmkit.live import JournalTail, LiveView, RunStatus, plain_console, status_line

EVENTS = [
    {"event": "plan", "due": True, "steps": 9, "restarts": 2, "time": "2026-11-27T10:00:00+00:00"},
    {"event": "phase-start", "phase": "activate", "time": "2026-11-27T10:00:01+00:00"},
    {"event": "step-start", "step": "restart", "node": "cucm-pub.lab.example", "limit": 600,
     "time": "2026-11-27T10:00:02+00:00"},
    {"event": "step-end", "step": "restart", "node": "cucm-pub.lab.example", "outcome": "done",
     "detail": "Cisco Tomcat restarted and Started", "time": "2026-11-27T10:00:40+00:00"},
    {"event": "progress", "text": "phones: 3 of 5 back", "time": "2026-11-27T10:00:41+00:00"},
    {"event": "progress", "text": "phones: done 2 step(s) done", "time": "2026-11-27T10:00:41+00:00"},
    {"event": "step-end", "step": "identity", "node": "cucm-sub1.lab.example", "outcome": "failed",
     "detail": "boom", "time": "2026-11-27T10:00:42+00:00"},
    {"event": "phase-end", "phase": "activate", "status": "failed", "message": "boom",
     "time": "2026-11-27T10:00:43+00:00"},
]


def _render(events: list[dict[str, object]]) -> tuple[LiveView, str]:
    out = io.StringIO()
    view = LiveView(plain_console(out))
    with view:
        view.feed("lab tomcat", events)
    return view, out.getvalue()


def test_plain_lines_name_phase_step_node_and_outcome() -> None:
    view, text = _render(EVENTS)
    assert "\x1b[" not in text                      # no colour codes in logs
    assert "lab tomcat  plan: due, 9 steps, 2 restarts" in text
    assert "10:00:02 lab tomcat  restart on cucm-pub ... (up to 600 s)" in text
    assert "done     restart on cucm-pub  Cisco Tomcat restarted and Started" in text
    assert "restarts 1 of 2 done" in text
    assert "phones: 3 of 5 back" in text and "phones: done" not in text
    assert "failed   identity on cucm-sub1  boom" in text
    assert "phase activate: failed  boom" in text
    assert view.status("lab tomcat").restarts_done == 1


def test_a_resumed_run_counts_restarts_on_from_the_ledger() -> None:
    view, text = _render([{**EVENTS[0], "restarts": 12, "restarts_done": 3}, *EVENTS[1:4]])
    assert "restarts 4 of 12 done" in text and view.status("lab tomcat").restarts_done == 4


def test_status_line_shows_node_restarting_now_with_elapsed_and_limit() -> None:
    status = RunStatus("lab CallManager", phase="activate", step="restart", node="cucm-sub2.lab.example",
                       since=100.0, limit=600.0, restarts_planned=12, restarts_done=5)
    line = status_line(status, now=142.0).plain
    assert line == "lab CallManager: activate  restart on cucm-sub2  restarts 5 of 12  42 s of up to 600 s"


def test_colour_on_a_terminal() -> None:
    out = io.StringIO()
    from rich.console import Console

    view = LiveView(Console(file=out, force_terminal=True, color_system="standard", width=200))
    view.feed("lab", [EVENTS[3]])
    assert "\x1b[32m" in out.getvalue()             # done is green


def test_tail_reads_complete_lines_only_and_survives_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    tail = JournalTail(path)
    assert tail.read() == []
    Journal(path).write("phase-start", phase="csr")
    with path.open("a") as handle:
        handle.write(json.dumps({"event": "progress"})[:10])      # torn: not yet a line
    assert [e["event"] for e in tail.read()] == ["phase-start"]
    path.unlink()
    Journal(path).write("end", status="done")
    assert [e["event"] for e in tail.read()] == ["end"]


def test_following_renders_what_a_kernel_appends_while_it_runs(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    out = io.StringIO()
    view = LiveView(plain_console(out))
    with view.following("c1 tomcat", path):
        Journal(path).write("step-end", step="csr", node="cucm-pub", outcome="done")
        deadline = time.monotonic() + 30
        while "csr on cucm-pub" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "csr on cucm-pub" in out.getvalue()   # rendered before the run ended
        Journal(path).write("end", status="done")
    assert view.status("c1 tomcat").finished == "done"


def test_parallel_clusters_one_status_line_each() -> None:
    view = LiveView(plain_console(io.StringIO()))
    view.feed("east tomcat", [EVENTS[1]])
    view.feed("west tomcat", [EVENTS[1], EVENTS[2]])
    lines = [line.plain for line in view._block().renderables]  # type: ignore[union-attr]
    assert len(lines) == 2 and lines[0].startswith("east tomcat: activate") and "restart on cucm-pub" in lines[1]
