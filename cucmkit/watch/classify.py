"""Classify a fleet's certificates: pure, ``now`` passed in.

Each certificate becomes an ``Item``: expired, due within the cluster's
threshold, or fine (the same flag as ``cucmkit inventory``: its
``inventory_rows``); CA-signed or self-signed; for an identity, the runbook
that renews it and the exact ``cucmkit run`` command (from the catalogue); for a
trust certificate, whether anything in the cluster chains to it (the trust
inventory of ``cucmkit.trust.inventory``: signatures, ``trust.keep`` pins) and,
when an expired one can go, the ``cucmkit trust clean`` command.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from cucmkit import catalogue
from cucmkit.certs.records import CertRecord
from cucmkit.cucm.command import inventory_rows
from cucmkit.params import NodeParams
from cucmkit.trust.inventory import TrustEntry, build_inventory
from cucmkit.watch.model import ClusterResult, Item, Reach, Report, Status
from cucmkit.watch.scan import ClusterScan

__all__ = ["classify_cluster", "classify_fleet", "run_command", "clean_command", "TICKET_PLACEHOLDER"]

TICKET_PLACEHOLDER = "<TICKET>"
_FLAGS = {"EXPIRED": Status.EXPIRED, "EXPIRING": Status.DUE, "": Status.OK}


def run_command(purpose: str, parameters_file: str, ticket: str = TICKET_PLACEHOLDER) -> str:
    return f"cucmkit run {purpose} -f {parameters_file} --ticket {ticket}"


def clean_command(fingerprints: Sequence[str], parameters_file: str, ticket: str = TICKET_PLACEHOLDER) -> str:
    """``cucmkit trust clean`` for these trust certificates: it lists them and deletes only with --approve."""
    only = " ".join(f"--only {fp}" for fp in fingerprints)
    return f"cucmkit trust clean -f {parameters_file} {only} --ticket {ticket}"


# -- identities: what renews them -------------------------------------------------------------


def _in_scope(purpose: catalogue.Purpose, node: NodeParams | None) -> bool:
    """Whether the node needs a CA-signed certificate of this purpose (services not known here: [INF] for TVS)."""
    if node is None:
        return True
    rule = purpose.scope.rule
    return node.kind in rule.kinds and (not rule.publisher_only or node.role == "publisher")


class Advice(NamedTuple):
    """What renews an identity certificate: the runbook (notebook stem), what to do, the exact command."""

    runbook: str | None
    action: str
    command: str | None = None


def _identity_advice(record: CertRecord, node: NodeParams | None, parameters_file: str, ticket: str) -> Advice:
    try:
        purpose = catalogue.get(record.purpose or "")
    except ValueError:
        return Advice(None, f"unknown purpose {record.purpose!r}: renew it by hand")
    if not _in_scope(purpose, node) and purpose.self_signed_elsewhere is not None:
        return Advice(None, f"regenerate it self-signed: {purpose.name} is CA-signed on {purpose.scope.text}, "
                            "not on this node")
    if purpose.runbook is None:
        return Advice(None, f"no runbook renews {purpose.name}: plan it with cucmkit plan {purpose.name} "
                            f"-f {parameters_file}")
    return Advice(catalogue.runbook_for(purpose.name), f"renew with the {purpose.runbook.notebook} runbook",
                  run_command(purpose.name, parameters_file, ticket))


def _trust_advice(entry: TrustEntry, status: Status, parameters_file: str, ticket: str) -> Advice:
    """What to do about a trust certificate that is due or expired; "in use" knows the cluster's identities only."""
    store = ", ".join(entry.stores)
    if status is Status.OK:
        return Advice(None, "")
    if entry.in_use:
        if status is Status.EXPIRED:
            return Advice(None, "expired, yet certificates of this cluster chain to it: renew them under a current CA")
        return Advice(None, f"{len(entry.dependents)} certificate(s) of this cluster chain to it: put its successor "
                            f"in {store} and renew what it signed before it expires")
    if entry.kept:
        return Advice(None, "pinned in trust.keep (a peer needs it): get its successor from that peer")
    if status is Status.EXPIRED:
        return Advice(None, f"expired and nothing in the cluster chains to it: delete it from {store}",
                      clean_command([entry.fingerprint], parameters_file, ticket))
    return Advice(None, f"nothing in the cluster chains to it: unless a peer (LDAP, trunk, Expressway) presents a "
                        f"certificate it signed (then pin it in trust.keep), let it expire or delete it from {store}")


# -- items and clusters -------------------------------------------------------------------------


def _key(cluster: str, record: CertRecord) -> str:
    last = record.purpose if record.store == "own" else record.fingerprint_sha256
    return f"{cluster}|{record.node}|{record.store}|{last}"


def _item(scan: ClusterScan, record: CertRecord, row: Mapping[str, Any], trust: Mapping[str, TrustEntry],
          nodes: Mapping[str, NodeParams], ticket: str) -> Item:
    status = _FLAGS[row["flag"]]
    fields: dict[str, Any]
    if record.store == "own":
        advice = _identity_advice(record, nodes.get(record.node or ""), scan.parameters_file, ticket)
        flagged = status is not Status.OK
        fields = {"runbook": advice.runbook, "action": advice.action if flagged else "",
                  "command": advice.command if flagged else None}
    else:
        entry = trust[record.fingerprint_sha256]
        advice = _trust_advice(entry, status, scan.parameters_file, ticket)
        fields = {"unused": not entry.in_use, "action": advice.action, "command": advice.command}
    return Item(key=_key(scan.name, record), cluster=scan.name, node=record.node or "",
                kind="identity" if record.store == "own" else "trust", store=record.store, purpose=record.purpose,
                filename=record.filename, common_name=record.common_name, issuer=record.issuer,
                serial=row["serial"], fingerprint_sha256=record.fingerprint_sha256, not_after=record.not_after,
                days_left=row["days_left"], status=status, ca_signed=not record.self_signed, **fields)


def _reach(scan: ClusterScan) -> Reach:
    if not scan.node_errors:
        return Reach.UP
    return Reach.UNREACHABLE if len(scan.node_errors) >= len(scan.params.nodes) else Reach.PARTIAL


def _commands(items: Sequence[Item], parameters_file: str, ticket: str) -> tuple[str, ...]:
    """One command per purpose due, in the catalogue's safe order of runbooks; then one trust clean-up."""
    wanted = {i.purpose: i.command for i in items if i.command and i.purpose and i.kind == "identity"}
    runs = tuple(wanted[p] for p in sorted(wanted, key=_runbook_rank))
    gone = sorted({i.fingerprint_sha256 for i in items if i.command and i.kind == "trust"})
    return runs + ((clean_command(gone, parameters_file, ticket),) if gone else ())


def _runbook_rank(name: str) -> tuple[int, str]:
    runbook = catalogue.get(name).runbook
    return (runbook.order if runbook is not None else 10**6), name


def classify_cluster(scan: ClusterScan, *, now: dt.datetime, threshold: int | None = None,
                     ticket: str = TICKET_PLACEHOLDER) -> tuple[ClusterResult, list[Item]]:
    """One cluster's result and items; ``threshold`` (days) overrides the parameter file's."""
    days = scan.params.expiry_threshold_days if threshold is None else threshold
    rows = inventory_rows(scan.records, now=now, threshold=days)
    inventory = build_inventory(scan.records, keep=scan.params.trust.keep, now=now)
    trust = {entry.fingerprint: entry for entry in inventory.entries}
    nodes = {n.fqdn: n for n in scan.params.nodes}
    items = [_item(scan, r, row, trust, nodes, ticket) for r, row in zip(scan.records, rows, strict=True)]
    reach = _reach(scan)
    error = next(iter(scan.node_errors.values())) if reach is Reach.UNREACHABLE else None
    result = ClusterResult(
        name=scan.name, parameters_file=scan.parameters_file, threshold_days=days, reach=reach, error=error,
        node_errors=dict(scan.node_errors) if reach is Reach.PARTIAL else {},
        expired=sum(i.status is Status.EXPIRED for i in items), due=sum(i.status is Status.DUE for i in items),
        ok=sum(i.status is Status.OK for i in items), commands=_commands(items, scan.parameters_file, ticket))
    return result, items


def classify_fleet(scans: Sequence[ClusterScan], *, now: dt.datetime, threshold: int | None = None,
                   ticket: str = TICKET_PLACEHOLDER) -> Report:
    """The fleet report (without ``since``): every cluster, reachable or not, in the order given."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    clusters, items = [], []
    for scan in scans:
        result, found = classify_cluster(scan, now=now, threshold=threshold, ticket=ticket)
        clusters.append(result)
        items += found
    return Report(generated_at=now, clusters=tuple(clusters), items=tuple(items))
