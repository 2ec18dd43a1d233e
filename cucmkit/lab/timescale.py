"""Time-scaling the lab's RisPort rate window (owned by the benchmarks part).

CUCM counts RisPort requests in a 60 s sliding window; the lab's door uses
the module constant ``cucmkit.lab.risport.DEFAULT_WINDOW`` for it, read on
every request, and has no knob for it. Benchmarks that scale time (a 6 s
window instead of 60 s) set it for the duration of a ``with`` block:

    with risport_window(6.0):
        ...   # the lab admits risport_rate requests per 6 s

It changes the window of every lab in this process. The lasting fix is a
``risport_window`` knob read by ``cucmkit/lab/risport.py``'s ``_throttle``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from cucmkit.lab import risport

__all__ = ["risport_window", "REAL_WINDOW"]

REAL_WINDOW = 60.0
_lock = threading.Lock()


@contextmanager
def risport_window(seconds: float) -> Iterator[float]:
    """The lab's RisPort rate window is ``seconds`` long inside the block."""
    if seconds <= 0:
        raise ValueError("the window must be > 0 seconds")
    with _lock:
        before = risport.DEFAULT_WINDOW
        risport.DEFAULT_WINDOW = float(seconds)
    try:
        yield float(seconds)
    finally:
        with _lock:
            risport.DEFAULT_WINDOW = before
