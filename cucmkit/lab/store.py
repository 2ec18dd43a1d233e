"""The lab's persistence and event log: what every concern of the lab writes through.

- ``LabContext``: what a concern (certificates, services, phones) needs from the
  cluster: the lock, knobs, faults, phones, topology, ``record`` an event,
  ``changed`` (persist now) and ``settle`` (apply what time has done).
- ``EventLog``: the append-only ``events.jsonl`` (the last ``EVENT_LIMIT`` kept;
  the file is compacted when it doubles that bound).
- ``Secrets``: the random per-state-directory passwords (``secrets/``, mode 0600).
- ``save_state`` writes ``state.json`` atomically; ``PemMirror`` mirrors
  certificates, keys and CSRs as files under ``nodes/`` for people and tools.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cucmkit.lab.faults import Faults
    from cucmkit.lab.phones import PhoneFleet
    from cucmkit.lab.topology import Topology

__all__ = [
    "LabContext",
    "LabEvent",
    "EVENT_KINDS",
    "EVENT_LIMIT",
    "EventLog",
    "Knobs",
    "Secrets",
    "PemMirror",
    "save_state",
]

EVENT_LIMIT = 5000
EVENT_KINDS = ("restart_requested", "restart_completed", "restart_failed", "service_stopped", "csr_generated",
               "identity_uploaded", "trust_uploaded", "trust_deleted", "regenerated", "ctl_updated",
               "devices_reset", "itl_deleted", "ca_rollover", "xmpp_sessions_dropped", "xmpp_sessions_restored",
               "phones_auto_reset", "ipsec_restarted")
SECRET_NAMES = ("os_admin", "app_user", "ca_user")


@dataclass
class Knobs:
    """Tunables. Durations are base seconds, multiplied by ``speed``."""

    speed: float = 1.0
    restart_seconds: float = 10.0
    tomcat_restart_seconds: float = 20.0
    reregister_seconds: float = 30.0
    phone_jitter: float = 0.2
    risport_rate: int = 15
    risport_cap: int = 1000
    ca_approval: str = "auto"          # "auto" | "manual"
    axl_write_503: bool = False
    ssh_login_delay: float = 0.0
    http_latency: float = 0.0          # seconds slept per HTTPS request (not scaled by speed)
    risport_window: float = 60.0       # RisPort's sliding rate window, seconds (not scaled by speed)
    jabber_sessions: int = 40          # Jabber (XMPP) sessions per IM&P node while Cisco XCP Router runs
    phone_interaction: bool = True     # 14+ "Phone Interaction on Certificate Update": phones reset on TVS/CAPF/TFTP change
    ca_refuses_ms_cn: bool = False     # the lab CA denies a CSR whose common name's host ends in -ms (some CAs do)
    cucm_version: str = ""             # the CUCM release every door reports ("": topology.LAB_VERSION, 14SU3)
    ca_drop_san: str = ""              # the AD CS door leaves this DNS name (FQDN or host) out of the SANs it issues

    def delay(self, base: float) -> float:
        return float(base) * float(self.speed)

    def set(self, name: str, value: Any) -> Any:
        names = {f.name: f for f in fields(self)}
        if name not in names:
            raise ValueError(f"unknown knob {name!r}; valid: {', '.join(names)}")
        current = getattr(self, name)
        if isinstance(current, bool):
            conv: Any = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
        elif isinstance(current, int):
            conv = int(value)
        elif isinstance(current, float):
            conv = float(value)
        else:
            conv = str(value)
        setattr(self, name, conv)
        return conv

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Knobs:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class LabContext(Protocol):
    """What the lab's concerns need from the cluster (``LabState`` provides it)."""

    lock: threading.RLock
    knobs: Knobs
    faults: Faults
    phones: PhoneFleet
    topology: Topology

    def record(self, kind: str, node: str = "", *, at: float | None = None, **data: Any) -> LabEvent | None: ...

    def changed(self) -> None: ...

    def settle(self) -> None: ...


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class LabEvent:
    """One change to a node, as the lab's append-only event log keeps it (``LabState.events``)."""

    seq: int
    time: float               # epoch seconds the change happened (a restart's completion: when it finished)
    kind: str                 # one of EVENT_KINDS
    node: str = ""            # FQDN; "" for cluster-wide changes (CTL update, device resets)
    data: tuple[tuple[str, Any], ...] = ()

    def get(self, name: str, default: Any = None) -> Any:
        return dict(self.data).get(name, default)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "time": self.time, "kind": self.kind, "node": self.node, **dict(self.data)}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> LabEvent:
        data = {k: v for k, v in row.items() if k not in ("seq", "time", "kind", "node")}
        return cls(int(row["seq"]), float(row["time"]), str(row["kind"]), str(row.get("node", "")),
                   tuple(sorted(data.items())))


def _epoch(since: float | str | None) -> float | None:
    if not isinstance(since, str):
        return since
    parsed = datetime.fromisoformat(since.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


class EventLog:
    """``<state>/events.jsonl``: appended per event, bounded to ``EVENT_LIMIT`` (not thread-safe by itself)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / "events.jsonl"
        self._events: list[LabEvent] = []
        self._lines = 0  # lines in the file (compacted when it doubles the bound)

    def append(self, kind: str, node: str, at: float | None, data: dict[str, Any]) -> LabEvent:
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown lab event kind {kind!r}")
        seq = self._events[-1].seq + 1 if self._events else 1
        event = LabEvent(seq, float(at if at is not None else time.time()), kind, node, tuple(sorted(data.items())))
        self._events.append(event)
        del self._events[:-EVENT_LIMIT]
        self._write(event)
        return event

    def _write(self, event: LabEvent) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._lines >= 2 * EVENT_LIMIT:
            tmp = self.path.with_name(f"events.jsonl.{threading.get_ident()}.tmp")
            tmp.write_text("".join(json.dumps(e.to_dict()) + "\n" for e in self._events))
            tmp.replace(self.path)
            self._lines = len(self._events)
            return
        with self.path.open("a") as fh:
            fh.write(json.dumps(event.to_dict()) + "\n")
        self._lines += 1

    def load(self) -> None:
        if not self.path.exists():
            return
        rows = []
        for line in self.path.read_text().splitlines():
            try:
                rows.append(LabEvent.from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line after a crash
        self._lines = len(rows)
        self._events = rows[-EVENT_LIMIT:]

    def select(self, since: float | str | None = None, kind: str | Iterable[str] | None = None) -> list[LabEvent]:
        """Events at or after ``since`` (epoch seconds or ISO time), of ``kind`` (one or several), oldest first."""
        start = _epoch(since)
        kinds = {kind} if isinstance(kind, str) else set(kind) if kind is not None else None
        return [e for e in self._events if (start is None or e.time >= start)
                and (kinds is None or e.kind in kinds)]


# ---------------------------------------------------------------- secrets


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    path.chmod(0o600)


class Secrets:
    """The lab's passwords, one file each under ``<state>/secrets/`` (mode 0600)."""

    def __init__(self, state_dir: Path) -> None:
        self._dir = Path(state_dir) / "secrets"
        self._values: dict[str, str] = {}

    def make(self) -> None:
        for name in SECRET_NAMES:
            value = secrets.token_urlsafe(12)
            _write_secret(self._dir / name, value)
            self._values[name] = value

    def read(self) -> None:
        for name in SECRET_NAMES:
            path = self._dir / name
            if path.exists():
                self._values[name] = path.read_text().strip()

    def get(self, name: str) -> str:
        return self._values[name]

    def matches(self, name: str, password: str) -> bool:
        return secrets.compare_digest(password.encode(), self._values[name].encode())


# ---------------------------------------------------------------- state file and PEM mirror


def save_state(state_dir: Path, data: dict[str, Any]) -> None:
    """Write ``<state_dir>/state.json`` atomically (a per-thread temporary file, then rename)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "state.json"
    tmp = path.with_name(f"state.json.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


class PemMirror:
    """Keeps ``<state>/nodes/`` equal to a mapping path -> text, writing only what changed.

    The first sync of a process drops what an earlier run left; ``.key`` files are mode 0600.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._written: dict[Path, str] = {}
        self._first = True

    def sync(self, files: dict[Path, str]) -> None:
        if self._first:
            shutil.rmtree(self.root, ignore_errors=True)
            self._first = False
        for path in set(self._written) - set(files):
            path.unlink(missing_ok=True)
            del self._written[path]
        for path, text in files.items():
            if self._written.get(path) != text:
                self._write(path, text)

    def _write(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".key":
            path.touch(mode=0o600)
            path.chmod(0o600)
        path.write_text(text)
        self._written[path] = text
