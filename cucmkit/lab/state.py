"""The lab cluster's one state: nodes, certificates, rules, services, phones.

Every door (REST, SOAP, SSH) calls these methods; none calls another door.
Rule violations raise ``LabRefusal`` whose message is what CUCM says
(``catalogue.MESSAGES``). Time-based behaviour is lazy: a restart stores when
it ends, and every read settles what has happened by now (services finish
starting, certificates become active, phones re-register). Every change is
persisted to ``<state_dir>/state.json`` under one re-entrant lock.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from cucmkit import catalogue
from cucmkit.catalogue import MESSAGES
from cucmkit.lab import pki
from cucmkit.lab.faults import Faults
from cucmkit.lab.phones import PhoneFleet
from cucmkit.lab.topology import NodeSpec, Topology

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
    "trust_filename",
]

OS_ADMIN_USER = "admin"
APP_USER = "ccmadmin"
CA_USER = "causer"
STATE_VERSION = 1
EVENT_LIMIT = 5000
EVENT_KINDS = ("restart_requested", "restart_completed", "restart_failed", "service_stopped", "csr_generated",
               "identity_uploaded", "trust_uploaded", "trust_deleted", "regenerated", "ctl_updated",
               "devices_reset", "itl_deleted")

TOMCAT = "Cisco Tomcat"
CALLMANAGER = "Cisco CallManager"

# service name -> activated on (publisher, subscriber); absent = not installed on that kind
_CUCM_SERVICES: dict[str, tuple[bool, bool]] = {
    "A Cisco DB": (True, True),
    "Cisco Database Layer Monitor": (True, True),
    TOMCAT: (True, True),
    "Cisco CallManager Serviceability": (True, True),
    "Cisco RIS Data Collector": (True, True),
    "Cisco AXL Web Service": (True, False),
    CALLMANAGER: (True, True),
    "Cisco CTIManager": (True, True),
    "Cisco TFTP": (True, True),
    "Cisco Trust Verification Service": (True, True),
    "Cisco Certificate Authority Proxy Function": (True, False),
    "Cisco DRF Master": (True, False),
    "Cisco DRF Local": (True, True),
    "Cisco Certificate Change Notification": (True, True),
    "Cisco Certificate Expiry Monitor": (True, True),
    "Cisco Extension Mobility": (False, False),
    "Cisco DirSync": (False, False),
}
_IMP_SERVICES: dict[str, tuple[bool, bool]] = {
    "A Cisco DB": (True, True),
    TOMCAT: (True, True),
    "Cisco AXL Web Service": (True, True),
    "Cisco DRF Local": (True, True),
    "Cisco SIP Proxy": (True, True),
    "Cisco Presence Engine": (True, True),
    "Cisco XCP Router": (True, True),
    "Cisco XCP Connection Manager": (True, True),
    "Cisco XCP Web Connection Manager": (True, True),
    "Cisco Intercluster Sync Agent": (True, True),
    "Cisco Client Profile Agent": (True, True),
}

# reason codes (Control Center)
RC_OK, RC_NOT_RUNNING, RC_NO_SUCH, RC_PENDING = -1, -1019, -1010, -1029
RC_ALREADY_STARTED, RC_ALREADY_STOPPED, RC_NOT_ACTIVATED = -1039, -1040, -1068


class LabRefusal(Exception):
    """CUCM refused: ``message`` is CUCM's text, ``status`` the HTTP status, ``code`` a Control Center reason."""

    def __init__(self, message: str, status: int = 400, *, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


@dataclass(frozen=True)
class OwnCert:
    """An identity: the installed certificate and what the service uses now (active)."""

    purpose: str
    pem: str
    key_pem: str
    active_pem: str
    active_key_pem: str

    def __repr__(self) -> str:  # keep private keys out of reprs
        return f"OwnCert(purpose={self.purpose!r}, fingerprint={pki.fingerprint(self.pem)[:16]}...)"


@dataclass(frozen=True)
class TrustResult:
    filename: str
    stored: bool
    reason: str = ""


@dataclass(frozen=True)
class ServiceState:
    name: str
    activated: bool
    status: str               # Started | Stopped | Starting | Stopping
    started_at: float | None  # epoch seconds of the last start
    reason: int = RC_OK       # Control Center reason code for this status

    @property
    def reason_text(self) -> str:
        return {RC_OK: "Started", RC_NOT_RUNNING: "Component is not running",
                RC_NOT_ACTIVATED: "Service Not Activated", RC_PENDING: "Operation is pending"}.get(self.reason, "")


@dataclass(frozen=True)
class CtlFile:
    version: int = 1
    signers: tuple[str, ...] = ()
    updated_at: float = 0.0


@dataclass(frozen=True)
class LabEvent:
    """One change to a node, as the lab's append-only event log keeps it (``LabState.events``)."""

    seq: int
    time: float               # epoch seconds the change happened (a restart's completion: when it finished)
    kind: str                 # one of EVENT_KINDS
    node: str = ""            # FQDN; "" for cluster-wide changes (CTL update, device resets)
    data: tuple[tuple[str, Any], ...] = ()

    def get(self, name: str, default: Any = None) -> Any:
        return dict(self.data).get(name, default)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "time": self.time, "kind": self.kind, "node": self.node, **dict(self.data)}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> LabEvent:
        data = {k: v for k, v in row.items() if k not in ("seq", "time", "kind", "node")}
        return cls(int(row["seq"]), float(row["time"]), str(row["kind"]), str(row.get("node", "")),
                   tuple(sorted(data.items())))


_DOOR = threading.local()


def current_door() -> str:
    """Which door is calling, for the event log: the innermost ``LabState.door(...)`` block.

    The SSH listener wraps each session in ``door("cli")``, the HTTPS listener each
    request in ``door("https")`` (``"controlcenter"`` for Control Center); anything
    else is a direct call (``api``: a test, the control endpoint).
    """
    return str(getattr(_DOOR, "name", None) or "api")


class _DoorBlock:
    def __init__(self, name: str) -> None:
        self._name, self._saved = name, None

    def __enter__(self) -> None:
        self._saved = getattr(_DOOR, "name", None)
        _DOOR.name = self._name

    def __exit__(self, *exc: Any) -> None:
        _DOOR.name = self._saved


@dataclass
class Knobs:
    """Tunables. Durations are base seconds, multiplied by ``speed``."""

    speed: float = 1.0
    restart_seconds: float = 10.0
    tomcat_restart_seconds: float = 20.0
    reregister_seconds: float = 30.0
    phone_jitter: float = 0.2
    risport_rate: int = 15
    risport_cap: int = 1000
    ca_approval: str = "auto"          # "auto" | "manual"
    axl_write_503: bool = False
    ssh_login_delay: float = 0.0
    http_latency: float = 0.0          # seconds slept per HTTPS request (not scaled by speed)
    risport_window: float = 60.0       # RisPort's sliding rate window, seconds (not scaled by speed)

    def delay(self, base: float) -> float:
        return float(base) * float(self.speed)

    def set(self, name: str, value: Any) -> Any:
        names = {f.name: f for f in fields(self)}
        if name not in names:
            raise ValueError(f"unknown knob {name!r}; valid: {', '.join(names)}")
        current = getattr(self, name)
        if isinstance(current, bool):
            conv: Any = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
        elif isinstance(current, int):
            conv = int(value)
        elif isinstance(current, float):
            conv = float(value)
        else:
            conv = str(value)
        setattr(self, name, conv)
        return conv


def trust_filename(cert: x509.Certificate) -> str:
    cn = pki.common_name(cert) or cert.subject.rfc4514_string()
    return f"{cn.replace(' ', '_')}.pem"


def _unit_key_type(unit: str) -> str:
    return catalogue.get(unit).key_type


@dataclass
class _Svc:
    """A service's stored facts; its status is computed from them at read time."""

    name: str
    activated: bool
    running: bool = True
    started_at: float | None = None
    stop_until: float | None = None     # end of the Stopping phase of a pending (re)start
    done_at: float | None = None        # when the pending (re)start completes
    will_fail: bool = False
    door: str = ""                      # who asked for the pending (re)start (for the event log)
    action: str = ""                    # "restart" | "start"
    activates: dict[str, list[str]] = field(default_factory=dict)  # purpose -> [pem, key_pem]


def _status(svc: _Svc, now: float) -> ServiceState:
    if not svc.activated:
        return ServiceState(svc.name, False, "Stopped", None, RC_NOT_ACTIVATED)
    if svc.done_at is not None and svc.stop_until is not None and now < svc.stop_until:
        return ServiceState(svc.name, True, "Stopping", svc.started_at, RC_PENDING)
    if svc.done_at is not None and now < svc.done_at:
        return ServiceState(svc.name, True, "Starting", svc.started_at, RC_PENDING)
    if not svc.running:
        return ServiceState(svc.name, True, "Stopped", None, RC_NOT_RUNNING)
    return ServiceState(svc.name, True, "Started", svc.started_at, RC_OK)


class LabNodeState:
    """One node: its identities, trust stores, pending CSRs and services."""

    def __init__(self, *, state: LabState, spec: NodeSpec, fqdn: str) -> None:
        self._state = state
        self.name = spec.name
        self.fqdn = fqdn
        self.role = spec.role
        self.kind = spec.kind
        self.spec = spec
        self.ip = "127.0.0.1"
        self._own: dict[str, OwnCert] = {}
        self._trust: dict[str, dict[str, str]] = {}
        self._csr: dict[str, dict[str, str]] = {}
        self._svc: dict[str, _Svc] = {}
        self.web_security: dict[str, str] = {"orgunit": "UC", "orgname": "Lab Example", "locality": "Tokyo",
                                             "state": "Tokyo", "country": "JP", "alternatehostname": ""}

    def __repr__(self) -> str:
        return f"LabNodeState({self.name!r}, {self.fqdn!r}, {self.role}, {self.kind})"

    @property
    def is_publisher(self) -> bool:
        return self.role == "publisher" and self.kind == "CUCM"

    @property
    def units(self) -> tuple[str, ...]:
        return catalogue.units_for(self.kind)      # every unit the catalogue puts on this kind of node

    def unit(self, purpose: str) -> str:
        """CUCM's spelling of a unit on this node (case-insensitive); LabRefusal if the node has none."""
        return self._unit(purpose)

    def store(self, purpose_or_store: str) -> str:
        """The trust store name for a purpose or store name (``tomcat`` -> ``tomcat-trust``)."""
        return self._store(purpose_or_store)

    def _unit(self, purpose: str) -> str:
        for unit in self.units:
            if unit.lower() == str(purpose).lower():
                return unit
        raise LabRefusal(f"Invalid certificate type {purpose} for this server", 400)

    def _store(self, purpose_or_store: str) -> str:
        name = str(purpose_or_store)
        base = name[: -len("-trust")] if name.lower().endswith("-trust") else name
        return f"{self._unit(base)}-trust"

    # ------------------------------------------------------------ certificates

    def own(self) -> dict[str, OwnCert]:
        with self._state.lock:
            self._state.settle()
            return dict(self._own)

    def trust(self, store: str) -> dict[str, str]:
        with self._state.lock:
            return dict(self._trust.get(self._store(store), {}))

    def trust_stores(self) -> dict[str, dict[str, str]]:
        with self._state.lock:
            return {k: dict(v) for k, v in self._trust.items()}

    def pending_csr(self, purpose: str) -> str | None:
        with self._state.lock:
            entry = self._csr.get(self._unit(purpose))
            return entry["csr_pem"] if entry else None

    def csr_missing_message(self, purpose: str) -> str:
        unit = self._unit(purpose)
        try:
            return MESSAGES.no_csr.format(csr_path=catalogue.get(unit).csr_path)
        except ValueError:
            low = unit.lower()
            return MESSAGES.no_csr.format(csr_path=f"/usr/local/platform/.security/{low}/keys/{low}.csr")

    def generate_csr(self, purpose: str, *, common_name: str | None = None, alt_names: Iterable[str] = (),
                     key_type: str = "rsa", key_length: int = 2048, distribution: str = "this-server",
                     include_ou: bool = True) -> str:
        unit = self._unit(purpose)
        key_type = _unit_key_type(unit)
        if key_type == "ec" and key_length not in (256, 384, 521):
            key_length = 384
        if key_type == "rsa" and key_length not in (1024, 2048, 3072, 4096):
            raise LabRefusal(f"Invalid key length {key_length}", 400)
        cn, sans = self._csr_names(unit, common_name, list(alt_names), distribution)
        key = pki.new_key(key_type, key_length)
        ws = self.web_security
        csr_pem = pki.make_csr(key=key, cn=cn, sans=tuple(sans), ou=ws["orgunit"] if include_ou else None,
                               o=ws["orgname"], l=ws["locality"], st=ws["state"], c=ws["country"] or None)
        with self._state.lock:
            self._csr[unit] = {"csr_pem": csr_pem, "key_pem": pki.key_to_pem(key), "distribution": distribution}
            self._state.record("csr_generated", self.fqdn, purpose=unit, distribution=distribution,
                               door=current_door())
            self._state.changed()
        return csr_pem

    def _csr_names(self, unit: str, cn: str | None, alt: list[str], distribution: str) -> tuple[str, list[str]]:
        topo = self._state.topology
        if distribution == "multi-server":
            if not unit.startswith(("tomcat", "CallManager", "cup-xmpp")):
                raise LabRefusal(f"Multi-server distribution is not supported for {unit}", 400)
            for name in alt:
                if _is_ip(name):
                    raise LabRefusal(f"Invalid alternate name {name}: multi-server certificates accept only FQDNs", 400)
            cn = cn or f"{topo.publisher.name}-ms.{topo.domain}"
            scope = [n for n in self._state.nodes.values() if unit.startswith("tomcat") or n.kind == self.kind]
            names = [f"DNS:{n.fqdn}" for n in scope] + [f"DNS:{a}" for a in alt]
        elif distribution == "this-server":
            cn = cn or self.fqdn
            names = [f"DNS:{self.fqdn}"]
            if unit.startswith("tomcat"):
                names.append(f"DNS:{topo.domain}")
            if self.web_security.get("alternatehostname"):
                names.append(f"DNS:{self.web_security['alternatehostname']}")
            names += [f"IP:{a}" if _is_ip(a) else f"DNS:{a}" for a in alt]
        else:
            raise LabRefusal(f"Invalid distribution {distribution}", 400)
        return cn, list(dict.fromkeys(names))

    def upload_identity(self, purpose: str, pem_or_der: bytes | str) -> str:
        """Install a CA-signed identity per the upload rule order; CUCM's message on refusal."""
        unit = self._unit(purpose)
        cert = _parse_cert(pem_or_der)
        names = pki.san_strings(cert)
        if pki.common_name(cert).startswith("*") or any(n.startswith("DNS:*") for n in names):
            raise LabRefusal(MESSAGES.wildcard)
        pub = cert.public_key()
        if isinstance(pub, rsa.RSAPublicKey) and pub.key_size > 4096:
            raise LabRefusal(MESSAGES.key_too_large)
        with self._state.lock:
            entry = self._csr.get(unit)
            if entry is None:
                raise LabRefusal(self.csr_missing_message(unit))
            if not _chain_in(cert, self._trust.get(f"{unit}-trust", {}).values()):
                raise LabRefusal(MESSAGES.ca_not_in_trust)
            csr = x509.load_pem_x509_csr(entry["csr_pem"].encode())
            if not _same_key(csr.public_key(), pub):
                raise LabRefusal(MESSAGES.key_mismatch)
            if pki.san_strings(csr) != names:
                raise LabRefusal(MESSAGES.san_mismatch)
            pem = pki.cert_to_pem(cert)
            targets = self._multi_targets(unit) if entry.get("distribution") == "multi-server" else [self]
            for node in targets:
                node._install(unit, pem, entry["key_pem"])
            del self._csr[unit]
            self._state.record("identity_uploaded", self.fqdn, purpose=unit, fingerprint=pki.fingerprint(pem),
                               targets=[n.fqdn for n in targets], door=current_door())
            self._state.changed()
        return MESSAGES.import_ok.format(unit=unit)

    def _multi_targets(self, unit: str) -> list[LabNodeState]:
        return [n for n in self._state.nodes.values() if unit in n.units
                and (unit.startswith("tomcat") or n.kind == self.kind)]

    def _install(self, unit: str, pem: str, key_pem: str) -> None:
        old = self._own.get(unit)
        active = (old.active_pem, old.active_key_pem) if old else (pem, key_pem)
        svc = self._svc.get(catalogue.activated_by(unit))
        if svc is None or not svc.activated:
            active = (pem, key_pem)  # nothing runs that would hold the old one
        self._own[unit] = OwnCert(unit, pem, key_pem, active[0], active[1])

    @staticmethod
    def restart_hint(purpose: str) -> str:
        return MESSAGES.restart_hint.format(unit=purpose)

    def upload_trust(self, purpose_or_store: str, pem_or_der: bytes | str) -> TrustResult:
        store = self._store(purpose_or_store)
        cert = _parse_cert(pem_or_der)
        if cert.not_valid_after_utc <= pki.utcnow():
            raise LabRefusal(MESSAGES.expired)
        filename = trust_filename(cert)
        with self._state.lock:
            bucket = self._trust.setdefault(store, {})
            existing = bucket.get(filename)
            if existing is not None:
                if pki.load_cert(existing).not_valid_before_utc > cert.not_valid_before_utc:
                    return TrustResult(filename, False, MESSAGES.not_replaced_older)
            bucket[filename] = pki.cert_to_pem(cert)
            self._state.record("trust_uploaded", self.fqdn, store=store, filename=filename,
                               fingerprint=pki.fingerprint(bucket[filename]), door=current_door())
            self._state.changed()
        return TrustResult(filename, True, "")

    def delete_trust(self, store: str, filename: str) -> None:
        name = self._store(store)
        with self._state.lock:
            bucket = self._trust.get(name, {})
            if filename not in bucket:
                raise LabRefusal(f"Certificate {filename} does not exist in {name}", 404)
            del bucket[filename]
            self._state.record("trust_deleted", self.fqdn, store=name, filename=filename, door=current_door())
            self._state.changed()

    def regenerate(self, purpose: str) -> str:
        """Self-signed replacement (overwrites a CA-signed one); active after the service restarts."""
        unit = self._unit(purpose)
        key = pki.new_key(_unit_key_type(unit), 384 if _unit_key_type(unit) == "ec" else 2048)
        sans = (f"DNS:{self.fqdn}",)
        pem = pki.self_signed(cn=self.fqdn if not unit.startswith(("CAPF", "ITLRecovery", "TVS")) else f"{unit}-{self.name}",
                              key=key, unit=unit, sans=sans, days=1825, ou=self.web_security.get("orgunit"))
        with self._state.lock:
            self._install(unit, pem, pki.key_to_pem(key))
            self._csr.pop(unit, None)
            self._state.record("regenerated", self.fqdn, purpose=unit, fingerprint=pki.fingerprint(pem),
                               door=current_door())
            self._state.changed()
        return f"Successfully Regenerated Certificate for {unit}."

    def set_web_security(self, *, orgunit: str, orgname: str, locality: str, state: str,
                         country: str = "", alternatehostname: str = "") -> str:
        with self._state.lock:
            self.web_security.update(orgunit=orgunit, orgname=orgname, locality=locality, state=state,
                                     country=country, alternatehostname=alternatehostname)
            self._state.changed()
        self.regenerate("tomcat")
        return "Successfully updated web-security parameters and regenerated the tomcat certificate."

    def tls_chain(self) -> tuple[str, str, list[str]]:
        """(cert PEM, key PEM, issuer chain PEMs) that the HTTPS listener serves now: the ACTIVE tomcat."""
        with self._state.lock:
            self._state.settle()
            own = self._own["tomcat"]
            chain = _issuer_chain(pki.load_cert(own.active_pem), self._trust.get("tomcat-trust", {}).values())
            return own.active_pem, own.active_key_pem, chain

    # ------------------------------------------------------------ services

    def services(self) -> dict[str, ServiceState]:
        with self._state.lock:
            self._state.settle()
            now = time.time()
            return {name: _status(svc, now) for name, svc in self._svc.items()}

    def service(self, name: str) -> ServiceState:
        with self._state.lock:
            self._state.settle()
            return _status(self._svc_named(name), time.time())

    def _svc_named(self, name: str) -> _Svc:
        for key, svc in self._svc.items():
            if key.lower() == name.strip().lower():
                return svc
        raise LabRefusal(f"No such service: {name}", 400, code=RC_NO_SUCH)

    def _duration(self, name: str) -> float:
        knobs = self._state.knobs
        base = knobs.tomcat_restart_seconds if name == TOMCAT else knobs.restart_seconds
        slow = self._state.faults.get(self.name, "slow_restart")
        factor = 5.0 if slow is True else float(slow) if slow else 1.0
        return knobs.delay(base) * factor

    def restart(self, service: str) -> ServiceState:
        """Asynchronous: Stopping, then Starting, then Started after the restart duration."""
        return self._begin(service, stop_phase=True)

    def start(self, service: str) -> ServiceState:
        with self._state.lock:
            self._state.settle()
            svc = self._svc_named(service)
            st = _status(svc, time.time())
            if st.status == "Started":
                raise LabRefusal(f"{svc.name} is already started", 400, code=RC_ALREADY_STARTED)
        return self._begin(service, stop_phase=False)

    def stop(self, service: str) -> ServiceState:
        with self._state.lock:
            self._state.settle()
            svc = self._svc_named(service)
            self._check_activated(svc)
            if not svc.running and svc.done_at is None:
                raise LabRefusal(f"{svc.name} is already stopped", 400, code=RC_ALREADY_STOPPED)
            svc.running, svc.done_at, svc.stop_until, svc.activates = False, None, None, {}
            door = current_door()
            self._state.record("service_stopped", self.fqdn, service=svc.name,
                               door="controlcenter" if door == "https" else door)
            if svc.name == CALLMANAGER:
                self._state.phones.drop_node(self.name, now=time.time(), until=None, delay=0)
            self._state.changed()
            return _status(svc, time.time())

    def _check_activated(self, svc: _Svc) -> None:
        if not svc.activated:
            raise LabRefusal(f"{svc.name} Service Not Activated", 400, code=RC_NOT_ACTIVATED)

    def _begin(self, service: str, *, stop_phase: bool) -> ServiceState:
        with self._state.lock:
            self._state.settle()
            svc = self._svc_named(service)
            self._check_activated(svc)
            now = time.time()
            duration = self._duration(svc.name)
            svc.stop_until = now + duration * 0.3 if stop_phase else None
            svc.done_at = now + duration
            svc.will_fail = self._state.faults.get(self.name, "service_fail") in (svc.name, "*")
            svc.activates = {u: [o.pem, o.key_pem] for u, o in self._own.items() if catalogue.activated_by(u) == svc.name}
            door = current_door()
            svc.door, svc.action = "controlcenter" if door == "https" else door, "restart" if stop_phase else "start"
            self._state.record("restart_requested", self.fqdn, at=now, service=svc.name, door=svc.door,
                               action=svc.action)
            if svc.name == CALLMANAGER:
                self._state.phones.drop_node(self.name, now=now, until=svc.done_at,
                                             delay=self._state.knobs.delay(self._state.knobs.reregister_seconds))
            self._state.changed()
            return _status(svc, now)

    def _settle(self, now: float) -> bool:
        changed = False
        for svc in self._svc.values():
            if svc.done_at is None or svc.done_at > now:
                continue
            self._state.record("restart_failed" if svc.will_fail else "restart_completed", self.fqdn,
                               at=svc.done_at, service=svc.name, door=svc.door, action=svc.action)
            if svc.will_fail:
                svc.running, svc.started_at = False, None
            else:
                svc.running, svc.started_at = True, svc.done_at
                for unit, (pem, key_pem) in svc.activates.items():
                    own = self._own.get(unit)
                    if own is not None:
                        self._own[unit] = replace(own, active_pem=pem, active_key_pem=key_pem)
            svc.done_at, svc.stop_until, svc.will_fail, svc.activates = None, None, False, {}
            svc.door, svc.action = "", ""
            changed = True
        return changed

    def cm_running(self) -> bool:
        svc = self._svc.get(CALLMANAGER)
        return bool(svc and _status(svc, time.time()).status == "Started")

    def active_fingerprint(self, unit: str) -> str:
        own = self._own.get(unit)
        return pki.fingerprint(own.active_pem) if own else ""

    # ------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        return {
            "own": {u: {"pem": o.pem, "key_pem": o.key_pem, "active_pem": o.active_pem,
                        "active_key_pem": o.active_key_pem} for u, o in self._own.items()},
            "trust": self._trust,
            "csr": self._csr,
            "services": {n: asdict(s) for n, s in self._svc.items()},
            "web_security": self.web_security,
        }

    def load_dict(self, data: dict[str, Any]) -> None:
        self._own = {u: OwnCert(u, **o) for u, o in data["own"].items()}
        self._trust = {k: dict(v) for k, v in data["trust"].items()}
        self._csr = {k: dict(v) for k, v in data["csr"].items()}
        known = {f.name for f in fields(_Svc)}
        self._svc = {n: _Svc(**{k: v for k, v in s.items() if k in known}) for n, s in data["services"].items()}
        self.web_security = dict(data["web_security"])


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.removeprefix("IP:"))
        return True
    except ValueError:
        return False


def _parse_cert(data: bytes | str) -> x509.Certificate:
    try:
        return pki.load_cert(data)
    except (ValueError, TypeError) as exc:
        raise LabRefusal(MESSAGES.bad_format) from exc


def _same_key(a: Any, b: Any) -> bool:
    from cryptography.hazmat.primitives import serialization as s

    fmt = (s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)
    return bool(a.public_bytes(*fmt) == b.public_bytes(*fmt))


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except Exception:  # noqa: BLE001 - any verification failure means "not this issuer"
        return False


def _issuer_chain(cert: x509.Certificate, store: Iterable[str]) -> list[str]:
    """Issuers of ``cert`` found in ``store`` up to a self-signed root (may be partial)."""
    pool = [pki.load_cert(p) for p in store]
    chain: list[str] = []
    current = cert
    for _ in range(6):
        if _issued_by(current, current):
            break
        parent = next((c for c in pool if _issued_by(current, c)), None)
        if parent is None:
            break
        chain.append(pki.cert_to_pem(parent))
        current = parent
    return chain


def _chain_in(cert: x509.Certificate, store: Iterable[str]) -> bool:
    """Every CA above ``cert`` up to a self-signed root is in ``store``."""
    pool = [pki.load_cert(p) for p in store]
    current = cert
    for _ in range(6):
        parent = next((c for c in pool if _issued_by(current, c)), None)
        if parent is None:
            return False
        if _issued_by(parent, parent):
            return True
        current = parent
    return False


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    path.chmod(0o600)


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
        self.backup_in_progress = False
        self.nodes: dict[str, LabNodeState] = {
            s.name: LabNodeState(state=self, spec=s, fqdn=topology.fqdn(s.name)) for s in topology.nodes}
        self.phones = PhoneFleet(trust_of=self._trust_of)
        self._secrets: dict[str, str] = {}
        self._exported: dict[Path, str] = {}
        self._loading = False
        self._events: list[LabEvent] = []
        self._event_lines = 0  # lines in events.jsonl (compacted when it doubles the bound)

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
        from cucmkit.lab.starting import build_starting_state

        state = cls(state_dir=state_dir, topology=topology)
        state._loading = True
        state._make_secrets()
        build_starting_state(state)
        now = time.time()
        phone_nodes = state.phone_nodes()
        state.phones = PhoneFleet.build(topology.phones, phone_nodes, trust_of=state._trust_of, now=now)
        state._loading = False
        state.changed()
        return state

    def phone_nodes(self) -> list[str]:
        cucm = [n.name for n in self.nodes.values() if n.kind == "CUCM"]
        subs = [n for n in cucm if self.nodes[n].role == "subscriber"]
        return subs or cucm

    def _make_secrets(self) -> None:
        for name in ("os_admin", "app_user", "ca_user"):
            value = secrets.token_urlsafe(12)
            _write_secret(self.state_dir / "secrets" / name, value)
            self._secrets[name] = value

    def _read_secrets(self) -> None:
        for name in ("os_admin", "app_user", "ca_user"):
            path = self.state_dir / "secrets" / name
            if path.exists():
                self._secrets[name] = path.read_text().strip()

    @classmethod
    def load(cls, state_dir: Path) -> LabState:
        data = json.loads((Path(state_dir) / "state.json").read_text())
        state = cls(state_dir=state_dir, topology=Topology.from_dict(data["topology"]))
        state._loading = True
        known = {f.name for f in fields(Knobs)}
        state.knobs = Knobs(**{k: v for k, v in data["knobs"].items() if k in known})
        state.faults = Faults(data.get("faults"), on_change=state.changed)
        state.security_mode = int(data["security_mode"])
        ctl = data["ctl"]
        state.ctl = CtlFile(int(ctl["version"]), tuple(ctl["signers"]), float(ctl["updated_at"]))
        state.sso_enabled = bool(data["sso_enabled"])
        state.backup_in_progress = bool(data["backup_in_progress"])
        for name, node_data in data["nodes"].items():
            state.nodes[name].load_dict(node_data)
        state.phones = PhoneFleet.from_list(data["phones"], trust_of=state._trust_of)
        state._read_secrets()
        state._load_events()
        state._loading = False
        return state

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "topology": self.topology.to_dict(),
            "knobs": asdict(self.knobs),
            "faults": self.faults.to_dict(),
            "security_mode": self.security_mode,
            "ctl": asdict(self.ctl),
            "sso_enabled": self.sso_enabled,
            "backup_in_progress": self.backup_in_progress,
            "nodes": {n: node.to_dict() for n, node in self.nodes.items()},
            "phones": self.phones.to_list(),
        }

    def changed(self) -> None:
        """Persist now (callers hold the lock or have made one atomic change)."""
        if self._loading:
            return
        with self.lock:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            path = self.state_dir / "state.json"
            tmp = path.with_name(f"state.json.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(self.to_dict(), indent=1))
            tmp.replace(path)
            self._export_pems()

    def _export_pems(self) -> None:
        """Mirror certificates, keys and CSRs as files under ``<state>/nodes/`` (for people and tools)."""
        if not self._exported:  # first export of this process: drop what an earlier run left
            shutil.rmtree(self.state_dir / "nodes", ignore_errors=True)
        files: dict[Path, str] = {}
        for node in self.nodes.values():
            base = self.state_dir / "nodes" / node.name
            for unit, own in node._own.items():
                files[base / "own" / f"{unit}.pem"] = own.pem
                files[base / "own" / f"{unit}.key"] = own.key_pem
                files[base / "active" / f"{unit}.pem"] = own.active_pem
            for store, certs in node._trust.items():
                for filename, pem in certs.items():
                    files[base / "trust" / store / filename] = pem
            for unit, entry in node._csr.items():
                files[base / "csr" / f"{unit}.csr"] = entry["csr_pem"]
        for path in set(self._exported) - set(files):
            path.unlink(missing_ok=True)
            del self._exported[path]
        for path, text in files.items():
            if self._exported.get(path) != text:
                path.parent.mkdir(parents=True, exist_ok=True)
                if path.suffix == ".key":
                    path.touch(mode=0o600)
                    path.chmod(0o600)
                path.write_text(text)
                self._exported[path] = text

    # ------------------------------------------------------------ event log

    @staticmethod
    def door(name: str) -> _DoorBlock:
        """``with LabState.door("cli"): ...`` names the door for the events recorded in the block."""
        return _DoorBlock(name)

    @property
    def events_path(self) -> Path:
        return self.state_dir / "events.jsonl"

    def record(self, kind: str, node: str = "", *, at: float | None = None, **data: Any) -> LabEvent | None:
        """Append one event (not while the starting state is built or loaded); persisted at once."""
        if self._loading:
            return None
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown lab event kind {kind!r}")
        with self.lock:
            seq = self._events[-1].seq + 1 if self._events else 1
            event = LabEvent(seq, float(at if at is not None else time.time()), kind, node,
                             tuple(sorted(data.items())))
            self._events.append(event)
            del self._events[:-EVENT_LIMIT]
            self._append_event(event)
            return event

    def _append_event(self, event: LabEvent) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self._event_lines >= 2 * EVENT_LIMIT:
            tmp = self.events_path.with_name(f"events.jsonl.{threading.get_ident()}.tmp")
            tmp.write_text("".join(json.dumps(e.to_dict()) + "\n" for e in self._events))
            tmp.replace(self.events_path)
            self._event_lines = len(self._events)
            return
        with self.events_path.open("a") as fh:
            fh.write(json.dumps(event.to_dict()) + "\n")
        self._event_lines += 1

    def _load_events(self) -> None:
        if not self.events_path.exists():
            return
        rows = []
        for line in self.events_path.read_text().splitlines():
            try:
                rows.append(LabEvent.from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line after a crash
        self._event_lines = len(rows)
        self._events = rows[-EVENT_LIMIT:]

    def events(self, since: float | str | None = None, kind: str | Iterable[str] | None = None) -> list[LabEvent]:
        """The event log, oldest first: ``since`` (epoch seconds or ISO time; events at or after it),
        ``kind`` (one kind or several). Settles first, so finished restarts are in it."""
        self.settle()
        if isinstance(since, str):
            from datetime import datetime

            parsed = datetime.fromisoformat(since.replace("Z", "+00:00"))
            since = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
        kinds = {kind} if isinstance(kind, str) else set(kind) if kind is not None else None
        with self.lock:
            return [e for e in self._events if (since is None or e.time >= since)
                    and (kinds is None or e.kind in kinds)]

    def settle(self) -> None:
        """Apply everything whose time has come: finished restarts, re-registrations."""
        with self.lock:
            now = time.time()
            changed = any([node._settle(now) for node in self.nodes.values()])
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
        return self._secrets[name]

    def check_os_admin(self, node: LabNodeState | str, user: str, password: str) -> bool:
        return user == OS_ADMIN_USER and secrets.compare_digest(password.encode(), self._secrets["os_admin"].encode())

    def check_app_user(self, user: str, password: str) -> bool:
        return user == APP_USER and secrets.compare_digest(password.encode(), self._secrets["app_user"].encode())

    def check_ca_user(self, user: str, password: str) -> bool:
        return user == CA_USER and secrets.compare_digest(password.encode(), self._secrets["ca_user"].encode())

    # ------------------------------------------------------------ cluster-wide

    def set_security_mode(self, mode: int) -> None:
        with self.lock:
            self.security_mode = 1 if int(mode) else 0
            self.changed()

    def set_sso(self, enabled: bool) -> None:
        with self.lock:
            self.sso_enabled = bool(enabled)
            self.changed()

    def set_backup(self, in_progress: bool) -> None:
        with self.lock:
            self.backup_in_progress = bool(in_progress)
            self.changed()

    def ctl_update(self) -> str:
        with self.lock:
            if self.security_mode != 1:
                raise LabRefusal("This cluster is not in Mixed Mode. CTL update is not allowed", 400)
            pub = self.publisher
            signers = tuple(pub.active_fingerprint(u) for u in ("CallManager", "ITLRecovery", "CAPF"))
            self.ctl = CtlFile(self.ctl.version + 1, signers, time.time())
            self.record("ctl_updated", pub.fqdn, version=self.ctl.version, door=current_door())
            self.changed()
            return "The CTL File was successfully updated"

    def _trust_of(self, node: str) -> tuple[str, str]:
        lab_node = self.nodes.get(node)
        if lab_node is None:
            return "", ""
        return lab_node.active_fingerprint("CallManager"), lab_node.active_fingerprint("TVS")

    def _rereg(self) -> float:
        return self.knobs.delay(self.knobs.reregister_seconds)

    def reset_all_devices(self) -> int:
        with self.lock:
            self.settle()
            count = self.phones.drop(self.phones.names(), now=time.time(), delay=self._rereg())
            self.record("devices_reset", scope="all", count=count, door=current_door())
            self.changed()
            return count

    def reset_device_pool(self, name: str) -> int:
        with self.lock:
            names = self.phones.by_pool(name)
            if not names and name.lower() not in {p.lower() for p in self.phones.pools()}:
                raise LabRefusal(f"Device pool {name} was not found", 404)
            self.settle()
            count = self.phones.drop(names, now=time.time(), delay=self._rereg())
            self.record("devices_reset", scope=f"pool:{name}", count=count, door=current_door())
            self.changed()
            return count

    def reset_device(self, name: str) -> int:
        with self.lock:
            if self.phones.get(name) is None:
                raise LabRefusal(f"Device {name} was not found", 404)
            self.settle()
            count = self.phones.drop([name], now=time.time(), delay=self._rereg())
            self.record("devices_reset", scope=f"device:{name}", count=count, door=current_door())
            self.changed()
            return count

    def delete_itl(self, names: Iterable[str]) -> int:
        with self.lock:
            names = list(names)
            count = self.phones.delete_itl(names, now=time.time(), delay=self._rereg())
            self.record("itl_deleted", scope=",".join(names[:20]), count=count, door=current_door())
            self.changed()
            return count

    def phone_views(self) -> list:
        with self.lock:
            self.settle()
            return self.phones.views()

    def phone_summary(self) -> dict[str, int]:
        with self.lock:
            self.settle()
            return self.phones.summary()

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

