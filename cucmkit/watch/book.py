"""What the watch notebook's cells call: the same scan, classification, tables and timeline as ``cucmkit watch``.

    report = book.scan(globals())     # parameters_files, threshold_days, ticket, since from the parameters cell
    book.clusters(report); book.timeline(report); book.due(report); book.commands(report)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cucmkit.display import show as _display
from cucmkit.errors import ParameterError
from cucmkit.params import find_root
from cucmkit.watch.classify import TICKET_PLACEHOLDER, classify_fleet
from cucmkit.watch.model import Report
from cucmkit.watch.report import cluster_frame, items_frame, read_report, table, timeline_png
from cucmkit.watch.scan import load_fleet, parameter_files, scan_fleet
from cucmkit.watch.since import diff

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

__all__ = ["scan", "clusters", "timeline", "due", "commands", "everything"]


def _paths(value: Any) -> list[Path]:
    items = [value] if isinstance(value, (str, Path)) else list(value or [])
    if not items:
        raise ParameterError("parameters_files is empty", remedy='set parameters_files = ["parameters/lab.yaml"].')
    root = find_root()
    return [Path(p) if Path(p).is_absolute() else root / p for p in items]


def scan(namespace: Mapping[str, Any]) -> Report:
    """Scan and classify the clusters the parameters cell names (``--since`` as ``since``)."""
    fleet = load_fleet(parameter_files(_paths(namespace.get("parameters_files"))))
    scans = scan_fleet([(str(path), params) for path, params in fleet])
    report = classify_fleet(scans, now=dt.datetime.now(dt.UTC), threshold=namespace.get("threshold_days"),
                            ticket=namespace.get("ticket") or TICKET_PLACEHOLDER)
    since = namespace.get("since")
    if since:
        report = report.model_copy(update={"since": diff(read_report(Path(since)), report)})
    print(f"{len(report.clusters)} clusters, {len(report.items)} certificates, {len(report.flagged())} due or expired, "
          f"{len(report.unreachable())} not fully read")
    return report


def clusters(report: Report) -> Styler:
    return table(cluster_frame(report), caption="Clusters")


def timeline(report: Report) -> None:
    try:
        from IPython.display import Image
    except ImportError:
        print("[timeline: PNG]")
        return
    _display(Image(data=timeline_png(report), format="png"))  # type: ignore[no-untyped-call]


def due(report: Report) -> Styler:
    return table(items_frame(report.flagged()), caption=f"Due and expired ({len(report.flagged())})")


def commands(report: Report) -> None:
    lines = [f"- `{cmd}`" for c in report.clusters for cmd in c.commands] or ["No runbook needs to run."]
    try:
        from IPython.display import Markdown
    except ImportError:
        print("\n".join(lines))
        return
    _display(Markdown("\n".join(lines)))  # type: ignore[no-untyped-call]


def everything(report: Report) -> Styler:
    return table(items_frame(sorted(report.items, key=lambda i: i.days_left)),
                 caption=f"Every certificate ({len(report.items)})")
