"""The terminal's live view of ``cucmkit run``: it follows each run's journal while papermill runs.

The notebook kernel appends events to the run's journal (``cucmkit.evidence.journal``):
phase start/end, step start/end with the node, progress text (phones back N of M), the
approval and the end. ``LiveView`` tails those files (one thread per run) and renders:

- one line per finished step and phase, with its outcome (colour on a terminal, plain in CI/logs);
- on a terminal, a status block with one line per cluster: phase, the step in flight and its node,
  restarts done of planned, elapsed/limit while a service restarts, the last progress text.

The notebook stays the record; this is only the live view. It never reads anything but the journal.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

__all__ = ["LiveView", "RunStatus", "JournalTail", "step_line", "status_line", "OUTCOME_STYLES", "plain_console"]

OUTCOME_STYLES = {"done": "green", "skipped": "dim", "dry-run": "cyan", "waiting": "yellow", "blocked": "red",
                  "failed": "bold red", "stopped": "magenta", "running": "blue"}
POLL_EVERY = 0.3          # seconds between reads of a journal file
_PHONES = re.compile(r"^phones: (\d+|\?) of \d+ back")


@dataclass(frozen=True)
class RunStatus:
    """What one run is doing now, as its journal says (one line of the status block)."""

    label: str
    phase: str = "starting"
    step: str = ""
    node: str = ""
    since: float | None = None          # monotonic time the step in flight started
    limit: float | None = None          # the step's deadline in seconds (restart / phone wait)
    progress: str = ""
    restarts_planned: int = 0
    restarts_done: int = 0
    finished: str = ""                  # the run's end status once known


def _short(node: object) -> str:
    return str(node or "").split(".")[0]


def step_line(label: str, event: dict[str, Any]) -> Text:
    """One finished step: ``HH:MM:SS cluster  outcome  step on node  detail``."""
    outcome = str(event.get("outcome") or "?")
    where = f" on {_short(event['node'])}" if event.get("node") else ""
    text = Text(f"{_clock(event)} {label}  ")
    text.append(f"{outcome:8}", style=OUTCOME_STYLES.get(outcome, ""))
    text.append(f" {event.get('step') or event.get('key')}{where}")
    if event.get("detail"):
        text.append(f"  {str(event['detail'])[:160]}", style="dim")
    return text


def status_line(status: RunStatus, now: float) -> Text:
    """The status block's line for one run."""
    if status.finished:
        text = Text(f"{status.label}: ")
        return text.append(status.finished, style=OUTCOME_STYLES.get(status.finished, ""))
    text = Text(f"{status.label}: ", style="bold").append(status.phase, style="cyan")
    if status.step:
        where = f" on {_short(status.node)}" if status.node else ""
        text.append(f"  {status.step}{where}")
    if status.restarts_planned:
        text.append(f"  restarts {status.restarts_done} of {status.restarts_planned}")
    if status.since is not None:
        elapsed = f"{now - status.since:.0f} s"
        text.append(f"  {elapsed} of up to {status.limit:.0f} s" if status.limit else f"  {elapsed}", style="dim")
    if status.progress:
        text.append(f"  {status.progress[:80]}", style="dim")
    return text


def _clock(event: dict[str, Any]) -> str:
    stamp = str(event.get("time") or "")
    return stamp[11:19] if len(stamp) >= 19 else "--:--:--"


class JournalTail:
    """Complete JSON lines appended to ``path`` since the last read (the file may not exist yet, or restart)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def read(self) -> list[dict[str, Any]]:
        try:
            size = self.path.stat().st_size
        except OSError:
            return []
        if size < self._offset:               # the runner removed it for a new kernel-start attempt
            self._offset, self._partial = 0, b""
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        return [event for line in lines if (event := _parse(line)) is not None]


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


@dataclass
class _Runs:
    statuses: dict[str, RunStatus] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class LiveView:
    """Renders the journals of the runs it follows. Use as a context manager around the batch."""

    def __init__(self, console: Console | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self.clock = clock
        self._runs = _Runs()
        self._live: Live | None = None

    @property
    def interactive(self) -> bool:
        return bool(self.console.is_terminal)

    def __enter__(self) -> LiveView:
        if self.interactive:
            self._live = Live(self._block(), console=self.console, refresh_per_second=2, transient=True,
                              get_renderable=self._block)
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _block(self) -> Group:
        now = self.clock()
        with self._runs.lock:
            statuses = list(self._runs.statuses.values())
        return Group(*(status_line(s, now) for s in statuses))

    def status(self, label: str) -> RunStatus:
        with self._runs.lock:
            return self._runs.statuses.get(label, RunStatus(label))

    def _update(self, label: str, **changes: Any) -> None:
        with self._runs.lock:
            current = self._runs.statuses.get(label, RunStatus(label))
            self._runs.statuses[label] = replace(current, **changes)

    def _print(self, text: Text) -> None:
        self.console.print(text)

    @contextmanager
    def following(self, label: str, journal: Path) -> Iterator[None]:
        """Tail ``journal`` in a thread for as long as the block runs; the last lines are read at the end."""
        tail = JournalTail(journal)
        done = threading.Event()

        def loop() -> None:
            while not done.wait(POLL_EVERY):
                self.feed(label, tail.read())

        self._update(label)
        thread = threading.Thread(target=loop, name=f"journal-{label}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
            self.feed(label, tail.read())

    def note(self, label: str, text: str) -> None:
        """One line about the run ``label`` that no journal holds (e.g. answered from its ledger)."""
        self._print(Text(f"{time.strftime('%H:%M:%S', time.gmtime())} {label}  {text}"))

    def feed(self, label: str, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.event(label, event)

    def event(self, label: str, event: dict[str, Any]) -> None:
        """Render one journal event of the run ``label``."""
        handler = _HANDLERS.get(str(event.get("event")))
        if handler is not None:
            handler(self, label, event)

    # ---- one method per event kind
    def _plan(self, label: str, event: dict[str, Any]) -> None:
        self._update(label, restarts_planned=int(event.get("restarts") or 0),
                     restarts_done=int(event.get("restarts_done") or 0))
        due = "due" if event.get("due") else "nothing due"
        self._print(Text(f"{_clock(event)} {label}  plan: {due}, {event.get('steps', 0)} steps, "
                         f"{event.get('restarts', 0)} restarts"))

    def _phase_start(self, label: str, event: dict[str, Any]) -> None:
        self._update(label, phase=str(event.get("phase")), step="", node="", since=None, progress="")
        if not self.interactive:
            self._print(Text(f"{_clock(event)} {label}  phase {event.get('phase')} ..."))

    def _phase_end(self, label: str, event: dict[str, Any]) -> None:
        status = str(event.get("status"))
        text = Text(f"{_clock(event)} {label}  phase {event.get('phase')}: ")
        text.append(status, style=OUTCOME_STYLES.get(status, ""))
        if event.get("message") and status != "done":
            text.append(f"  {str(event['message'])[:200]}")
        self._update(label, step="", node="", since=None, progress="")
        self._print(text)

    def _step_start(self, label: str, event: dict[str, Any]) -> None:
        limit = event.get("limit")
        self._update(label, step=str(event.get("step") or ""), node=str(event.get("node") or ""),
                     since=self.clock(), limit=float(limit) if limit else None, progress="")
        if not self.interactive and event.get("step") in ("restart", "phones-wait", "phones-reset"):
            where = f" on {_short(event['node'])}" if event.get("node") else ""
            limit_text = f" (up to {float(limit):.0f} s)" if limit else ""
            self._print(Text(f"{_clock(event)} {label}  {event.get('step')}{where} ...{limit_text}"))

    def _step_end(self, label: str, event: dict[str, Any]) -> None:
        status = self.status(label)
        done = status.restarts_done + (event.get("step") == "restart" and event.get("outcome") == "done")
        self._update(label, step="", node="", since=None, progress="", restarts_done=done)
        self._print(step_line(label, event))
        if event.get("step") == "restart" and status.restarts_planned:
            self._print(Text(f"{_clock(event)} {label}  restarts {done} of {status.restarts_planned} done",
                             style="dim"))

    def _progress(self, label: str, event: dict[str, Any]) -> None:
        text = str(event.get("text") or "")
        self._update(label, progress=text)
        if not self.interactive and _PHONES.match(text):
            self._print(Text(f"{_clock(event)} {label}  {text}"))

    def _approval(self, label: str, event: dict[str, Any]) -> None:
        if event.get("approved"):
            by = event.get("approver") or event.get("by")
            self._print(Text(f"{_clock(event)} {label}  approved by {by} ({event.get('how')})"))

    def _end(self, label: str, event: dict[str, Any]) -> None:
        self._update(label, finished=str(event.get("status")), since=None)


_HANDLERS: dict[str, Callable[[LiveView, str, dict[str, Any]], None]] = {
    "plan": LiveView._plan, "phase-start": LiveView._phase_start, "phase-end": LiveView._phase_end,
    "step-start": LiveView._step_start, "step-end": LiveView._step_end, "progress": LiveView._progress,
    "approval": LiveView._approval, "end": LiveView._end,
}


def plain_console(stream: IO[str]) -> Console:
    """A console that never colours (logs, CI, tests)."""
    return Console(file=stream, highlight=False, soft_wrap=True, color_system=None, force_terminal=False)
