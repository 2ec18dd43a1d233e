"""The phone steps: reset every device, wait for registration to come back, remind the operator."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from cucmkit.errors import CucmKitError, ThrottledError, TimeoutError_
from cucmkit.renewal.plan import Step
from cucmkit.renewal.state import Baseline
from cucmkit.renewal.steps.base import StepContext

if TYPE_CHECKING:
    from cucmkit.cucm.risport import DeviceRegistration, RegistrationSummary

__all__ = ["phones_reset", "phones_wait", "reminder"]

_LISTED = 50   # phones named in a "not back" message


def phones_reset(step: Step, ctx: StepContext) -> str:
    ctx.cluster.reset_all_devices()
    return "all devices reset"


def phones_wait(step: Step, ctx: StepContext) -> str:
    """Until the baseline (less the tolerance) is registered again; then the phone gate is cleared.

    ``registration_timeout`` bounds the whole wait: each RisPort query gets only the time
    left (a throttled query's back-off included) and no poll sleeps past the deadline.
    """
    baseline = ctx.ledger.state.baseline or Baseline(registered=0, total=0)
    tolerance = ctx.options.registration_tolerance
    target = max(0, baseline.registered - tolerance)
    deadline = time.monotonic() + ctx.options.registration_timeout
    poll = _Poll()
    while True:
        poll.query(ctx, deadline)
        summary = poll.summary
        back = _back(summary, baseline)
        if summary is not None and back >= target:
            ctx.gate.clear(ctx.purpose.name, detail=f"{back} registered (baseline {baseline.registered})")
            again = " re-registered since the baseline" if baseline.stamps else " registered"
            return f"{back} phones{again} (baseline {baseline.registered}, tolerance {tolerance})"
        left = deadline - time.monotonic()
        if left <= 0:
            raise CucmKitError(_missing_text(summary, baseline, poll), operation="phones-wait",
                               purpose=ctx.purpose.name, remedy=_wait_remedy(summary, baseline, poll))
        ctx.say(f"phones: {back if summary else '?'} of {target} back")
        time.sleep(min(ctx.options.poll_interval, left))


class _Poll:
    """The last registration summary, and whether RisPort held queries back (throttled, budget spent)."""

    def __init__(self) -> None:
        self.summary: RegistrationSummary | None = None
        self.fresh = False
        self.held_back = 0
        self.last_refusal = ""

    def query(self, ctx: StepContext, deadline: float) -> None:
        """A fresh summary within the time left, or the last one while RisPort throttles."""
        self.fresh = False
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            self.summary = ctx.cluster.registration(within=left)
            self.fresh = True
        except (ThrottledError, TimeoutError_) as exc:
            self.held_back += 1
            self.last_refusal = exc.message
            ctx.say(f"RisPort gave no answer in time ({exc.message}); using its last answer")


def _back(summary: RegistrationSummary | None, baseline: Baseline) -> int:
    """Registered phones; with a pre-upload baseline only those that re-registered since (TimeStamp changed),
    so the automatic reset of Phone Interaction on Certificate Update cannot let the gate pass early."""
    if summary is None:
        return 0
    if not baseline.stamps:
        return summary.registered
    return sum(1 for d in summary.devices
               if d.registered and baseline.stamps.get(d.name, d.timestamp - 1) != d.timestamp)


def _wait_remedy(summary: RegistrationSummary | None, baseline: Baseline, poll: _Poll) -> str:
    """A remedy that fits: RisPort throttling, phones rejected for a trust (ITL/CTL) reason, or phones just slow."""
    if summary is None or (poll.held_back and not poll.fresh):
        return ("RisPort throttled or rate-limited the registration queries, so the phones' state is not known: "
                "re-run once the rate window has passed (registration.risport_rate per risport_window), "
                "stop other tools polling RisPort on this cluster, or raise timeouts.registration")
    missing = _missing(summary, baseline)
    if any(d.status == "Rejected" and d.status_reason in _TRUST_REASONS for d in missing):
        return ("phones rejected for a security reason (authentication, certificate name, TLS cipher or "
                "security mismatch) may distrust the new certificates: check their ITL/CTL and delete the ITL "
                "on the phone (Settings > Security > Trust List, or Bulk Reset ITL); then re-run")
    return ("check the phones listed (powered, reachable, their StatusReason); a phone whose ITL no longer "
            "matches has no StatusReason of its own (it may stay down, or even registered): after a CallManager "
            "or TVS change, delete its ITL; re-run to wait again, or raise timeouts.registration / "
            "registration.tolerance if some are known to be away")


# CISCO-CCM-MIB registration-failure causes of a Rejected phone that point at certificates or TLS:
# authenticationError, invalidX509NameInCertificate, invalidTLSCipher, securityMismatch. No code names the ITL.
_TRUST_REASONS = frozenset({10, 11, 12, 28})


def _missing(summary: RegistrationSummary, baseline: Baseline) -> list[DeviceRegistration]:
    back = {d.name for d in summary.devices if d.registered}
    rows = {d.name: d for d in summary.devices}
    return [rows[n] for n in baseline.names if n not in back and n in rows]


def _missing_text(summary: RegistrationSummary | None, baseline: Baseline, poll: _Poll) -> str:
    if summary is None:
        return f"phones did not come back before the deadline: RisPort gave no answer ({poll.last_refusal})"
    back = {d.name for d in summary.devices if d.registered}
    missing = [n for n in baseline.names if n not in back]
    reasons = {d.name: d.reason for d in summary.devices if not d.registered}
    listed = ", ".join(f"{n} ({reasons.get(n, 'unknown')})" for n in missing[:_LISTED])
    more = f" and {len(missing) - _LISTED} more" if len(missing) > _LISTED else ""
    stale = "" if poll.fresh else f" (RisPort's last answer; later queries were held back: {poll.last_refusal})"
    return (f"phones did not come back before the deadline: {summary.registered} registered, "
            f"baseline {baseline.registered}; not back: {listed}{more}{stale}")


def reminder(step: Step, ctx: StepContext) -> str:
    return f"REMINDER: {step.detail}"
