"""What the renewal engine remembers between runs: the ledger and the phone gate (the lock: ``lock.py``).

All three live under ``<state_dir>/<cluster>/`` (CONTRACTS §5):

- ``<purpose>.json``: the ledger of one purpose's run, a versioned ``RunState``
  (frozen dataclasses, read and written through pydantic): the plan, every
  step's outcome and times, CSRs, CA request ids, issued files, certificates
  before and after, pre-checks, overrides, events, the phone baseline. Only
  ``Ledger`` changes it (each change is a new value, saved at once); others read
  ``Ledger.state`` or ``load_state(path)``. A version-1 file (the plain dict of
  earlier releases) is migrated on load; anything else is refused with the file
  and the remedy named. Finished runs move to ``history/``.
- ``lock``: one run per cluster (``cucmkit.renewal.lock``: holder identity, stale and
  foreign locks, explicit release).
- ``phones.json``: the phone gate. Set when a phone-affecting purpose changes the
  cluster (identity installed, services restarted), cleared only when the phones
  are back. CallManager and TVS refuse to start while the other holds it.

Every write is atomic: a temporary file, fsync, ``os.replace``.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import TypeAdapter, ValidationError

from cucmkit.errors import InterlockError
from cucmkit.renewal.checks import CheckResult
from cucmkit.renewal.plan import Plan, PlannedNode, Step
from cucmkit.sans import ExpectedNames

__all__ = [
    "OUTCOMES",
    "STATE_VERSION",
    "RunStatus",
    "StepOutcome",
    "RunState",
    "StepRecord",
    "StoredPlan",
    "CsrEntry",
    "CaRequest",
    "Issued",
    "CertChange",
    "Override",
    "Event",
    "Baseline",
    "Ledger",
    "load_state",
    "PhoneGate",
    "GateState",
    "atomic_write_json",
    "read_json",
    "utcnow",
]

StepOutcome = Literal["running", "done", "skipped", "waiting", "failed", "blocked"]
RunStatus = Literal["new", "running", "waiting", "failed", "blocked", "stopped", "completed"]
OUTCOMES: tuple[StepOutcome, ...] = ("running", "done", "skipped", "waiting", "failed", "blocked")
ACTIVE: tuple[RunStatus, ...] = ("running", "waiting", "failed", "blocked", "stopped")
STATE_VERSION = 2         # 1: the plain dict of cucmkit before the run-state model (migrated on load)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON so a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True, default=str)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_json(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


# ---------------------------------------------------------------- the run-state model (versioned)


@dataclass(frozen=True)
class StepRecord:
    """One step's outcome as persisted."""

    key: str
    name: str
    node: str | None
    phase: str
    outcome: StepOutcome
    started: datetime | None = None
    ended: datetime | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["started"], out["ended"] = _iso(self.started), _iso(self.ended)
        return out

    @property
    def finished(self) -> bool:
        return self.outcome in ("done", "skipped")


@dataclass(frozen=True)
class CsrEntry:
    """The CSR this run generated (or adopted) on a node, matched later by its public key."""

    pem: str
    fingerprint: str          # public key sha256
    at: datetime
    expected_sans: tuple[str, ...] = ()   # the SAN set the CA must return (``DNS:x``/``IP:y``; () = not recorded)
    expected_cn: str = ""                 # the common name the CA should keep
    extra_sans: tuple[str, ...] = ()      # which of them are the parameter file's extra entries

    def expected(self) -> ExpectedNames | None:
        """What the CA must return, known since the CSR (None for a ledger written before it was recorded)."""
        if not self.expected_sans:
            return None
        return ExpectedNames(sans=frozenset(self.expected_sans), common_name=self.expected_cn,
                             extras=frozenset(self.extra_sans))


@dataclass(frozen=True)
class CaRequest:
    """A CSR submitted to the CA: never submitted twice."""

    id: str
    backend: str
    csr_fingerprint: str
    at: datetime


@dataclass(frozen=True)
class Issued:
    """What the CA returned for a node, validated against the CSR before it was recorded."""

    pems: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class CertChange:
    """A node's certificate sha256 before the run and after its install step."""

    before: str | None = None
    after: str | None = None


@dataclass(frozen=True)
class Override:
    """A pre-check overridden with a recorded reason."""

    at: datetime
    check: str
    reason: str
    detail: str
    ticket: str

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "at": _iso(self.at)}


@dataclass(frozen=True)
class Event:
    at: datetime
    text: str


@dataclass(frozen=True)
class Baseline:
    """Phones registered before the restarts: what the phone phase waits to get back."""

    registered: int
    total: int
    names: tuple[str, ...] = ()
    # Taken before the upload (Phone Interaction on Certificate Update on): each registered phone's RisPort
    # TimeStamp then; a phone counts as back only once its TimeStamp changed (it re-registered since).
    stamps: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredPlan:
    """The plan a run follows until it ends (a resumed run does not re-plan)."""

    nodes: tuple[PlannedNode, ...]
    steps: tuple[Step, ...]
    threshold_days: float
    security_mode: int | None = None
    notes: tuple[str, ...] = ()
    version: str | None = None          # the CUCM version the restarts were chosen for

    @classmethod
    def of(cls, plan: Plan) -> StoredPlan:
        return cls(nodes=tuple(replace(n, not_after=None) for n in plan.nodes), steps=plan.steps,
                   threshold_days=plan.threshold_days, security_mode=plan.security_mode, notes=plan.notes,
                   version=plan.version)


@dataclass(frozen=True)
class RunState:
    """One cluster+purpose run, as the ledger file holds it (``version`` 2)."""

    cluster: str
    purpose: str
    version: int = STATE_VERSION
    run_id: str | None = None
    ticket: str | None = None
    status: RunStatus = "new"
    created: datetime | None = None
    finished: datetime | None = None
    nodes: tuple[str, ...] = ()
    plan: StoredPlan | None = None
    steps: Mapping[str, StepRecord] = field(default_factory=dict)
    csrs: Mapping[str, CsrEntry] = field(default_factory=dict)
    requests: Mapping[str, CaRequest] = field(default_factory=dict)
    issued: Mapping[str, Issued] = field(default_factory=dict)
    certificates: Mapping[str, CertChange] = field(default_factory=dict)
    overrides: tuple[Override, ...] = ()
    checks: tuple[CheckResult, ...] = ()
    events: tuple[Event, ...] = ()
    baseline: Baseline | None = None

    @property
    def active(self) -> bool:
        """A run was started and has not finished."""
        return self.status in ACTIVE

    @property
    def order(self) -> tuple[str, ...]:
        """The step keys in the plan's order."""
        return tuple(s.key for s in self.plan.steps) if self.plan else ()

    def records(self) -> tuple[StepRecord, ...]:
        """The recorded steps in the plan's order."""
        return tuple(self.steps[k] for k in self.order if k in self.steps)

    def reminders(self) -> tuple[str, ...]:
        return tuple(s.detail for s in self.plan.steps if s.name == "reminder") if self.plan else ()

    def to_json(self) -> dict[str, Any]:
        """The file's JSON form (a copy: changing it changes nothing); ``order`` is derived, for readers."""
        body: dict[str, Any] = _ADAPTER.dump_python(self, mode="json")
        body["order"] = list(self.order)
        return body


_ADAPTER: TypeAdapter[RunState] = TypeAdapter(RunState)


def _migrate_v1(raw: dict[str, Any]) -> dict[str, Any]:
    """Version 1 (a plain dict edited in place) -> version 2: drop what is now derived or unused."""
    body = {k: v for k, v in raw.items() if k != "order"}
    body["steps"] = {k: {"key": k, **{f: v for f, v in s.items() if f != "data"}}
                     for k, s in (raw.get("steps") or {}).items()}
    body["version"] = STATE_VERSION
    return body


def load_state(path: Path, *, cluster: str | None = None, purpose: str | None = None) -> RunState | None:
    """The run state in ``path`` (None if there is no file); a version-1 file is migrated.

    ``cluster`` and ``purpose`` default to the ledger's place (``<state_dir>/<cluster>/<purpose>.json``)
    when the file does not say. A file without a version is read as version 1 (the layout before
    the model). A file this version cannot read (newer, damaged) raises ``InterlockError`` naming
    it and the remedy.
    """
    try:
        raw = read_json(path)
    except ValueError as exc:
        raise _unreadable(path, f"it is not JSON ({exc})") from None
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _unreadable(path, "it does not hold a JSON object")
    version = raw.get("version", 1)
    if version == 1:
        raw = _migrate_v1(raw)
    elif version != STATE_VERSION:
        raise _unreadable(path, f"its version is {version!r}; this cucmkit reads versions 1 and {STATE_VERSION}")
    raw.setdefault("cluster", cluster or path.parent.name)
    raw.setdefault("purpose", purpose or path.stem)
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3])
        raise _unreadable(path, f"it does not match the run-state model ({where})") from None


def _unreadable(path: Path, why: str) -> InterlockError:
    return InterlockError(
        f"the renewal ledger {path} cannot be used: {why}", operation="ledger",
        remedy=f"run the cucmkit version that wrote it to finish that run, or move {path.name} into "
               f"{path.parent / 'history'} to start afresh (the cluster itself is the truth: re-plan)")


class Ledger:
    """The persisted ``RunState`` of one cluster+purpose run; the only writer of it.

    Thread-safe. Each change builds a new frozen ``RunState`` and saves it at once
    (atomically); readers get ``state``, a value they cannot change.
    """

    def __init__(self, *, path: Path, cluster: str, purpose: str) -> None:
        self.path = path
        self.cluster = cluster
        self.purpose = purpose
        self._lock = threading.RLock()
        self._state = load_state(path, cluster=cluster, purpose=purpose) or self._empty()
        self.saves = 0

    @classmethod
    def open(cls, state_dir: Path, cluster: str, purpose: str) -> Ledger:
        return cls(path=Path(state_dir) / cluster / f"{purpose}.json", cluster=cluster, purpose=purpose)

    def _empty(self) -> RunState:
        return RunState(cluster=self.cluster, purpose=self.purpose)

    def reload(self) -> RunState:
        """Read the file again (another process, or a test simulating a crash, wrote it)."""
        with self._lock:
            self._state = load_state(self.path, cluster=self.cluster, purpose=self.purpose) or self._empty()
            return self._state

    @property
    def state(self) -> RunState:
        return self._state

    @property
    def active(self) -> bool:
        return self._state.active

    def snapshot(self) -> dict[str, Any]:
        """The JSON form of the state (a copy), as the file holds it."""
        return self._state.to_json()

    def get(self, section: str, key: str) -> dict[str, Any] | None:
        """The JSON form of one entry of a keyed section (csrs, requests, issued, certificates); a copy."""
        value = self.snapshot().get(section) or {}
        entry = value.get(key) if isinstance(value, dict) else None
        return entry if isinstance(entry, dict) else None

    def _change(self, **changes: Any) -> RunState:
        with self._lock:
            self._state = replace(self._state, **changes)
            self.save()
            return self._state

    def save(self) -> None:
        with self._lock:
            atomic_write_json(self.path, self._state.to_json())
            self.saves += 1

    # ---- run lifecycle -------------------------------------------------
    def begin(self, *, ticket: str, plan: StoredPlan, nodes: Iterable[str],
              certificates: Mapping[str, CertChange] | None = None) -> RunState:
        """Start a new run (one atomic write); a finished earlier run moves to history/ first."""
        with self._lock:
            if self._state.status == "completed":
                self._archive()
            self._state = replace(self._empty(), run_id=uuid.uuid4().hex[:12], ticket=ticket, status="running",
                                  created=utcnow(), nodes=tuple(nodes), plan=plan,
                                  certificates=dict(certificates or {}))
            self.save()
            return self._state

    def _archive(self) -> None:
        stamp = _iso(self._state.finished or utcnow()) or ""
        target = self.path.parent / "history" / f"{self.purpose}-{stamp.replace(':', '')}-{self._state.run_id}.json"
        atomic_write_json(target, self._state.to_json())

    def set_status(self, status: RunStatus) -> None:
        finished = utcnow() if status == "completed" else self._state.finished
        self._change(status=status, finished=finished)

    # ---- steps ---------------------------------------------------------
    def step(self, key: str) -> StepRecord | None:
        return self._state.steps.get(key)

    def steps(self) -> Iterator[StepRecord]:
        yield from tuple(self._state.steps.values())

    def record(self, record: StepRecord) -> StepRecord:
        with self._lock:
            self._change(steps={**self._state.steps, record.key: record})
        return record

    def set_plan_steps(self, steps: tuple[Step, ...], *, security_mode: int | None, why: str) -> None:
        """The plan changed under a running run (mixed mode switched on): new step list, with an event."""
        with self._lock:
            plan = self._state.plan
            if plan is None:
                raise ValueError("no run in progress: nothing to re-plan")
            self._change(plan=replace(plan, steps=steps, security_mode=security_mode),
                         events=self._state.events + (Event(utcnow(), why),))

    def forget(self, node: str, step_keys: Iterable[str], *, why: str) -> None:
        """Drop a node's CSR, CA request, issued files and the given steps (force_csr), with an event."""
        with self._lock:
            keys = set(step_keys)
            s = self._state
            self._change(steps=_without(s.steps, keys), csrs=_without(s.csrs, {node}),
                         requests=_without(s.requests, {node}), issued=_without(s.issued, {node}),
                         events=s.events + (Event(utcnow(), why),))

    # ---- facts ---------------------------------------------------------
    def put_csr(self, node: str, entry: CsrEntry) -> None:
        with self._lock:
            self._change(csrs={**self._state.csrs, node: entry})

    def put_request(self, node: str, entry: CaRequest) -> None:
        with self._lock:
            self._change(requests={**self._state.requests, node: entry})

    def put_issued(self, node: str, entry: Issued) -> None:
        with self._lock:
            self._change(issued={**self._state.issued, node: entry})

    def note_cert(self, node: str, *, after: str | None) -> None:
        with self._lock:
            current = self._state.certificates.get(node) or CertChange()
            self._change(certificates={**self._state.certificates, node: replace(current, after=after)})

    def set_baseline(self, baseline: Baseline) -> None:
        self._change(baseline=baseline)

    def set_checks(self, checks: Iterable[CheckResult]) -> None:
        self._change(checks=tuple(checks))

    def add_override(self, override: Override) -> None:
        with self._lock:
            self._change(overrides=self._state.overrides + (override,))

    def event(self, text: str) -> None:
        with self._lock:
            self._change(events=self._state.events + (Event(utcnow(), text),))


_V = TypeVar("_V")


def _without(mapping: Mapping[str, _V], keys: set[str]) -> dict[str, _V]:
    return {k: v for k, v in mapping.items() if k not in keys}


@dataclass(frozen=True)
class GateState:
    """A purpose whose change the phones have not yet caught up with."""

    purpose: str
    reason: str
    since: datetime
    ticket: str | None = None


class PhoneGate:
    """``phones.json``: which phone-affecting purposes changed the cluster and await the phones."""

    def __init__(self, *, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def for_cluster(cls, state_dir: Path, cluster: str) -> PhoneGate:
        return cls(path=Path(state_dir) / cluster / "phones.json")

    def _read(self) -> dict[str, Any]:
        return read_json(self.path) or {"pending": {}, "cleared": []}

    def pending(self) -> dict[str, GateState]:
        raw = self._read()["pending"]
        return {
            name: GateState(name, item["reason"], _parse(item["since"]) or utcnow(), item.get("ticket"))
            for name, item in raw.items()
        }

    def open(self, purpose: str, *, reason: str, ticket: str | None = None) -> None:
        """Record that ``purpose`` changed the cluster (idempotent: keeps the first reason and time)."""
        with self._lock:
            data = self._read()
            if purpose not in data["pending"]:
                data["pending"][purpose] = {"reason": reason, "since": _iso(utcnow()), "ticket": ticket}
                atomic_write_json(self.path, data)

    def clear(self, purpose: str, *, detail: str) -> None:
        with self._lock:
            data = self._read()
            item = data["pending"].pop(purpose, None)
            data["cleared"] = (data.get("cleared") or [])[-20:] + [
                {"purpose": purpose, "at": _iso(utcnow()), "detail": detail, "was": item}
            ]
            atomic_write_json(self.path, data)
