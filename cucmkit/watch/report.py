"""The fleet report: a JSON twin (``Report``) and one self-contained HTML page.

The page: the outcome, a per-cluster summary, what changed since the last
report, the exact commands, a matplotlib timeline of what is due (threshold
line, dated points; long-lived certificates listed apart) and every
certificate in a sortable table (pandas Styler; a small inline script sorts a
column when its header is clicked). Everything shown is escaped.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import ValidationError

from cucmkit.errors import ParameterError
from cucmkit.tables import DUE_STYLE, EXPIRED_STYLE, styled, whole_days
from cucmkit.watch.classify import TICKET_PLACEHOLDER
from cucmkit.watch.model import Diff, Item, Report, Status, exit_code

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

__all__ = [
    "write_json", "read_report", "write_html", "render_html", "timeline_png", "cluster_frame", "items_frame", "table",
    "HORIZON_DAYS", "write_atomic",
]

HORIZON_DAYS = 180           # the timeline shows what expires within this many days (or the threshold, if longer)
_MAX_POINTS = 40
_SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, col) {
    th.style.cursor = "pointer"; th.title = "click to sort";
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var up = th.dataset.dir !== "asc"; th.dataset.dir = up ? "asc" : "desc";
      rows.sort(function (a, b) {
        var x = a.cells[col].innerText.trim(), y = b.cells[col].innerText.trim();
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (!isNaN(nx) && !isNaN(ny) && /^-?[0-9.]+$/.test(x) && /^-?[0-9.]+$/.test(y)) ? nx - ny
                : x.localeCompare(y);
        return up ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""
_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 13px; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; }
th { background: #f0f0f0; }
.outcome { font-size: 1.2em; padding: 0.4em 0.8em; display: inline-block; border-radius: 4px; }
.o0 { background: #d8f0d8; } .o4 { background: #fde8c8; } .o5, .o6, .o7 { background: #f8c9c9; }
code { background: #f4f4f4; padding: 1px 4px; }
"""
_OUTCOMES = {0: "nothing due", 4: "something due", 5: "something expired", 6: "a cluster could not be read",
             7: "a notification failed"}


# -- JSON ------------------------------------------------------------------------------------------


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(report: Report, path: Path) -> Path:
    write_atomic(path, report.model_dump_json(indent=1) + "\n")
    return path


def read_report(path: Path) -> Report:
    """An earlier report (``--since``); a missing or foreign file is refused with the remedy."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ParameterError(f"--since {path}: cannot be read ({exc.strerror or type(exc).__name__})",
                             remedy="give the JSON report an earlier `cucmkit watch` wrote.") from None
    try:
        return Report.model_validate_json(text)
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"]) or "the file"
        raise ParameterError(f"--since {path}: not a cucmkit watch report ({where}: {exc.errors()[0]['msg']})",
                             remedy="give the JSON report an earlier `cucmkit watch` wrote.") from None


# -- tables ------------------------------------------------------------------------------------------


def cluster_frame(report: Report) -> pd.DataFrame:
    rows = [{"cluster": c.name, "reach": c.reach.value, "expired": c.expired, "due": c.due, "ok": c.ok,
             "threshold (days)": c.threshold_days,
             "problem": c.error or "; ".join(f"{n}: {e}" for n, e in c.node_errors.items()),
             "parameters": c.parameters_file} for c in report.clusters]
    return pd.DataFrame(rows, columns=["cluster", "reach", "expired", "due", "ok", "threshold (days)", "problem",
                                       "parameters"])


_ITEM_COLUMNS = ["cluster", "node", "store", "purpose", "common_name", "not_after", "days_left", "status",
                 "signed", "runbook", "unused", "action", "command"]


def _runbook_cell(item: Item) -> str:
    if item.kind == "trust":
        return ""
    return f"{item.runbook}.ipynb" if item.runbook else "none"


def items_frame(items: Sequence[Item]) -> pd.DataFrame:
    rows = [{"cluster": i.cluster, "node": i.node.split(".")[0], "store": i.store, "purpose": i.purpose or "",
             "common_name": i.common_name, "not_after": i.not_after, "days_left": whole_days(i.days_left),
             "status": i.status.value, "signed": "CA" if i.ca_signed else "self", "runbook": _runbook_cell(i),
             "unused": "" if i.unused is None else ("yes" if i.unused else "no"),
             "action": i.action, "command": i.command or ""} for i in items]
    frame = pd.DataFrame(rows, columns=_ITEM_COLUMNS)
    frame["not_after"] = pd.to_datetime(frame["not_after"], utc=True)
    return frame


def _threshold(report: Report) -> int:
    return max((c.threshold_days for c in report.clusters), default=60)


# -- timeline -----------------------------------------------------------------------------------------


def _points(report: Report, horizon: float) -> tuple[list[tuple[str, dt.datetime, Status]], list[Item]]:
    """Timeline points grouped by (cluster, certificate) across nodes, and the long-lived items kept apart."""
    groups: dict[tuple[str, str], list[Item]] = {}
    for item in report.items:
        groups.setdefault((item.cluster, item.fingerprint_sha256), []).append(item)
    near, far = [], []
    for (cluster, _), members in sorted(groups.items(), key=lambda kv: kv[1][0].not_after):
        first = members[0]
        if first.days_left > horizon:
            far.append(first)
            continue
        nodes = f"{len(members)} nodes" if len(members) > 1 else first.node.split(".")[0]
        what = first.purpose if first.kind == "identity" else f"{first.store}: {first.common_name}"
        near.append((f"{cluster} {what} ({nodes})", first.not_after, first.status))
    return near, far


def timeline_png(report: Report) -> bytes:
    """What expires within the horizon, one dot per certificate and date, with the threshold line (PNG bytes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    threshold = _threshold(report)
    points, _ = _points(report, max(HORIZON_DAYS, threshold))
    points = points[:_MAX_POINTS]
    figure = Figure(figsize=(11, 1.6 + 0.28 * max(len(points), 1)), dpi=100)
    FigureCanvasAgg(figure)
    axis: Any = figure.add_subplot()     # matplotlib's stubs take no datetimes on a date axis
    colours = {Status.EXPIRED: "#b00020", Status.DUE: "#e08000", Status.OK: "#2ca02c"}
    rows = list(range(len(points)))
    axis.scatter([when for _, when, _ in points], rows, s=48, zorder=3, c=[colours[s] for _, _, s in points])
    for row, (_, when, _) in zip(rows, points, strict=True):
        axis.annotate(f"{when:%Y-%m-%d}", xy=(when, row), xytext=(6, -3), textcoords="offset points", fontsize=7)
    now = report.generated_at
    axis.axvline(now, linestyle="--", color="grey")
    axis.axvline(now + dt.timedelta(days=threshold), linestyle=":", color="#e08000")
    axis.annotate(f"threshold ({threshold} d)", xy=(now + dt.timedelta(days=threshold), 1.0),
                  xycoords=("data", "axes fraction"), xytext=(3, -12), textcoords="offset points", color="#e08000")
    axis.annotate("now", xy=(now, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -12),
                  textcoords="offset points", color="grey")
    axis.set_yticks(rows, labels=[label[:64] for label, _, _ in points])
    axis.set_ylim(max(len(points), 1) - 0.5, -0.5)
    locator = AutoDateLocator(maxticks=8)  # type: ignore[no-untyped-call]
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    axis.grid(axis="x", alpha=0.3)
    axis.margins(x=0.08)
    axis.set_title(f"Expiring within {max(HORIZON_DAYS, threshold)} days")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


# -- HTML ---------------------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value))


def _since_html(since: Diff | None) -> str:
    if since is None:
        return ""
    parts = [f"<h2>Since {_e(f'{since.previous_generated_at:%Y-%m-%d %H:%M} UTC')}</h2><ul>"]
    for title, keys in (("Newly due", since.newly_due), ("Renewed since", since.renewed),
                        ("Resolved", since.resolved), ("Newly unreachable", since.newly_unreachable),
                        ("Reachable again", since.reachable_again)):
        shown = ", ".join(f"<code>{_e(k)}</code>" for k in keys) or "none"
        parts.append(f"<li><b>{title}</b> ({len(keys)}): {shown}</li>")
    return "".join(parts) + "</ul>"


def _commands_html(report: Report) -> str:
    commands = [cmd for c in report.clusters for cmd in c.commands]
    if not commands:
        return "<h2>Commands</h2><p>No runbook needs to run.</p>"
    hint = " and replace &lt;TICKET&gt; with the change ticket" if any(TICKET_PLACEHOLDER in c for c in commands) else ""
    items = "".join(f"<li><code>{_e(cmd)}</code></li>" for cmd in commands)
    return (f"<h2>Commands</h2><p>One per cluster and purpose due, in the safe order, then the trust clean-up; run one "
            f"at a time{hint}.</p>"
            f"<ul>{items}</ul>")


def _long_lived_html(report: Report) -> str:
    horizon = max(HORIZON_DAYS, _threshold(report))
    _, far = _points(report, horizon)
    if not far:
        return ""
    rows = "".join(f"<li>{_e(i.cluster)}: {_e(i.purpose or i.store)} {_e(i.common_name)} "
                   f"({_e(f'{i.not_after:%Y-%m-%d}')})</li>" for i in far)
    return (f"<details><summary>{len(far)} certificates expire after {horizon} days (not on the timeline)"
            f"</summary><ul>{rows}</ul></details>")


def _status_styles(row: pd.Series[Any]) -> list[str]:
    style = {"expired": EXPIRED_STYLE, "due": DUE_STYLE}.get(str(row.get("status", "")), "")
    return [style] * len(row)


def table(frame: pd.DataFrame, *, caption: str | None = None) -> Styler:
    """The kit's table look; item rows coloured by their status (each cluster has its own threshold)."""
    styler = styled(frame, dates=[c for c in ("not_after",) if c in frame.columns], caption=caption)
    if "status" in frame.columns:
        styler = styler.apply(_status_styles, axis=1)
    return styler


def _styler_html(frame: pd.DataFrame, *, uuid: str) -> str:
    return str(table(frame).set_uuid(uuid).set_table_attributes('class="sortable"').to_html())


def render_html(report: Report, *, code: int | None = None) -> str:
    """The whole page as one string (PNG inlined as a data: URL)."""
    code = exit_code(report) if code is None else code
    png = base64.b64encode(timeline_png(report)).decode("ascii")
    flagged = report.flagged()
    parts: list[Any] = [
        "<!doctype html><html><head><meta charset='utf-8'><title>cucmkit watch</title>",
        f"<style>{_CSS}</style></head><body><h1>Certificate expiry watch</h1>",
        f"<p>Generated {_e(f'{report.generated_at:%Y-%m-%d %H:%M} UTC')} &middot; {len(report.clusters)} clusters "
        f"&middot; {len(report.items)} certificates</p>",
        f"<p class='outcome o{code}'>exit {code}: {_e(_OUTCOMES.get(code, ''))} &middot; "
        f"{report.count(Status.EXPIRED)} expired, {report.count(Status.DUE)} due, "
        f"{len(report.unreachable())} cluster(s) not fully read</p>",
        "".join(f"<p>{_e(note)}</p>" for note in report.notes),
        "<h2>Clusters</h2>", _styler_html(cluster_frame(report), uuid="clusters"),
        "<h2>Timeline</h2>", f"<img alt='expiry timeline' src='data:image/png;base64,{png}'>",
        _long_lived_html(report), _since_html(report.since),
        f"<h2>Due and expired ({len(flagged)})</h2>", _styler_html(items_frame(flagged), uuid="due"),
        _commands_html(report),
        f"<h2>Every certificate ({len(report.items)})</h2>",
        _styler_html(items_frame(sorted(report.items, key=lambda i: i.days_left)), uuid="all"),
        f"<script>{_SORT_SCRIPT}</script></body></html>",
    ]
    return "".join(parts)


def write_html(report: Report, path: Path, *, code: int | None = None) -> Path:
    write_atomic(path, render_html(report, code=code))
    return path
