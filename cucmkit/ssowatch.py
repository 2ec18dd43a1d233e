"""SAML SSO around a tomcat renewal: ``utils sso status`` on every node before and after, and what changed.

A tomcat certificate change invalidates the SP metadata the IdP holds (SAML SSO Deployment Guide 15,
"Tomcat Certificate Regeneration": generate new SP metadata and upload it to the IdP). The runbook reads
every node's ``utils sso status`` before and after the renewal; the evidence gets one table (node, status
before/after, SP metadata exported date, SSO test status) and a line for every node whose answer changed.
The engineer then re-exports the SP metadata to the IdP and runs the SSO test (the run's closing reminder).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from cucmkit.errors import CucmKitError

if TYPE_CHECKING:
    import pandas as pd

    from cucmkit.cucm.sso import SsoCliStatus

__all__ = ["SsoReading", "read_sso", "sso_frame", "sso_changes", "COLUMNS"]

COLUMNS = ("node", "status before", "status after", "SP metadata exported", "SSO test status", "changed")


class _SsoNode(Protocol):
    @property
    def name(self) -> str: ...

    def sso_cli_status(self) -> SsoCliStatus: ...


@dataclass(frozen=True)
class SsoReading:
    """One node's ``utils sso status`` as the evidence keeps it (``error``: why it could not be read)."""

    node: str
    status: str = ""
    sp_metadata_exported: str = ""
    test_status: str = ""
    error: str = ""

    @property
    def text(self) -> str:
        return self.status or f"unread: {self.error}"

    def to_json(self) -> dict[str, str]:
        return {"node": self.node, "status": self.status, "sp_metadata_exported": self.sp_metadata_exported,
                "test_status": self.test_status, "error": self.error}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SsoReading:
        return cls(**{k: str(data.get(k) or "") for k in ("node", "status", "sp_metadata_exported", "test_status",
                                                           "error")})


def _read(node: _SsoNode) -> SsoReading:
    try:
        found = node.sso_cli_status()
    except CucmKitError as exc:
        return SsoReading(node.name, error=exc.message[:200])
    return SsoReading(node.name, found.status, found.sp_metadata_exported or "", found.test_status or "")


def read_sso(nodes: Iterable[_SsoNode]) -> tuple[SsoReading, ...]:
    """Every node's ``utils sso status`` (a node that cannot be read is listed with the reason)."""
    return tuple(_read(node) for node in nodes)


def _same(a: SsoReading | None, b: SsoReading | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.status, a.sp_metadata_exported, a.test_status) == (b.status, b.sp_metadata_exported, b.test_status)


def sso_changes(before: Sequence[SsoReading], after: Sequence[SsoReading]) -> list[str]:
    """One line per node whose answer after the renewal differs from before (status, SP metadata date, test)."""
    old = {r.node: r for r in before}
    lines = []
    for reading in after:
        was = old.get(reading.node)
        if not _same(was, reading):
            then = "not read before" if was is None else f"{was.text}, SP metadata {was.sp_metadata_exported or '-'}, " \
                                                          f"test {was.test_status or '-'}"
            lines.append(f"{reading.node}: {then} -> {reading.text}, SP metadata "
                         f"{reading.sp_metadata_exported or '-'}, test {reading.test_status or '-'}")
    return lines


def sso_frame(before: Sequence[SsoReading], after: Sequence[SsoReading] = ()) -> pd.DataFrame:
    """The evidence table: a row per node, the status before and after, the SP metadata date and the SSO test."""
    import pandas as pd

    now = {r.node: r for r in after}
    rows = []
    for was in before:
        later = now.get(was.node)
        shown = later or was
        rows.append({"node": was.node, "status before": was.text, "status after": later.text if later else "",
                     "SP metadata exported": shown.sp_metadata_exported, "SSO test status": shown.test_status,
                     "changed": bool(later) and not _same(was, later)})
    return pd.DataFrame(rows, columns=list(COLUMNS))
