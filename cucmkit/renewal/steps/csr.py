"""The CSR step: generate and download a node's CSR once, and never lose track of it.

The request is shaped by the run's ``NamePolicy`` (``cucmkit.sans``): the parameter file's extra SAN
entries go in as ``altNames``, and a CA that refuses CUCM's ``-ms`` common name (the parameter file says so,
or the back-end declares it: ACME) gets a multi-server CSR whose common name is the holder's FQDN. The CSR
CUCM made is checked against the request, and the names the CA must return (SAN set, common name) are
recorded with it in the ledger, before the CA signs.
"""

from __future__ import annotations

import dataclasses

from cucmkit.ca.registry import refuses_ms_common_name
from cucmkit.errors import CertificateError
from cucmkit.fingerprints import public_key_sha256
from cucmkit.renewal.plan import Step
from cucmkit.renewal.state import CsrEntry, utcnow
from cucmkit.renewal.steps.base import StepContext, node_of
from cucmkit.renewal.uploadpath import via
from cucmkit.sans import CsrNames, csr_names

__all__ = ["generate_csr", "request_names"]


def request_names(ctx: StepContext, name: str) -> CsrNames:
    """The names the CSR of ``name`` is requested with (a multi-server CSR: every node the run renews)."""
    plan = ctx.ledger.state.plan
    renewing = [n.name for n in plan.nodes if n.action == "renew"] if plan is not None else []
    policy = ctx.options.names
    if refuses_ms_common_name(ctx.ca) and not policy.refuses_ms_common_name:   # the back-end says so (ACME)
        policy = dataclasses.replace(policy, refuses_ms_common_name=True)
    return csr_names(purpose=ctx.purpose.name, node=name, nodes=renewing, multi_server=ctx.options.multi_server,
                     policy=policy, wildcard_ok=ctx.purpose.wildcard_san)


def generate_csr(step: Step, ctx: StepContext) -> str:
    """A CSR on the node this run knows; a submitted CSR is never regenerated (that needs force_csr)."""
    name = node_of(step)
    names = request_names(ctx, name)
    node = ctx.node(name)
    known = ctx.ledger.state.csrs.get(name)
    pending = node.get_csr(ctx.purpose.name)
    submitted = name in ctx.ledger.state.requests
    if known and pending and public_key_sha256(pending) == known.fingerprint:
        if submitted or _shaped_as(known, names):
            return f"CSR already on the node (public key {known.fingerprint[:16]}...)"
        known, reshaped = None, True      # not submitted yet and asked with other names: generate it again
    else:
        reshaped = False
    if known and submitted:
        raise CertificateError(
            "the CSR submitted to the CA is no longer pending on the node (regenerated elsewhere?)",
            node=name, purpose=ctx.purpose.name,
            remedy="re-run with force_csr to generate a new CSR and submit it again")
    pem, how = _fresh_or_adopted(ctx, names, pending, known is not None or reshaped)
    if not pem:
        raise CertificateError("the node reports no pending CSR right after generating one", node=name)
    expected = names.expected(pem)
    fingerprint = public_key_sha256(pem)
    ctx.ledger.put_csr(name, CsrEntry(pem=pem, fingerprint=fingerprint, at=utcnow(),
                                      expected_sans=tuple(sorted(expected.sans)), expected_cn=expected.common_name,
                                      extra_sans=tuple(sorted(names.extras))))
    if reshaped:
        how += " (again: the run now asks for other names than the unsubmitted CSR had)"
    return (f"CSR {how}; public key sha256 {fingerprint}; the CA must return CN {expected.common_name} and "
            f"exactly these SANs: {', '.join(sorted(expected.sans))}")


def _shaped_as(known: CsrEntry, names: CsrNames) -> bool:
    """The recorded CSR carries what the run asks for now (a ledger without names recorded counts as shaped)."""
    if not known.expected_sans:
        return True
    if names.common_name and known.expected_cn.lower() != names.common_name.lower():
        return False
    return names.required <= set(known.expected_sans)


def _fresh_or_adopted(ctx: StepContext, names: CsrNames, pending: str | None, known: bool) -> tuple[str | None, str]:
    """Adopt the CSR an interrupted attempt of this step generated; else generate one."""
    previous = ctx.previous
    if pending and previous is not None and previous.outcome == "running" and not known:
        return pending, "adopted the CSR generated before an interruption"
    node = ctx.node(names.node)
    size = ctx.options.key_size if ctx.purpose.key_type == "rsa" else ctx.options.ec_key_size
    distribution = "multi-server" if ctx.options.multi_server else "this-server"
    node.generate_csr(ctx.purpose.name, common_name=names.common_name, alt_names=names.alt_names,
                      key_type=ctx.purpose.key_type, key_size=size, distribution=distribution)
    path = via(node)
    how = "generated and downloaded" + (f" through {path}" if path else "") + \
        (" (multi-server: every node's FQDN in the SAN)" if ctx.options.multi_server else "")
    if names.describe():
        how += f" with {names.describe()}"
    if pending:
        how += ("; WARNING: it replaced a pending CSR this run did not create "
                "(a certificate issued from that one will no longer upload)")
    return node.get_csr(ctx.purpose.name), how
