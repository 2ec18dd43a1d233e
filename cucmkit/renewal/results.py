"""What a phase or a run returns: a status, the steps, a message; tables for notebooks."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cucmkit.errors import CucmKitError, InterlockError, StoppedError, WaitingError
from cucmkit.renewal.state import Override, StepRecord

__all__ = ["PhaseResult", "RunResult", "STATUSES", "steps_frame"]

STATUSES = ("done", "skipped", "waiting", "failed", "blocked", "stopped")
_COLUMNS = ["phase", "step", "node", "outcome", "started", "ended", "detail"]


def _second(moment: datetime | None) -> str:
    """A step's time shown to the second, UTC (the ledger keeps microseconds; a reader does not need them)."""
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def steps_frame(steps: tuple[StepRecord, ...]) -> Any:
    import pandas as pd

    rows = [{"phase": s.phase, "step": s.name, "node": s.node or "", "outcome": s.outcome,
             "started": _second(s.started), "ended": _second(s.ended), "detail": s.detail} for s in steps]
    return pd.DataFrame(rows, columns=_COLUMNS)


def _html(title: str, message: str, frame: Any) -> str:
    from cucmkit.tables import styled

    return f"<div><p><b>{html.escape(title)}</b> {html.escape(message)}</p>{styled(frame).to_html()}</div>"


@dataclass(frozen=True)
class PhaseResult:
    phase: str
    status: str
    steps: tuple[StepRecord, ...] = ()
    message: str = ""
    remedy: str = ""
    checks: Any = None  # the CheckReport when blocked

    @property
    def ok(self) -> bool:
        return self.status in ("done", "skipped")

    def to_frame(self) -> Any:
        return steps_frame(self.steps)

    def _repr_html_(self) -> str:
        return _html(f"{self.phase}: {self.status}", self.message, self.to_frame())

    def __str__(self) -> str:
        lines = [f"{self.phase}: {self.status} {self.message}".rstrip()]
        lines += [f"  {s.outcome:8} {s.name} {s.node or ''} {s.detail}".rstrip() for s in self.steps]
        if self.remedy:
            lines.append(f"  remedy: {self.remedy}")
        return "\n".join(lines)


@dataclass(frozen=True)
class RunResult:
    cluster: str
    purpose: str
    ticket: str
    run_id: str | None
    status: str
    message: str = ""
    phases: tuple[PhaseResult, ...] = ()
    steps: tuple[StepRecord, ...] = ()
    overrides: tuple[Override, ...] = ()
    reminders: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.status in ("done", "skipped")

    def to_frame(self) -> Any:
        return steps_frame(self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "purpose": self.purpose, "ticket": self.ticket, "run_id": self.run_id,
                "status": self.status, "message": self.message,
                "phases": [{"phase": p.phase, "status": p.status, "message": p.message, "remedy": p.remedy}
                           for p in self.phases],
                "steps": [s.to_json() for s in self.steps], "overrides": [o.to_json() for o in self.overrides],
                "reminders": list(self.reminders)}

    def raise_for_status(self) -> RunResult:
        """Raise WaitingError / InterlockError / StoppedError / CucmKitError unless the run is done or skipped."""
        if self.status == "stopped":
            raise StoppedError(self.message or "the run was stopped", purpose=self.purpose,
                               remedy="re-run the same command to resume; completed steps are not repeated")
        if self.status == "waiting":
            raise WaitingError(self.message, purpose=self.purpose)
        if self.status == "blocked":
            raise InterlockError(self.message, purpose=self.purpose)
        if self.status == "failed":
            raise CucmKitError(self.message, purpose=self.purpose)
        return self

    def _repr_html_(self) -> str:
        extra = "".join(f"<p><b>Reminder:</b> {html.escape(r)}</p>" for r in self.reminders)
        return _html(f"{self.purpose} on {self.cluster} ({self.ticket}): {self.status}", self.message,
                     self.to_frame()) + extra

    def __str__(self) -> str:
        lines = [f"{self.purpose} on {self.cluster} ticket {self.ticket}: {self.status} {self.message}".rstrip()]
        lines += [f"  [{s.phase}] {s.outcome:8} {s.name} {s.node or ''} {s.detail}".rstrip() for s in self.steps]
        lines += [f"  remedy: {p.remedy}" for p in self.phases if p.remedy and not p.ok]
        lines += [f"  reminder: {r}" for r in self.reminders]
        return "\n".join(lines)
