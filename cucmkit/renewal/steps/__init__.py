"""The step handlers: one small function per kind of step, registered by ``StepKind``.

The executor sequences steps and records their outcomes; what a step *does* is
here. A handler takes the plan's ``Step`` and a ``StepContext`` and returns the
detail text of a done step, or raises a cucmkit error (``WaitingError`` ->
waiting, ``InterlockError`` -> blocked, any other -> failed). Handlers consult
the ledger and the cluster first, so running one again after a crash does not
repeat what already happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from cucmkit.renewal.plan import Step
from cucmkit.renewal.steps import activate, ca, csr, install, phones
from cucmkit.renewal.steps.base import Handler, StepContext, StepKind

__all__ = ["StepKind", "StepContext", "Handler", "HANDLERS", "handler_for"]

HANDLERS: Mapping[StepKind, Handler] = MappingProxyType({
    StepKind.CSR: csr.generate_csr,
    StepKind.CA_SUBMIT: ca.submit,
    StepKind.CA_COLLECT: ca.collect,
    StepKind.TRUST: install.trust,
    StepKind.IDENTITY: install.identity,
    StepKind.DISTRIBUTED: install.distributed,
    StepKind.SELF_SIGNED: install.self_signed,
    StepKind.PHONES_BASELINE: activate.phones_baseline,
    StepKind.CTL_UPDATE: activate.ctl_update,
    StepKind.RESTART: activate.restart,
    StepKind.RELOAD: activate.reload,
    StepKind.VERIFY_TLS: activate.verify_tls,
    StepKind.PHONES_RESET: phones.phones_reset,
    StepKind.PHONES_WAIT: phones.phones_wait,
    StepKind.REMINDER: phones.reminder,
})


def handler_for(step: Step) -> Handler:
    """The handler of ``step``'s kind; ValueError for a kind no handler knows (a plan from elsewhere)."""
    try:
        return HANDLERS[StepKind(step.name)]
    except ValueError:
        known = ", ".join(k.value for k in StepKind)
        raise ValueError(f"no handler for step kind {step.name!r} (step {step.key}); known: {known}") from None
