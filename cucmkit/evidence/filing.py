"""The one entry point of evidence: a run's outcome in, the whole evidence folder out.

``file_evidence(execution, root)`` writes
``<root>/<cluster>/<ticket>/<UTC start>-<purpose>/``: the result record, the
executed notebook stamped with cucmkit's verdict (papermill's metadata
corrected and cut down to references), its HTML, then redacts every known
secret in every encoding, scans every file and writes the manifest. The runner
(or, when the runner was killed, its papermill child) hands over an
``Execution``, a frozen value holding references only, and gets an
``EvidenceFolder`` back; it never walks through record, stamp, html, secrets
and manifest itself.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

import nbformat

from cucmkit.errors import CucmKitError
from cucmkit.evidence.html import render_html
from cucmkit.evidence.journal import read_journal, utc_now, who
from cucmkit.evidence.manifest import write_manifest
from cucmkit.evidence.record import PapermillOutcome, ResultRecord, build_record, read_ledger, write_record
from cucmkit.evidence.secrets import SecretSearch, redact, redact_patterns, scan_dir, search_for
from cucmkit.evidence.signing import Signer, evidence_section, load_signer, sign_manifest
from cucmkit.evidence.stamp import (
    calm_errors,
    cell_infos,
    correct_statuses,
    drop_papermill_banners,
    hide_internal_paths,
    number_cells,
    scrub_parameters,
    stamp_verdict,
)
from cucmkit.evidence.ticket import ticket_runs, write_index

__all__ = ["Execution", "EvidenceFolder", "file_evidence", "read_notebook", "safe_name"]


@dataclass(frozen=True)
class Execution:
    """How one notebook run went, as the runner hands it over. References only, never a secret value."""

    purpose: str
    ticket: str
    cluster: str
    parameters_file: Path          # where this process reads it (to know which secrets to look for)
    parameters_ref: str            # as recorded: project-relative if inside the project
    source_notebook: Path          # the runbook as written
    executed_notebook: Path | None  # papermill's output (None or unreadable: the source stands in)
    journal: Path | None           # the kernel's journal
    papermill: PapermillOutcome
    started: str
    ended: str = field(default_factory=utc_now)
    ca: str | None = None
    approve: bool = False
    dry_run: bool = False
    run_by: str = field(default_factory=who)
    resume: str = ""                             # the command that resumes this run
    approver: str | None = None                  # --approver: the named approver
    overrides: dict[str, str] = field(default_factory=dict)   # interlock -> reason (--override-window)
    nodes: tuple[str, ...] = ()                  # --nodes
    force_csr: bool = False                      # --force-csr

    def to_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Execution:
        def path(key: str) -> Path | None:
            return Path(body[key]) if body.get(key) is not None else None

        return cls(purpose=str(body["purpose"]), ticket=str(body["ticket"]), cluster=str(body["cluster"]),
                   parameters_file=Path(body["parameters_file"]), parameters_ref=str(body["parameters_ref"]),
                   source_notebook=Path(body["source_notebook"]), executed_notebook=path("executed_notebook"),
                   journal=path("journal"), papermill=PapermillOutcome(**body["papermill"]),
                   started=str(body["started"]), ended=str(body["ended"]), ca=body.get("ca"),
                   approve=bool(body.get("approve")), dry_run=bool(body.get("dry_run")), run_by=str(body["run_by"]),
                   resume=str(body.get("resume") or ""), approver=body.get("approver"),
                   overrides=dict(body.get("overrides") or {}), nodes=tuple(body.get("nodes") or ()),
                   force_csr=bool(body.get("force_csr")))


@dataclass(frozen=True)
class EvidenceFolder:
    path: Path
    record: ResultRecord


def safe_name(text: str) -> str:
    """``text`` safe as one folder name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "unnamed"


def _new_folder(root: Path, run: Execution) -> Path:
    try:
        stamp = datetime.fromisoformat(run.started).strftime("%Y%m%dT%H%M%SZ")
    except ValueError:
        stamp = datetime.fromisoformat(utc_now()).strftime("%Y%m%dT%H%M%SZ")
    base = root / safe_name(run.cluster) / safe_name(run.ticket)
    folder, counter = base / f"{stamp}-{run.purpose}", 2
    while folder.exists():
        folder, counter = base / f"{stamp}-{run.purpose}-{counter}", counter + 1
    folder.mkdir(parents=True)
    return folder


def file_evidence(run: Execution, root: Path) -> EvidenceFolder:
    """Write the evidence folder of ``run`` under ``root``: record, stamp, HTML, redaction, scan, manifest,
    signature, and the ticket's index."""
    folder = _new_folder(root, run)
    search = search_for([run.parameters_file])
    nb = _executed_or_source(run)
    drop_papermill_banners(nb)
    run = replace(run, papermill=replace(run.papermill, message=_clean(run.papermill.message, search)))
    signer, signature = _signer(run.parameters_file)
    record = replace(_record(run, nb), secrets_looked_for=tuple(search.lines()), signature=signature,
                     window=_window(run.parameters_file), earlier_runs=_earlier(folder))
    _clean_notebook(nb, run, record)
    leaked = _write_artifacts(nb, record, folder, search)
    findings = [str(f) for f in scan_dir(folder, search.values, usernames=search.usernames)] + leaked
    if findings:
        record = replace(record, status="failed", secret_scan=tuple(findings),
                         message="secret scan: a secret reached the evidence (redacted where known)")
        stamp_verdict(nb, record)
        _write_artifacts(nb, record, folder, search)
    write_manifest(folder, signed=signer is not None)
    if signer is not None:
        sign_manifest(folder, signer)
    write_index(folder.parent)
    return EvidenceFolder(path=folder, record=record)


def _clean_notebook(nb: Any, run: Execution, record: ResultRecord) -> None:
    """The executed notebook as the detailed record: truthful statuses, references only, one cell numbering."""
    correct_statuses(nb, failure=run.papermill.failure)
    scrub_parameters(nb)
    hide_internal_paths(nb)
    number_cells(nb)
    if record.status in ("waiting", "stopped", "blocked"):
        calm_errors(nb)
    nb.metadata["papermill"].update(input_path=f"notebooks/{run.source_notebook.name}",
                                    output_path=f"{run.purpose}.ipynb")
    stamp_verdict(nb, record)


def _parameters(path: Path) -> dict[str, Any]:
    from cucmkit.params import load_yaml

    try:
        data = load_yaml(path)
    except CucmKitError:
        return {}
    return data if isinstance(data, dict) else {}


def _signer(parameters_file: Path) -> tuple[Signer | None, str]:
    """The team's signer from the parameter file's ``evidence`` section, and what the record says about it."""
    try:
        signer = load_signer(evidence_section(parameters_file))
    except CucmKitError as exc:
        return None, f"unsigned: the signing key could not be used ({exc})"
    if signer is None:
        return None, "unsigned (no evidence.signing_key in the parameter file)"
    return signer, f"signed by {signer.certificate.subject.rfc4514_string()} (manifest.json.p7s)"


def _window(parameters_file: Path) -> dict[str, str] | None:
    window = _parameters(parameters_file).get("maintenance_window")
    if not isinstance(window, dict):
        return None
    return {k: str(window.get(k) or "") for k in ("start", "end")}


def _earlier(folder: Path) -> tuple[dict[str, str], ...]:
    """The runs filed under the same ticket before this one."""
    return tuple({"folder": r.folder, "verdict": r.verdict, "started": r.started, "page": r.page}
                 for r in ticket_runs(folder.parent) if r.folder != folder.name)


def _clean(text: str, search: SecretSearch) -> str:
    return redact_patterns(redact(text, search.values, usernames=search.usernames))


def _executed_or_source(run: Execution) -> Any:
    """The executed notebook; the unexecuted source if papermill never wrote a readable one."""
    if run.executed_notebook is not None:
        try:
            return read_notebook(run.executed_notebook)
        except (OSError, ValueError):
            pass
    return read_notebook(run.source_notebook)


def read_notebook(path: Path) -> Any:
    """An nbformat v4 notebook (nbformat itself is untyped)."""
    return nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]


def _record(run: Execution, nb: Any) -> ResultRecord:
    events = read_journal(run.journal)
    return build_record(
        events=events, ledger=read_ledger(events), outcome=run.papermill, cells=cell_infos(nb), purpose=run.purpose,
        ticket=run.ticket, ca=run.ca, approve=run.approve, dry_run=run.dry_run, run_by=run.run_by,
        started=run.started, ended=run.ended, parameters_files=(run.parameters_ref,),
        notebook=f"{run.purpose}.ipynb", cluster=run.cluster, resume=run.resume, approver=run.approver,
        overrides=run.overrides, nodes=run.nodes, force_csr=run.force_csr,
    )


def _write_artifacts(nb: Any, record: ResultRecord, folder: Path, search: SecretSearch) -> list[str]:
    """Write notebook, HTML and record with known secrets redacted; name each file that needed it."""
    purpose = record.purpose
    texts = {f"{purpose}.ipynb": nbformat.writes(nb)}  # type: ignore[no-untyped-call]
    html = folder / f"{purpose}.html"
    try:
        render_html(nb, html, record)
        texts[html.name] = html.read_text(encoding="utf-8")
    except CucmKitError as exc:  # the evidence is still written; the page says why it is bare
        texts[html.name] = f"<html><body><h1>{escape(record.status.upper())}</h1><p>{escape(str(exc))}</p>" \
                           "<p>See result.json and the .ipynb.</p></body></html>"
    write_record(record, folder)
    texts["result.json"] = (folder / "result.json").read_text(encoding="utf-8")
    leaked = []
    for name, text in texts.items():
        clean = _clean(text, search)
        if clean != text:
            leaked.append(f"{name}: secret redacted")
        (folder / name).write_text(clean, encoding="utf-8")
    return leaked
