"""Display helpers for notebooks/trust-rotation.ipynb, the CA rotation runbook: one call per cell.

    book = open_rotation(globals())   # parameters, the new chain, the cluster; the plan shown
    book.approval()                   # approve=True, or an Approve button when interactive
    book.step("collisions")           # ... "partners", "stage", "renew", "verify", "retire"
    book.summary()                    # the state and the evidence file

A step that does not finish raises (blocked: InterlockError; waiting: WaitingError; failed: CucmKitError), so a
papermill run stops there; the state file makes the next run resume at that step. Evidence
(``evidence/<cluster>/<ticket>/<stamp>-trust-rotation.json``) is rewritten after every step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cucmkit.certs.intake import load_files
from cucmkit.display import approval_button
from cucmkit.display import markdown as _markdown
from cucmkit.errors import CucmError, InterlockError, ParameterError, WaitingError
from cucmkit.evidence.journal import Journal, who
from cucmkit.params import ClusterParams, from_notebook
from cucmkit.trust.partners import issue_probe
from cucmkit.trust.rotation import Rotation, write_rotation_evidence
from cucmkit.trust.rotation_command import plan_lines

__all__ = ["RotationBook", "open_rotation"]


class RotationBook:
    """The rotation runbook's state: the Rotation, the approval, the evidence stamp."""

    def __init__(self, *, params: ClusterParams, namespace: Mapping[str, Any], journal: Journal) -> None:
        from cucmkit.trust.engine import engine_renewer
        from cucmkit.wiring import make_ca, open_cluster, state_dir_for

        self.params = params
        self.journal = journal
        self.ticket = str(namespace.get("ticket") or "LAB")
        self._approved = bool(namespace.get("approve"))
        self.stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        self.cluster = open_cluster(params)
        state_dir = state_dir_for(params, namespace.get("state_dir"))
        backend = make_ca(params, namespace.get("ca") if isinstance(namespace.get("ca"), str) else None)
        self.rotation = Rotation(
            cluster=self.cluster, state_path=state_dir / params.cluster / "trust-rotation.json", ticket=self.ticket,
            new_chain=_chain(params, namespace.get("new_chain_file")), partners=params.partners,
            keep=params.trust.keep, retire=tuple(namespace.get("retire") or ()),
            renewer=engine_renewer(self.cluster, params, state_dir=state_dir, ticket=self.ticket, ca=backend),
            probe=lambda: issue_probe(backend, node=params.publisher.fqdn, domain=params.publisher.domain))

    def show_plan(self) -> None:
        done = [name for name, step in self.rotation.state.steps.items() if step.status == "done"]
        _markdown(f"### CA rotation of cluster **{self.params.cluster}**, ticket **{self.ticket}**, run by {who()}\n\n"
                  + "\n".join(f"- {line}" for line in plan_lines(self.rotation.plan()))
                  + (f"\n\nResuming: done already: {', '.join(done)}." if done else ""))

    def approval(self) -> None:
        if self._approved:
            self.journal.write("approval", approved=True, by=who(), how="parameter approve=True")
            _markdown(f"[APPROVED] by parameter (`approve=True`), run by {who()}.")
            return
        from cucmkit.notebook import is_interactive

        if is_interactive():
            self._approval_widget()
            return
        raise WaitingError("approval required: the rotation changes every trust store and re-issues identities; "
                           "stopped before any change", remedy="re-run with -p approve True once approved")

    def _approval_widget(self) -> None:
        def approve() -> str:
            self._approved = True
            self.journal.write("approval", approved=True, by=who(), how="button")
            return f"[APPROVED] by {who()}; run the next cells."

        approval_button("Approve the CA rotation", "Nothing changes until you click. Then run the next cells.", approve)

    def step(self, name: str) -> None:
        if not self._approved and name != "collisions":
            raise WaitingError("not approved yet: nothing was changed", remedy="click Approve, then run this cell")
        try:
            state = self.rotation.step(name)
        finally:
            write_rotation_evidence(self.rotation.state, root=self.params.root, stamp=self.stamp)
        self.journal.write("rotation-step", step=name, status=state.status)
        _markdown(f"**{name}**: {state.status}. {state.detail}")
        if state.status == "blocked":
            raise InterlockError(f"rotation {name}: {state.detail}", operation=f"rotation {name}")
        if state.status == "waiting":
            raise WaitingError(f"rotation {name}: {state.detail}", remedy="resolve it, then run this notebook again")
        if state.status != "done":
            raise CucmError(f"rotation {name} failed: {state.detail}", operation=f"rotation {name}")

    def summary(self) -> None:
        path = write_rotation_evidence(self.rotation.state, root=self.params.root, stamp=self.stamp)
        self.journal.write("end", status=self.rotation.state.status)
        _markdown("\n".join(f"- {name}: **{s.status}** {s.detail}" for name, s in self.rotation.state.steps.items())
                  + f"\n\nEvidence: `{path}`")


def _chain(params: ClusterParams, value: object) -> list[str]:
    if not value:
        raise ParameterError("no new_chain_file: the rotation needs the new CA certificates",
                             remedy="set new_chain_file to the new root and issuing CA (PEM, DER or p7b).")
    path = Path(str(value)).expanduser()
    return [c.pem for c in load_files([path if path.is_absolute() else params.root / path]).certificates]


def open_rotation(namespace: Mapping[str, Any]) -> RotationBook:
    """Read the ``parameters`` cell (``globals()``) and show the rotation plan."""
    journal_file = namespace.get("journal_file")
    journal = Journal(Path(journal_file) if journal_file else None)
    params = from_notebook(namespace)
    journal.write("open", cluster=params.cluster, purpose="trust-rotation", ticket=str(namespace.get("ticket") or ""),
                  run_by=who())
    book = RotationBook(params=params, namespace=namespace, journal=journal)
    book.show_plan()
    return book

