"""Services of one lab node: status, start, stop and (asynchronous) restarts.

Time-based behaviour is lazy: a (re)start stores when its Stopping phase and
the whole restart end; every read settles what has happened by now
(``NodeServices.settle``). A completed restart makes the identities its service
uses active (``NodeCertificates.activate``); a Cisco CallManager restart or stop
drops that node's phones. Control Center reason codes are CUCM's.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from cucmkit.lab.certrules import NodeCertificates
from cucmkit.lab.doors import LabRefusal, current_door
from cucmkit.lab.store import LabContext

__all__ = [
    "ServiceState",
    "ServiceRecord",
    "NodeServices",
    "CUCM_SERVICES",
    "IMP_SERVICES",
    "TOMCAT",
    "TOMCAT_LIKE",
    "TFTP",
    "CALLMANAGER",
    "XCP_ROUTER",
    "RESTART_FACTOR",
    "RC_OK",
    "RC_NOT_RUNNING",
    "RC_NO_SUCH",
    "RC_PENDING",
    "RC_ALREADY_STARTED",
    "RC_ALREADY_STOPPED",
    "RC_NOT_ACTIVATED",
]

TOMCAT = "Cisco Tomcat"
CALLMANAGER = "Cisco CallManager"
XCP_ROUTER = "Cisco XCP Router"       # Jabber (XMPP) sessions end while it restarts
TFTP = "Cisco Tftp"        # CUCM's spelling (TAC 118744: ``Cisco Tftp[STARTED]``)
# CUCM 14's separate Tomcat instances restart like Tomcat (same knob); HAProxy reloads quickly [INF timings].
TOMCAT_LIKE = frozenset({TOMCAT, "Cisco AXL Tomcat", "Cisco UDS Tomcat", "Cisco SSOSP Tomcat"})

# restart time relative to its base knob (IM&P's XCP and Presence services take longer than most; HAProxy, LBM
# and ILS reload quickly) [INF]
RESTART_FACTOR: dict[str, float] = {
    XCP_ROUTER: 3.0,
    "Cisco Presence Engine": 2.5,
    "Cisco SIP Proxy": 1.5,
    "Cisco Intercluster Sync Agent": 1.5,
    "Cisco XCP XMPP Federation Connection Manager": 1.5,
    "Cisco HAProxy": 0.3,
    "Cisco Location Bandwidth Manager": 0.5,
    "Cisco Intercluster Lookup Service": 0.5,
}

# service name -> activated on (publisher, subscriber); absent = not installed on that kind
CUCM_SERVICES: dict[str, tuple[bool, bool]] = {
    "A Cisco DB": (True, True),
    "Cisco Database Layer Monitor": (True, True),
    TOMCAT: (True, True),
    "Cisco CallManager Serviceability": (True, True),
    "Cisco RIS Data Collector": (True, True),
    "Cisco AXL Web Service": (True, False),
    CALLMANAGER: (True, True),
    "Cisco CTIManager": (True, True),
    TFTP: (True, True),
    "Cisco Trust Verification Service": (True, True),
    "Cisco Certificate Authority Proxy Function": (True, False),
    "Cisco DRF Master": (True, False),
    "Cisco DRF Local": (True, True),
    "Cisco Certificate Change Notification": (True, True),
    "Cisco Certificate Expiry Monitor": (True, True),
    "Cisco Extension Mobility": (False, False),   # a feature service; left deactivated: restarts skip it
    "Cisco Intercluster Lookup Service": (True, True),
    "Cisco Location Bandwidth Manager": (True, True),
    "Cisco AXL Tomcat": (True, True),
    "Cisco UDS Tomcat": (True, True),
    "Cisco SSOSP Tomcat": (True, True),
    "Cisco HAProxy": (True, True),
    "Cisco DirSync": (False, False),
}
IMP_SERVICES: dict[str, tuple[bool, bool]] = {
    "A Cisco DB": (True, True),
    TOMCAT: (True, True),
    "Cisco AXL Web Service": (True, True),
    "Cisco DRF Local": (True, True),
    "Cisco SIP Proxy": (True, True),
    "Cisco Presence Engine": (True, True),
    XCP_ROUTER: (True, True),
    "Cisco XCP Connection Manager": (True, True),
    "Cisco XCP XMPP Federation Connection Manager": (True, True),
    "Cisco XCP Web Connection Manager": (True, True),
    "Cisco Intercluster Sync Agent": (True, True),
    "Cisco Client Profile Agent": (True, True),
}

# reason codes (Control Center)
RC_OK, RC_NOT_RUNNING, RC_NO_SUCH, RC_PENDING = -1, -1019, -1010, -1029
RC_ALREADY_STARTED, RC_ALREADY_STOPPED, RC_NOT_ACTIVATED = -1039, -1040, -1068


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


@dataclass
class ServiceRecord:
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

    def status(self, now: float) -> ServiceState:
        if not self.activated:
            return ServiceState(self.name, False, "Stopped", None, RC_NOT_ACTIVATED)
        if self.done_at is not None and self.stop_until is not None and now < self.stop_until:
            return ServiceState(self.name, True, "Stopping", self.started_at, RC_PENDING)
        if self.done_at is not None and now < self.done_at:
            return ServiceState(self.name, True, "Starting", self.started_at, RC_PENDING)
        if not self.running:
            return ServiceState(self.name, True, "Stopped", None, RC_NOT_RUNNING)
        return ServiceState(self.name, True, "Started", self.started_at, RC_OK)

    def clear_pending(self) -> None:
        self.done_at, self.stop_until, self.will_fail, self.activates = None, None, False, {}
        self.door, self.action = "", ""


def _door_name() -> str:
    door = current_door()
    return "controlcenter" if door == "https" else door


class NodeServices:
    """One node's services (``table``: name -> ServiceRecord)."""

    def __init__(self, *, ctx: LabContext, name: str, fqdn: str, certs: NodeCertificates) -> None:
        self._ctx = ctx
        self.name, self.fqdn = name, fqdn
        self._certs = certs
        self.table: dict[str, ServiceRecord] = {}

    def seed(self, services: dict[str, tuple[bool, bool]], *, publisher: bool, started: float) -> None:
        """Install the starting services: activated per role, running since ``started``."""
        for name, (on_pub, on_sub) in services.items():
            activated = on_pub if publisher else on_sub
            self.table[name] = ServiceRecord(name=name, activated=activated, running=activated,
                                             started_at=started if activated else None)

    def is_activated(self, name: str) -> bool:
        record = self.table.get(name)
        return bool(record and record.activated)

    def services(self) -> dict[str, ServiceState]:
        with self._ctx.lock:
            self._ctx.settle()
            now = time.time()
            return {name: svc.status(now) for name, svc in self.table.items()}

    def service(self, name: str) -> ServiceState:
        with self._ctx.lock:
            self._ctx.settle()
            return self.named(name).status(time.time())

    def named(self, name: str) -> ServiceRecord:
        for key, svc in self.table.items():
            if key.lower() == name.strip().lower():
                return svc
        raise LabRefusal(f"No such service: {name}", 400, code=RC_NO_SUCH)

    def xmpp_sessions(self) -> int:
        """Jabber sessions on this node: ``knobs.jabber_sessions`` while Cisco XCP Router runs, else none."""
        svc = self.table.get(XCP_ROUTER)
        return self._ctx.knobs.jabber_sessions if svc and svc.status(time.time()).status == "Started" else 0

    def cm_running(self) -> bool:
        svc = self.table.get(CALLMANAGER)
        return bool(svc and svc.status(time.time()).status == "Started")

    # ------------------------------------------------------------ actions

    def restart(self, service: str) -> ServiceState:
        """Asynchronous: Stopping, then Starting, then Started after the restart duration."""
        return self._begin(service, stop_phase=True)

    def start(self, service: str) -> ServiceState:
        with self._ctx.lock:
            self._ctx.settle()
            svc = self.named(service)
            if svc.status(time.time()).status == "Started":
                raise LabRefusal(f"{svc.name} is already started", 400, code=RC_ALREADY_STARTED)
        return self._begin(service, stop_phase=False)

    def stop(self, service: str) -> ServiceState:
        with self._ctx.lock:
            self._ctx.settle()
            svc = self.named(service)
            _check_activated(svc)
            if not svc.running and svc.done_at is None:
                raise LabRefusal(f"{svc.name} is already stopped", 400, code=RC_ALREADY_STOPPED)
            svc.running, svc.done_at, svc.stop_until, svc.activates = False, None, None, {}
            self._ctx.record("service_stopped", self.fqdn, service=svc.name, door=_door_name())
            if svc.name == XCP_ROUTER:
                self._ctx.record("xmpp_sessions_dropped", self.fqdn, sessions=self._ctx.knobs.jabber_sessions)
            if svc.name == CALLMANAGER:
                self._ctx.phones.drop_node(self.name, now=time.time(), until=None, delay=0)
            self._ctx.changed()
            return svc.status(time.time())

    def _duration(self, name: str) -> float:
        knobs = self._ctx.knobs
        base = knobs.tomcat_restart_seconds if name in TOMCAT_LIKE else knobs.restart_seconds
        base *= RESTART_FACTOR.get(name, 1.0)
        slow = self._ctx.faults.get(self.name, "slow_restart")
        factor = 5.0 if slow is True else float(slow) if slow else 1.0
        return knobs.delay(base) * factor

    def _begin(self, service: str, *, stop_phase: bool) -> ServiceState:
        with self._ctx.lock:
            self._ctx.settle()
            svc = self.named(service)
            _check_activated(svc)
            now = time.time()
            duration = self._duration(svc.name)
            svc.stop_until = now + duration * 0.3 if stop_phase else None
            svc.done_at = now + duration
            failing = self._ctx.faults.get(self.name, "service_fail")
            svc.will_fail = isinstance(failing, str) and failing.strip().casefold() in (svc.name.casefold(), "*")
            svc.activates = self._certs.installed_for(svc.name)
            svc.door, svc.action = _door_name(), "restart" if stop_phase else "start"
            self._ctx.record("restart_requested", self.fqdn, at=now, service=svc.name, door=svc.door,
                             action=svc.action)
            if svc.name == XCP_ROUTER and svc.running:
                self._ctx.record("xmpp_sessions_dropped", self.fqdn, at=now, sessions=self._ctx.knobs.jabber_sessions)
            if svc.name == CALLMANAGER:
                knobs = self._ctx.knobs
                self._ctx.phones.drop_node(self.name, now=now, until=svc.done_at,
                                           delay=knobs.delay(knobs.reregister_seconds))
            self._ctx.changed()
            return svc.status(now)

    def settle(self, now: float) -> bool:
        """Finish every (re)start whose time has come; True if anything changed."""
        changed = False
        for svc in self.table.values():
            if svc.done_at is None or svc.done_at > now:
                continue
            self._ctx.record("restart_failed" if svc.will_fail else "restart_completed", self.fqdn,
                             at=svc.done_at, service=svc.name, door=svc.door, action=svc.action)
            if svc.will_fail:
                svc.running, svc.started_at = False, None
            else:
                svc.running, svc.started_at = True, svc.done_at
                for unit, (pem, key_pem) in svc.activates.items():
                    self._certs.activate(unit, pem, key_pem)
                if svc.name == XCP_ROUTER:
                    self._ctx.record("xmpp_sessions_restored", self.fqdn, at=svc.done_at,
                                     sessions=self._ctx.knobs.jabber_sessions)
            svc.clear_pending()
            changed = True
        return changed

    # ------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        return {n: asdict(s) for n, s in self.table.items()}

    def load_dict(self, data: dict[str, Any]) -> None:
        known = {f.name for f in fields(ServiceRecord)}
        self.table = {n: ServiceRecord(**{k: v for k, v in s.items() if k in known}) for n, s in data.items()}


def _check_activated(svc: ServiceRecord) -> None:
    if not svc.activated:
        raise LabRefusal(f"{svc.name} Service Not Activated", 400, code=RC_NOT_ACTIVATED)
