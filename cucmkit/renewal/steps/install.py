"""The install steps: trust chain, identity (confirmed by fingerprint), self-signed regeneration."""

from __future__ import annotations

from cucmkit import catalogue
from cucmkit.errors import CertificateError
from cucmkit.fingerprints import cert_sha256
from cucmkit.renewal.plan import Step
from cucmkit.renewal.ports import NodePort
from cucmkit.renewal.steps.base import StepContext, node_of
from cucmkit.renewal.steps.material import material
from cucmkit.renewal.uploadpath import via

__all__ = ["trust", "identity", "distributed", "self_signed"]


def trust(step: Step, ctx: StepContext) -> str:
    """Root and intermediates into the purpose's trust store (and the catalogue's extra stores), each only if
    not there yet (CAPF: CallManager-trust too, SG14)."""
    name = node_of(step)
    node = ctx.node(name)
    _, cas = material(ctx, _holder(ctx, name))
    return "; ".join(_trust_into(node, unit, cas, ctx.ticket)
                     for unit in (ctx.purpose.name, *ctx.purpose.chain_also_to))


def _trust_into(node: NodePort, unit: str, cas: list[str], ticket: str) -> str:
    store = catalogue.get(unit).trust_store
    present = {r.fingerprint_sha256 for r in node.trust_certificates(store)}
    missing = [pem for pem in cas if cert_sha256(pem) not in present]
    for pem in missing:
        node.upload_trust(unit, pem, description=f"cucmkit {ticket}")
    return f"{len(missing)} CA certificate(s) uploaded to {store}, {len(cas) - len(missing)} already there"


def identity(step: Step, ctx: StepContext) -> str:
    """The new identity, unless the node already holds it (a crash after the upload)."""
    name = node_of(step)
    node = ctx.node(name)
    leaf, _ = material(ctx, name)
    new_fp = cert_sha256(leaf)
    ctx.ledger.note_cert(name, after=new_fp)
    if ctx.own_fingerprint(node) == new_fp:
        return f"the node already holds the new certificate ({new_fp[:16]}...): not uploaded again"
    ctx.open_gate("identity installed")
    node.upload_identity(ctx.purpose.name, leaf)
    if ctx.own_fingerprint(node) != new_fp:
        raise CertificateError("after the upload the node does not hold the new certificate",
                               node=name, purpose=ctx.purpose.name)
    path = via(node)
    return f"identity uploaded{f' through {path}' if path else ''}; node holds sha256 {new_fp}"


def distributed(step: Step, ctx: StepContext) -> str:
    """Multi-server: the node holds the certificate uploaded once on the holder (CUCM distributes it)."""
    name = node_of(step)
    holder = _holder(ctx, name)
    leaf, _ = material(ctx, holder)
    new_fp = cert_sha256(leaf)
    ctx.ledger.note_cert(name, after=new_fp)
    if ctx.own_fingerprint(ctx.node(name)) != new_fp:
        raise CertificateError(f"the multi-server certificate uploaded on {holder} did not reach this node",
                               node=name, purpose=ctx.purpose.name,
                               remedy="check the node in OS Administration > Certificate Management, then re-run")
    return f"holds the multi-server certificate from {holder} (sha256 {new_fp[:16]}...)"


def _holder(ctx: StepContext, name: str) -> str:
    """The node whose CSR the CA signed for ``name``: itself, or (multi-server) the run's one CSR holder."""
    csrs = list(ctx.ledger.state.csrs)
    if name in csrs or not ctx.options.multi_server:
        return name
    if len(csrs) != 1:
        raise CertificateError(f"a multi-server run has one CSR; this run has {len(csrs)}",
                               node=name, purpose=ctx.purpose.name)
    return csrs[0]


def self_signed(step: Step, ctx: StepContext) -> str:
    """Regenerate as self-signed, unless the certificate already changed since the plan."""
    name = node_of(step)
    node = ctx.node(name)
    change = ctx.ledger.state.certificates.get(name)
    before = change.before if change else None
    now_fp = ctx.own_fingerprint(node)
    if before and now_fp and now_fp != before:
        ctx.ledger.note_cert(name, after=now_fp)
        return "already regenerated"
    ctx.open_gate("self-signed certificate regenerated")
    node.regenerate_self_signed(ctx.purpose.name)
    after = ctx.own_fingerprint(node)
    ctx.ledger.note_cert(name, after=after)
    return f"regenerated as self-signed; sha256 {after}"
