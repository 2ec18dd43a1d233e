"""The Node / Cluster facade (CONTRACTS §4): one object per cluster, built from its parameter file.

It holds the per-interface clients and picks the right one for each job.
Certificates go through the node's one ``CertStore`` (cucm/store.py), chosen
once from its version: the REST API on CUCM 14 and later, the admin CLI
otherwise (a node's ``version: "12.5"`` forces the CLI); both give equal
``CertRecord`` values. Cisco Tomcat restarts go through the CLI (Control
Center runs inside Tomcat), every other service through Control Center.
Clients open lazily, once, and are closed with the cluster.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from cucmkit import catalogue
from cucmkit.certs.records import CertRecord, record_from_pem
from cucmkit.cucm._http import HttpTransport, fetch_server_certificate
from cucmkit.cucm.axl import AxlClient
from cucmkit.cucm.certmgr import CertMgrClient
from cucmkit.cucm.controlcenter import ControlCenterClient
from cucmkit.cucm.models import BackupStatus, ProcessNode, ServiceState, ServiceStates
from cucmkit.cucm.risport import RateBudget, RegistrationSummary, RisPortClient
from cucmkit.cucm.sso import SsoClient, SsoCliStatus, SsoNodeStatus
from cucmkit.cucm.store import REST_MIN_MAJOR, CertStore, store_for, uses_rest
from cucmkit.errors import CucmError, CucmKitError, HttpStatusError, SoapFaultError, TimeoutError_, TransportError
from cucmkit.params import Account, ClusterParams, NodeParams
from cucmkit.secrets import Secret

__all__ = ["Cluster", "Node", "REST_MIN_MAJOR", "RESTART_POLL", "uses_rest"]

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # paramiko is imported only when a node's CLI is first used
    from cucmkit.cucm.cli import AdminCli

T = TypeVar("T")

RESTART_POLL = 0.25          # seconds between Control Center status reads while a service restarts
_RESTART_GRACE = 3.0         # seconds a restart must be "Started" without a transition seen
_AXL_SCHEMAS = {"12": "12.5", "14": "14.0", "15": "15.0"}


def _via_cli(service: str) -> bool:
    """Services Control Center cannot restart (Cisco Tomcat), per the catalogue."""
    for purpose in catalogue.PURPOSES.values():
        for restart in purpose.restarts:
            if restart.service.lower() == service.lower():
                return restart.via == "cli"
    return service.lower() == "cisco tomcat"


class _Credentials:
    """Resolved secrets for one cluster, resolved once when the Cluster is built."""

    def __init__(self, params: ClusterParams) -> None:
        self._cache: dict[Account, tuple[str, Secret]] = {}
        self._lock = threading.Lock()

    def get(self, account: Account) -> tuple[str, Secret]:
        with self._lock:
            if account not in self._cache:
                self._cache[account] = (account.username, account.secret())
            return self._cache[account]


class Node:
    """One server of the cluster: certificates, services, status."""

    def __init__(self, *, params: NodeParams, cluster: Cluster) -> None:
        self.params = params
        self.name = params.fqdn
        self.short = params.short
        self.role = params.role
        self.kind = params.kind
        self.address = params.address
        self._cluster = cluster
        self._lock = threading.RLock()
        self._cli_lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._store: CertStore | None = None

    def __repr__(self) -> str:
        return f"Node({self.name!r}, role={self.role!r}, kind={self.kind!r})"

    # -- version and path choice ---------------------------------------------------------

    @property
    def version(self) -> str:
        if self.params.version != "auto":
            return self.params.version
        return self._cluster.version()

    @property
    def uses_rest(self) -> bool:
        return self.store.interface == "certmgr"

    # -- clients (lazy, one each) --------------------------------------------------------

    def _client(self, key: str, make: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._clients:
                self._clients[key] = make()
            return cast(T, self._clients[key])

    def transport(self, interface: str, account: Account | None) -> HttpTransport:
        """A new HTTPS transport to this node for ``interface`` (``account`` None: no auth)."""
        params = self._cluster.params
        username, password = self._cluster.credentials.get(account) if account else (None, None)
        return HttpTransport(
            node=self.name, address=self.address, port=self.params.https_port, interface=interface,
            ca_bundle=params.tls.ca_bundle, pin_sha256=params.tls.pin_for(self.name),
            username=username, password=password,
            connect_timeout=params.timeouts.connect, read_timeout=params.timeouts.read,
        )

    @property
    def certmgr(self) -> CertMgrClient:
        account = self._cluster.params.os_admin_for(self.params)
        return self._client("certmgr", lambda: CertMgrClient(transport=self.transport("certmgr", account)))

    @property
    def controlcenter(self) -> ControlCenterClient:
        account = self._cluster.params.credentials.for_serviceability()
        return self._client("controlcenter", lambda: ControlCenterClient(
            transport=self.transport("controlcenter", account), node_name=self.name))

    @property
    def sso(self) -> SsoClient:
        return self._client("sso", lambda: SsoClient(transport=self.transport("sso", None)))

    @property
    def cli(self) -> AdminCli:
        def make() -> AdminCli:
            from cucmkit.cucm.cli import AdminCli

            params = self._cluster.params
            username, password = self._cluster.credentials.get(params.os_admin_for(self.params))
            return AdminCli(node=self.name, address=self.address, port=self.params.ssh_port,
                            username=username, password=password,
                            known_hosts=params.ssh.known_hosts, host_key_policy=params.ssh.host_key_policy,
                            host_key_sha256=self.params.ssh_host_key_sha256,
                            prompt_timeout=params.timeouts.cli_prompt, command_timeout=params.timeouts.read,
                            connect_timeout=params.timeouts.connect)
        return self._client("cli", make)

    def _with_cli(self, call: Callable[[AdminCli], T]) -> T:
        with self._cli_lock:  # one interactive session: one command at a time
            return call(self.cli)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, {}
        for client in clients.values():
            try:
                client.close()
            except (CucmKitError, OSError):
                pass

    def _reset_http(self) -> None:
        """Drop pooled HTTPS connections (after Tomcat restarted, the served chain changed)."""
        with self._lock:
            for key in ("certmgr", "controlcenter", "sso"):
                client = self._clients.pop(key, None)
                if client is not None:
                    client.close()

    # -- certificates (delegated to the node's one store) ----------------------------------

    @property
    def store(self) -> CertStore:
        """This node's certificate store, chosen once from its version (REST from 14 on, else the CLI)."""
        if self._store is None:
            chosen = store_for(self.version, node=self.name, certmgr=lambda: self.certmgr, cli=self._with_cli,
                               api=self.params.certificate_api)
            with self._lock:   # the version may come from AXL: read it outside the lock
                if self._store is None:
                    self._store = chosen
        return self._store

    def own_certificates(self) -> list[CertRecord]:
        return self.store.own_certificates()

    def trust_certificates(self, store: str | None = None) -> list[CertRecord]:
        return self.store.trust_certificates(store)

    def all_certificates(self) -> list[CertRecord]:
        """Own then trust certificates (one snapshot on the REST path)."""
        return self.store.all_certificates()

    def generate_csr(self, purpose: str, *, common_name: str | None = None, alt_names: Sequence[str] = (),
                     key_type: str = "rsa", key_size: int = 2048, distribution: str = "this-server") -> str:
        return self.store.generate_csr(purpose, common_name=common_name, alt_names=alt_names,
                                       key_type=key_type, key_size=key_size, distribution=distribution)

    def get_csr(self, purpose: str) -> str | None:
        return self.store.get_csr(purpose)

    def upload_trust(self, purpose: str, pem: str, *, description: str = "cucmkit") -> None:
        """Upload one CA certificate to ``<purpose>-trust`` and verify it is stored, by fingerprint."""
        self.store.upload_trust(purpose, pem, description=description)

    def upload_identity(self, purpose: str, pem: str) -> None:
        self.store.upload_identity(purpose, pem)

    def regenerate_self_signed(self, purpose: str) -> None:
        """``set cert regen`` (the CLI on every release: the REST API has no regeneration)."""
        self._with_cli(lambda cli: cli.regen(purpose))

    def delete_trust(self, store: str, filename: str) -> None:
        self.store.delete_trust(store, filename)

    def served_certificate(self) -> CertRecord:
        """The certificate this node's HTTPS port serves right now (not verified: a probe)."""
        timeout = self._cluster.params.timeouts.connect
        chain = fetch_server_certificate(self.address, self.params.https_port, self.name, timeout)
        if not chain:
            raise CucmError("the node served no certificate", node=self.name, interface="tls",
                            operation="fetch certificate")
        return record_from_pem(chain[0], node=self.name, purpose=None, store="own", filename=None)

    # -- services and status ------------------------------------------------------------

    def service_status(self, names: Sequence[str] | None = None) -> ServiceStates:
        """States by name, looked up case-insensitively (CUCM answers "Cisco Tftp" for "Cisco TFTP")."""
        return self.controlcenter.service_status(tuple(names or ()))

    def run_command(self, command: str) -> str:
        """One admin CLI command (e.g. ``utils ipsec restart``); CliError when CUCM answers with an error."""
        return self._with_cli(lambda cli: cli.run(command).output)

    def restart_service(self, name: str, *, timeout: float | None = None,
                        on_line: Callable[[str], None] | None = None) -> ServiceState:
        """Restart ``name`` and wait until it is Started; TimeoutError_ at the deadline."""
        timeout = float(timeout if timeout is not None else self._cluster.params.timeouts.restart)
        if _via_cli(name):
            state = self._with_cli(lambda cli: cli.service_restart(name, on_line=on_line, timeout=timeout))
            self._reset_http()
            return state
        deadline = time.monotonic() + timeout
        answer = self.controlcenter.control("Restart", [name]).get(name)
        moving = answer is not None and not answer.started
        return self._wait_started(name, deadline, timeout, moving=moving)

    def _wait_started(self, name: str, deadline: float, timeout: float, *, moving: bool) -> ServiceState:
        """Poll until Started. A Started seen before any transition counts only after a grace
        period, so a node that reports the old state for a moment is not taken for done."""
        began = time.monotonic()
        while True:
            state = self.controlcenter.service_status([name]).get(name)
            moving = moving or (state is not None and not state.started)
            if state is not None and state.started and (moving or time.monotonic() - began >= _RESTART_GRACE):
                return state
            if state is not None and state.status == "Stopped" and state.reason_code not in (-1, 0):
                raise CucmError(f"{name} failed to start: {state.reason or state.reason_code}",
                                node=self.name, interface="controlcenter", operation="restart service",
                                service=name, remedy="look at the service's trace files on the node.")
            now = time.monotonic()
            if now >= deadline:
                status = state.status if state else "unknown"
                raise TimeoutError_(f"{name} not Started within {timeout:g} s (last status {status})",
                                    node=self.name, interface="controlcenter", operation="restart service",
                                    service=name, remedy="check the service on the node; raise timeouts.restart.")
            time.sleep(min(RESTART_POLL, deadline - now))

    def backup_status(self) -> BackupStatus:
        return self._with_cli(lambda cli: cli.backup_status())

    def restore_status(self) -> BackupStatus:
        return self._with_cli(lambda cli: cli.restore_status())

    def sso_status(self) -> bool:
        """What this node's ``/ssosp/ws/public/singleSignOn`` answers."""
        return self.sso.enabled()

    def sso_cli_status(self) -> SsoCliStatus:
        """This node's ``utils sso status`` (TAC 217268's layout)."""
        return self._with_cli(lambda cli: cli.sso_status())


class Cluster:
    """Every node of one cluster, plus the cluster-wide reads and writes (AXL, RisPort, SSO, CTL)."""

    def __init__(self, *, params: ClusterParams) -> None:
        self.params = params
        self.name = params.cluster
        self.credentials = _Credentials(params)
        self.nodes = tuple(Node(params=p, cluster=self) for p in params.nodes)
        self.publisher = next(n for n in self.nodes if n.role == "publisher" and n.kind == "CUCM")
        self.budget = RateBudget.for_cluster(params.cluster, rate=params.registration.risport_rate,
                                             window=params.registration.risport_window)
        self._lock = threading.RLock()
        self._axl: AxlClient | None = None
        self._risport: RisPortClient | None = None
        self._version: str | None = None

    @classmethod
    def from_parameters(cls, params: ClusterParams) -> Cluster:
        return cls(params=params)

    def __repr__(self) -> str:
        return f"Cluster({self.name!r}, nodes={[n.name for n in self.nodes]!r})"

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        for node in self.nodes:
            node.close()
        with self._lock:
            clients = [c for c in (self._axl, self._risport) if c is not None]
            self._axl = self._risport = None
        for client in clients:
            client.close()

    def node(self, name_or_fqdn: str) -> Node:
        key = name_or_fqdn.lower()
        for node in self.nodes:
            if key in (node.name.lower(), node.short.lower()):
                return node
        raise KeyError(f"no node {name_or_fqdn!r} in cluster {self.name}; nodes: {[n.name for n in self.nodes]}")

    # -- AXL ------------------------------------------------------------------------------

    @property
    def axl(self) -> AxlClient:
        with self._lock:
            if self._axl is None:
                self._axl = self._new_axl(self._axl_schema())
            return self._axl

    def _new_axl(self, schema: str) -> AxlClient:
        transport = self.publisher.transport("axl", self.params.credentials.for_axl())
        retry = self.params.retries.axl
        return AxlClient(transport=transport, version=schema, retries=retry.attempts - 1,
                         backoff=retry.backoff_seconds, backoff_max=retry.max_backoff_seconds)

    def _axl_schema(self) -> str:
        configured = self.params.publisher.version
        major = configured.split(".")[0] if configured != "auto" else "14"
        return _AXL_SCHEMAS.get(major, "14.0")

    def version(self) -> str:
        """The publisher's version: from the parameter file, else from AXL (cached)."""
        if self.params.publisher.version != "auto":
            return self.params.publisher.version
        with self._lock:
            if self._version is None:
                self._version = self._axl_version()
            return self._version

    def _axl_version(self) -> str:
        try:
            return self.axl.ccm_version()
        except (SoapFaultError, HttpStatusError) as exc:  # an older node may not know the 14.0 schema
            if isinstance(exc, HttpStatusError) and exc.status in (401, 403, 404):
                raise
            log.info("AXL 14.0 schema refused on %s; retrying with 12.5", self.publisher.name)
            with self._lock:
                old, self._axl = self._axl, self._new_axl("12.5")
            if old is not None:
                old.close()
            return self.axl.ccm_version()

    def security_mode(self) -> int:
        return self.axl.security_mode()

    def phone_interaction(self) -> bool:
        """The 14+ enterprise parameter "Phone Interaction on Certificate Update" resets phones automatically."""
        return self.axl.phone_interaction()

    def process_nodes(self) -> list[ProcessNode]:
        return self.axl.process_nodes()

    def reset_all_devices(self) -> None:
        self.axl.reset_all_devices()

    def reset_device_pool(self, name: str) -> None:
        self.axl.reset_device_pool(name)

    # -- RisPort, SSO, CTL --------------------------------------------------------------------

    def registration(self, *, names: Sequence[str] | None = None, within: float | None = None) -> RegistrationSummary:
        """Registration summary from RisPort (cluster-wide; publisher first, then other CUCM nodes).

        ``within``: seconds the whole call may take, back-off after a throttle fault included;
        TimeoutError_ when the rate budget leaves no room before then.
        """
        last: TransportError | None = None
        deadline = None if within is None else time.monotonic() + within
        for node in self._cucm_nodes():
            try:
                return self._risport_for(node).registration(names, deadline=deadline)
            except TransportError as exc:
                last = exc
                with self._lock:
                    if self._risport is not None:
                        self._risport.close()
                    self._risport = None
        assert last is not None
        raise last

    def _cucm_nodes(self) -> list[Node]:
        return [self.publisher] + [n for n in self.nodes if n.kind == "CUCM" and n is not self.publisher]

    def _risport_for(self, node: Node) -> RisPortClient:
        with self._lock:
            if self._risport is None:
                transport = node.transport("risport", self.params.credentials.for_serviceability())
                retry = self.params.retries.risport
                self._risport = RisPortClient(transport=transport, budget=self.budget, attempts=retry.attempts,
                                              backoff=retry.backoff_seconds, backoff_max=retry.max_backoff_seconds)
            return self._risport

    def sso_enabled(self) -> bool:
        """The publisher's web API answer (quick); the pre-check reads every node: :meth:`sso_by_node`."""
        return self.publisher.sso_status()

    def sso_by_node(self) -> list[SsoNodeStatus]:
        """Every node's SSO state from its web API, its CLI and its ``processnode.tkssomode`` row.

        The CLI and the GUI can disagree (TAC 217268), so nothing is taken from the publisher alone.
        A source that does not answer is left None and named in ``error``.
        """
        modes, db_error = self._sso_modes()
        return [_sso_of(node, modes, db_error) for node in self.nodes]

    def _sso_modes(self) -> tuple[dict[str, int], str | None]:
        try:
            rows = self.axl.sql(SSO_MODE_SQL)
        except CucmKitError as exc:
            return {}, f"processnode: {exc}"
        return {row.get("name", "").lower(): int(row["tkssomode"]) for row in rows
                if (row.get("tkssomode") or "").strip().isdigit()}, None

    def ctl_update(self) -> str:
        return self.publisher._with_cli(lambda cli: cli.ctl_update())

    # -- inventory ------------------------------------------------------------------------

    def inventory(self, *, nodes: Iterable[Node] | None = None, workers: int = 4) -> list[CertRecord]:
        """Own and trust certificates of every node (nodes read in parallel)."""
        chosen = list(nodes or self.nodes)

        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(chosen)))) as pool:
            results = list(pool.map(Node.all_certificates, chosen))
        return [record for records in results for record in records]


SSO_MODE_SQL = "select name,tkssomode from processnode"


def _sso_of(node: Node, modes: dict[str, int], db_error: str | None) -> SsoNodeStatus:
    errors = [db_error] if db_error else []

    def read(what: str, call: Callable[[], bool]) -> bool | None:
        try:
            return call()
        except CucmKitError as exc:
            errors.append(f"{what}: {exc}")
            return None

    api = read("web API", node.sso_status)
    cli = read("CLI", lambda: node.sso_cli_status().enabled)
    mode = modes.get(node.name.lower(), modes.get(node.short.lower()))
    return SsoNodeStatus(node=node.name, api=api, cli=cli, db_mode=mode, error="; ".join(errors) or None)
