"""CA rotation as a plan: refuse a same-CN collision, check partners, stage, renew, verify, retire the old CA.

The order and the reasons (docs/trust.md tells the whole story):

1. ``collisions``: CUCM keeps one trust certificate per CN per store and replaces it only with a newer one
   (CONTRACTS §9.1). A new CA certificate with the CN of a trust certificate that identities still chain to
   would replace it and strand them, or be refused as older: the plan stops here, before anything changes.
2. ``partners``: every partner in the parameter file is shown a probe certificate issued by the new CA; one that
   does not trust the new chain stops the rotation before CUCM serves anything from it.
3. ``stage``: the new root and issuing CA go into every trust store that holds the old CA or belongs to a purpose
   being renewed, on every node, BEFORE any identity is issued from them (CUCM refuses an identity whose CA is
   not in its trust store, and peers must trust the new chain before it is served).
4. ``renew``: each purpose whose identities chain to the old CA is renewed by the renewal engine, one purpose at
   a time in the catalogue's runbook order, only on the nodes that need it.
5. ``verify``: every renewed identity chains to the new root.
6. ``retire``: the old CA certificates are deleted (cluster-wide, checked on every node) only when nothing
   chains to them any more; otherwise the step waits and names what still depends on them.

The run state (``RotationState``, a versioned pydantic model) is saved after every step: a crashed or stopped
rotation resumes at the first step not done. ``write_rotation_evidence`` writes the state as evidence.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ConfigDict, Field

from cucmkit import catalogue
from cucmkit.certs.chain import self_issued
from cucmkit.certs.records import record_from_pem
from cucmkit.errors import CucmKitError, InterlockError
from cucmkit.fingerprints import public_key_sha256
from cucmkit.trust.cleanup import CleanupPlan, TrustCluster, TrustNode, read_inventory, run_cleanup
from cucmkit.trust.config import PartnerParams
from cucmkit.trust.inventory import Dependent, TrustEntry, TrustInventory
from cucmkit.trust.partners import Probe, check_partner, ordered_root_first

__all__ = ["STEPS", "Collision", "RotationPlan", "plan_rotation", "collision_error", "StepState", "RotationState",
           "PurposeRenewer", "RotationNode", "RotationCluster", "Rotation", "write_rotation_evidence"]

STEPS = ("collisions", "partners", "stage", "renew", "verify", "retire")
Status = Literal["pending", "done", "failed", "blocked", "waiting"]


# -- the plan (pure) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Collision:
    """A new CA certificate whose CN a trust certificate already uses, with another key."""

    common_name: str
    new_fingerprint: str
    old_fingerprint: str
    stores: tuple[str, ...]
    dependents: tuple[str, ...]     # "node/unit" still chained to the old key
    older: bool                     # the new certificate is not newer: CUCM would not even replace it


@dataclass(frozen=True)
class RotationPlan:
    new_chain: tuple[str, ...]                  # PEM, root first
    retire: tuple[TrustEntry, ...]              # the old CA certificates
    renew: tuple[tuple[str, tuple[str, ...]], ...]   # (purpose, nodes) in runbook order
    stage: tuple[tuple[str, str], ...]          # (node, store) that get the new chain
    collisions: tuple[Collision, ...]

    @property
    def new_fingerprints(self) -> tuple[str, ...]:
        return tuple(record_from_pem(p).fingerprint_sha256 for p in self.new_chain)


def plan_rotation(inventory: TrustInventory, new_chain: Sequence[str], *, retire: Sequence[str] = ()) -> RotationPlan:
    """The rotation from the CA certificates ``retire`` (default: every CA an identity chains to that is not an
    identity's own copy and not in the new chain) to ``new_chain`` (root and/or issuing CA, PEM)."""
    ordered = tuple(_pem(c) for c in _without_cross(ordered_root_first(new_chain)))
    new_fps = {record_from_pem(p).fingerprint_sha256 for p in ordered}
    identity_fps = {r.fingerprint_sha256 for r in inventory.identities}
    wanted = {fp.lower() for fp in retire}
    old = tuple(e for e in inventory.entries if e.fingerprint not in new_fps and (
        e.fingerprint in wanted if wanted else e.in_use and e.fingerprint not in identity_fps))
    renew = _renewals(old)
    return RotationPlan(new_chain=ordered, retire=old, renew=renew, stage=_stage(old, renew),
                        collisions=_collisions(inventory, ordered))


def _without_cross(certs: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """Drop a cross certificate (the new root's name, issued by another CA): CUCM would file it under the root's
    CN and replace the root with it. It is for partners that still anchor on the old root (``trust export``)."""
    roots = [c.subject for c in certs if self_issued(c)]
    return [c for c in certs if self_issued(c) or c.subject not in roots]


def _renewals(old: Sequence[TrustEntry]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    nodes: dict[str, set[str]] = {}
    for entry in old:
        for dep in entry.dependents:
            nodes.setdefault(dep.unit, set()).add(dep.node)
    order = list(catalogue.runbook_order()) + [n for n in catalogue.names() if n not in catalogue.runbook_order()]
    known = [p for p in order if p in nodes] + sorted(p for p in nodes if p not in order)
    return tuple((p, tuple(sorted(nodes[p]))) for p in known)


def _stage(old: Sequence[TrustEntry], renew: Sequence[tuple[str, tuple[str, ...]]]) -> tuple[tuple[str, str], ...]:
    """Every (node, store) holding an old CA certificate, and the trust store of each purpose renewed there."""
    targets = {(loc.node, loc.store) for entry in old for loc in entry.locations}
    for purpose, nodes in renew:
        store = _trust_store(purpose)
        targets |= {(node, store) for node in nodes if store}
    return tuple(sorted(targets))


def _trust_store(purpose: str) -> str:
    try:
        return catalogue.get(purpose).trust_store
    except ValueError:
        return f"{purpose}-trust"


def _collisions(inventory: TrustInventory, new_chain: Sequence[str]) -> tuple[Collision, ...]:
    found = []
    for pem in new_chain:
        new = record_from_pem(pem)
        new_key = _key(pem)
        for entry in inventory.named(new.common_name):
            if entry.fingerprint == new.fingerprint_sha256 or entry.key_sha256 == new_key:
                continue
            older = new.not_before <= entry.not_before
            if entry.in_use or older:
                deps = tuple(sorted({f"{d.node.split('.')[0]}/{d.unit}" for d in entry.dependents}))
                found.append(Collision(new.common_name, new.fingerprint_sha256, entry.fingerprint, entry.stores,
                                       deps, older))
    return tuple(found)


def collision_error(collisions: Sequence[Collision]) -> InterlockError:
    """The refusal, with the way out."""
    first = collisions[0]
    what = ("is not newer than the one in the trust stores, so CUCM would keep the old one" if first.older else
            f"would replace the old CA certificate in {', '.join(first.stores)} (CUCM keeps one trust certificate "
            f"per CN) and strand {len(first.dependents)} identity certificate(s) still chained to the old key: "
            f"{', '.join(first.dependents[:6])}{' ...' if len(first.dependents) > 6 else ''}")
    return InterlockError(
        f"same-CN collision: the new CA certificate '{first.common_name}' (sha256 {first.new_fingerprint}) {what}. "
        "Nothing was changed",
        remedy="have the CA issue the new root/issuing CA under a distinct CN (for example '<name> G2'); or, if the "
        "CN cannot change, first move every identity listed to an interim CA with a distinct CN, remove the old CA, "
        "then stage the new one.", operation="rotation collisions")


def _key(pem: str) -> str:
    return public_key_sha256(pem)


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


# -- the run state --------------------------------------------------------------------------------


class StepState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status = "pending"
    detail: str = ""
    at: str = ""


class RotationState(BaseModel):
    """The rotation's persisted state (version 1). The engine owns it; the notebook and evidence only read it."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    cluster: str
    ticket: str
    new_chain: tuple[str, ...]                 # public CA certificates (PEM), root first
    retire: tuple[str, ...]                    # fingerprints of the old CA certificates, fixed at the first run
    steps: dict[str, StepState] = Field(default_factory=lambda: {name: StepState() for name in STEPS})
    partner_checks: list[dict[str, object]] = Field(default_factory=list)
    uploads: list[dict[str, str]] = Field(default_factory=list)
    renewals: list[dict[str, str]] = Field(default_factory=list)
    deletions: list[dict[str, object]] = Field(default_factory=list)

    @property
    def status(self) -> str:
        states = [s.status for s in self.steps.values()]
        for status in ("failed", "blocked", "waiting"):
            if status in states:
                return status
        return "done" if all(s == "done" for s in states) else "pending"

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=1))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> RotationState | None:
        return cls.model_validate_json(path.read_text()) if path.exists() else None


# -- the run ---------------------------------------------------------------------------------------


class PurposeRenewer(Protocol):
    """Renews one purpose on some nodes (the renewal engine); answers (status, message)."""

    def __call__(self, purpose: str, nodes: tuple[str, ...]) -> tuple[str, str]: ...


class RotationNode(TrustNode, Protocol):
    """A node as the rotation needs it (``cucmkit.cucm.Node`` fits): read, delete and upload trust."""

    def upload_trust(self, purpose: str, pem: str, *, description: str = ...) -> None: ...


class RotationCluster(TrustCluster, Protocol):
    @property
    def nodes(self) -> Sequence[RotationNode]: ...


class Rotation:
    """One CA rotation of one cluster, resumable from its state file."""

    def __init__(self, *, cluster: RotationCluster, state_path: Path, ticket: str, new_chain: Sequence[str],
                 renewer: PurposeRenewer, partners: Sequence[PartnerParams] = (),
                 probe: Callable[[], Probe] | None = None, keep: Sequence[str] = (), retire: Sequence[str] = (),
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.cluster = cluster
        self.state_path = state_path
        self.renewer = renewer
        self.partners = tuple(partners)
        self.probe = probe
        self.keep = tuple(keep)
        self.now = now
        self.state = RotationState.load(state_path) or self._new_state(ticket, new_chain, retire)

    def _new_state(self, ticket: str, new_chain: Sequence[str], retire: Sequence[str]) -> RotationState:
        plan = plan_rotation(self.inventory(), new_chain, retire=retire)
        return RotationState(cluster=self.cluster.name, ticket=ticket, new_chain=plan.new_chain,
                             retire=tuple(e.fingerprint for e in plan.retire))

    def inventory(self) -> TrustInventory:
        return read_inventory(self.cluster, keep=self.keep, now=self.now())

    def plan(self) -> RotationPlan:
        return plan_rotation(self.inventory(), self.state.new_chain, retire=self.state.retire)

    def run(self) -> RotationState:
        """Every step not yet done, in order; stops at the first that does not finish. State saved after each."""
        for name in STEPS:
            if self.step(name).status != "done":
                break
        return self.state

    def step(self, name: str) -> StepState:
        """Run step ``name`` (once: a done step answers its saved state); every earlier step must be done."""
        if name not in STEPS:
            raise ValueError(f"unknown rotation step {name!r}; steps: {', '.join(STEPS)}")
        if self.state.steps[name].status == "done":
            return self.state.steps[name]
        earlier = [s for s in STEPS[:STEPS.index(name)] if self.state.steps[s].status != "done"]
        if earlier:
            raise InterlockError(f"rotation step {name} needs {earlier[0]} done first", operation=f"rotation {name}",
                                 remedy=f"run the {earlier[0]} step (its cell) first.")
        status, detail = self._step(name)
        self.state.steps[name] = StepState(status=status, detail=detail, at=self.now().isoformat())
        self.state.save(self.state_path)
        return self.state.steps[name]

    def _step(self, name: str) -> tuple[Status, str]:
        try:
            return {"collisions": self._collisions, "partners": self._partners, "stage": self._stage,
                    "renew": self._renew, "verify": self._verify, "retire": self._retire}[name]()
        except InterlockError as exc:
            return "blocked", str(exc)
        except CucmKitError as exc:
            return "failed", str(exc)

    def _collisions(self) -> tuple[Status, str]:
        found = self.plan().collisions
        if found:
            raise collision_error(found)
        return "done", "no same-CN collision"

    def _partners(self) -> tuple[Status, str]:
        if not self.partners:
            return "done", "no partner in the parameter file"
        probe = self.probe() if self.probe and any(p.checkable for p in self.partners) else None
        checks = [check_partner(p, probe) for p in self.partners]
        self.state.partner_checks = [{"partner": c.partner, "trusted": c.trusted, "detail": c.detail,
                                      "at": self.now().isoformat()} for c in checks]
        blocking = [c for c in checks if c.blocks]
        if blocking:
            raise InterlockError("partner(s) do not trust the new chain yet: "
                                 + "; ".join(f"{c.partner}: {c.detail}" for c in blocking),
                                 remedy="give each partner the exported chain (cucmkit trust export), then resume.",
                                 operation="rotation partners")
        return "done", f"{len(checks)} partner(s) trust the new chain"

    def _stage(self) -> tuple[Status, str]:
        plan = self.plan()
        nodes = {n.name: n for n in self.cluster.nodes}
        count = 0
        for node_name, store in plan.stage:
            node = nodes[node_name]
            present = {r.fingerprint_sha256 for r in node.trust_certificates(store)}
            for pem in plan.new_chain:
                fingerprint = record_from_pem(pem).fingerprint_sha256
                if fingerprint in present:
                    continue
                _upload(node, store, pem)
                self.state.uploads.append({"node": node_name, "store": store, "fingerprint": fingerprint,
                                           "at": self.now().isoformat()})
                self.state.save(self.state_path)
                count += 1
        return "done", f"{count} upload(s) to {len(plan.stage)} trust store(s)"

    def _renew(self) -> tuple[Status, str]:
        for purpose, nodes in self.plan().renew:
            status, message = self.renewer(purpose, nodes)
            self.state.renewals.append({"purpose": purpose, "nodes": ",".join(nodes), "status": status,
                                        "message": message, "at": self.now().isoformat()})
            self.state.save(self.state_path)
            if status not in ("done", "skipped"):
                return ("waiting" if status == "waiting" else "failed"), f"{purpose}: {status}: {message}"
        return "done", "every dependent identity renewed"

    def _verify(self) -> tuple[Status, str]:
        inventory = self.inventory()
        root = record_from_pem(self.state.new_chain[0]).fingerprint_sha256
        stranded = [f"{d.node.split('.')[0]}/{d.unit}" for fp in self.state.retire for d in _deps(inventory, fp)]
        if stranded:
            return "failed", "still chained to the old CA: " + ", ".join(sorted(set(stranded)))
        new_root = _entry(inventory, root)
        return "done", f"{len(new_root.dependents) if new_root else 0} identity certificate(s) chain to the new root"

    def _retire(self) -> tuple[Status, str]:
        inventory = self.inventory()
        entries = [e for fp in self.state.retire if (e := _entry(inventory, fp)) is not None]
        busy = [e for e in entries if e.in_use]
        if busy:
            return "waiting", "still in use: " + ", ".join(e.common_name for e in busy)
        report = run_cleanup(self.cluster, CleanupPlan(candidates=tuple(entries)), approved=True, keep=self.keep,
                             now=self.now)
        self.state.deletions += [{"fingerprint": d.fingerprint, "common_name": d.common_name, "store": d.store,
                                  "outcome": d.outcome, "still_on": list(d.still_on)} for d in report.deletions]
        if not report.ok:
            return "failed", "some old CA certificates are still on a node"
        return "done", f"{len(report.deletions)} old CA certificate(s) removed from every node"


def _upload(node: RotationNode, store: str, pem: str) -> None:
    node.upload_trust(store.removesuffix("-trust"), pem, description="cucmkit CA rotation")


def _entry(inventory: TrustInventory, fingerprint: str) -> TrustEntry | None:
    return next((e for e in inventory.entries if e.fingerprint == fingerprint), None)


def _deps(inventory: TrustInventory, fingerprint: str) -> tuple[Dependent, ...]:
    entry = _entry(inventory, fingerprint)
    return entry.dependents if entry else ()


def write_rotation_evidence(state: RotationState, *, root: Path, stamp: str) -> Path:
    """``evidence/<cluster>/<ticket>/<stamp>-trust-rotation.json``: steps, checks, uploads, renewals, deletions."""
    folder = root / "evidence" / state.cluster / state.ticket
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stamp}-trust-rotation.json"
    body = json.loads(state.model_dump_json())
    body["status"] = state.status
    body["new_chain"] = [record_from_pem(p).fingerprint_sha256 for p in state.new_chain]
    path.write_text(json.dumps(body, indent=2) + "\n")
    return path
