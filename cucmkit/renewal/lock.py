"""One run per cluster: the cluster lock, who holds it, and when it is stale.

The lock is ``<state_dir>/<cluster>/lock``, a JSON file created exclusively. Its
holder is named by pid, the process's start time (from ``/proc/<pid>/stat``, or
psutil) and the host, so a reused pid is not mistaken for the run that took it.

How a held lock is judged (``judge``):

- held by a live process on this host (same pid, same start time): **held**, at
  any age; never taken over.
- held by a process of this host that is gone, or whose pid now belongs to a
  process started later (a reused pid): **stale** at once; the next run takes it
  over and the lock log says so.
- held on another host: **foreign**; cucmkit cannot see that process and never
  breaks it; an engineer who knows it is dead releases it with
  ``cucmkit lock release -f PARAMS --reason "..."``.
- a file nobody can read (a crash between create and write): debris after a
  few seconds.

A lock file of earlier releases (no start time) is judged by pid and host, and
a pid whose process started after the lock was taken counts as reused.

Every take-over and every explicit release is appended to
``<state_dir>/<cluster>/lock-log.jsonl`` (and, for a release, to the holder's
run ledger as an event).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from cucmkit.errors import InterlockError

__all__ = [
    "ClusterLock",
    "LockInfo",
    "LockVerdict",
    "Verdict",
    "process_start",
    "judge",
    "release_lock",
    "lock_log",
    "LOCK_LOG",
]

Verdict = Literal["free", "mine", "held", "stale", "foreign", "unreadable"]
LOCK_LOG = "lock-log.jsonl"
_UNREADABLE_GRACE = 5.0   # seconds before an unreadable lock file counts as debris
_START_SLACK = 2.0        # seconds: a process started this long after the lock was taken is not its holder


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LockInfo:
    """Who holds the lock. ``started``: the holder process's start identity (None in old lock files)."""

    token: str
    pid: int
    host: str
    purpose: str
    ticket: str
    acquired: datetime
    started: str | None = None

    def age_seconds(self, now: datetime) -> float:
        return (now - self.acquired).total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "acquired": self.acquired.isoformat()}

    def describe(self) -> str:
        return (f"purpose {self.purpose}, ticket {self.ticket}, pid {self.pid} on {self.host} "
                f"since {self.acquired:%Y-%m-%d %H:%M:%S} UTC")

    @classmethod
    def from_json(cls, raw: Any) -> LockInfo | None:
        if not isinstance(raw, dict):
            return None
        try:
            acquired = datetime.fromisoformat(str(raw["acquired"]))
            return cls(token=str(raw["token"]), pid=int(raw["pid"]), host=str(raw["host"]),
                       purpose=str(raw["purpose"]), ticket=str(raw["ticket"]), acquired=acquired,
                       started=str(raw["started"]) if raw.get("started") else None)
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class LockVerdict:
    """What the lock file says now: ``verdict``, the holder, why, and what an engineer can do."""

    verdict: Verdict
    holder: LockInfo | None = None
    reason: str = ""
    remedy: str = ""

    @property
    def blocking(self) -> bool:
        """Another run holds it (or may: another host, a file being written)."""
        return self.verdict in ("held", "foreign", "unreadable")

    def describe(self) -> str:
        who = f" ({self.holder.describe()})" if self.holder else ""
        return f"{self.verdict}{who}: {self.reason}"


# ---------------------------------------------------------------- process identity


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return ""


def _proc_start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (clock ticks after boot); the name field may hold spaces or parentheses."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _psutil_start(pid: int) -> float | None:
    try:
        import psutil
    except ImportError:
        return None
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


def process_start(pid: int) -> str | None:
    """A string naming the start of process ``pid`` (None if there is none, or this platform cannot say)."""
    ticks = _proc_start_ticks(pid)
    if ticks is not None:
        return f"proc:{_boot_id()}:{ticks}"
    created = _psutil_start(pid)
    return None if created is None else f"epoch:{created:.2f}"


def _start_epoch(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), for judging old lock files."""
    ticks = _proc_start_ticks(pid)
    if ticks is not None:
        try:
            btime = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                         if line.startswith("btime "))
            return btime + ticks / os.sysconf("SC_CLK_TCK")
        except (OSError, StopIteration, ValueError):
            return None
    return _psutil_start(pid)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------- the verdict


_RELEASE = 'cucmkit lock release -f PARAMS --reason "..."'


def judge(info: LockInfo, *, host: str | None = None) -> LockVerdict:
    """Judge a held lock from this host: held (live), stale (dead or reused pid) or foreign (another host)."""
    here = host or socket.gethostname()
    if info.host != here:
        return LockVerdict(
            "foreign", info, f"the lock was taken on host {info.host}; cucmkit on {here} cannot see that process",
            f"if that run is over (check on {info.host}: pid {info.pid}), release the lock with {_RELEASE}; "
            "cucmkit never breaks another host's lock by itself")
    if not _pid_alive(info.pid):
        return LockVerdict("stale", info, f"process {info.pid} is gone", "the next run takes the lock over")
    reused = _reused(info)
    if reused:
        return LockVerdict("stale", info, reused, "the next run takes the lock over")
    return LockVerdict(
        "held", info, f"process {info.pid} on this host is running",
        f"wait for that run to finish, or stop it (kill -TERM {info.pid}: it stops at the next step boundary "
        "and releases the lock); a live run's lock is never taken over")


def _reused(info: LockInfo) -> str | None:
    """Why the live process with the holder's pid is not the holder (None when it is)."""
    now = process_start(info.pid)
    if info.started is not None:
        if now is not None and now != info.started:
            return f"pid {info.pid} now belongs to another process (the holder is gone, its pid was reused)"
        return None
    started = _start_epoch(info.pid)     # an old lock file: no start time recorded
    if started is not None and started > info.acquired.timestamp() + _START_SLACK:
        return (f"pid {info.pid} now belongs to a process started after the lock was taken "
                "(the holder is gone, its pid was reused)")
    return None


def _read(path: Path) -> tuple[bool, LockInfo | None]:
    """(the file exists, its holder or None when unreadable)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False, None
    try:
        return True, LockInfo.from_json(json.loads(text))
    except ValueError:
        return True, None


# ---------------------------------------------------------------- the lock log


def lock_log(folder: Path) -> Path:
    return Path(folder) / LOCK_LOG


def _log(folder: Path, entry: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"at": _now().isoformat(), **entry}, sort_keys=True, default=str)
    with open(lock_log(folder), "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


# ---------------------------------------------------------------- the lock


class ClusterLock:
    """One run per cluster: an exclusive lock file that a crash does not leave behind, and that no
    one takes from a live run. ``took_over``/``stale``: the stale lock ``acquire`` replaced, and why."""

    def __init__(self, *, path: Path) -> None:
        self.path = path
        self.token = uuid.uuid4().hex
        self.held = False
        self.took_over: LockInfo | None = None
        self.stale: str | None = None

    @classmethod
    def for_cluster(cls, state_dir: Path, cluster: str) -> ClusterLock:
        return cls(path=Path(state_dir) / cluster / "lock")

    def holder(self) -> LockInfo | None:
        """Who holds the lock; None when free or unreadable."""
        return _read(self.path)[1]

    def status(self) -> LockVerdict:
        """The lock's verdict now, without changing anything."""
        exists, info = _read(self.path)
        if not exists:
            return LockVerdict("free", None, "no run holds the cluster lock")
        if info is None:
            return LockVerdict("unreadable", None, f"the lock file {self.path} cannot be read",
                               "it is removed automatically a few seconds after it was written; "
                               f"if it stays, release it with {_RELEASE}")
        if info.token == self.token:
            return LockVerdict("mine", info, "this run holds the cluster lock")
        return judge(info)

    def acquire(self, *, purpose: str, ticket: str) -> None:
        """Take the lock (a stale one is taken over) or raise InterlockError naming who holds it."""
        if self.held:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        pid = os.getpid()
        info = LockInfo(self.token, pid, socket.gethostname(), purpose, ticket, _now(), process_start(pid))
        payload = json.dumps(info.to_json()).encode()
        while not self._create(payload):
            verdict = self.status()
            if verdict.verdict == "free":
                continue
            if verdict.verdict == "unreadable":
                self._clear_unreadable()
                continue
            if verdict.blocking or verdict.holder is None:
                raise InterlockError(f"another run holds the cluster lock: {verdict.describe()}",
                                     operation="lock", remedy=verdict.remedy)
            self._break(verdict.holder, verdict.reason)
        self.held = True

    def _clear_unreadable(self) -> None:
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
        if _remove_if(self.path, current.token, self.token):
            self.took_over = current
            self.stale = reason
            _log(self.path.parent, {"action": "took-over", "reason": reason, "was": current.to_json(),
                                    "by": {"pid": os.getpid(), "host": socket.gethostname()}})

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


def _remove_if(path: Path, token: str | None, mover: str) -> bool:
    """Remove the lock file if it still holds ``token`` (None: an unreadable file); give it back otherwise."""
    moved = path.with_name(f"lock.released.{mover}")
    try:
        os.replace(path, moved)
    except FileNotFoundError:
        return False
    exists, info = _read(moved)
    ours = (info is None) if token is None else (info is not None and info.token == token)
    if not ours:                       # another run won a race and holds a new lock: give it back
        try:
            os.link(moved, path)
        except FileExistsError:
            pass
    os.unlink(moved)
    return ours


def release_lock(state_dir: Path, cluster: str, *, reason: str, by: str,
                 on_released: Callable[[LockInfo], None] | None = None) -> LockVerdict:
    """An engineer releases the cluster lock, with a recorded reason.

    A live run on this host keeps its lock (InterlockError: stop it first). A stale,
    foreign or unreadable lock is removed and the release is written to the lock log;
    ``on_released`` is then called with the holder (the caller records it in its ledger).
    Returns the verdict the lock had.
    """
    if not reason.strip():
        raise ValueError("releasing a cluster lock needs a reason (--reason), which is recorded")
    lock = ClusterLock.for_cluster(state_dir, cluster)
    verdict = lock.status()
    if verdict.verdict == "free":
        return verdict
    if verdict.verdict == "held" and verdict.holder is not None:
        raise InterlockError(f"the cluster lock is held by a running process: {verdict.describe()}",
                             operation="lock release", remedy=verdict.remedy)
    token = verdict.holder.token if verdict.holder else None
    if not _remove_if(lock.path, token, uuid.uuid4().hex):
        raise InterlockError("the cluster lock changed while it was being released", operation="lock release",
                             remedy="run cucmkit lock status again and decide on what it shows now")
    _log(lock.path.parent, {"action": "released", "reason": reason, "by": by, "verdict": verdict.verdict,
                            "was": verdict.holder.to_json() if verdict.holder else None})
    if verdict.holder is not None and on_released is not None:
        on_released(verdict.holder)
    return verdict
