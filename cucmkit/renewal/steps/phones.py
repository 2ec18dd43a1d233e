"""The phone steps: reset every device, wait for registration to come back, remind the operator."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from cucmkit.errors import CucmKitError, ThrottledError
from cucmkit.renewal.plan import Step
from cucmkit.renewal.state import Baseline
from cucmkit.renewal.steps.base import StepContext

if TYPE_CHECKING:
    from cucmkit.cucm.risport import RegistrationSummary

__all__ = ["phones_reset", "phones_wait", "reminder"]

_LISTED = 50   # phones named in a "not back" message


def phones_reset(step: Step, ctx: StepContext) -> str:
    ctx.cluster.reset_all_devices()
    return "all devices reset"


def phones_wait(step: Step, ctx: StepContext) -> str:
    """Until the baseline (less the tolerance) is registered again; then the phone gate is cleared."""
    baseline = ctx.ledger.state.baseline or Baseline(registered=0, total=0)
    tolerance = ctx.options.registration_tolerance
    target = max(0, baseline.registered - tolerance)
    deadline = time.monotonic() + ctx.options.registration_timeout
    summary: RegistrationSummary | None = None
    while True:
        summary = _registration_or(ctx, summary)
        if summary is not None and summary.registered >= target:
            ctx.gate.clear(ctx.purpose.name, detail=f"{summary.registered} registered (baseline {baseline.registered})")
            return f"{summary.registered} phones registered (baseline {baseline.registered}, tolerance {tolerance})"
        if time.monotonic() >= deadline:
            raise CucmKitError(_missing_text(summary, baseline), operation="phones-wait", purpose=ctx.purpose.name,
                               remedy="check the phones listed (StatusReason 13 = ITL mismatch: delete the ITL "
                                      "on the phone), then re-run")
        ctx.say(f"phones: {summary.registered if summary else '?'} of {target} back")
        time.sleep(ctx.options.poll_interval)


def _registration_or(ctx: StepContext, last: RegistrationSummary | None) -> RegistrationSummary | None:
    """A fresh summary, or the last one while RisPort throttles."""
    try:
        return ctx.cluster.registration()
    except ThrottledError as exc:
        ctx.say(f"RisPort throttled, backing off: {exc.message}")
        return last


def _missing_text(summary: RegistrationSummary | None, baseline: Baseline) -> str:
    if summary is None:
        return "phones did not come back before the deadline: RisPort gave no answer"
    back = {d.name for d in summary.devices if d.registered}
    missing = [n for n in baseline.names if n not in back]
    reasons = {d.name: d.reason for d in summary.devices if not d.registered}
    listed = ", ".join(f"{n} ({reasons.get(n, 'unknown')})" for n in missing[:_LISTED])
    more = f" and {len(missing) - _LISTED} more" if len(missing) > _LISTED else ""
    return (f"phones did not come back before the deadline: {summary.registered} registered, "
            f"baseline {baseline.registered}; not back: {listed}{more}")


def reminder(step: Step, ctx: StepContext) -> str:
    return f"REMINDER: {step.detail}"
