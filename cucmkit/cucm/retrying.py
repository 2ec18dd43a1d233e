"""Retry policies for the CUCM clients, with tenacity, from the parameter file's ``retries`` section.

One rule for every client that retries (AXL on HTTP 503, RisPort on its rate
fault): try ``attempts`` times; before try n+1 wait ``backoff_seconds * 2**(n-1)``,
capped at ``max_backoff_seconds``, times a jitter factor drawn from [0.5, 1.0]
("equal jitter": never less than half the step, so a busy node is not hammered,
never in lock-step with another client). What to retry on and how to wait
(``sleep``) belong to the client: RisPort "sleeps" by blocking its cluster-wide
rate budget, so every RisPort caller in the process holds back together.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base, wait_exponential, wait_random_exponential

__all__ = ["backoff_wait", "retrying"]


def backoff_wait(first: float, cap: float) -> wait_base:
    """``min(first * 2**(n-1), cap)`` times a factor in [0.5, 1.0], for the wait after try n."""
    if first < 0 or cap < 0:
        raise ValueError("backoff and its cap must not be negative")
    half_first, half_cap = first / 2, cap / 2
    return (wait_exponential(multiplier=half_first, max=half_cap)
            + wait_random_exponential(multiplier=half_first, max=half_cap))


def retrying(*, attempts: int, first: float, cap: float, retry_on: Callable[[BaseException], bool],
             sleep: Callable[[float], None] = time.sleep,
             before_sleep: Callable[[RetryCallState], None] | None = None) -> Retrying:
    """A tenacity policy: ``attempts`` tries in all, the last failure re-raised as it is."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    return Retrying(stop=stop_after_attempt(attempts), wait=backoff_wait(first, cap),
                    retry=retry_if_exception(retry_on), sleep=sleep, reraise=True,
                    before_sleep=before_sleep)
