"""Which path a node's certificates take (certmgr REST or the admin CLI), and whether a multi-server upload can.

Each node has one certificate store, chosen once from its release (``cucmkit.cucm.store``: REST from 14 on,
the CLI before). A multi-server certificate cannot be uploaded through the CLI from 14SU2 (Security Guide
14SU2; the lab refuses it too), and the CLI's ``set csr gen`` makes only this-server CSRs, so the kit
generates and uploads multi-server certificates through the certificate REST API. The pre-check
``upload_path`` (before the CSR and install phases of a multi-server run) probes that API on the node that
holds the certificate and blocks, before anything changes, when it does not answer, with the reason for the
node's release. ``via(node)`` names the path for step details and evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from cucmkit.catalogue import RELEASES, Purpose, release
from cucmkit.errors import CucmKitError
from cucmkit.renewal.checks import CheckResult
from cucmkit.renewal.ports import NodePort

__all__ = ["UPLOAD_PATH", "GUARDS", "CertificatePath", "via", "check_upload_path", "holder_of",
           "MULTI_SERVER_CLI_UNTIL"]

UPLOAD_PATH = "upload_path"
GUARDS = ("csr", "install")
MULTI_SERVER_CLI_UNTIL = "14SU2"      # from this release a multi-server upload through the CLI is refused
_PATHS = {"certmgr": "the certificate REST API (certmgr)", "cli": "the admin CLI"}


@runtime_checkable
class CertificatePath(Protocol):
    """A node that says which certificate path it uses (``cucm.Node``): its release and REST or CLI."""

    @property
    def version(self) -> str: ...

    @property
    def uses_rest(self) -> bool: ...


def via(node: NodePort) -> str:
    """The path a node's certificates take, for step details ("" when the node does not say)."""
    if not isinstance(node, CertificatePath):
        return ""
    try:
        return _PATHS["certmgr" if node.uses_rest else "cli"]
    except CucmKitError:
        return ""


def holder_of(purpose: Purpose, nodes: Sequence[NodePort]) -> NodePort | None:
    """The node a multi-server certificate is generated and uploaded on: the first of the purpose's restart order
    among the nodes that carry it (the CUCM publisher; the IM&P database publisher for IM&P purposes)."""
    carriers = [n for n in nodes if n.kind in purpose.node_kinds]
    for rank in purpose.restart_order:
        found = next((n for n in carriers if rank.matches(kind=n.kind, role=n.role)), None)
        if found is not None:
            return found
    return carriers[0] if carriers else None


def check_upload_path(purpose: Purpose, holder: NodePort | None, *, multi_server: bool) -> CheckResult:
    """Multi-server: the holder's certificate REST API answers (CSR and upload go through it), else blocked."""
    if not multi_server or holder is None:
        return CheckResult(UPLOAD_PATH, "skipped", "per-node certificates: each node's own store (REST or CLI)",
                           guards=GUARDS)
    if not isinstance(holder, CertificatePath):
        return CheckResult(UPLOAD_PATH, "skipped", f"{holder.name} does not say which path it uses", guards=GUARDS)
    version = holder.version
    if holder.uses_rest:
        try:
            holder.own_certificates()        # a read through the REST API: does it answer?
        except CucmKitError as exc:
            down = f"its certificate REST API does not answer ({exc.message})"
        else:
            return CheckResult(UPLOAD_PATH, "passed", f"multi-server CSR and upload on {holder.name} through "
                               f"{_PATHS['certmgr']} (CUCM {version})", guards=GUARDS)
    elif (release(version) or (0,)) < RELEASES["14"]:
        down = f"CUCM {version} has no certificate REST API (it exists from 14)"
    else:
        down = "its certificate REST API is not available (the parameter file's certificate_api: cli)"
    return CheckResult(UPLOAD_PATH, "failed", _refusal(purpose, holder.name, version, down), _remedy(purpose),
                       guards=GUARDS)


def _refusal(purpose: Purpose, node: str, version: str, down: str) -> str:
    numbers = release(version)
    if numbers is None or numbers >= RELEASES[MULTI_SERVER_CLI_UNTIL]:
        return (f"{node}: {down}, and CUCM {version or '(release unknown)'} refuses a multi-server upload through "
                f"the CLI (from {MULTI_SERVER_CLI_UNTIL} only the GUI or the REST API take it)")
    return (f"{node}: {down}; CUCM {version} would still take a multi-server upload through the CLI (before "
            f"{MULTI_SERVER_CLI_UNTIL}), but the CLI makes only this-server CSRs, so the kit cannot generate the "
            f"multi-server {purpose.name} CSR")


def _remedy(purpose: Purpose) -> str:
    return ("bring the node's certificate REST API back (Cisco Tomcat running, HTTPS answering) and re-run; or "
            f"renew {purpose.name} per node; or generate and upload the multi-server certificate in Cisco Unified "
            "OS Administration (Security > Certificate Management)")
