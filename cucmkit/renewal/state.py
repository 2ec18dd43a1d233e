"""What the renewal engine remembers between runs: the ledger, the lock, the phone gate.

All three live under ``<state_dir>/<cluster>/`` (CONTRACTS §5):

- ``<purpose>.json``: the ledger of one purpose's run: every step's outcome and
  times, CSR fingerprints, CA request ids, certificates before and after,
  overrides. Finished runs move to ``history/``.
- ``lock``: one run per cluster. Survives a crash, but not forever: a lock whose
  process is gone (same host) or that is older than its max age is stale.
- ``phones.json``: the phone gate. Set when a phone-affecting purpose changes the
  cluster (identity installed, services restarted), cleared only when the phones
  are back. CallManager and TVS refuse to start while the other holds it.

Every write is atomic: a temporary file, fsync, ``os.replace``.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cucmkit.errors import InterlockError

__all__ = [
    "OUTCOMES",
    "StepRecord",
    "Ledger",
    "ClusterLock",
    "LockInfo",
    "PhoneGate",
    "GateState",
    "atomic_write_json",
    "read_json",
    "utcnow",
]

OUTCOMES = ("running", "done", "skipped", "waiting", "failed", "blocked")
_UNREADABLE_GRACE = 5.0  # seconds before an unreadable lock file counts as debris
LEDGER_VERSION = 1


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


@dataclass(frozen=True)
class StepRecord:
    """One step's outcome as persisted."""

    key: str
    name: str
    node: str | None
    phase: str
    outcome: str
    started: datetime | None = None
    ended: datetime | None = None
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["started"], out["ended"] = _iso(self.started), _iso(self.ended)
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> StepRecord:
        return cls(**{**raw, "started": _parse(raw.get("started")), "ended": _parse(raw.get("ended"))})

    @property
    def finished(self) -> bool:
        return self.outcome in ("done", "skipped")


class Ledger:
    """The persisted record of one cluster+purpose run. Thread-safe; every change is saved at once."""

    def __init__(self, *, path: Path, cluster: str, purpose: str) -> None:
        self.path = path
        self.cluster = cluster
        self.purpose = purpose
        self._lock = threading.RLock()
        self._data = read_json(path) or self._empty()
        self.saves = 0

    @classmethod
    def open(cls, state_dir: Path, cluster: str, purpose: str) -> Ledger:
        return cls(path=Path(state_dir) / cluster / f"{purpose}.json", cluster=cluster, purpose=purpose)

    def _empty(self) -> dict[str, Any]:
        return {
            "version": LEDGER_VERSION, "cluster": self.cluster, "purpose": self.purpose,
            "run_id": None, "ticket": None, "status": "new", "created": None, "finished": None,
            "nodes": [], "steps": {}, "order": [], "csrs": {}, "requests": {},
            "certificates": {}, "overrides": [], "checks": [], "events": [], "baseline": None,
        }

    # ---- run lifecycle -------------------------------------------------
    @property
    def data(self) -> dict[str, Any]:
        return self._data

    @property
    def active(self) -> bool:
        """A run was started and has not finished."""
        return self._data.get("status") in ("running", "waiting", "failed", "blocked")

    def begin(self, *, ticket: str, nodes: list[str], order: list[str], extra: dict[str, Any] | None = None) -> None:
        """Start a new run (one atomic write); a finished earlier run moves to history/ first."""
        with self._lock:
            if self._data.get("status") == "completed":
                self._archive()
            self._data = self._empty()
            self._data.update(
                run_id=uuid.uuid4().hex[:12], ticket=ticket, status="running",
                created=_iso(utcnow()), nodes=list(nodes), order=list(order), **(extra or {}),
            )
            self.save()

    def _archive(self) -> None:
        stamp = (self._data.get("finished") or _iso(utcnow()) or "").replace(":", "")
        target = self.path.parent / "history" / f"{self.purpose}-{stamp}-{self._data.get('run_id')}.json"
        atomic_write_json(target, self._data)

    def set_status(self, status: str) -> None:
        with self._lock:
            self._data["status"] = status
            if status == "completed":
                self._data["finished"] = _iso(utcnow())
            self.save()

    def save(self) -> None:
        with self._lock:
            atomic_write_json(self.path, self._data)
            self.saves += 1

    # ---- steps ---------------------------------------------------------
    def step(self, key: str) -> StepRecord | None:
        raw = self._data["steps"].get(key)
        return StepRecord.from_json(raw) if raw else None

    def steps(self) -> Iterator[StepRecord]:
        for raw in list(self._data["steps"].values()):
            yield StepRecord.from_json(raw)

    def record(self, record: StepRecord) -> StepRecord:
        with self._lock:
            self._data["steps"][record.key] = record.to_json()
            self.save()
        return record

    # ---- facts ---------------------------------------------------------
    def put(self, section: str, key: str, value: Any) -> None:
        with self._lock:
            self._data.setdefault(section, {})[key] = value
            self.save()

    def get(self, section: str, key: str, default: Any = None) -> Any:
        return self._data.get(section, {}).get(key, default)

    def append(self, section: str, value: Any) -> None:
        with self._lock:
            self._data.setdefault(section, []).append(value)
            self.save()

    def event(self, text: str) -> None:
        self.append("events", {"at": _iso(utcnow()), "text": text})


@dataclass(frozen=True)
class LockInfo:
    token: str
    pid: int
    host: str
    purpose: str
    ticket: str
    acquired: datetime

    def age_seconds(self, now: datetime) -> float:
        return (now - self.acquired).total_seconds()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ClusterLock:
    """One run per cluster: an exclusive lock file that a crash cannot leave behind for ever.

    A held lock is stale (and taken over, with an event saying so) when its
    process no longer runs on this host, or when it is older than ``max_age``.
    """

    def __init__(self, *, path: Path, max_age: float = 6 * 3600.0) -> None:
        self.path = path
        self.max_age = max_age
        self.token = uuid.uuid4().hex
        self.held = False
        self.took_over: LockInfo | None = None
        self.stale: str | None = None

    @classmethod
    def for_cluster(cls, state_dir: Path, cluster: str, *, max_age: float = 6 * 3600.0) -> ClusterLock:
        return cls(path=Path(state_dir) / cluster / "lock", max_age=max_age)

    def holder(self) -> LockInfo | None:
        """Who holds the lock; None when free (or unreadable: see ``acquire``)."""
        try:
            raw = read_json(self.path)
            return LockInfo(**{**raw, "acquired": _parse(raw["acquired"])}) if raw else None
        except (ValueError, TypeError, KeyError):
            return None

    def stale_reason(self, info: LockInfo, now: datetime | None = None) -> str | None:
        now = now or utcnow()
        if info.host == socket.gethostname() and not _pid_alive(info.pid):
            return f"process {info.pid} is gone"
        if info.age_seconds(now) > self.max_age:
            return f"older than {self.max_age:.0f} s"
        return None

    def acquire(self, *, purpose: str, ticket: str) -> None:
        """Take the lock or raise InterlockError naming who holds it."""
        if self.held:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        info = LockInfo(self.token, os.getpid(), socket.gethostname(), purpose, ticket, utcnow())
        payload = json.dumps({**asdict(info), "acquired": _iso(info.acquired)}).encode()
        while not self._create(payload):
            current = self.holder()
            if current is None:
                self._clear_unreadable()
                continue
            reason = self.stale_reason(current)
            if reason is None:
                raise InterlockError(
                    f"another run holds the cluster lock: purpose {current.purpose}, ticket {current.ticket}, "
                    f"pid {current.pid} on {current.host} since {current.acquired:%Y-%m-%d %H:%M:%S} UTC",
                    operation="lock",
                    remedy="wait for that run to finish; a crashed run's lock expires when its process is gone",
                )
            self._break(current, reason)
        self.held = True

    def _clear_unreadable(self) -> None:
        """A lock file nobody can read (a crash between create and write): remove it once it is a few seconds old."""
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return
        if age > _UNREADABLE_GRACE:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        else:
            time.sleep(0.1)

    def _create(self, payload: bytes) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return False
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def _break(self, current: LockInfo, reason: str) -> None:
        stale = self.path.with_name(f"lock.stale.{self.token}")
        try:
            os.replace(self.path, stale)
        except FileNotFoundError:
            return
        moved = read_json(stale) or {}
        if moved.get("token") != current.token:  # another breaker won the race: give its lock back
            try:
                os.link(stale, self.path)
            except FileExistsError:
                pass
        os.unlink(stale)
        self.took_over = current
        self.stale = reason

    def release(self) -> None:
        if not self.held:
            return
        current = self.holder()
        if current and current.token == self.token:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        self.held = False

    def __enter__(self) -> ClusterLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


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
