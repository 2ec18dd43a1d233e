"""The first screen of an evidence page: what a change board asks, answered before the notebook's cells.

``first_screen(record)`` is an HTML fragment: the verdict in its own colour
and words (none styled as a crash), cluster, ticket, window, approver, the
signature state; a per-node table of what changed (old -> new serial in hex,
full SHA-256 fingerprint, full subject DN, issuer, validity, key type); what
was restarted where and when, the phones, the reminders left to do, and the
earlier attempts of the same ticket. ``page(nbconvert_html, record)`` puts it
at the top of nbconvert's page and names the page after cluster, purpose and
ticket.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from html import escape

from cucmkit.evidence.record import CertEntry, ResultRecord, StepEntry

__all__ = ["Verdict", "VERDICT_LOOK", "verdict_of", "first_screen", "page", "page_title", "when"]


@dataclass(frozen=True)
class Verdict:
    label: str      # the word a board reads
    colour: str     # background of the verdict banner
    words: str      # one sentence: what it means for the change


VERDICT_LOOK = {
    "done": Verdict("DONE", "#1e7d32", "The certificates were renewed and checked; the change is complete."),
    "nothing-due": Verdict("NOTHING DUE", "#455a64", "Nothing needed renewing: the cluster was not changed."),
    "dry-run": Verdict("DRY RUN", "#00695c", "A rehearsal: plan and pre-checks only, the cluster was not changed."),
    "waiting": Verdict("WAITING", "#b26a00", "Paused on purpose before a change, waiting for an approval or the "
                                             "CA. Nothing failed; the same command continues it."),
    "blocked": Verdict("BLOCKED", "#8d6e63", "A pre-check refused the change before anything was changed."),
    "stopped": Verdict("STOPPED", "#4527a0", "Stopped by the operator at a step boundary; the same command "
                                             "resumes where it stopped."),
    "failed": Verdict("FAILED", "#b71c1c", "The run did not finish: see what failed below and the detailed record."),
}


def verdict_of(record: ResultRecord) -> Verdict:
    return VERDICT_LOOK.get(record.verdict or record.status, VERDICT_LOOK["failed"])


def when(moment: str | None) -> str:
    """An ISO time as ``2026-11-27 22:05:03 UTC`` (no microseconds); the text itself when it is not a time."""
    if not moment:
        return "-"
    try:
        value = datetime.fromisoformat(moment)
    except ValueError:
        return moment
    return value.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if value.utcoffset() is not None else "")


def page_title(record: ResultRecord) -> str:
    return f"{verdict_of(record).label}: {record.purpose} on {record.cluster or '?'}, ticket {record.ticket}"


_CSS = """
#cucmkit-board{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:16px 24px 28px;
 color:#1b1b1b;max-width:1400px}
#cucmkit-board .verdict{color:#fff;padding:14px 20px;border-radius:6px;display:flex;gap:18px;align-items:baseline}
#cucmkit-board .verdict b{font-size:2em;letter-spacing:.04em}
#cucmkit-board .verdict span{font-size:1.1em}
#cucmkit-board dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px;margin:14px 0}
#cucmkit-board dt{font-weight:600;color:#555}
#cucmkit-board dd{margin:0}
#cucmkit-board h2{font-size:1.15em;margin:18px 0 6px;border-bottom:1px solid #ddd}
#cucmkit-board table{border-collapse:collapse;font-size:.9em;width:100%}
#cucmkit-board th,#cucmkit-board td{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}
#cucmkit-board th{background:#f2f2f2}
#cucmkit-board code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em;user-select:all;
 word-break:break-all}
#cucmkit-board .old{color:#777;text-decoration:line-through}
#cucmkit-board .note{color:#555}
"""


def _dl(items: Iterable[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def _approver(record: ResultRecord) -> str:
    approval = record.approval
    name = approval.get("approver")
    if record.dry_run:
        return "not needed (dry run)"
    if not approval:
        return "no approval step reached"
    if not approval.get("approved"):
        return "not approved yet (the run stopped before any change)"
    named = escape(str(name)) if name else "not named"
    how = escape(str(approval.get("how") or ""))
    return f"approver: <b>{named}</b>" + (f" ({how}" + (f", {escape(str(approval['by']))}" if approval.get("by")
                                                          else "") + ")" if how else "")


def _window(record: ResultRecord) -> str:
    window = record.window
    if not window:
        return "none in the parameter file"
    return f"{escape(when(window.get('start')))} to {escape(when(window.get('end')))}"


def _facts(record: ResultRecord) -> str:
    return _dl([
        ("cluster", f"<b>{escape(record.cluster or '?')}</b>"),
        ("ticket", f"<b>{escape(record.ticket)}</b>"),
        ("purpose", escape(record.purpose)),
        ("window", _window(record)),
        ("approval", _approver(record)),
        ("run", f"{escape(when(record.started))} to {escape(when(record.ended))}, run by {escape(record.run_by)}"),
        ("evidence", f"{escape(record.signature)}; <code>manifest.json</code> holds every file's SHA-256"),
    ])


def _nodes(record: ResultRecord) -> list[str]:
    names = {c.node or "?" for c in (*record.certs_before, *record.certs_after)}
    return sorted(names)


def _by_node(certs: tuple[CertEntry, ...]) -> dict[str, CertEntry]:
    return {c.node or "?": c for c in certs}


def _serial(old: CertEntry | None, new: CertEntry | None) -> str:
    if old is not None and new is not None and old.serial != new.serial:
        return f"<code class=old>{escape(old.serial_hex)}</code> &rarr; <code>{escape(new.serial_hex)}</code>"
    shown = new or old
    same = " (unchanged)" if old is not None and new is not None else ""
    return f"<code>{escape(shown.serial_hex)}</code>{same}" if shown else "-"


def _cert_cells(cert: CertEntry) -> str:
    return "".join(f"<td>{cell}</td>" for cell in (
        f"<code>{escape(cert.fingerprint_sha256)}</code>", escape(cert.subject), escape(cert.issuer),
        f"{escape(when(cert.not_before))}<br>to {escape(when(cert.not_after))}", escape(cert.key_type or "-")))


def _changes(record: ResultRecord) -> str:
    before, after = _by_node(record.certs_before), _by_node(record.certs_after)
    if not before and not after:
        return "<p class=note>No certificate inventory was recorded in this run.</p>"
    rows = []
    for node in _nodes(record):
        old, new = before.get(node), after.get(node)
        state = "renewed" if old and new and old.serial != new.serial else (
            "unchanged" if new else "no after-inventory (the run ended first)")
        rows.append(f"<tr><td><b>{escape(node)}</b><br><span class=note>{state}</span></td>"
                    f"<td>{_serial(old, new)}</td>{_cert_cells(new or old)}</tr>")  # type: ignore[arg-type]
    head = "".join(f"<th>{h}</th>" for h in ("node", "serial (hex): old &rarr; new", "SHA-256 fingerprint (now)",
                                             "subject", "issuer", "valid", "key"))
    return f"<table class=changes><tr>{head}</tr>{''.join(rows)}</table>"


def _step_rows(steps: Iterable[StepEntry]) -> str:
    return "".join(f"<tr><td>{escape(s.node or 'cluster')}</td><td>{escape(s.name)}</td><td>{escape(s.outcome)}</td>"
                   f"<td>{escape(when(s.started))}</td><td>{escape(when(s.ended))}</td><td>{escape(s.detail)}</td></tr>"
                   for s in steps)


def _steps_table(steps: list[StepEntry], empty: str) -> str:
    if not steps:
        return f"<p class=note>{escape(empty)}</p>"
    head = "".join(f"<th>{h}</th>" for h in ("where", "step", "outcome", "started", "ended", "detail"))
    return f"<table><tr>{head}</tr>{_step_rows(steps)}</table>"


def _restarts(record: ResultRecord) -> str:
    steps = [s for s in record.steps if "restart" in s.name.lower() or "activate" in s.name.lower()]
    return "<h2>Restarted</h2>" + _steps_table(steps, "No service was restarted in this run.")


def _phones(record: ResultRecord) -> str:
    steps = [s for p in record.phases if p.name == "phones" for s in p.steps if not s.name.startswith("reminder")]
    return "<h2>Phones</h2>" + _steps_table(steps, "No phone reset or registration wait in this run.")


def _warnings(record: ResultRecord) -> str:
    """What the validator warned about (CUCM accepted the files), per node, with the remedy: only when there is any."""
    from cucmkit.renewal.steps.material import step_warnings

    items = [f"<li>{escape(s.node or '')}: {escape(w)}</li>" for s in record.steps for w in step_warnings(s.detail)]
    return f"<h2>Warnings</h2><ul>{''.join(items)}</ul>" if items else ""


def _reminders(record: ResultRecord) -> str:
    if not record.reminders:
        return "<h2>Left to do</h2><p class=note>No reminders.</p>"
    return "<h2>Left to do</h2><ul>" + "".join(f"<li>{escape(r)}</li>" for r in record.reminders) + "</ul>"


def _stopped_at(record: ResultRecord) -> str:
    last = record.last_cell_started
    if record.status == "done" or last is None:
        return ""
    step = f" (step <code>{escape(last.step)}</code>)" if last.step else ""
    message = f": {escape(record.message)}" if record.message else ""
    return f"<p><b>Stopped in cell In [{last.index + 1}]</b>{step}{message}</p>"


def _earlier(record: ResultRecord) -> str:
    if not record.earlier_runs:
        return ""
    items = "".join(f"<li><a href=\"../{escape(r['folder'])}/{escape(r.get('page', ''))}\">{escape(r['folder'])}</a>: "
                    f"{escape(VERDICT_LOOK.get(r.get('verdict', ''), VERDICT_LOOK['failed']).label)}</li>"
                    for r in record.earlier_runs)
    return f"<h2>Earlier attempts of ticket {escape(record.ticket)}</h2><ol>{items}</ol>" \
           "<p class=note>The ticket's <a href=\"../index.html\">index</a> lists every run and the one to attach.</p>"


def first_screen(record: ResultRecord) -> str:
    """The board's summary as one HTML fragment (a ``<section id=cucmkit-board>`` with its own style)."""
    look = verdict_of(record)
    verdict = escape(record.verdict or record.status)
    return (f"<style>{_CSS}</style><section id=\"cucmkit-board\" data-verdict=\"{verdict}\">"
            f"<div class=verdict style=\"background:{look.colour}\"><b>{look.label}</b>"
            f"<span>{escape(look.words)}</span></div>{_stopped_at(record)}{_facts(record)}"
            f"<h2>What changed, per node</h2>{_changes(record)}{_restarts(record)}{_phones(record)}"
            f"{_warnings(record)}{_reminders(record)}{_earlier(record)}"
            "<h2>Detailed record</h2><p class=note>The executed notebook follows, cell by cell "
            "(cells are numbered In [n] by their position in the runbook).</p></section>")


_BODY = re.compile(r"<body[^>]*>", re.I)
_TITLE = re.compile(r"<title>.*?</title>", re.I | re.S)


def page(body: str, record: ResultRecord) -> str:
    """nbconvert's page with the first screen on top and a title naming cluster, purpose and ticket."""
    title = f"<title>{escape(page_title(record))}</title>"
    body = _TITLE.sub(lambda _: title, body, count=1) if _TITLE.search(body) else body
    match = _BODY.search(body)
    if match is None:
        return f"<html><head>{title}</head><body>{first_screen(record)}{body}</body></html>"
    return body[:match.end()] + first_screen(record) + body[match.end():]
