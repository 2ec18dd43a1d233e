"""One ticket, one story: the index of every run filed under a ticket, and the one archive to attach.

``evidence/<cluster>/<ticket>/index.json`` and ``index.html`` list every run
of the ticket in order (folder names start with the UTC start time) with its
verdict and links, and mark the run to attach: the last DONE run (it holds the
change; a later NOTHING DUE re-run does not replace it), else the last run.
``file_evidence`` rewrites the index after every run. ``pack(ticket_dir, out)``
writes one zip: the index and every run folder as filed (so ``evidence
verify`` still passes on the unpacked folders).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict, dataclass
from html import escape
from pathlib import Path

from cucmkit.evidence.board import VERDICT_LOOK, when
from cucmkit.evidence.record import RESULT, read_record

__all__ = ["INDEX_HTML", "INDEX_JSON", "RunSummary", "ticket_runs", "to_attach", "write_index", "pack",
           "find_ticket_dirs"]

INDEX_HTML, INDEX_JSON = "index.html", "index.json"


@dataclass(frozen=True)
class RunSummary:
    folder: str          # the run's folder name under the ticket
    purpose: str
    verdict: str
    started: str
    ended: str
    page: str            # the run's HTML page, relative to its folder
    signature: str

    @property
    def label(self) -> str:
        return VERDICT_LOOK.get(self.verdict, VERDICT_LOOK["failed"]).label


def ticket_runs(ticket_dir: Path) -> list[RunSummary]:
    """Every run folder under ``ticket_dir`` that holds a result record, oldest first."""
    runs = []
    for folder in sorted(p for p in ticket_dir.iterdir() if p.is_dir() and (p / RESULT).is_file()):
        body = read_record(folder) or {}
        purpose = str(body.get("purpose") or "?")
        runs.append(RunSummary(folder=folder.name, purpose=purpose,
                               verdict=str(body.get("verdict") or body.get("status") or "failed"),
                               started=str(body.get("started") or ""), ended=str(body.get("ended") or ""),
                               page=f"{purpose}.html", signature=str(body.get("signature") or "unsigned")))
    return runs


def to_attach(runs: list[RunSummary]) -> RunSummary | None:
    """The last DONE run, else the last run."""
    done = [r for r in runs if r.verdict == "done"]
    chosen = done or runs
    return chosen[-1] if chosen else None


def write_index(ticket_dir: Path) -> Path:
    """Write ``index.json`` and ``index.html`` of ``ticket_dir``; return the HTML's path."""
    runs = ticket_runs(ticket_dir)
    attach = to_attach(runs)
    body = {"ticket": ticket_dir.name, "cluster": ticket_dir.parent.name,
            "attach": attach.folder if attach else None, "runs": [asdict(r) for r in runs]}
    (ticket_dir / INDEX_JSON).write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    path = ticket_dir / INDEX_HTML
    path.write_text(_index_html(ticket_dir, runs, attach), encoding="utf-8")
    return path


def _row(number: int, run: RunSummary, attach: RunSummary | None) -> str:
    look = VERDICT_LOOK.get(run.verdict, VERDICT_LOOK["failed"])
    mark = "<b>&#9733; attach this one</b>" if run is attach else ""
    return (f"<tr><td>{number}</td><td><span class=v style=\"background:{look.colour}\">{look.label}</span></td>"
            f"<td>{escape(run.purpose)}</td><td>{escape(when(run.started))}</td><td>{escape(when(run.ended))}</td>"
            f"<td><a href=\"{escape(run.folder)}/{escape(run.page)}\">{escape(run.folder)}</a></td>"
            f"<td>{escape(run.signature)}</td><td>{mark}</td></tr>")


def _index_html(ticket_dir: Path, runs: list[RunSummary], attach: RunSummary | None) -> str:
    title = f"Ticket {ticket_dir.name} on {ticket_dir.parent.name}: {len(runs)} run(s)"
    rows = "".join(_row(i, r, attach) for i, r in enumerate(runs, 1))
    head = "".join(f"<th>{h}</th>" for h in ("#", "verdict", "purpose", "started", "ended", "evidence", "signature",
                                             ""))
    summary = (f"Attach <a href=\"{escape(attach.folder)}/{escape(attach.page)}\">{escape(attach.folder)}</a> "
               f"({attach.label}); the earlier runs are the attempts that led to it." if attach else "No run yet.")
    return ("<!DOCTYPE html><html><head><meta charset=utf-8>"
            f"<title>{escape(title)}</title><style>body{{font-family:system-ui,Arial,sans-serif;margin:24px}}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
            ".v{color:#fff;padding:2px 8px;border-radius:4px;font-weight:700}</style></head><body>"
            f"<h1>{escape(title)}</h1><p>{summary}</p><table><tr>{head}</tr>{rows}</table>"
            "<p>Each run folder holds its page, the executed notebook, <code>result.json</code> and "
            "<code>manifest.json</code> (with <code>manifest.json.p7s</code> when signed); check one with "
            "<code>cucmkit evidence verify FOLDER</code>.</p></body></html>")


def find_ticket_dirs(ticket: str, root: Path) -> list[Path]:
    """``ticket`` as a folder, else ``<root>/<cluster>/<ticket>`` for every cluster that has it."""
    given = Path(ticket)
    if given.is_dir():
        return [given]
    return sorted(p for p in root.glob(f"*/{ticket}") if p.is_dir())


def pack(ticket_dirs: list[Path], out: Path) -> Path:
    """One zip holding each ticket folder (index and every run folder as filed), under ``<cluster>/<ticket>/``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for ticket_dir in ticket_dirs:
            write_index(ticket_dir)
            base = Path(ticket_dir.parent.name) / ticket_dir.name
            for file in sorted(p for p in ticket_dir.rglob("*") if p.is_file()):
                archive.write(file, (base / file.relative_to(ticket_dir)).as_posix())
    return out
