"""Stop requests: how a signal or a vanished parent reaches the engine at a step boundary.

The engine calls ``check()`` before each step; it raises ``StoppedError`` once a
stop was requested, so a run never stops half-way through a step (a restart, an
upload) and the ledger always says where it stood. Who requests a stop:

- a signal handler (SIGINT, SIGTERM) installed by ``install_signal_handlers``;
- ``watch_parent(pid)``: a daemon thread in the notebook kernel that requests a
  stop when the runner that started it is gone (SIGKILLed), so no kernel goes on
  changing a cluster with nobody to write its evidence;
- ``request(reason)`` from anywhere (tests, a UI button).

One process-wide flag; ``reset()`` clears it for the next run in the same process.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

from cucmkit.errors import StoppedError

__all__ = ["check", "install_signal_handlers", "request", "requested", "reason", "reset", "watch_parent"]

_flag = threading.Event()
_reason: list[str] = []
_lock = threading.Lock()
PARENT_POLL = 0.5   # seconds between checks that the parent runner is still there


def request(why: str) -> None:
    """Ask the run to stop at the next step boundary (the first reason given is kept)."""
    with _lock:
        if not _flag.is_set():
            _reason[:] = [why]
            _flag.set()


def requested() -> bool:
    return _flag.is_set()


def reason() -> str | None:
    with _lock:
        return _reason[0] if _reason else None


def reset() -> None:
    with _lock:
        _reason.clear()
        _flag.clear()


def check(*, where: str = "") -> None:
    """Raise ``StoppedError`` if a stop was requested; call it at each step boundary."""
    if _flag.is_set():
        at = f" before {where}" if where else ""
        raise StoppedError(f"stopped{at}: {reason() or 'stop requested'}",
                           remedy="re-run the same command to resume; completed steps are not repeated")


def install_signal_handlers(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Callable[[], None]:
    """Turn the first of ``signals`` into a stop request; a second one raises KeyboardInterrupt. Returns an undo."""
    previous = {sig: signal.getsignal(sig) for sig in signals}

    def handler(signum: int, frame: FrameType | None) -> None:
        if _flag.is_set():
            raise KeyboardInterrupt
        request(f"{signal.Signals(signum).name} received")

    for sig in signals:
        signal.signal(sig, handler)

    def undo() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return undo


def watch_parent(pid: int, *, poll: float = PARENT_POLL) -> threading.Thread:
    """Request a stop when process ``pid`` (the runner) is gone (or, if it was our parent, we were re-parented)."""
    was_parent = os.getppid() == pid

    def gone() -> bool:
        if was_parent and os.getppid() != pid:
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def loop() -> None:
        while not _flag.wait(poll):
            if gone():
                request(f"the runner (pid {pid}) is gone")
                return

    thread = threading.Thread(target=loop, name="cucmkit-parent-watch", daemon=True)
    thread.start()
    return thread
