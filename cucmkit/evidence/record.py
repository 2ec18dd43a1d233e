"""cucmkit's own result record of one notebook run (``result.json``).

Written by the parent process after papermill returned or died, from three
sources it can trust: the kernel's journal (which steps started and ended,
with the engine's step outcomes), the executed notebook (which cells started),
and how papermill ended (exit code, exception class). A step is listed as run
only when the journal saw it end; a phase that started but never ended is
``interrupted``, and nothing after the last started cell is claimed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cucmkit.errors import CucmKitError
from cucmkit.renewal.standing import NodeStanding
from cucmkit.renewal.standing import standing as node_standing
from cucmkit.renewal.state import RunState, StepRecord, load_state

__all__ = [
    "RESULT",
    "STATUSES",
    "VERDICTS",
    "StepEntry",
    "PhaseEntry",
    "CertEntry",
    "PapermillOutcome",
    "CellInfo",
    "ResultRecord",
    "build_record",
    "write_record",
    "read_record",
    "phases_from_journal",
    "read_ledger",
]

RESULT = "result.json"
# done: every cell ran; dry-run: ran without changing the cluster; waiting: paused on
# an approval or the CA; blocked: an interlock refused; stopped: a stop request (signal,
# runner gone) ended the run at a step boundary, a re-run resumes; failed: anything else.
STATUSES = ("done", "dry-run", "waiting", "blocked", "stopped", "failed")
# what a change board reads: a done run whose plan had nothing due changed nothing (nothing-due)
VERDICTS = ("done", "nothing-due", "dry-run", "waiting", "blocked", "stopped", "failed")


@dataclass(frozen=True)
class StepEntry:
    name: str
    node: str | None
    started: str | None
    ended: str | None
    outcome: str
    detail: str = ""


@dataclass(frozen=True)
class PhaseEntry:
    name: str
    status: str            # the engine's status, or "interrupted" when it never ended
    started: str | None
    ended: str | None
    steps: tuple[StepEntry, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class CertEntry:
    node: str | None
    purpose: str | None
    store: str
    filename: str | None
    subject: str
    issuer: str
    serial: str
    not_before: str
    not_after: str
    fingerprint_sha256: str
    self_signed: bool
    key_type: str = ""       # e.g. "RSA 2048", "EC 384" (journals before schema 2 did not record it)

    @property
    def serial_hex(self) -> str:
        """The serial number in upper-case hex (as ``cucmkit check`` and CUCM's own pages show it)."""
        try:
            return f"{int(self.serial):X}"
        except ValueError:
            return self.serial


@dataclass(frozen=True)
class PapermillOutcome:
    exit_code: int | None          # the papermill process's exit code (None: it never ran)
    exception: str | None = None   # exception class, e.g. PapermillExecutionError, CellTimeoutError
    error_name: str | None = None  # for a cell error: the cell's exception class (ename)
    message: str = ""              # scrubbed, short
    kernel_start_attempts: int = 1
    failure: str | None = None     # cell-error, timeout, kernel-died, kernel-start, killed, interrupted, runner


@dataclass(frozen=True)
class CellInfo:
    index: int
    step: str | None       # the cell's step tag, e.g. "csr"
    started: str | None


@dataclass(frozen=True)
class ResultRecord:
    status: str
    purpose: str
    cluster: str | None
    ticket: str
    ca: str | None
    approve: bool
    dry_run: bool
    run_by: str
    started: str
    ended: str
    parameters_files: tuple[str, ...]
    notebook: str
    papermill: PapermillOutcome
    last_cell_started: CellInfo | None
    cells_run: int
    cells_total: int
    phases: tuple[PhaseEntry, ...]
    certs_before: tuple[CertEntry, ...]
    certs_after: tuple[CertEntry, ...]
    csrs: tuple[dict[str, str], ...]
    message: str = ""
    secret_scan: tuple[str, ...] = ()
    secrets_looked_for: tuple[str, ...] = ()   # by reference (``looked for: credentials.x.password (env:X)``)
    schema: int = 2
    extra: dict[str, Any] = field(default_factory=dict)
    verdict: str = ""                        # what the board reads: done, nothing-due, waiting, ... (see VERDICTS)
    approval: dict[str, Any] = field(default_factory=dict)   # the journal's approval event (approved, how, approver)
    reminders: tuple[str, ...] = ()          # what is left to do by hand (the engine's reminders)
    window: dict[str, str] | None = None     # the parameter file's maintenance window
    signature: str = "unsigned"              # "signed by <subject>" or "unsigned (...)"
    earlier_runs: tuple[dict[str, str], ...] = ()   # earlier attempts of this ticket: folder, verdict, started
    standing: tuple[NodeStanding, ...] = ()    # per node after the run: installed / active / pending
    resume: str = ""                           # the exact command that resumes (when the run did not finish)
    approver: str | None = None                # the named approver (beside run_by, the OS user)
    overrides: dict[str, str] = field(default_factory=dict)   # interlock -> the operator's reason
    nodes: tuple[str, ...] = ()                # renewed even if not due (--nodes)
    force_csr: bool = False

    @property
    def steps(self) -> tuple[StepEntry, ...]:
        return tuple(step for phase in self.phases for step in phase.steps)

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["steps"] = [asdict(s) for s in self.steps]
        return body


def _steps(raw: list[dict[str, Any]]) -> tuple[StepEntry, ...]:
    return tuple(
        StepEntry(name=str(s.get("name", "")), node=s.get("node"), started=s.get("started"),
                  ended=s.get("ended"), outcome=str(s.get("outcome", "")), detail=str(s.get("detail", "")))
        for s in raw
    )


def _ledger_steps(ledger: RunState | None, phase: str, since: str | None) -> tuple[StepEntry, ...]:
    """The engine ledger's steps of ``phase`` started at or after ``since``; unfinished ones are ``interrupted``."""
    if ledger is None or not since:
        return ()
    records = sorted((r for r in ledger.steps.values()
                      if r.phase == phase and r.started is not None and _after(r.started.isoformat(), since)),
                     key=lambda r: r.started.timestamp() if r.started else 0.0)
    return tuple(_step_entry(r) for r in records)


def _step_entry(record: StepRecord) -> StepEntry:
    if record.outcome == "running":
        return StepEntry(name=record.name, node=record.node, started=_iso(record.started), ended=None,
                         outcome="interrupted", detail=record.detail)
    return StepEntry(name=record.name, node=record.node, started=_iso(record.started), ended=_iso(record.ended),
                     outcome=record.outcome, detail=record.detail)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _after(moment: str, since: str) -> bool:
    try:
        return datetime.fromisoformat(moment) >= datetime.fromisoformat(since)
    except ValueError:
        return False


def phases_from_journal(events: list[dict[str, Any]], ledger: RunState | None = None
                        ) -> tuple[PhaseEntry, ...]:
    """One entry per phase the kernel started; a phase without an end is ``interrupted``.

    An interrupted phase claims only the steps the engine's ledger recorded as
    ended (the engine persists a step after it ends); the step it was in is
    listed as ``interrupted``.
    """
    open_phases: dict[str, str] = {}
    done: list[PhaseEntry] = []
    for event in events:
        name = str(event.get("phase"))
        if event["event"] == "phase-start":
            open_phases[name] = event["time"]
        elif event["event"] == "phase-end":
            done.append(PhaseEntry(name=name, status=str(event.get("status")), started=open_phases.pop(name, None),
                                   ended=event["time"], steps=_steps(event.get("steps") or []),
                                   message=str(event.get("message") or "")))
    interrupted = [PhaseEntry(name=n, status="interrupted", started=t, ended=None,
                              steps=_ledger_steps(ledger, n, t),
                              message="started but never ended: only steps the engine's ledger saw end are claimed")
                   for n, t in open_phases.items()]
    return tuple(done + interrupted)


def _certs(events: list[dict[str, Any]], when: str) -> tuple[CertEntry, ...]:
    for event in reversed(events):
        if event["event"] == "certs" and event.get("when") == when:
            return tuple(CertEntry(**c) for c in event.get("certs", []))
    return ()


def _journal_status(events: list[dict[str, Any]]) -> str | None:
    for event in reversed(events):
        if event["event"] == "end":
            return str(event.get("status"))
    return None


def _status(outcome: PapermillOutcome, events: list[dict[str, Any]], phases: tuple[PhaseEntry, ...]) -> str:
    if outcome.failure is None and outcome.exit_code == 0:
        if any(p.status == "interrupted" for p in phases):
            return "failed"
        said = _journal_status(events)
        return said if said in STATUSES else "done"
    if outcome.failure == "cell-error" and outcome.error_name == "WaitingError":
        return "waiting"
    if outcome.failure == "cell-error" and outcome.error_name == "InterlockError":
        return "blocked"
    if outcome.failure == "cell-error" and outcome.error_name == "StoppedError":
        return "stopped"
    return "failed"


def _last(events: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next((e for e in reversed(events) if e["event"] == name), {})


def board_verdict(status: str, events: list[dict[str, Any]]) -> str:
    """``status``, except a done run whose plan had nothing due: ``nothing-due``."""
    plan = _last(events, "plan")
    if status == "done" and plan and not plan.get("due"):
        return "nothing-due"
    return status


def _approval(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {k: v for k, v in _last(events, "approval").items() if k != "event"}


def build_record(
    *,
    events: list[dict[str, Any]],
    outcome: PapermillOutcome,
    cells: list[CellInfo],
    purpose: str,
    ticket: str,
    ca: str | None,
    approve: bool,
    dry_run: bool,
    run_by: str,
    started: str,
    ended: str,
    parameters_files: tuple[str, ...],
    notebook: str,
    cluster: str | None = None,
    ledger: RunState | None = None,
    resume: str = "",
    **options: Any,
) -> ResultRecord:
    """``options``: approver, overrides, nodes, force_csr as the run was asked (recorded as given)."""
    phases = phases_from_journal(events, ledger)
    ran = [c for c in cells if c.started]
    opened = next((e for e in events if e["event"] == "open"), {})
    status = _status(outcome, events, phases)
    return ResultRecord(
        status=status, purpose=purpose, cluster=opened.get("cluster") or cluster, ticket=ticket, ca=ca,
        approve=approve, dry_run=dry_run, run_by=run_by, started=started, ended=ended,
        parameters_files=parameters_files, notebook=notebook, papermill=outcome,
        last_cell_started=ran[-1] if ran else None, cells_run=len(ran), cells_total=len(cells),
        phases=phases, certs_before=_certs(events, "before"), certs_after=_certs(events, "after"),
        csrs=tuple({k: str(v) for k, v in e.items() if k != "event"} for e in events if e["event"] == "csr"),
        message=outcome.message if status != "done" else "",
        verdict=board_verdict(status, events), approval=_approval(events),
        reminders=tuple(str(r) for r in _last(events, "end").get("reminders") or ()),
        standing=node_standing(ledger) if status not in ("done", "dry-run") else (),
        resume=resume if status not in ("done", "dry-run") else "",
        approver=_approver(events) or options.get("approver"), overrides=dict(options.get("overrides") or {}),
        nodes=tuple(options.get("nodes") or ()), force_csr=bool(options.get("force_csr")),
    )


def _approver(events: list[dict[str, Any]]) -> str | None:
    """The named approver of the last approval the kernel journaled (the widget's name field or the parameter)."""
    for event in reversed(events):
        if event["event"] == "approval" and event.get("approved"):
            return str(event["approver"]) if event.get("approver") else None
    return None


def write_record(record: ResultRecord, folder: Path) -> Path:
    path = folder / RESULT
    path.write_text(json.dumps(record.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
    return path


def read_record(folder: Path) -> dict[str, Any] | None:
    """``result.json`` as a mapping; None when missing, unreadable or not a JSON object."""
    try:
        body = json.loads((folder / RESULT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def read_ledger(events: list[dict[str, Any]]) -> RunState | None:
    """The engine's run state from the ledger the kernel named in its journal (None if none or unreadable)."""
    path = next((e.get("path") for e in reversed(events) if e["event"] == "ledger"), None)
    if not path:
        return None
    try:
        return load_state(Path(path))
    except (OSError, CucmKitError):
        return None
