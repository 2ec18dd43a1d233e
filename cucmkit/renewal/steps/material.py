"""The CA's files -> validated (leaf, CA chain) for a node: shared by the CA and install steps."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from cucmkit.errors import CertificateError, CucmKitError

if TYPE_CHECKING:
    from cucmkit.catalogue import Purpose
    from cucmkit.renewal.ports import NodePort
    from cucmkit.renewal.steps.base import StepContext
    from cucmkit.sans import ExpectedNames

__all__ = ["certificates_from", "validated", "checked", "material", "WARNING_MARK", "with_warnings", "step_warnings"]

# How a step's detail carries the validator's warnings (after the outcome, one mark each), so the ledger, the
# summary and the evidence page show them without a second record: "collected ... | [WARNING] key_usage: ...".
WARNING_MARK = " | [WARNING] "


def with_warnings(detail: str, warnings: Iterable[str]) -> str:
    return detail + "".join(f"{WARNING_MARK}{w}" for w in warnings)


def step_warnings(detail: str) -> list[str]:
    """The warnings ``with_warnings`` put in a step's detail."""
    return detail.split(WARNING_MARK)[1:]


def certificates_from(files: Iterable[bytes]) -> list[str]:
    """Every certificate in the CA's files (PEM, DER, p7b, zip), as PEM."""
    from cucmkit.certs.intake import load_bytes

    material = None
    for index, blob in enumerate(files):
        loaded = load_bytes(blob, name=f"ca-file-{index}")
        material = loaded if material is None else material.merged(loaded)
    if material is None or not len(material):
        raise CertificateError("the CA's files hold no certificate", operation="ca-collect")
    return [c.pem for c in material.certificates]


def validated(purpose: Purpose, pems: Iterable[str], csr_pem: str, node: NodePort,
              now: datetime, version: str | None = None,
              expected: ExpectedNames | None = None) -> tuple[str, list[str]]:
    """(leaf PEM, CA PEMs root first), or CertificateError naming every failed check.

    ``expected``: the names recorded with the CSR (the validator's ``san_missing``/``san_added`` checks)."""
    leaf, cas, _ = checked(purpose, pems, csr_pem, node, now, version, expected)
    return leaf, cas


def checked(purpose: Purpose, pems: Iterable[str], csr_pem: str, node: NodePort, now: datetime,
            version: str | None = None, expected: ExpectedNames | None = None) -> tuple[str, list[str], tuple[str, ...]]:
    """``validated`` and the validator's warnings, each "check: what (remedy: ...)" (CUCM accepts the files; the
    evidence keeps what the engineer was told, e.g. a recommended key usage the CA dropped)."""
    from cucmkit.certs import intake, validate

    loaded = intake.load_bytes("".join(pems).encode(), name="issued")
    trust = node.trust_certificates(purpose.trust_store)
    report = validate(loaded, purpose=purpose.name, now=now, csr=csr_pem, trust_store=trust, version=version,
                      expected=expected)
    if not report.ok:
        failed = "; ".join(f"{c.name}: {c.message}" for c in report.failed)
        remedies = dict.fromkeys(f"{c.name}: {c.remedy}" for c in report.failed if c.remedy)   # one per check
        raise CertificateError(f"the issued certificate fails validation: {failed}", node=node.name,
                               purpose=purpose.name, remedy=" ".join(remedies) or "have the CA re-issue from "
                               "the pending CSR")
    leaf = next(s.pem for s in report.upload_plan if s.kind == "leaf")
    cas = [s.pem for s in report.upload_plan if s.kind != "leaf"]
    warnings = tuple(dict.fromkeys(f"{c.name}: {c.message}" + (f" (remedy: {c.remedy})" if c.remedy else "")
                                   for c in report.warnings))
    return leaf, cas, warnings


def material(ctx: StepContext, node: str) -> tuple[str, list[str]]:
    """What the ledger says the CA issued for ``node``, validated again against the CSR and its trust store now."""
    state = ctx.ledger.state
    issued, csr = state.issued.get(node), state.csrs.get(node)
    if issued is None or csr is None:
        raise CertificateError("nothing collected from the CA for this node yet", node=node,
                               purpose=ctx.purpose.name, remedy="run the CA phase first")
    return validated(ctx.purpose, issued.pems, csr.pem, ctx.node(node), ctx.options.clock(), cluster_version(ctx),
                     csr.expected())


def cluster_version(ctx: StepContext) -> str | None:
    """The cluster's CUCM version for release-dependent rules; None (the newest rules apply) if unreadable."""
    try:
        return ctx.cluster.version()
    except CucmKitError:
        return None
