"""Values the CUCM clients hand back: service states, cluster nodes, backup status.

Frozen dataclasses, no I/O. The Node/Cluster facade re-exports them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

__all__ = ["ServiceState", "ServiceStates", "ProcessNode", "BackupStatus", "SERVICE_STATUSES"]

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


class ServiceStates(Mapping[str, ServiceState]):
    """Service name -> state, looked up as CUCM matches names: case-insensitively.

    CUCM answers "Cisco Tftp" where a document (or an older kit) writes "Cisco
    TFTP"; a lookup by either spelling finds it. Iteration gives CUCM's own
    spellings. The last state given for a name wins.
    """

    def __init__(self, states: Iterable[ServiceState] = ()) -> None:
        self._states: dict[str, ServiceState] = {}
        for state in states:
            self._states[_fold(state.name)] = state

    def __getitem__(self, name: str) -> ServiceState:
        return self._states[_fold(name)]

    def __iter__(self) -> Iterator[str]:
        return (state.name for state in self._states.values())

    def __len__(self) -> int:
        return len(self._states)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _fold(name) in self._states

    def __repr__(self) -> str:
        return f"ServiceStates({list(self)!r})"


def _fold(name: str) -> str:
    return name.strip().casefold()


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
