"""Display helpers for notebooks/trust.ipynb: one call per cell, all logic in ``cucmkit.trust``.

    book = open_trust(globals())   # parameters -> cluster; banner
    book.certificates()            # every trust certificate, stale ones highlighted
    book.plot()                    # CA validity against the identities that depend on it
    book.stale()                   # what the clean-up would delete, and what it refuses
    book.approval()                # approve=True, or an Approve button when interactive
    book.clean()                   # delete (after approval), check every node, evidence JSON
    book.rotation_plan()           # with new_chain_file: the rotation plan, collisions first
    book.partners()                # with new_chain_file: per-partner files and paste instructions

Under papermill nothing blocks: without ``approve=True`` the clean-up cell stops with WaitingError before
anything changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from cucmkit.display import approval_button
from cucmkit.display import markdown as _markdown
from cucmkit.display import png as _display_png
from cucmkit.display import show as _display
from cucmkit.errors import WaitingError
from cucmkit.evidence.journal import Journal, who
from cucmkit.params import ClusterParams, from_notebook
from cucmkit.tables import styled
from cucmkit.trust.cleanup import CleanupPlan, plan_cleanup, read_inventory, run_cleanup, write_cleanup_evidence
from cucmkit.trust.inventory import TrustInventory
from cucmkit.trust.plot import ca_expiry_png

__all__ = ["TrustBook", "open_trust", "trust_frame"]


def trust_frame(inventory: TrustInventory) -> pd.DataFrame:
    """One row per trust certificate (the notebook's table)."""
    rows = [{"common name": e.common_name, "stores": ", ".join(e.stores),
             "nodes": len({loc.node for loc in e.locations}), "serial": e.serial, "ski": (e.ski or "")[:16],
             "expires": e.not_after, "days left": e.days_left(inventory.taken), "chained": len(e.dependents),
             "stale": ", ".join(e.stale), "sha256": e.fingerprint[:16]} for e in inventory.entries]
    return pd.DataFrame(rows)


class TrustBook:
    """The trust notebook's state: parameters, the cluster, the inventory read once, the approval."""

    def __init__(self, *, params: ClusterParams, namespace: Mapping[str, Any], journal: Journal) -> None:
        from cucmkit.cucm import Cluster

        self.params = params
        self.cluster = Cluster.from_parameters(params)
        self.ticket = str(namespace.get("ticket") or "LAB")
        self.new_chain_file = namespace.get("new_chain_file") or None
        self.journal = journal
        self._approved = bool(namespace.get("approve"))
        self._inventory: TrustInventory | None = None
        self._plan: CleanupPlan | None = None

    def inventory(self) -> TrustInventory:
        if self._inventory is None:
            self._inventory = read_inventory(self.cluster, keep=self.params.trust.keep, now=dt.datetime.now(dt.UTC))
        return self._inventory

    def banner(self) -> None:
        _markdown(f"### Trust stores of cluster **{self.params.cluster}**\n\nTicket **{self.ticket}**, run by "
                  f"{who()}. Only the clean-up cell changes anything, and only after approval.")

    def certificates(self) -> None:
        inventory = self.inventory()
        _markdown(f"**{len(inventory.entries)} trust certificates**, {len(inventory.stale())} stale, "
                  f"{len(inventory.identities)} identities chained")
        _display(styled(trust_frame(inventory), dates=("expires",), days="days left", threshold=0))

    def plot(self) -> None:
        _display_png(ca_expiry_png(self.inventory()))

    def stale(self) -> None:
        self._plan = plan_cleanup(self.inventory())
        self.journal.write("trust-stale", candidates=[e.fingerprint for e in self._plan.candidates])
        _markdown("**The clean-up would delete:**\n\n" + "\n".join(f"- {line}" for line in self._plan.lines()))

    def approval(self) -> None:
        if self._approved:
            self.journal.write("approval", approved=True, by=who(), how="parameter approve=True")
            _markdown(f"[APPROVED] by parameter (`approve=True`), run by {who()}.")
            return
        from cucmkit.notebook import is_interactive

        if is_interactive():
            self._approval_widget()
            return
        _markdown("Not approved: the clean-up cell will stop before deleting anything.")

    def _approval_widget(self) -> None:
        def approve() -> str:
            self._approved = True
            self.journal.write("approval", approved=True, by=who(), how="button")
            return f"[APPROVED] by {who()}; run the next cell."

        approval_button("Approve the trust clean-up", "Nothing is deleted until you click. Then run the next cell.", approve)

    def clean(self) -> None:
        plan = self._plan or plan_cleanup(self.inventory())
        if not plan.candidates:
            _markdown("Nothing stale to delete.")
            return
        if not self._approved:
            raise WaitingError("the trust clean-up is not approved: nothing was deleted",
                               remedy="click Approve (or run with -p approve True), then run this cell again")
        report = run_cleanup(self.cluster, plan, approved=True, keep=self.params.trust.keep)
        path = write_cleanup_evidence(report, root=self.params.root, ticket=self.ticket)
        self.journal.write("trust-clean", deletions=[{"fingerprint": d.fingerprint, "store": d.store,
                                                      "outcome": d.outcome} for d in report.deletions])
        self._inventory = None
        _markdown("\n".join(f"- **{d.outcome}** {d.common_name} from {d.store} (sha256 `{d.fingerprint}`)"
                            for d in report.deletions) + f"\n\nEvidence: `{path}`")

    def rotation_plan(self) -> None:
        if not self.new_chain_file:
            _markdown("No `new_chain_file`: no rotation planned.")
            return
        from cucmkit.trust.rotation import plan_rotation
        from cucmkit.trust.rotation_command import plan_lines

        plan = plan_rotation(self.inventory(), self._chain())
        _markdown("\n".join(f"- {line}" for line in plan_lines(plan)) +
                  "\n\nRun it with `cucmkit trust rotate -f <parameters> --chain <file> --ticket <change> --approve`.")

    def partners(self) -> None:
        if not self.new_chain_file or not self.params.partners:
            _markdown("No `new_chain_file` or no partners in the parameter file: nothing to export.")
            return
        from cucmkit.trust.partners import export_partner_files

        out = self.params.root / "partner-chain" / self.params.cluster
        for partner in self.params.partners:
            done = export_partner_files(partner, self._chain(), out / partner.name)
            _markdown(f"**{done.title}** `{partner.name}`: `{done.bundle}`\n\n" +
                      "\n".join(f"{n}. {step}" for n, step in enumerate(done.instructions, start=1)))

    def _chain(self) -> list[str]:
        from cucmkit.certs.intake import load_files

        path = Path(str(self.new_chain_file))
        return [c.pem for c in load_files([path if path.is_absolute() else self.params.root / path]).certificates]


def open_trust(namespace: Mapping[str, Any]) -> TrustBook:
    """Read the ``parameters`` cell (``globals()``) and return the trust book (banner shown)."""
    journal_file = namespace.get("journal_file")
    journal = Journal(Path(journal_file) if journal_file else None)
    params = from_notebook(namespace)
    journal.write("open", cluster=params.cluster, purpose="trust", ticket=str(namespace.get("ticket") or ""),
                  run_by=who())
    book = TrustBook(params=params, namespace=namespace, journal=journal)
    book.banner()
    return book

