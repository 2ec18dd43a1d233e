"""Stale-trust clean-up: show the list, get approval, delete, check every node, record every deletion.

``plan_cleanup(inventory)`` (pure) picks the deletable entries (stale, nothing chains to them, not pinned in
``trust.keep``) and refuses, with the reason, any fingerprint the engineer asked for that is still in use.
``run_cleanup(cluster, plan, approved=...)`` refuses without approval, re-reads the cluster and re-checks every
candidate (something may have started to chain to it since the list was shown), deletes each certificate once
per store on the first node that holds it (CUCM deletes the same certificate on every node since 11.0, TAC
211300), then reads every node again and deletes what is left node by node (node-local stores, CAPF-trust).
A certificate still present after that is reported ``failed``. ``write_cleanup_evidence`` writes
``evidence/<cluster>/<ticket>/<stamp>-trust-cleanup.json`` with every deletion and its fingerprint.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from cucmkit.certs.records import CertRecord
from cucmkit.errors import CucmKitError, InterlockError
from cucmkit.trust.inventory import TrustEntry, TrustInventory, build_inventory

__all__ = ["TrustNode", "TrustCluster", "Refusal", "CleanupPlan", "Deletion", "CleanupReport", "plan_cleanup",
           "run_cleanup", "write_cleanup_evidence", "read_inventory"]


class TrustNode(Protocol):
    """What the clean-up needs from a node (``cucmkit.cucm.Node`` fits)."""

    name: str

    def trust_certificates(self, store: str | None = None) -> list[CertRecord]: ...

    def delete_trust(self, store: str, filename: str) -> None: ...


class TrustCluster(Protocol):
    """What the trust tools need from a cluster (``cucmkit.cucm.Cluster`` fits)."""

    name: str

    @property
    def nodes(self) -> Sequence[TrustNode]: ...

    def inventory(self) -> list[CertRecord]: ...


def read_inventory(cluster: TrustCluster, *, keep: Sequence[str], now: dt.datetime) -> TrustInventory:
    """The cluster's trust inventory, read now."""
    return build_inventory(cluster.inventory(), keep=keep, now=now)


@dataclass(frozen=True)
class Refusal:
    fingerprint: str
    common_name: str
    reason: str


@dataclass(frozen=True)
class CleanupPlan:
    """What would be deleted, and what was asked for but refused."""

    candidates: tuple[TrustEntry, ...]
    refused: tuple[Refusal, ...] = ()

    def lines(self) -> list[str]:
        out = [f"DELETE {e.common_name} ({', '.join(e.stale)}) sha256 {e.fingerprint} from "
               f"{', '.join(e.stores)} on {len({loc.node for loc in e.locations})} node(s)" for e in self.candidates]
        out += [f"REFUSED {r.common_name} sha256 {r.fingerprint}: {r.reason}" for r in self.refused]
        return out or ["nothing stale to delete"]


@dataclass(frozen=True)
class Deletion:
    """One trust certificate removed from one store (the record the evidence keeps)."""

    fingerprint: str
    common_name: str
    store: str
    filename: str
    deleted_on: str                  # the node the delete was sent to
    reasons: tuple[str, ...]
    outcome: str                     # "deleted" | "failed"
    still_on: tuple[str, ...] = ()   # nodes that still hold it after the check
    detail: str = ""


@dataclass(frozen=True)
class CleanupReport:
    cluster: str
    started: str
    finished: str
    deletions: tuple[Deletion, ...]
    refused: tuple[Refusal, ...]

    @property
    def ok(self) -> bool:
        return all(d.outcome == "deleted" for d in self.deletions)


def plan_cleanup(inventory: TrustInventory, *, only: Sequence[str] = ()) -> CleanupPlan:
    """Deletable entries (all of them, or the fingerprints in ``only``); asked-for entries in use are refused."""
    wanted = {fp.lower() for fp in only}
    known = {e.fingerprint for e in inventory.entries}
    refused = [Refusal(fp, "", "no trust certificate of the cluster has this fingerprint")
               for fp in sorted(wanted - known)]
    candidates = []
    for entry in inventory.entries:
        if wanted and entry.fingerprint not in wanted:
            continue
        why = refusal_reason(entry)
        if why is None:
            candidates.append(entry)
        elif wanted:
            refused.append(Refusal(entry.fingerprint, entry.common_name, why))
    return CleanupPlan(candidates=tuple(candidates), refused=tuple(refused))


def refusal_reason(entry: TrustEntry) -> str | None:
    """Why ``entry`` must not be deleted, or None."""
    if entry.in_use:
        names = ", ".join(sorted({f"{d.node.split('.')[0]}/{d.unit}" for d in entry.dependents}))
        return f"{len(entry.dependents)} identity certificate(s) still chain to it ({names})"
    if entry.kept:
        return "pinned in trust.keep"
    if not entry.stale:
        return "not stale"
    return None


def run_cleanup(cluster: TrustCluster, plan: CleanupPlan, *, approved: bool, keep: Sequence[str],
                now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> CleanupReport:
    """Delete the plan's candidates after approval; every deletion checked on every node."""
    if not approved:
        raise InterlockError("the clean-up was not approved: nothing was deleted",
                             remedy="read the list above, then re-run with --approve (or click Approve).")
    started = now()
    fresh = read_inventory(cluster, keep=keep, now=started)
    deletions: list[Deletion] = []
    refused = list(plan.refused)
    for entry in plan.candidates:
        current = _current(fresh, entry.fingerprint)
        why = "no longer in any trust store" if current is None else refusal_reason(current)
        if current is None or why is not None:
            refused.append(Refusal(entry.fingerprint, entry.common_name, why or ""))
            continue
        deletions += _delete_everywhere(cluster, current)
    return CleanupReport(cluster=cluster.name, started=started.isoformat(), finished=now().isoformat(),
                         deletions=tuple(deletions), refused=tuple(refused))


def _current(inventory: TrustInventory, fingerprint: str) -> TrustEntry | None:
    try:
        return inventory.get(fingerprint)
    except KeyError:
        return None


def _delete_everywhere(cluster: TrustCluster, entry: TrustEntry) -> list[Deletion]:
    """Delete once per store (CUCM propagates), then node by node what is left; one Deletion per store."""
    nodes = {n.name: n for n in cluster.nodes}
    results = []
    for store in entry.stores:
        holders = [loc for loc in entry.locations if loc.store == store]
        first = holders[0]
        detail = _try_delete(nodes[first.node], store, first.filename)
        left = _holders(cluster, store, entry.fingerprint)
        for node_name, filename in left:       # node-local stores (or a node that did not follow)
            detail = _try_delete(nodes[node_name], store, filename) or detail
        still = tuple(sorted(name for name, _ in _holders(cluster, store, entry.fingerprint)))
        results.append(Deletion(fingerprint=entry.fingerprint, common_name=entry.common_name, store=store,
                                filename=first.filename, deleted_on=first.node, reasons=entry.stale,
                                outcome="failed" if still else "deleted", still_on=still, detail=detail))
    return results


def _try_delete(node: TrustNode, store: str, filename: str) -> str:
    try:
        node.delete_trust(store, filename)
    except CucmKitError as exc:
        return f"{node.name}: {exc}"
    return ""


def _holders(cluster: TrustCluster, store: str, fingerprint: str) -> list[tuple[str, str]]:
    """(node, filename) of every node whose ``store`` holds the certificate."""
    found = []
    for node in cluster.nodes:
        for record in node.trust_certificates(store):
            if record.fingerprint_sha256 == fingerprint:
                found.append((node.name, record.filename or ""))
    return found


def write_cleanup_evidence(report: CleanupReport, *, root: Path, ticket: str) -> Path:
    """``evidence/<cluster>/<ticket>/<stamp>-trust-cleanup.json``: every deletion with its fingerprint."""
    stamp = report.started[:19].replace("-", "").replace(":", "") + "Z"
    folder = root / "evidence" / report.cluster / ticket
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stamp}-trust-cleanup.json"
    body = {"kind": "trust-cleanup", "ok": report.ok, **asdict(report)}
    path.write_text(json.dumps(body, indent=2) + "\n")
    return path
