"""The CA steps: submit a node's CSR once; collect and validate what the CA issued."""

from __future__ import annotations

from cucmkit.errors import WaitingError
from cucmkit.renewal.plan import Step
from cucmkit.renewal.ports import InboxCa
from cucmkit.renewal.state import CaRequest, Issued, utcnow
from cucmkit.renewal.steps.base import StepContext, node_of
from cucmkit.renewal.steps.material import certificates_from, validated

__all__ = ["submit", "collect"]


def submit(step: Step, ctx: StepContext) -> str:
    name = node_of(step)
    known = ctx.ledger.state.requests.get(name)
    if known:
        return f"already submitted as request {known.id}"
    csr = ctx.ledger.state.csrs[name]
    backend = ctx.backend()
    request_id = backend.submit(name, ctx.purpose.name, csr.pem)
    ctx.ledger.put_request(name, CaRequest(id=request_id, backend=backend.kind, csr_fingerprint=csr.fingerprint,
                                           at=utcnow()))
    return f"submitted to the {backend.kind} CA as request {request_id}"


def collect(step: Step, ctx: StepContext) -> str:
    name = node_of(step)
    state = ctx.ledger.state
    if name in state.issued:
        return "already collected"
    request, csr = state.requests[name], state.csrs[name]
    files = ctx.backend().collect(request.id)
    if files is None:
        raise WaitingError(f"waiting for the CA: request {request.id} for {name} has no answer yet",
                           node=name, purpose=ctx.purpose.name, remedy=_waiting_remedy(ctx, request.id))
    pems = certificates_from(files)
    # Validate now: files that will not upload (a missing intermediate, another CSR's certificate)
    # are not recorded, so a re-run reads the inbox again once they are fixed.
    validated(ctx.purpose, pems, csr.pem, ctx.node(name), ctx.options.clock())
    ctx.ledger.put_issued(name, Issued(pems=tuple(pems), at=utcnow()))
    return f"collected {len(pems)} certificate(s) for request {request.id}; they pass validation"


def _waiting_remedy(ctx: StepContext, request_id: str) -> str:
    if isinstance(ctx.ca, InboxCa):
        return f"drop the CA's files into {ctx.ca.inbox_for(request_id)} and re-run"
    return "have the request approved at the CA, then re-run"
