"""Values the CUCM clients hand back: service states, cluster nodes, backup status.

Frozen dataclasses, no I/O. The Node/Cluster facade re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ServiceState", "ProcessNode", "BackupStatus", "SERVICE_STATUSES"]

SERVICE_STATUSES = ("Started", "Stopped", "Starting", "Stopping", "Unknown")


@dataclass(frozen=True)
class ServiceState:
    """One service on one node, as Control Center (or the CLI) reports it."""

    name: str
    status: str            # Started | Stopped | Starting | Stopping | Unknown
    activated: bool
    reason_code: int = -1  # Control Center item ReasonCode; -1 = success
    reason: str = ""

    @property
    def started(self) -> bool:
        return self.status == "Started"

    @property
    def settled(self) -> bool:
        """Not in the middle of a transition."""
        return self.status in ("Started", "Stopped", "Unknown")


@dataclass(frozen=True)
class ProcessNode:
    """One server of the cluster as the publisher's database knows it."""

    name: str               # host name or FQDN as configured in CUCM
    role: str               # "publisher" | "subscriber"
    kind: str               # "CUCM" | "IM&P"
    description: str = ""
    node_id: int | None = None

    @property
    def is_publisher(self) -> bool:
        return self.role == "publisher"


@dataclass(frozen=True)
class BackupStatus:
    """`utils disaster_recovery status backup` (or `restore`), parsed."""

    status: str                   # e.g. "SUCCESS", "ERROR", "IN PROGRESS", "" when no data
    in_progress: bool
    operation: str = ""
    percentage: int | None = None
    tar_filename: str = ""
    storage_location: str = ""
    available: bool = True        # False: "No backup status available" / "No restore status available"
