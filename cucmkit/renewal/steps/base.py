"""What every step handler gets: the step's kind and a typed context (cluster, ledger, gate, CA, options)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from cucmkit.errors import CucmKitError

if TYPE_CHECKING:
    from cucmkit.ca import CaBackend
    from cucmkit.catalogue import Purpose
    from cucmkit.certs.records import CertRecord
    from cucmkit.renewal.options import RenewalOptions
    from cucmkit.renewal.plan import Step
    from cucmkit.renewal.ports import ClusterPort, NodePort
    from cucmkit.renewal.state import Ledger, PhoneGate, StepRecord

__all__ = ["StepKind", "StepContext", "Handler", "node_of"]


class StepKind(StrEnum):
    """Every kind of step a plan holds (``Step.name``); each has one handler."""

    CSR = "csr"
    CA_SUBMIT = "ca-submit"
    CA_COLLECT = "ca-collect"
    TRUST = "trust"
    IDENTITY = "identity"
    DISTRIBUTED = "distributed"
    SELF_SIGNED = "self-signed"
    PHONES_BASELINE = "phones-baseline"
    CTL_UPDATE = "ctl-update"
    RESTART = "restart"
    RELOAD = "reload"
    VERIFY_TLS = "verify-tls"
    PHONES_RESET = "phones-reset"
    PHONES_WAIT = "phones-wait"
    REMINDER = "reminder"


def _quiet(text: str) -> None:
    return None


@dataclass(frozen=True)
class StepContext:
    """One step attempt's world. ``previous``: what the ledger held for the step before this attempt."""

    cluster: ClusterPort
    purpose: Purpose
    ticket: str
    ledger: Ledger
    gate: PhoneGate
    ca: CaBackend | None
    options: RenewalOptions
    previous: StepRecord | None = None
    say: Callable[[str], None] = _quiet

    def node(self, name: str | None) -> NodePort:
        """The step's node (the publisher for a cluster-wide step)."""
        return self.cluster.node(name) if name else self.cluster.publisher

    def backend(self) -> CaBackend:
        if self.ca is None:
            raise CucmKitError("this renewal has no CA back-end", purpose=self.purpose.name,
                               remedy="open the renewal with a CA back-end (ca=...)")
        return self.ca

    def current_cert(self, node: NodePort) -> CertRecord | None:
        return next((r for r in node.own_certificates() if r.purpose == self.purpose.name), None)

    def own_fingerprint(self, node: NodePort) -> str | None:
        cert = self.current_cert(node)
        return cert.fingerprint_sha256 if cert is not None else None

    def open_gate(self, reason: str) -> None:
        """Phones will need a reset: hold the phone gate for this purpose (if it resets phones)."""
        if self.purpose.resets_phones:
            self.gate.open(self.purpose.name, reason=reason, ticket=self.ticket)


Handler = Callable[["Step", StepContext], str]


def node_of(step: Step) -> str:
    """The FQDN of a per-node step (a plan without one is a bug, not an operator's mistake)."""
    if step.node is None:
        raise ValueError(f"step {step.key} names no node")
    return step.node
