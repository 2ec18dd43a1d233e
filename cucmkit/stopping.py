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
from pathlib import Path
from types import FrameType

from cucmkit.errors import StoppedError

__all__ = ["check", "install_signal_handlers", "request", "requested", "reason", "reset", "watch_parent",
           "process_gone", "attach_to_runner", "RUNNER_PID_ENV"]

_flag = threading.Event()
_reason: list[str] = []
_lock = threading.Lock()
PARENT_POLL = 0.5   # seconds between checks that the parent runner is still there
RUNNER_PID_ENV = "CUCMKIT_RUNNER_PID"   # set by ``cucmkit run`` for its papermill child and so for the kernel
_attached: list[int] = []


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


def install_signal_handlers(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM), *,
                            announce: Callable[[str], None] | None = None) -> Callable[[], None]:
    """Turn the first of ``signals`` into a stop request; a second one raises KeyboardInterrupt. Returns an undo.

    ``announce(name)`` is called at the first signal (e.g. to tell the operator that the step in
    flight finishes first and a second Ctrl-C stops at once): the run may go on for minutes (a
    restart), and a silent terminal invites a kill -9. It runs inside the signal handler: keep it
    to an ``os.write``.
    """
    previous = {sig: signal.getsignal(sig) for sig in signals}

    def handler(signum: int, frame: FrameType | None) -> None:
        if _flag.is_set():
            raise KeyboardInterrupt
        name = signal.Signals(signum).name
        request(f"{name} received")
        if announce is not None:
            announce(name)

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
        return (was_parent and os.getppid() != pid) or process_gone(pid)

    def loop() -> None:
        while not _flag.wait(poll):
            if gone():
                request(f"the runner (pid {pid}) is gone")
                return

    thread = threading.Thread(target=loop, name="cucmkit-parent-watch", daemon=True)
    thread.start()
    return thread


def process_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs: no such process, or a zombie nobody has reaped yet (Linux /proc)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def attach_to_runner(environ: dict[str, str] | None = None) -> int | None:
    """In a kernel started by ``cucmkit run``: SIGTERM and the runner's death become stop requests.

    Reads the runner's pid from ``$CUCMKIT_RUNNER_PID``; without it (JupyterLab,
    plain papermill) nothing changes. Call it from the main thread (signal
    handlers); a second call is a no-op. Returns the runner's pid.
    """
    value = (os.environ if environ is None else environ).get(RUNNER_PID_ENV, "")
    if not value.isdigit():
        return None
    if not _attached:
        install_signal_handlers((signal.SIGTERM,))
        watch_parent(int(value))
        _attached.append(int(value))
    return _attached[0]
