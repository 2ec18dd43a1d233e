"""The kernel's journal: what the notebook's cells did, one JSON line per event.

The kernel appends (and fsyncs) an event before and after every step, so that
after a timeout or a dead kernel the parent still knows which steps started
and which ended. The parent turns the journal into the result record; the
journal itself never holds a secret (it is scanned with everything else).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["Journal", "read_journal", "utc_now", "who"]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def who() -> str:
    """user@host of whoever runs this process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class Journal:
    """Append-only event log at ``path``; a journal without a path records nothing."""

    path: Path | None = None

    def write(self, event: str, **data: Any) -> None:
        if self.path is None:
            return
        line = json.dumps({"event": event, "time": utc_now(), **data}, default=str, sort_keys=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def read_journal(path: Path | None) -> list[dict[str, Any]]:
    """The events written so far; a torn last line (kernel killed mid-write) is dropped."""
    if path is None or not path.is_file():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events
