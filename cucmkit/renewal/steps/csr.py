"""The CSR step: generate and download a node's CSR once, and never lose track of it."""

from __future__ import annotations

from cucmkit.errors import CertificateError
from cucmkit.fingerprints import public_key_sha256
from cucmkit.renewal.plan import Step
from cucmkit.renewal.state import CsrEntry, utcnow
from cucmkit.renewal.steps.base import StepContext, node_of

__all__ = ["generate_csr"]


def generate_csr(step: Step, ctx: StepContext) -> str:
    """A CSR on the node this run knows; a submitted CSR is never regenerated (that needs force_csr)."""
    name = node_of(step)
    node = ctx.node(name)
    known = ctx.ledger.state.csrs.get(name)
    pending = node.get_csr(ctx.purpose.name)
    if known and pending and public_key_sha256(pending) == known.fingerprint:
        return f"CSR already on the node (public key {known.fingerprint[:16]}...)"
    if known and name in ctx.ledger.state.requests:
        raise CertificateError(
            "the CSR submitted to the CA is no longer pending on the node (regenerated elsewhere?)",
            node=name, purpose=ctx.purpose.name,
            remedy="re-run with force_csr to generate a new CSR and submit it again")
    pem, how = _fresh_or_adopted(ctx, name, pending, known is not None)
    if not pem:
        raise CertificateError("the node reports no pending CSR right after generating one", node=name)
    fingerprint = public_key_sha256(pem)
    ctx.ledger.put_csr(name, CsrEntry(pem=pem, fingerprint=fingerprint, at=utcnow()))
    return f"CSR {how}; public key sha256 {fingerprint}"


def _fresh_or_adopted(ctx: StepContext, name: str, pending: str | None, known: bool) -> tuple[str | None, str]:
    """Adopt the CSR an interrupted attempt of this step generated; else generate one."""
    previous = ctx.previous
    if pending and previous is not None and previous.outcome == "running" and not known:
        return pending, "adopted the CSR generated before an interruption"
    node = ctx.node(name)
    size = ctx.options.key_size if ctx.purpose.key_type == "rsa" else ctx.options.ec_key_size
    if ctx.options.multi_server:
        node.generate_csr(ctx.purpose.name, key_type=ctx.purpose.key_type, key_size=size, distribution="multi-server")
    else:
        node.generate_csr(ctx.purpose.name, key_type=ctx.purpose.key_type, key_size=size)
    how = "generated and downloaded" + (" (multi-server: every node's FQDN in the SAN)" if ctx.options.multi_server
                                        else "")
    if pending:
        how += ("; WARNING: it replaced a pending CSR this run did not create "
                "(a certificate issued from that one will no longer upload)")
    return node.get_csr(ctx.purpose.name), how
