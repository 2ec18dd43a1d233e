"""The CA steps: submit a node's CSR once; collect and validate what the CA issued."""

from __future__ import annotations

from cucmkit.errors import CertificateError, WaitingError
from cucmkit.renewal.plan import Step
from cucmkit.renewal.ports import InboxCa
from cucmkit.renewal.state import CaRequest, CsrEntry, Issued, utcnow
from cucmkit.renewal.steps.base import StepContext, node_of
from cucmkit.renewal.steps.csr import request_names
from cucmkit.renewal.steps.material import certificates_from, checked, with_warnings

__all__ = ["submit", "collect"]


def submit(step: Step, ctx: StepContext) -> str:
    name = node_of(step)
    known = ctx.ledger.state.requests.get(name)
    if known:
        return f"already submitted as request {known.id}"
    csr = ctx.ledger.state.csrs[name]
    _shaped_for_the_ca(csr, name, ctx)
    backend = ctx.backend()
    try:
        request_id = backend.submit(name, ctx.purpose.name, csr.pem)
    except CertificateError as exc:
        raise _ms_refusal(exc, csr.pem, name, ctx) from None
    ctx.ledger.put_request(name, CaRequest(id=request_id, backend=backend.kind, csr_fingerprint=csr.fingerprint,
                                           at=utcnow()))
    return f"submitted to the {backend.kind} CA as request {request_id}"


def _shaped_for_the_ca(csr: CsrEntry, node: str, ctx: StepContext) -> None:
    """A CSR recorded with a common name the CA refuses (the rule was declared after it was made) is not sent."""
    wanted = request_names(ctx, node).common_name
    if wanted and csr.expected_cn and csr.expected_cn.lower() != wanted.lower():
        raise CertificateError(
            f"the CSR on {node} has the common name {csr.expected_cn}, which this CA refuses "
            "(ca.refuses_ms_common_name)", node=node, purpose=ctx.purpose.name, operation="ca-submit",
            remedy=f"re-run with force_csr (`--force-csr`): a new CSR with the common name {wanted} is generated")


def _ms_refusal(exc: CertificateError, csr_pem: str, node: str, ctx: StepContext) -> CertificateError:
    """A CA that refused a CSR whose common name is CUCM's ``<host>-ms.<domain>``: say what to do (PROCEDURE.md:
    some CAs refuse -ms; generate the CSR without it). Any other refusal is passed on unchanged."""
    from cryptography import x509

    from cucmkit.sans import MS_SUFFIX, common_name_of

    cn = common_name_of(x509.load_pem_x509_csr(csr_pem.encode()))
    if not cn.split(".", 1)[0].lower().endswith(MS_SUFFIX):
        return exc
    return CertificateError(
        f"{exc.message}; the CSR's common name {cn} is CUCM's multi-server name, which some CAs refuse",
        node=node, purpose=ctx.purpose.name, operation="ca-submit",
        remedy=f"if this CA refuses the {MS_SUFFIX} common name, set refuses_ms_common_name: true under ca: in the "
               f"parameter file and re-run with force_csr (`--force-csr`): the kit asks CUCM for a new multi-server CSR "
               f"with the common name {node} (the SANs stay the same); otherwise ask the CA manager why it refused")


def collect(step: Step, ctx: StepContext) -> str:
    name = node_of(step)
    state = ctx.ledger.state
    if name in state.issued:
        return "already collected"
    request, csr = state.requests[name], state.csrs[name]
    files = ctx.backend().collect(request.id)
    if files is None:
        raise WaitingError(_waiting_text(ctx, name, request.id), node=name, purpose=ctx.purpose.name,
                           remedy=_waiting_remedy(ctx, request.id))
    inbox = ctx.ca if isinstance(ctx.ca, InboxCa) else None
    used = f" {inbox.selection(request.id).describe()}" if inbox is not None else ""
    pems = certificates_from(files)
    # Validate now: files that will not upload (a missing intermediate, another CSR's certificate)
    # are not recorded, so a re-run reads the inbox again once they are fixed.
    try:
        _, _, warnings = checked(ctx.purpose, pems, csr.pem, ctx.node(name), ctx.options.clock(),
                                 expected=csr.expected())
    except CertificateError as exc:
        remedy = exc.remedy
        if inbox is not None and "chain_complete" in exc.message:
            remedy = f"add the CA's chain file (intermediate and root) to {inbox.inbox_for(request.id)}, then re-run. " \
                     + (remedy or "")
        raise CertificateError(f"{exc.message} (judged{used})", node=name, purpose=ctx.purpose.name,
                               operation="ca-collect", remedy=remedy) from None
    ctx.ledger.put_issued(name, Issued(pems=tuple(pems), at=utcnow()))
    archived = f"; files and CSR moved to {inbox.archive(request.id)}" if inbox is not None else ""
    return with_warnings(f"collected {len(pems)} certificate(s) for request {request.id}{used}; they pass validation"
                         f"{archived}", warnings)


def _waiting_text(ctx: StepContext, node: str, request_id: str) -> str:
    if isinstance(ctx.ca, InboxCa):
        return (f"waiting for the CA: {node}: CSR {ctx.ca.csr_path(request_id)} -> put the CA's files in "
                f"{ctx.ca.inbox_for(request_id)}")
    return f"waiting for the CA: request {request_id} for {node} has no answer yet"


def _waiting_remedy(ctx: StepContext, request_id: str) -> str:
    if isinstance(ctx.ca, InboxCa):
        return "have the CA sign each CSR in the outbox, drop its files (certificate and chain) into the " \
               "node's inbox folder, then re-run"
    return "have the request approved at the CA, then re-run"
