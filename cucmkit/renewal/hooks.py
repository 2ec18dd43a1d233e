"""Step observers: who wants to know each time the engine persisted a step's outcome.

Two ways in, both typed:

- ``RenewalOptions(observers=(fn, ...))`` for one renewal (a notebook, a test);
- ``on_step_recorded(fn)`` for every renewal of this process, e.g. from a
  ``sitecustomize`` module a test puts on ``PYTHONPATH`` so that a child process
  or a papermill kernel runs it (the crash tests end the process after step n).

An observer is called after the record is on disk, in the thread that ran the
step; what it raises propagates (a stop request should use ``cucmkit.stopping``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cucmkit.renewal.state import StepRecord

__all__ = ["StepObserver", "on_step_recorded", "notify"]

StepObserver = Callable[["StepRecord"], None]

_observers: list[StepObserver] = []
_lock = threading.Lock()


def on_step_recorded(observer: StepObserver) -> Callable[[], None]:
    """Call ``observer(record)`` after every step outcome any renewal of this process persists; returns an undo."""
    with _lock:
        _observers.append(observer)

    def remove() -> None:
        with _lock:
            if observer in _observers:
                _observers.remove(observer)

    return remove


def notify(record: StepRecord, extra: Iterable[StepObserver] = ()) -> None:
    """Tell ``extra`` (one renewal's observers), then the process-wide ones, that ``record`` was persisted."""
    with _lock:
        everyone = [*extra, *_observers]
    for observer in everyone:
        observer(record)
