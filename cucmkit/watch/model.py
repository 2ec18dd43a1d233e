"""The watch report as typed, frozen values (pydantic): one JSON twin of the HTML page, read back by ``--since``.

Exit codes (``EXIT_*``): the highest that applies wins, so a scheduler can act on the number alone:

    0  nothing due
    4  something due (expires within the threshold)
    5  something expired
    6  a cluster (or one of its nodes) could not be read
    7  a notification (e-mail, metrics file) could not be delivered
    1  refused input (bad parameter or watch configuration file); 2 usage (argparse)
"""

from __future__ import annotations

import datetime as dt
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Status",
    "Reach",
    "Item",
    "ClusterResult",
    "Diff",
    "Report",
    "REPORT_FORMAT",
    "EXIT_OK",
    "EXIT_DUE",
    "EXIT_EXPIRED",
    "EXIT_UNREACHABLE",
    "EXIT_NOTIFY_FAILED",
    "exit_code",
]

REPORT_FORMAT = "cucmkit-watch/1"
EXIT_OK, EXIT_DUE, EXIT_EXPIRED, EXIT_UNREACHABLE, EXIT_NOTIFY_FAILED = 0, 4, 5, 6, 7


class Status(str, Enum):
    EXPIRED = "expired"
    DUE = "due"
    OK = "ok"


class Reach(str, Enum):
    """How much of a cluster the watch could read."""

    UP = "up"                    # every node answered
    PARTIAL = "partial"          # some nodes answered (the others are in node_errors)
    UNREACHABLE = "unreachable"  # no node answered


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Item(_Frozen):
    """One certificate of one node, classified."""

    key: str                     # stable across runs: cluster|node|own|purpose or cluster|node|store|fingerprint
    cluster: str
    node: str
    kind: str                    # "identity" or "trust"
    store: str                   # "own" or the trust store
    purpose: str | None
    filename: str | None
    common_name: str
    issuer: str
    serial: str                  # hex
    fingerprint_sha256: str
    not_after: dt.datetime
    days_left: float
    status: Status
    ca_signed: bool
    runbook: str | None = None   # notebook stem that renews it (identities); None: no runbook
    action: str = ""             # what to do about it (due or expired items)
    command: str | None = None   # the exact cucmkit command, when one renews it
    unused: bool | None = None   # trust only: nothing in the cluster chains to it


class ClusterResult(_Frozen):
    name: str
    parameters_file: str
    threshold_days: int
    reach: Reach
    error: str | None = None                        # why no node could be read
    node_errors: dict[str, str] = Field(default_factory=dict)
    expired: int = 0
    due: int = 0
    ok: int = 0
    commands: tuple[str, ...] = ()                  # one per purpose that is due, in runbook order


class Diff(_Frozen):
    """What changed since an earlier report (``--since``)."""

    previous_generated_at: dt.datetime
    newly_due: tuple[str, ...] = ()            # item keys due or expired now, not then
    renewed: tuple[str, ...] = ()              # identity keys whose certificate was replaced by a later one
    resolved: tuple[str, ...] = ()             # keys due or expired then, gone or fine now without a renewal
    newly_unreachable: tuple[str, ...] = ()    # cluster names
    reachable_again: tuple[str, ...] = ()


class Report(_Frozen):
    format: str = REPORT_FORMAT
    generated_at: dt.datetime
    clusters: tuple[ClusterResult, ...]
    items: tuple[Item, ...]
    since: Diff | None = None
    notes: tuple[str, ...] = ()                # e.g. a notification that failed

    def count(self, status: Status) -> int:
        return sum(1 for item in self.items if item.status is status)

    def unreachable(self) -> tuple[ClusterResult, ...]:
        return tuple(c for c in self.clusters if c.reach is not Reach.UP)

    def flagged(self) -> tuple[Item, ...]:
        """Due and expired items, soonest first."""
        return tuple(sorted((i for i in self.items if i.status is not Status.OK), key=lambda i: i.days_left))


def exit_code(report: Report, *, notify_failed: bool = False) -> int:
    """The highest code that applies (module docstring)."""
    if notify_failed:
        return EXIT_NOTIFY_FAILED
    if report.unreachable():
        return EXIT_UNREACHABLE
    if report.count(Status.EXPIRED):
        return EXIT_EXPIRED
    if report.count(Status.DUE):
        return EXIT_DUE
    return EXIT_OK
