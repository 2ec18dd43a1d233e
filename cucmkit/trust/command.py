"""``cucmkit trust list|stale|clean``: the trust inventory and the stale-trust clean-up from the command line.

    cucmkit trust list  -f PARAMS [--json]
    cucmkit trust stale -f PARAMS [--json]
    cucmkit trust clean -f PARAMS [--only SHA256 ...] [--approve] [--ticket T]

``clean`` always prints the list first; without ``--approve`` it stops there (exit 3, nothing deleted).
``export``, ``partners`` and ``rotate`` are registered from their own modules.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from typing import Any

from cucmkit.errors import CucmKitError
from cucmkit.params import ClusterParams, load_parameters
from cucmkit.trust.cleanup import CleanupReport, plan_cleanup, read_inventory, run_cleanup, write_cleanup_evidence
from cucmkit.trust.inventory import TrustEntry, TrustInventory

__all__ = ["register_trust", "inventory_lines", "NOT_APPROVED"]

NOT_APPROVED = 3   # exit status: the list was shown, nothing changed, approval missing


def register_trust(trust_sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the trust lifecycle actions to the ``trust`` command group."""
    listing = _with_params(trust_sub.add_parser("list", help="every trust certificate: key ids, validity, "
                                                "which identities chain to it, stale reasons"))
    listing.add_argument("--json", action="store_true", help="one JSON array of entries")
    listing.set_defaults(func=lambda a: _show(a, stale_only=False))
    stale = _with_params(trust_sub.add_parser("stale", help="only the stale trust certificates and why"))
    stale.add_argument("--json", action="store_true", help="one JSON array of entries")
    stale.set_defaults(func=lambda a: _show(a, stale_only=True))
    clean = _with_params(trust_sub.add_parser("clean", help="delete stale trust certificates nothing chains to "
                                              "(shows the list; deletes only with --approve)"))
    clean.add_argument("--only", action="append", default=[], metavar="SHA256",
                       help="only this certificate (repeatable); one still in use is refused")
    clean.add_argument("--approve", action="store_true", help="delete what the list shows")
    clean.add_argument("--ticket", default="no-ticket", help="evidence folder name (default: no-ticket)")
    clean.set_defaults(func=_clean)
    from cucmkit.trust.rotation_command import register_rotation

    register_rotation(trust_sub)


def _with_params(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("-f", "--parameters", required=True, metavar="PARAMS", help="cluster parameter file (YAML)")
    return parser


def _fail(exc: CucmKitError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 1


def _with_cluster(args: argparse.Namespace, work: Callable[[ClusterParams, Any], int]) -> int:
    from cucmkit.cucm.node import Cluster

    try:
        params = load_parameters(args.parameters)
        with Cluster.from_parameters(params) as cluster:
            return work(params, cluster)
    except CucmKitError as exc:
        return _fail(exc)


def _show(args: argparse.Namespace, *, stale_only: bool) -> int:
    def work(params: ClusterParams, cluster: Any) -> int:
        inventory = read_inventory(cluster, keep=params.trust.keep, now=dt.datetime.now(dt.UTC))
        entries = inventory.stale() if stale_only else inventory.entries
        if args.json:
            json.dump([e.row(inventory.taken) for e in entries], sys.stdout, indent=2)
            print()
        else:
            print("\n".join(inventory_lines(inventory, entries)))
        return 0
    return _with_cluster(args, work)


def inventory_lines(inventory: TrustInventory, entries: tuple[TrustEntry, ...]) -> list[str]:
    """A readable listing: one block per certificate."""
    lines = []
    for e in entries:
        state = ", ".join(e.stale) or "ok"
        lines += [f"{e.common_name}  [{state}{', IN USE' if e.in_use else ''}{', kept' if e.kept else ''}]",
                  f"    subject  {e.subject}", f"    issuer   {e.issuer}",
                  f"    serial   {e.serial}   ski {e.ski or '-'}   aki {e.aki or '-'}",
                  f"    valid    {e.not_before:%Y-%m-%d} .. {e.not_after:%Y-%m-%d} "
                  f"({e.days_left(inventory.taken):.0f} days left)",
                  f"    sha256   {e.fingerprint}",
                  f"    stores   {', '.join(e.stores)} on {len({loc.node for loc in e.locations})} node(s)",
                  f"    chained  {len(e.dependents)} identity certificate(s)"
                  + (": " + ", ".join(sorted({f'{d.node.split(".")[0]}/{d.unit}' for d in e.dependents}))
                     if e.dependents else "")]
        if e.superseded_by:
            lines.append(f"    newer    {e.superseded_by}")
    stale = sum(1 for e in entries if e.stale)
    lines.append(f"\n{len(entries)} trust certificate(s); {stale} stale; "
                 f"{sum(1 for e in entries if e.deletable)} deletable (cucmkit trust clean).")
    return lines


def _clean(args: argparse.Namespace) -> int:
    def work(params: ClusterParams, cluster: Any) -> int:
        inventory = read_inventory(cluster, keep=params.trust.keep, now=dt.datetime.now(dt.UTC))
        plan = plan_cleanup(inventory, only=args.only)
        print("\n".join(plan.lines()))
        if not plan.candidates:
            return 1 if plan.refused else 0
        if not args.approve:
            print("\nNothing deleted: re-run with --approve to delete the certificates listed above.",
                  file=sys.stderr)
            return NOT_APPROVED
        report = run_cleanup(cluster, plan, approved=True, keep=params.trust.keep)
        path = write_cleanup_evidence(report, root=params.root, ticket=args.ticket)
        _print_report(report)
        print(f"evidence: {path}")
        return 0 if report.ok and not report.refused else 1
    return _with_cluster(args, work)


def _print_report(report: CleanupReport) -> None:
    for d in report.deletions:
        where = f"still on {', '.join(d.still_on)}" if d.still_on else "gone from every node"
        print(f"{d.outcome.upper()} {d.common_name} from {d.store} (sha256 {d.fingerprint}): {where}")
    for r in report.refused:
        print(f"REFUSED {r.common_name} (sha256 {r.fingerprint}): {r.reason}")
