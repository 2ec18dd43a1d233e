"""The runbook notebooks, generated from the purpose catalogue (without outputs).

Every notebook: markdown that explains the purpose's impact, risk and each
step's warning (PROCEDURE.md), exactly one cell tagged ``parameters`` whose
defaults point at the lab, and step cells that each make one cucmkit call.
Which notebooks exist, their variants, scope text, warnings and order all come
from the catalogue (``catalogue.runbooks()``): this module names no purpose.

``scripts/make_notebooks.py`` writes them to notebooks/ (``--check`` compares);
``cucmkit run`` executes a pristine copy built here (``notebook_text``), so an
interactively edited notebooks/*.ipynb never leaks into batch evidence.
``same_notebook`` compares two notebook texts ignoring what a front end rewrites
on open (kernelspec, language_info, cell ids, outputs and execution counts).
"""

from __future__ import annotations

import json
from typing import Any

import nbformat

from cucmkit import catalogue
from cucmkit.ca import registry as ca_registry
from cucmkit.catalogue import Purpose, Restart

__all__ = ["build", "runbook_notebook", "inventory_notebook", "trust_notebook", "rotation_notebook", "watch_notebook",
           "notebook_text", "same_notebook"]

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def _ca_choices() -> str:
    """The registered CA back-ends as the parameters cell names them: ``"lab", "manual" or "adcs"``."""
    names = [f'"{kind}"' for kind in ca_registry.kinds()]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def _parameters_cell(purpose: str, extra: str = "") -> nbformat.NotebookNode:
    source = f'''# Parameters: papermill replaces these. `-f parameters/<cluster>.yaml` injects the cluster's keys;
# `cucmkit run` injects only parameters_file and the run options. Secrets are never parameters:
# the parameter file holds references ({{env: ..}}, {{file: ..}}, {{keyring: ..}}) resolved in this kernel.
parameters_file = "parameters/lab.yaml"
cluster = None
nodes = None
credentials = None
tls = None
ssh = None
timeouts = None
retries = None
maintenance_window = None
registration = None
expiry_threshold_days = None
extra_sans = None              # extra SAN entries per purpose (the parameter file's extra_sans)
multi_server = None            # purposes renewed as one multi-server certificate (the parameter file's list)
purpose = "{purpose}"
ticket = "LAB-CHANGE"          # the change ticket this run belongs to
ca = "lab"                     # CA back-end: {_ca_choices()} (None: the parameter file's)
approve = False                # True approves the steps that change the cluster
dry_run = False                # True: plan and pre-check only, change nothing
state_dir = ".cucmkit-state"   # the renewal engine's ledger, lock and phone gate
journal_file = None            # set by `cucmkit run` (the evidence journal)
approver = None                # the named approver recorded beside the OS user (`cucmkit run --approver`)
override_window = None         # a reason: restart outside the maintenance window (recorded)
renew_nodes = []               # renew these nodes even if not due (`cucmkit run --nodes`)
force_csr = False              # regenerate CSRs even if one was submitted to the CA''' + extra
    cell: nbformat.NotebookNode = nbformat.v4.new_code_cell(source)  # type: ignore[no-untyped-call]
    cell.metadata["tags"] = ["parameters"]
    return cell


_RENEWAL_PARAMETERS = '''
renew_as = None                # "multi-server" | "per-node" (`cucmkit run --multi-server | --per-node`); None: multi_server
overrides = {}                 # check -> recorded reason (`cucmkit run --override convert_multi_server=...`)'''


def _step(name: str, source: str) -> nbformat.NotebookNode:
    cell: nbformat.NotebookNode = nbformat.v4.new_code_cell(source)  # type: ignore[no-untyped-call]
    cell.metadata["tags"] = [f"step-{name}"]
    return cell


def _md(text: str) -> nbformat.NotebookNode:
    cell: nbformat.NotebookNode = nbformat.v4.new_markdown_cell(text.strip())  # type: ignore[no-untyped-call]
    return cell


def _conflicts() -> str:
    """The pairs of runbook purposes that must never be in flight together, as text ("A and B; C and D")."""
    return "; ".join(f"{a} and {b}" for a, b in catalogue.conflict_pairs()) or "conflicting purposes"


def _intro(p: Purpose) -> str:
    lines = [f"# Renew the CA-signed `{p.name}` certificate",
             "",
             f"Holders: {p.scope.text}. Trust store: `{p.trust_store}`. "
             f"Risk: **{p.risk.value.upper()}**. Window: **{p.window}**.",
             ""]
    for variant in catalogue.variants(p):
        lines += [f"The ECDSA variant runs from this same notebook: set `purpose = \"{variant.name}\"` "
                  f"(`cucmkit run {variant.name} ...`).", ""]
    lines += ["## Business impact if it expires or the renewal goes wrong", *[f"- {i}" for i in p.impact], ""]
    if p.notes:
        lines += ["## Read before you start", *[f"- {n}" for n in p.notes], ""]
    lines += ["## How this runbook works",
              "Each step cell makes one cucmkit call and shows its result as a table. Steps before the "
              "approval only read. Every step is recorded in the renewal ledger, so running the notebook "
              "again after a stop resumes where it stopped; it never regenerates a CSR the CA is already "
              "working on. Under `cucmkit run` the executed notebook, its HTML, a result record and a "
              "manifest become the ticket's evidence."]
    return "\n".join(lines)


def _prechecks_text(p: Purpose) -> str:
    lines = ["## Pre-checks and interlocks",
             f"One run per cluster (a lock), the maintenance window, {_conflicts()} never in flight "
             "together (the phone gate)."]
    lines += [f"- {check.runbook_text}" for check in p.prechecks_facts()]
    if p.ctl_update_in_mixed_mode:
        lines.append("- Cluster security mode is read (Enterprise Parameters > Cluster Security Mode): in mixed "
                     "mode (1) the CTL is updated before the services restart.")
    lines.append("A failed pre-check stops the run here (a dry run only reports it).")
    return "\n".join(lines)


def _distribution_text(p: Purpose) -> str:
    """For purposes CUCM can issue as one multi-server certificate: how the run chooses, and the conversion rule."""
    if not p.multi_server:
        return ""
    return (f"\n\n**Multi-server or per node.** `{p.name}` can be one multi-server certificate (one CSR on "
            "the first node with every node's FQDN in the SAN, one CA request, one upload; CUCM distributes it) or "
            f"one per node. The parameter file decides: `multi_server: [{p.name}]` renews it multi-server, otherwise "
            "per node (`cucmkit run --multi-server | --per-node` overrides it for one run). The plan, the approval "
            "and the evidence say which. When the choice differs from what the cluster has today the pre-checks "
            "refuse: converting is confirmed explicitly (`--override convert_multi_server=\"<reason>\"`, recorded). "
            "A run started one way is never resumed the other way.")


def _restart_line(r: Restart) -> str:
    what = f"`{r.command}`" if r.command else f"`{r.service}`" + (" (from the CLI)" if r.via == "cli" else "")
    return f"- {what} on {r.where.text}" + (f": {r.why}" if r.why else "")


def _activate_text(p: Purpose) -> str:
    lines = ["## Activate: restart the services that use the certificate",
             "Only where the service is activated and running, and only those of the cluster's release "
             "(the plan names the version and why each restart is there):"]
    lines += [_restart_line(r) for r in p.restarts]
    lines += [f"- {text}" for text in (p.runbook.activate_warnings if p.runbook else ())]
    if p.ctl_update_in_mixed_mode:
        lines.append("- **Warning:** In mixed mode the CTL file is updated (`utils ctl update CTLFile`) **before** the restarts.")
    lines.append("A progress bar shows the wait; the deadline is `timeouts.restart` of the parameter file.")
    return "\n".join(lines)


def _phones_text(p: Purpose) -> str:
    if not p.resets_phones:
        return f"## Phones\n{p.name} does not reset phones: this step only confirms there is nothing to wait for."
    lines = ["## Phones: reset all devices and watch them re-register",
             "- **Warning:** Enterprise Parameters > Reset: **every device in the cluster is reset**; this cannot be undone.",
             "- The run waits (RisPort70, at most 15 requests a minute) until the registered count is back to the "
             "baseline taken before the change, within `registration.tolerance`; a plot shows the recovery.",
             "- Move on to the next certificate type only once all phones are back."]
    lines += [f"- {text}" for text in (p.runbook.phones_warnings if p.runbook else ())]
    return "\n".join(lines)


def _runbook_cells(p: Purpose) -> list[nbformat.NotebookNode]:
    trust = p.trust_store
    return [
        _md(_intro(p)),
        _parameters_cell(p.name, _RENEWAL_PARAMETERS),
        _md("## 1. Open the run\nReads the parameter file (secrets stay references until a client needs them) "
            "and shows the purpose's impact and risk."),
        _step("open", "from cucmkit import notebook\n\nbook = notebook.open_runbook(globals())"),
        _md(f"## 2. The `{p.name}` certificates now\nEvery holder's installed certificate, its expiry and days "
            "left; the fingerprints go into the evidence as *before*."),
        _step("inventory-before", 'book.inventory("before")'),
        _md("## 3. Plan\nWhich nodes are due (or named), which get self-signed regeneration, and every step in order."
            + _distribution_text(p)),
        _step("plan", "book.plan()"),
        _md(_prechecks_text(p)),
        _step("prechecks", "book.prechecks()"),
        _md(f"## 4. Approval\n**Warning:** From here on the cluster changes (risk **{p.risk.value.upper()}**, window: "
            f"{p.window}). Interactively, click **Approve**; under papermill pass `approve=True` "
            "(`cucmkit run ... --approve`). Without approval the run stops here, before any change."),
        _step("approval", "book.approval()"),
        _md("## 5. Generate the CSRs\n**Warning:** One CSR per node per purpose: generating a new CSR **replaces the pending "
            "one** and silently invalidates any certificate the CA is already issuing from it. The kit never "
            "regenerates a CSR that was already submitted."),
        _step("csr", "book.csr()"),
        _md("## 6. The CA\nEach CSR goes to the CA; what it returns is collected. With the **manual** flow the "
            "CSRs are written to the outbox folder: have them signed, drop the files into the inbox (or upload "
            "them here when interactive) and run this cell again. The run stops as *waiting* until then."),
        _step("ca", "book.ca()"),
        _md(f"## 7. Install\nWhat the CA returned is validated first (key usages, chain, SANs equal to the CSR, "
            f"not expired, no wildcard). Then, per node: the **root** and the **intermediates** as `{trust}`, then "
            f"the CA-signed certificate as `{p.name}`.\n- [!] Order matters: CUCM refuses the identity with "
            f"*{catalogue.MESSAGES.ca_not_in_trust}* when the chain is missing.\n- CUCM keeps one trust "
            "certificate per CN: never upload an expired one; an older one does not replace a newer one."),
        _step("install", "book.install()"),
        _md(_activate_text(p)),
        _step("activate", "book.activate()"),
        _md(_phones_text(p)),
        _step("phones", "book.phones()"),
        _md(f"## 8. The `{p.name}` certificates after\nThe fingerprints go into the evidence as *after*."),
        _step("inventory-after", 'book.inventory("after")'),
        _md("## 9. Summary\nEvery step with its times and outcome, from the engine's ledger, and the reminders "
            "(re-enable SSO, take a fresh DRS backup, ...)."),
        _step("summary", "book.summary()"),
    ]


def _inventory_cells() -> list[nbformat.NotebookNode]:
    order = " → ".join(catalogue.runbook_order())
    return [
        _md("# Certificate inventory\nEvery certificate of the cluster (identities and trust stores), its expiry "
            "and days left, an expiry timeline, and what is due. Read-only: nothing on the cluster changes.\n\n"
            f"Renew what is due one purpose at a time, in the safe order: {order} ({_conflicts()} never "
            "together; each phone-affecting purpose waits for all phones to re-register)."),
        _parameters_cell("inventory"),
        _md("## 1. Open the run"),
        _step("open", "from cucmkit import notebook\n\nbook = notebook.open_inventory(globals())"),
        _md("## 2. Every certificate"),
        _step("certificates", "book.certificates()"),
        _md("## 3. Expiry timeline\nRed: expires within the parameter file's `expiry_threshold_days`."),
        _step("timeline", "book.timeline()"),
        _md("## 4. What is due"),
        _step("due", "book.due()"),
    ]


_TRUST_PARAMETERS = '''
new_chain_file = None          # the new CA certificates (PEM, DER or p7b) for a rotation plan and partner files'''


def _trust_cells() -> list[nbformat.NotebookNode]:
    return [
        _md("# Trust stores\nEvery trust certificate of every store on every node: key ids, validity, which "
            "identity certificates chain to it, and why it may be stale (expired; superseded by a newer key with "
            "the same CN; orphaned: nothing chains to it and `trust.keep` does not pin it). Then the clean-up, "
            "after approval, and with `new_chain_file` the CA rotation plan and the partners' files. "
            "See docs/trust.md."),
        _parameters_cell("trust", _TRUST_PARAMETERS),
        _md("## 1. Open the run"),
        _step("open", "from cucmkit.trust.book import open_trust\n\nbook = open_trust(globals())"),
        _md("## 2. Every trust certificate"),
        _step("certificates", "book.certificates()"),
        _md("## 3. CA expiry against the identities that depend on it\nBars: each CA's validity (grey: stale). "
            "Dots: the identities chained to it; red when the identity outlives its CA."),
        _step("plot", "book.plot()"),
        _md("## 4. Stale trust certificates\nNever one an identity still chains to, never one pinned in "
            "`trust.keep`."),
        _step("stale", "book.stale()"),
        _md("## 5. Approval\nThe next cell deletes the certificates listed above (CUCM removes each from every "
            "node since 11.0; the kit checks every node afterwards and records each deletion with its fingerprint)."),
        _step("approval", "book.approval()"),
        _step("clean", "book.clean()"),
        _md("## 6. CA rotation plan\nCollisions first: a new CA with the CN of one still in use is refused."),
        _step("rotation", "book.rotation_plan()"),
        _md("## 7. Partners\nThe files each partner needs, and what to paste where."),
        _step("partners", "book.partners()"),
    ]


_ROTATION_PARAMETERS = '''
new_chain_file = "new-ca.pem"  # the new root and/or issuing CA (PEM, DER or p7b), relative to the project root
retire = None                  # SHA-256 of the old CA certificates (None: every CA an identity chains to today)'''

_ROTATION_STEPS = (
    ("collisions", "CUCM keeps one trust certificate per CN per store and replaces it only with a newer one: a new CA "
     "with the CN of one that identities still chain to would strand them. Refused here, before any change."),
    ("partners", "Each partner in the parameter file is shown a probe certificate from the new CA. One that refuses "
     "it would break as soon as CUCM serves the new chain: the rotation stops before CUCM changes."),
    ("stage", "The new root and issuing CA go into every trust store that needs them, on every node, BEFORE any "
     "identity is issued from them."),
    ("renew", "Each purpose chained to the old CA is renewed by the renewal engine, one at a time, in the runbook "
     "order, only where needed (the engine's pre-checks, interlocks and phone gates apply)."),
    ("verify", "Nothing chains to the old CA any more."),
    ("retire", "The old CA certificates are deleted (cluster-wide, checked on every node) now that nothing depends "
     "on them."),
)


def _rotation_cells() -> list[nbformat.NotebookNode]:
    cells = [
        _md("# CA rotation\nReplace the CA that signs the cluster's certificates as a plan: collisions refused first, "
            "partners checked, the new chain staged before any identity is issued from it, the purposes renewed in "
            "the safe order, the old CA removed only when nothing depends on it. Resumable: a run that stopped "
            "resumes at the step that did not finish. See docs/trust.md."),
        _parameters_cell("trust-rotation", _ROTATION_PARAMETERS),
        _md("## 1. Open the run and show the plan"),
        _step("open", "from cucmkit.trust.rotation_book import open_rotation\n\nbook = open_rotation(globals())"),
        _md("## 2. Approval\nEvery step below changes the cluster except the collision check."),
        _step("approval", "book.approval()"),
    ]
    for number, (name, why) in enumerate(_ROTATION_STEPS, start=3):
        cells += [_md(f"## {number}. {name.capitalize()}\n{why}"), _step(name, f'book.step("{name}")')]
    return cells + [_md("## 9. Summary and evidence"), _step("summary", "book.summary()")]


def rotation_notebook() -> nbformat.NotebookNode:
    nb = _notebook(_rotation_cells())
    nbformat.validate(nb)
    return nb


def trust_notebook() -> nbformat.NotebookNode:
    nb = _notebook(_trust_cells())
    nbformat.validate(nb)
    return nb


def _watch_cells() -> list[nbformat.NotebookNode]:
    parameters: nbformat.NotebookNode = nbformat.v4.new_code_cell(  # type: ignore[no-untyped-call]
        '# Parameters: papermill replaces these. Each entry is a cluster parameter file or a folder of them.\n'
        'parameters_files = ["parameters/lab.yaml"]\n'
        'threshold_days = None        # None: each parameter file\'s expiry_threshold_days\n'
        'ticket = "<TICKET>"          # what the cucmkit run commands name after --ticket\n'
        'since = None                 # an earlier watch.json (cucmkit watch --out DIR) to compare with')
    parameters.metadata["tags"] = ["parameters"]
    return [
        _md("# Expiry watch\nThe same scan, classification, tables and timeline as `cucmkit watch`, for every "
            "cluster named below: what is expired, what is due within the threshold, CA-signed or self-signed, "
            "which runbook renews it, and trust certificates nothing in the cluster chains to. Read-only. "
            "For the scheduled run (report files, e-mail, Prometheus) see docs/watch.md."),
        parameters,
        _md("## 1. Scan every cluster\nEvery cluster is read at once; a cluster that does not answer is listed "
            "with its error, never dropped."),
        _step("scan", "from cucmkit.watch import book\n\nreport = book.scan(globals())"),
        _md("## 2. Per cluster"),
        _step("clusters", "book.clusters(report)"),
        _md("## 3. Timeline of what is due\nOrange: due within the threshold (dotted line); red: expired."),
        _step("timeline", "book.timeline(report)"),
        _md("## 4. Due and expired"),
        _step("due", "book.due(report)"),
        _md("## 5. The commands\nOne per cluster and purpose due, in the safe order. Run one at a time."),
        _step("commands", "book.commands(report)"),
        _md("## 6. Every certificate"),
        _step("everything", "book.everything(report)"),
    ]


def watch_notebook() -> nbformat.NotebookNode:
    nb = _notebook(_watch_cells())
    nbformat.validate(nb)
    return nb


def _notebook(cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    nb: nbformat.NotebookNode = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.cells = cells
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index:02d}"   # stable ids: regenerating gives the same file
    return nb


def runbook_notebook(purpose: Purpose) -> nbformat.NotebookNode:
    """The runbook notebook of ``purpose`` (one with its own ``runbook`` in the catalogue), validated."""
    nb = _notebook(_runbook_cells(purpose))
    nbformat.validate(nb)
    return nb


def inventory_notebook() -> nbformat.NotebookNode:
    nb = _notebook(_inventory_cells())
    nbformat.validate(nb)
    return nb


def build() -> dict[str, str]:
    """File name -> notebook JSON text: the inventory, trust, rotation and watch notebooks and one runbook per
    ``catalogue.runbooks()`` entry."""
    books = {"inventory.ipynb": inventory_notebook(), "trust.ipynb": trust_notebook(),
             "trust-rotation.ipynb": rotation_notebook(), "watch.ipynb": watch_notebook()}
    for purpose in catalogue.runbooks():
        books[f"{catalogue.runbook_for(purpose.name)}.ipynb"] = runbook_notebook(purpose)
    return {name: str(nbformat.writes(nb)) + "\n" for name, nb in books.items()}  # type: ignore[no-untyped-call]


def notebook_text(name: str) -> str:
    """The pristine text of ``<name>.ipynb`` (``inventory``, or a catalogue runbook name); KeyError if none."""
    return build()[f"{name}.ipynb"]


_FRONT_END_KEYS = ("kernelspec", "language_info", "widgets")


def _essence(text: str) -> Any:
    """What a notebook says, without what JupyterLab rewrites when it opens or saves one."""
    nb = json.loads(text)
    metadata = {k: v for k, v in nb.get("metadata", {}).items() if k not in _FRONT_END_KEYS}
    cells = [{"type": c.get("cell_type"), "source": "".join(c.get("source", "")),
              "tags": c.get("metadata", {}).get("tags", [])} for c in nb.get("cells", [])]
    return {"metadata": metadata, "cells": cells, "nbformat": nb.get("nbformat")}


def same_notebook(committed: str, generated: str) -> bool:
    """True when ``committed`` differs from ``generated`` only by front-end metadata, ids or outputs."""
    try:
        return bool(_essence(committed) == _essence(generated))
    except (ValueError, AttributeError, TypeError):
        return False
