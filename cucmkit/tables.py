"""Every table the kit shows in a notebook, drawn by pandas' Styler (no hand-built HTML).

One look everywhere: no index column, cell text HTML-escaped, dates shown as
dates, days left as whole days, and rows that are due (fewer days left than the
threshold) or expired highlighted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

__all__ = ["styled", "whole_days", "DATE_FORMAT", "DUE_STYLE", "EXPIRED_STYLE"]

DATE_FORMAT = "{:%Y-%m-%d}"
DUE_STYLE = "background-color: #fde8c8"       # amber: renew soon
EXPIRED_STYLE = "background-color: #f8c9c9"   # red: already expired


def whole_days(days: float | None) -> int | None:
    """Days left as a whole number, rounded down (0.5 days left is 0, half a day ago is -1)."""
    return None if days is None else math.floor(days)


def styled(frame: pd.DataFrame, *, dates: Sequence[str] = (), days: str | None = None,
           threshold: float | None = None, caption: str | None = None) -> Styler:
    """``frame`` as a Styler: no index, ``dates`` columns as dates, rows highlighted by the ``days`` column.

    A row whose ``days`` value is below 0 is expired, below ``threshold`` due.
    """
    formats: dict[Any, str | Callable[[object], str] | None] = {
        column: (DATE_FORMAT if column in dates else None) for column in frame.columns}
    styler = frame.style.hide(axis="index").format(formats, escape="html", na_rep="")   # one call: a later one resets
    if days is not None:
        styler = styler.apply(_row_styles, axis=1, column=days, threshold=threshold)
    if caption:
        styler = styler.set_caption(caption)
    return styler


def _row_styles(row: pd.Series[Any], *, column: str, threshold: float | None) -> list[str]:
    value = row[column]
    if pd.isna(value):
        style = ""
    elif value < 0:
        style = EXPIRED_STYLE
    elif threshold is not None and value < threshold:
        style = DUE_STYLE
    else:
        style = ""
    return [style] * len(row)
