"""Test hook, never shipped: with ``CUCMKIT_CRASH_AFTER_STEP=n`` the process ends with exit code 137
right after the n-th finished step it persisted.

``tests/renewal/crashkit.py`` puts this folder first on the child's ``PYTHONPATH``; Python imports
``sitecustomize`` at start-up, in a child process or a papermill kernel alike, so the engine itself
carries no test code: the hook is a step observer (``cucmkit.renewal.hooks.on_step_recorded``).
"""

from __future__ import annotations

import os
import threading

CRASH_ENV = "CUCMKIT_CRASH_AFTER_STEP"


def _install(target: int) -> None:
    from cucmkit.renewal.hooks import on_step_recorded
    from cucmkit.renewal.state import StepRecord

    finished = [0]
    lock = threading.Lock()

    def crash_after_nth(record: StepRecord) -> None:
        if not record.finished:
            return
        with lock:
            finished[0] += 1
            hit = finished[0] == target
        if hit:
            os._exit(137)

    on_step_recorded(crash_after_nth)


_value = os.environ.get(CRASH_ENV, "")
if _value.isdigit():
    _install(int(_value))
