"""The lab cluster's one state: nodes, and the cluster-wide settings, phones and CTL.

Every door (REST, SOAP, SSH) calls these facades; none calls another door. The
work is done by one module per concern, and ``LabNodeState`` / ``LabState``
hand over to them:

- ``store``: persistence (``state.json``, the PEM mirror, secrets) and the event log;
- ``certrules``: identities, trust stores, CSRs, CUCM's certificate rules and messages;
- ``services``: services, starts, stops and asynchronous restarts;
- ``phones``: phone registration, resets, ITL deletes, and the CTL;
- ``starting``: the realistic starting state of a new lab.

Rule violations raise ``LabRefusal`` whose message is what CUCM says
(``catalogue.MESSAGES``). Time-based behaviour is lazy: a restart stores when
it ends, and every read settles what has happened by now (services finish
starting, certificates become active, phones re-register). Every change is
persisted to ``<state_dir>/state.json`` under one re-entrant lock.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cucmkit.lab import pki
from cucmkit.lab.certrules import (
    NodeCertificates,
    OwnCert,
    TrustResult,
    trust_filename,
)
from cucmkit.lab.desk import PhoneDesk
from cucmkit.lab.doors import LabRefusal, current_door, door
from cucmkit.lab.faults import Faults
from cucmkit.lab.phones import CtlFile, PhoneFleet, PhoneView, next_ctl
from cucmkit.lab.services import NodeServices, ServiceState
from cucmkit.lab.starting import build_starting_state
from cucmkit.lab.store import (
    EVENT_KINDS,
    EVENT_LIMIT,
    EventLog,
    Knobs,
    LabEvent,
    PemMirror,
    Secrets,
    save_state,
)
from cucmkit.lab.topology import LAB_VERSION, NodeSpec, Topology

__all__ = [
    "LabRefusal",
    "OwnCert",
    "TrustResult",
    "ServiceState",
    "CtlFile",
    "Knobs",
    "LabNodeState",
    "LabState",
    "LabEvent",
    "EVENT_KINDS",
    "EVENT_LIMIT",
    "OS_ADMIN_USER",
    "APP_USER",
    "CA_USER",
    "current_door",
    "trust_filename",
]

OS_ADMIN_USER = "admin"
APP_USER = "ccmadmin"
CA_USER = "causer"
STATE_VERSION = 1


class LabNodeState:
    """One node: ``certs`` (identities, trust stores, CSRs) and ``svc`` (services), behind one facade."""

    def __init__(self, *, state: LabState, spec: NodeSpec, fqdn: str) -> None:
        self.name = spec.name
        self.fqdn = fqdn
        self.role = spec.role
        self.kind = spec.kind
        self.spec = spec
        self.ip = "127.0.0.1"
        self.certs = NodeCertificates(ctx=state, name=spec.name, fqdn=fqdn, kind=spec.kind,
                                      peers=lambda: [n.certs for n in state.nodes.values()],
                                      activated=lambda service: self.svc.is_activated(service))
        self.svc = NodeServices(ctx=state, name=spec.name, fqdn=fqdn, certs=self.certs)

    def __repr__(self) -> str:
        return f"LabNodeState({self.name!r}, {self.fqdn!r}, {self.role}, {self.kind})"

    @property
    def is_publisher(self) -> bool:
        return self.role == "publisher" and self.kind == "CUCM"

    @property
    def units(self) -> tuple[str, ...]:
        return self.certs.units

    @property
    def web_security(self) -> dict[str, str]:
        return self.certs.web_security

    # ------------------------------------------------------------ certificates (certrules)

    def unit(self, purpose: str) -> str:
        return self.certs.unit(purpose)

    def store(self, purpose_or_store: str) -> str:
        return self.certs.store(purpose_or_store)

    def own(self) -> dict[str, OwnCert]:
        return self.certs.own()

    def trust(self, store: str) -> dict[str, str]:
        return self.certs.trust(store)

    def trust_stores(self) -> dict[str, dict[str, str]]:
        return self.certs.trust_stores()

    def pending_csr(self, purpose: str) -> str | None:
        return self.certs.pending_csr(purpose)

    def csr_missing_message(self, purpose: str) -> str:
        return self.certs.csr_missing_message(purpose)

    def pending_distribution(self, purpose: str) -> str | None:
        return self.certs.pending_distribution(purpose)

    def generate_csr(self, purpose: str, *, common_name: str | None = None, alt_names: Iterable[str] = (),
                     key_type: str = "rsa", key_length: int = 2048, distribution: str = "this-server",
                     include_ou: bool = True) -> str:
        return self.certs.generate_csr(purpose, common_name=common_name, alt_names=alt_names, key_type=key_type,
                                       key_length=key_length, distribution=distribution, include_ou=include_ou)

    def upload_identity(self, purpose: str, pem_or_der: bytes | str) -> str:
        return self.certs.upload_identity(purpose, pem_or_der)

    def upload_trust(self, purpose_or_store: str, pem_or_der: bytes | str) -> TrustResult:
        return self.certs.upload_trust(purpose_or_store, pem_or_der)

    def delete_trust(self, store: str, filename: str) -> None:
        self.certs.delete_trust(store, filename)

    def regenerate(self, purpose: str) -> str:
        return self.certs.regenerate(purpose)

    def set_web_security(self, *, orgunit: str, orgname: str, locality: str, state: str,
                         country: str = "", alternatehostname: str = "") -> str:
        return self.certs.set_web_security(orgunit=orgunit, orgname=orgname, locality=locality, state=state,
                                           country=country, alternatehostname=alternatehostname)

    def tls_chain(self) -> tuple[str, str, list[str]]:
        return self.certs.tls_chain()

    def active_fingerprint(self, unit: str) -> str:
        return self.certs.active_fingerprint(unit)

    @staticmethod
    def restart_hint(purpose: str) -> str:
        return NodeCertificates.restart_hint(purpose)

    # ------------------------------------------------------------ services

    def services(self) -> dict[str, ServiceState]:
        return self.svc.services()

    def service(self, name: str) -> ServiceState:
        return self.svc.service(name)

    def xmpp_sessions(self) -> int:
        """Jabber sessions connected to this node now (IM&P: while Cisco XCP Router runs; CUCM: none)."""
        self.svc.services()            # settles pending restarts first
        return self.svc.xmpp_sessions() if self.kind == "IM&P" else 0

    def restart(self, service: str) -> ServiceState:
        return self.svc.restart(service)

    def start(self, service: str) -> ServiceState:
        return self.svc.start(service)

    def stop(self, service: str) -> ServiceState:
        return self.svc.stop(service)

    def cm_running(self) -> bool:
        return self.svc.cm_running()

    # ------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        return {**self.certs.to_dict(), "services": self.svc.to_dict()}

    def load_dict(self, data: dict[str, Any]) -> None:
        self.certs.load_dict(data)
        self.svc.load_dict(data["services"])


class LabState:
    """The whole lab cluster. Create with ``LabState.open(state_dir, topology=..., speed=...)``."""

    def __init__(self, *, state_dir: Path, topology: Topology, knobs: Knobs | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.topology = topology
        self.knobs = knobs or Knobs()
        self.lock = threading.RLock()
        self.faults = Faults(on_change=self.changed)
        self.security_mode = 0
        self.ctl = CtlFile()
        self.sso_enabled = False
        self.sso_node_modes: dict[str, int] = {}   # node -> processnode.tkssomode where it differs (TAC 217268)
        self.backup_in_progress = False
        self.restore_in_progress = False
        self.nodes: dict[str, LabNodeState] = {
            s.name: LabNodeState(state=self, spec=s, fqdn=topology.fqdn(s.name)) for s in topology.nodes}
        self.phones = PhoneFleet(trust_of=self._trust_of)
        self.desk = PhoneDesk(self)
        self._secrets = Secrets(self.state_dir)
        self._mirror = PemMirror(self.state_dir / "nodes")
        self._log = EventLog(self.state_dir)
        self._loading = False
        self._connections: dict[tuple[str, str], int] = {}   # (node, door) -> connections accepted (in memory)

    def __repr__(self) -> str:
        return f"LabState({str(self.state_dir)!r}, nodes={list(self.nodes)})"

    # ------------------------------------------------------------ construction

    @classmethod
    def open(cls, state_dir: Path, *, topology: Topology | None = None, speed: float | None = None,
             faults: dict[str, dict[str, Any]] | None = None) -> LabState:
        """Load ``<state_dir>/state.json`` if present, else build the realistic starting state."""
        state_dir = Path(state_dir)
        path = state_dir / "state.json"
        state = cls.load(state_dir) if path.exists() else cls.create(state_dir, topology or Topology())
        with state.lock:
            if speed is not None:
                state.knobs.speed = float(speed)
            for node, items in (faults or {}).items():
                for name, value in items.items():
                    state.faults.set(node, name, value)
            state.changed()
        return state

    @classmethod
    def create(cls, state_dir: Path, topology: Topology) -> LabState:
        state = cls(state_dir=state_dir, topology=topology)
        state._loading = True
        state._secrets.make()
        build_starting_state(state.state_dir, state.nodes.values())
        state.phones = PhoneFleet.build(topology.phones, state.phone_nodes(), trust_of=state._trust_of,
                                        now=time.time())
        state._loading = False
        state.changed()
        return state

    def phone_nodes(self) -> list[str]:
        cucm = [n.name for n in self.nodes.values() if n.kind == "CUCM"]
        subs = [n for n in cucm if self.nodes[n].role == "subscriber"]
        return subs or cucm

    @classmethod
    def load(cls, state_dir: Path) -> LabState:
        data = json.loads((Path(state_dir) / "state.json").read_text())
        state = cls(state_dir=state_dir, topology=Topology.from_dict(data["topology"]))
        state._loading = True
        state.knobs = Knobs.from_dict(data["knobs"])
        state.faults = Faults(data.get("faults"), on_change=state.changed)
        state.security_mode = int(data["security_mode"])
        state.ctl = CtlFile.from_dict(data["ctl"])
        state.sso_enabled = bool(data["sso_enabled"])
        state.backup_in_progress = bool(data["backup_in_progress"])
        state.restore_in_progress = bool(data.get("restore_in_progress", False))
        state.sso_node_modes = {str(k): int(v) for k, v in data.get("sso_node_modes", {}).items()}
        for name, node_data in data["nodes"].items():
            state.nodes[name].load_dict(node_data)
        state.phones = PhoneFleet.from_list(data["phones"], trust_of=state._trust_of)
        state._secrets.read()
        state._log.load()
        state._loading = False
        return state

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "topology": self.topology.to_dict(),
            "knobs": asdict(self.knobs),
            "faults": self.faults.to_dict(),
            "security_mode": self.security_mode,
            "ctl": self.ctl.to_dict(),
            "sso_enabled": self.sso_enabled,
            "backup_in_progress": self.backup_in_progress,
            "restore_in_progress": self.restore_in_progress,
            "sso_node_modes": dict(self.sso_node_modes),
            "nodes": {n: node.to_dict() for n, node in self.nodes.items()},
            "phones": self.phones.to_list(),
        }

    def changed(self) -> None:
        """Persist now (callers hold the lock or have made one atomic change)."""
        if self._loading:
            return
        with self.lock:
            save_state(self.state_dir, self.to_dict())
            files: dict[Path, str] = {}
            for node in self.nodes.values():
                files.update(node.certs.pem_files(self._mirror.root / node.name))
            self._mirror.sync(files)

    # ------------------------------------------------------------ connection counters

    def count_connection(self, node: str, door: str) -> None:
        """One connection accepted on ``node``'s ``door`` (https | ssh), faults or not: proof of contact."""
        with self.lock:
            key = (node, door)
            self._connections[key] = self._connections.get(key, 0) + 1

    def connections(self) -> dict[str, int]:
        """Connections accepted since the lab started, per node (every door), for "was it touched?"."""
        with self.lock:
            out = {name: 0 for name in self.nodes}
            for (node, _door), count in self._connections.items():
                out[node] = out.get(node, 0) + count
            return out

    # ------------------------------------------------------------ event log

    @staticmethod
    def door(name: str) -> AbstractContextManager[None]:
        """``with LabState.door("cli"): ...`` names the door for the events recorded in the block."""
        return door(name)

    @property
    def events_path(self) -> Path:
        return self._log.path

    def record(self, kind: str, node: str = "", *, at: float | None = None, **data: Any) -> LabEvent | None:
        """Append one event (not while the starting state is built or loaded); persisted at once."""
        if self._loading:
            return None
        with self.lock:
            return self._log.append(kind, node, at, data)

    def events(self, since: float | str | None = None, kind: str | Iterable[str] | None = None) -> list[LabEvent]:
        """The event log, oldest first: ``since`` (epoch seconds or ISO time; events at or after it),
        ``kind`` (one kind or several). Settles first, so finished restarts are in it."""
        self.settle()
        with self.lock:
            return self._log.select(since, kind)

    @property
    def version(self) -> str:
        """The CUCM release the lab's doors report (AXL, Control Center, the CLI): the knob ``cucm_version``."""
        return str(self.knobs.cucm_version or LAB_VERSION)

    def settle(self) -> None:
        """Apply everything whose time has come: finished restarts, re-registrations."""
        with self.lock:
            now = time.time()
            changed = any([node.svc.settle(now) for node in self.nodes.values()])
            self.phones.jitter = self.knobs.phone_jitter
            changed = self.phones.settle(now, cm_running=lambda n: self.nodes[n].cm_running()) or changed
            if changed:
                self.changed()

    # ------------------------------------------------------------ lookups and auth

    def node(self, name: str) -> LabNodeState:
        key = str(name).lower()
        for node in self.nodes.values():
            if key in (node.name.lower(), node.fqdn.lower()):
                return node
        raise KeyError(f"no lab node {name!r}")

    @property
    def publisher(self) -> LabNodeState:
        return next(n for n in self.nodes.values() if n.is_publisher)

    def secret(self, name: str) -> str:
        """The password in ``<state>/secrets/<name>`` (for the lab's own doors and tests)."""
        return self._secrets.get(name)

    def check_os_admin(self, node: LabNodeState | str, user: str, password: str) -> bool:
        return user == OS_ADMIN_USER and self._secrets.matches("os_admin", password)

    def check_app_user(self, user: str, password: str) -> bool:
        return user == APP_USER and self._secrets.matches("app_user", password)

    def check_ca_user(self, user: str, password: str) -> bool:
        return user == CA_USER and self._secrets.matches("ca_user", password)

    # ------------------------------------------------------------ cluster-wide

    def set_security_mode(self, mode: int) -> None:
        with self.lock:
            self.security_mode = 1 if int(mode) else 0
            self.changed()

    def set_sso(self, enabled: bool) -> None:
        """Cluster-wide SAML SSO on or off (every node agrees again)."""
        with self.lock:
            self.sso_enabled = bool(enabled)
            self.sso_node_modes.clear()
            self.changed()

    def set_sso_node(self, node: str, mode: int) -> None:
        """One node's ``processnode.tkssomode`` (0 off, 1 agent flow, 2 SAML): its CLI then says so,
        while the web API keeps the cluster-wide answer (the GUI/CLI disagreement of TAC 217268)."""
        if node not in self.nodes or int(mode) not in (0, 1, 2):
            raise ValueError(f"set_sso_node needs a node of {sorted(self.nodes)} and a mode 0, 1 or 2")
        with self.lock:
            self.sso_node_modes[node] = int(mode)
            self.changed()

    def sso_mode(self, node: str) -> int:
        """``processnode.tkssomode`` of ``node``: its own value, else 2 (SAML) or 0 from the cluster setting."""
        return self.sso_node_modes.get(node, 2 if self.sso_enabled else 0)

    def set_restore(self, in_progress: bool) -> None:
        with self.lock:
            self.restore_in_progress = bool(in_progress)
            self.changed()

    def set_backup(self, in_progress: bool) -> None:
        with self.lock:
            self.backup_in_progress = bool(in_progress)
            self.changed()

    def ctl_update(self) -> str:
        with self.lock:
            pub = self.publisher
            self.ctl = next_ctl(self.ctl, security_mode=self.security_mode,
                                fingerprint=pub.certs.installed_fingerprint)
            self.record("ctl_updated", pub.fqdn, version=self.ctl.version, door=current_door())
            self.changed()
            return "The CTL File was successfully updated"

    def _trust_of(self, node: str) -> tuple[str, str]:
        lab_node = self.nodes.get(node)
        if lab_node is None:
            return "", ""
        return lab_node.active_fingerprint("CallManager"), lab_node.active_fingerprint("TVS")

    # ------------------------------------------------------------ phones (phones.PhoneDesk)

    def reset_all_devices(self) -> int:
        return self.desk.reset_all_devices()

    def reset_device_pool(self, name: str) -> int:
        return self.desk.reset_device_pool(name)

    def reset_device(self, name: str) -> int:
        return self.desk.reset_device(name)

    def delete_itl(self, names: Iterable[str]) -> int:
        return self.desk.delete_itl(names)

    def phone_views(self) -> list[PhoneView]:
        return self.desk.views()

    def phone_summary(self) -> dict[str, int]:
        return self.desk.summary()

    def certificate_summary(self) -> dict[str, list[dict[str, Any]]]:
        """node -> [{purpose, subject_cn, issuer_cn, days_left, self_signed, pending_restart, csr_pending}]."""
        now = pki.utcnow()
        out: dict[str, list[dict[str, Any]]] = {}
        for node in self.nodes.values():
            rows = []
            for unit, own in node.own().items():
                cert = pki.load_cert(own.pem)
                rows.append({"purpose": unit, "subject_cn": pki.common_name(cert),
                             "issuer_cn": pki.common_name(cert.issuer),
                             "days_left": round((cert.not_valid_after_utc - now).total_seconds() / 86400, 1),
                             "self_signed": cert.issuer == cert.subject,
                             "pending_restart": own.pem != own.active_pem,
                             "csr_pending": node.pending_csr(unit) is not None})
            out[node.name] = rows
        return out
