"""What the renewal engine needs from a cluster and from a node: typed seams, nothing more.

``cucmkit.cucm.Cluster`` and ``cucmkit.cucm.Node`` satisfy these Protocols
structurally; a test double or another platform's facade may too. The engine
(executor and step handlers) is typed against them and never against ``Any``.
Only the methods the engine really calls are listed; the facade has more.

The values that come back (certificate records, service states, backup status,
registration summaries) are the kit's own frozen value types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from cucmkit.ca.manual import Selection
    from cucmkit.certs.records import CertRecord
    from cucmkit.cucm.models import BackupStatus, ServiceState
    from cucmkit.cucm.risport import RegistrationSummary
    from cucmkit.cucm.sso import SsoNodeStatus

__all__ = ["NodePort", "ClusterPort", "InboxCa"]


class NodePort(Protocol):
    """One node as the engine uses it: certificates, CSRs, services, DRS status."""

    @property
    def name(self) -> str: ...          # FQDN

    @property
    def short(self) -> str: ...

    @property
    def role(self) -> str: ...          # "publisher" | "subscriber"

    @property
    def kind(self) -> str: ...          # "CUCM" | "IM&P"

    def own_certificates(self) -> list[CertRecord]: ...

    def trust_certificates(self, store: str | None = ...) -> list[CertRecord]: ...

    def generate_csr(self, purpose: str, *, common_name: str | None = ..., alt_names: Sequence[str] = ...,
                     key_type: str = ..., key_size: int = ..., distribution: str = ...) -> object: ...

    def get_csr(self, purpose: str) -> str | None: ...

    def upload_trust(self, purpose: str, pem: str, *, description: str = ...) -> None: ...

    def upload_identity(self, purpose: str, pem: str) -> None: ...

    def regenerate_self_signed(self, purpose: str) -> None: ...

    def served_certificate(self) -> CertRecord: ...

    def service_status(self, names: Sequence[str] | None = ...) -> Mapping[str, ServiceState]: ...

    def restart_service(self, name: str, *, timeout: float | None = ...) -> ServiceState: ...

    def run_command(self, command: str) -> str: ...

    def backup_status(self) -> BackupStatus: ...

    def restore_status(self) -> BackupStatus: ...


class ClusterPort(Protocol):
    """The cluster as the engine uses it: its nodes and the cluster-wide operations."""

    @property
    def name(self) -> str: ...

    @property
    def nodes(self) -> Sequence[NodePort]: ...

    @property
    def publisher(self) -> NodePort: ...

    def node(self, name_or_fqdn: str) -> NodePort: ...

    def security_mode(self) -> int: ...

    def version(self) -> str: ...

    def phone_interaction(self) -> bool: ...

    def sso_enabled(self) -> bool: ...

    def sso_by_node(self) -> Sequence[SsoNodeStatus]: ...

    def ctl_update(self) -> str: ...

    def reset_all_devices(self) -> None: ...

    def registration(self, *, names: Sequence[str] | None = ..., within: float | None = ...) -> RegistrationSummary:
        """``within``: seconds the call may take, back-off for a throttling RisPort included (TimeoutError_ past it)."""
        ...


@runtime_checkable
class InboxCa(Protocol):
    """A CA back-end a person answers by dropping files into a folder (the manual CA)."""

    def inbox_for(self, request_id: str) -> Path: ...

    def csr_path(self, request_id: str) -> Path: ...

    def selection(self, request_id: str) -> Selection: ...

    def archive(self, request_id: str) -> Path: ...
