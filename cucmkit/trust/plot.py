"""When each CA expires against the identities that depend on it (matplotlib, Agg canvas, PNG bytes)."""

from __future__ import annotations

import io
from typing import Any

from cucmkit.trust.inventory import TrustEntry, TrustInventory

__all__ = ["ca_expiry_png", "OUTLIVES_COLOUR", "INSIDE_COLOUR"]

OUTLIVES_COLOUR, INSIDE_COLOUR, CA_COLOUR, STALE_COLOUR = "#d62728", "#2ca02c", "#1f77b4", "#7f7f7f"


def ca_expiry_png(inventory: TrustInventory, *, title: str = "CA validity and the identities that depend on it") -> bytes:
    """One row per CA: its validity as a bar (grey when stale), each dependent identity's expiry as a dot.

    A dot right of the bar's end is an identity that outlives its CA (red): it breaks when the CA expires.
    """
    entries = [e for e in inventory.entries if e.ca or e.in_use]
    figure = _figure(10, 1.6 + 0.35 * max(len(entries), 1))
    axis = figure.add_subplot()
    for row, entry in enumerate(entries):
        _draw_row(axis, row, entry)
    axis.axvline(inventory.taken, linestyle="--", color="grey")
    axis.set_yticks(range(len(entries)), labels=[_label(e) for e in entries])
    axis.set_ylim(max(len(entries), 1) - 0.5, -0.5)
    axis.xaxis_date()
    axis.grid(axis="x", alpha=0.3)
    axis.set_title(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _draw_row(axis: Any, row: int, entry: TrustEntry) -> None:
    from matplotlib.dates import date2num

    start, end = date2num(entry.not_before), date2num(entry.not_after)  # type: ignore[no-untyped-call]
    axis.barh(row, end - start, left=start, height=0.35, color=STALE_COLOUR if entry.stale else CA_COLOUR, alpha=0.6)
    when = [d.not_after for d in entry.dependents]
    colours = [OUTLIVES_COLOUR if d.not_after > entry.not_after else INSIDE_COLOUR for d in entry.dependents]
    if when:
        axis.scatter(when, [row] * len(when), s=36, c=colours, zorder=3)


def _label(entry: TrustEntry) -> str:
    flag = f" [{', '.join(entry.stale)}]" if entry.stale else ""
    return f"{entry.common_name[:28]} ({len(entry.dependents)}){flag}"


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure
