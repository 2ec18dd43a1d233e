"""RisPort70 SOAP client (`/realtimeservice2/services/RISService70`): phone registration.

RisPort allows 15 requests a minute across the whole cluster. Every client in
this process that talks to one cluster shares one ``RateBudget`` (CUCM's own
15 requests per 60 s) whose safety margin is in time, not in requests: a
request goes out only once the oldest of the last 15 left the window by a
small margin (1% of the window, 0.05 to 0.25 s), so normal use never trips
the throttle yet the 16th request leaves as soon as the server admits it; when the fault
comes anyway (another tool is polling too) the call backs off with jitter and
retries (``cucmkit.cucm.retrying``, from ``retries.risport``; the wait blocks
the shared budget, so every RisPort caller in the process holds back).
Answers are capped per request: the client pages with StateInfo and sends
explicit name lists in batches under the cap. A device seen under
several nodes is counted once (the latest TimeStamp wins).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from lxml import etree

from cucmkit.cucm.retrying import retrying
from cucmkit.cucm.soap import AST_NS, SoapClient, SoapEndpoint, Transport, child, child_text, child_texts, children, sub, texts
from cucmkit.errors import ThrottledError, TimeoutError_

__all__ = [
    "RisPortClient",
    "RateBudget",
    "default_margin",
    "DeviceRegistration",
    "RegistrationSummary",
    "STATUS_REASONS",
    "UNREGISTRATION_CAUSES",
    "REGISTRATION_FAILURE_CAUSES",
    "reason_text",
    "PATH",
]

PATH = "/realtimeservice2/services/RISService70"
INTERFACE = "risport"
DEFAULT_RATE = 15            # requests per window: CUCM's default
DEFAULT_WINDOW = 60.0        # seconds
MAX_MARGIN = 0.25            # seconds a request waits past the window's edge: 1% of the window,
MIN_MARGIN = 0.05            # but at least this (send latency) and at most MAX_MARGIN
DEFAULT_CAP = 1000           # devices per request (MaxReturnedDevices)
DEFAULT_ATTEMPTS = 4         # tries per request when the throttle fault answers
DEFAULT_BACKOFF = 10.0       # seconds before the first retry; doubled, with jitter
DEFAULT_BACKOFF_MAX = 60.0
NOT_REPORTED = "Not reported by RisPort"

#: Codes 0-9 mean the same in both of CISCO-CCM-MIB's cause enumerations below.
_SHARED_CAUSES: dict[int, str] = {
    0: "No error (noError)",
    1: "Unknown (unknown)",
    2: "No entry in database (noEntryInDatabase)",
    3: "Database configuration error (databaseConfigurationError)",
    4: "Device name unresolvable (deviceNameUnresolveable)",
    5: "Maximum device registrations exceeded (maxDevRegExceeded)",
    6: "Connectivity error (connectivityError)",
    7: "Initialization error (initializationError)",
    8: "Device initiated reset (deviceInitiatedReset)",
    9: "CallManager reset (callManagerReset)",
}

#: StatusReason of a phone that is not registered -> text: CISCO-CCM-MIB's CcmDevUnregCauseCode
#: (ccmPhoneUnregReason), text = the MIB's name spelled out. That RisPort's StatusReason uses the
#: MIB's numbering is [INF] (no RisPort table is public; CONTRACTS 1.3). No code names the ITL.
UNREGISTRATION_CAUSES: dict[int, str] = {
    **_SHARED_CAUSES,
    10: "Device unregistered (deviceUnregistered)",
    11: "Malformed register message (malformedRegisterMsg)",
    12: "SCCP device throttling (sccpDeviceThrottling)",
    13: "Keepalive timeout (keepAliveTimeout)",
    14: "Configuration mismatch (configurationMismatch)",
    15: "CallManager restart (callManagerRestart)",
    16: "Duplicate registration (duplicateRegistration)",
    17: "CallManager apply config (callManagerApplyConfig)",
    18: "Device no response (deviceNoResponse)",
    19: "Extension Mobility login/logout (emLoginLogout)",
    20: "EMCC login/logout (emccLoginLogout)",
    21: "EnergyWise power save plus (energywisePowerSavePlus)",
    22: "CallManager forced restart (callManagerForcedRestart)",
    23: "Source IP address changed (sourceIPAddrChanged)",
    24: "Source port changed (sourcePortChanged)",
    25: "Registration sequence error (registrationSequenceError)",
    26: "Invalid capabilities (invalidCapabilities)",
    28: "Fallback initiated (fallbackInitiated)",
    29: "Device switch (deviceSwitch)",
}

#: StatusReason of a Rejected phone -> text: CISCO-CCM-MIB's CcmDevRegFailCauseCode (ccmPhoneRegFailReason).
REGISTRATION_FAILURE_CAUSES: dict[int, str] = {
    **_SHARED_CAUSES,
    10: "Authentication error (authenticationError)",
    11: "Invalid X.509 name in certificate (invalidX509NameInCertificate)",
    12: "Invalid TLS cipher (invalidTLSCipher)",
    13: "Directory number mismatch (directoryNumberMismatch)",
    14: "Malformed register message (malformedRegisterMsg)",
    15: "Protocol mismatch (protocolMismatch)",
    16: "Device not active (deviceNotActive)",
    17: "Authenticated device already exists (authenticatedDeviceAlreadyExists)",
    18: "Obsolete protocol version (obsoleteProtocolVersion)",
    23: "Database timeout (databaseTimeout)",
    25: "Registration sequence error (registrationSequenceError)",
    26: "Invalid capabilities (invalidCapabilities)",
    27: "Capability response timeout (capabilityResponseTimeout)",
    28: "Security mismatch (securityMismatch)",
    29: "Auto-registration database error (autoRegisterDBError)",
    30: "Database access error (dbAccessError)",
    31: "Auto-registration database configuration timeout (autoRegisterDBConfigTimeout)",
    32: "Device type mismatch (deviceTypeMismatch)",
    33: "Addressing mode mismatch (addressingModeMismatch)",
}

STATUS_REASONS = UNREGISTRATION_CAUSES   # the table for every status but Rejected


def reason_text(code: int | None, status: str = "") -> str:
    """The cause behind a StatusReason: a Rejected phone's from the registration-failure codes, else
    the unregistration codes (CISCO-CCM-MIB); a code neither lists is shown as its number."""
    if code is None:
        return NOT_REPORTED
    table = REGISTRATION_FAILURE_CAUSES if status == "Rejected" else UNREGISTRATION_CAUSES
    return table.get(code, f"StatusReason {code}")


class RateBudget:
    """A sliding-window request budget shared by everything in this process for one cluster."""

    _registry: ClassVar[dict[str, RateBudget]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, *, rate: int = DEFAULT_RATE, window: float = DEFAULT_WINDOW, margin: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate < 1 or window <= 0 or (margin is not None and margin < 0):
            raise ValueError("rate must be >= 1, window > 0 and margin >= 0")
        self.rate = rate
        self.window = window
        self.margin = default_margin(window) if margin is None else margin
        self._clock = clock
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self._cond = threading.Condition()

    @classmethod
    def for_cluster(cls, cluster: str, *, rate: int = DEFAULT_RATE, window: float = DEFAULT_WINDOW) -> RateBudget:
        """The one budget for ``cluster`` in this process (created on first use)."""
        with cls._registry_lock:
            budget = cls._registry.get(cluster)
            if budget is None:
                budget = cls._registry[cluster] = cls(rate=rate, window=window)
            return budget

    def __repr__(self) -> str:
        return f"RateBudget(rate={self.rate}, window={self.window}, margin={self.margin:g})"

    def wait_time(self) -> float:
        """Seconds until one more request fits (0 when it fits now)."""
        with self._cond:
            return self._wait_locked(self._clock())

    def acquire(self, *, deadline: float | None = None) -> bool:
        """Block until a request fits, then count it. False if it would not fit before ``deadline``."""
        with self._cond:
            while True:
                now = self._clock()
                wait = self._wait_locked(now)
                if wait <= 0:
                    self._sent.append(now)
                    return True
                if deadline is not None and now + wait > deadline:
                    return False
                self._cond.wait(timeout=wait)

    def block(self, seconds: float) -> None:
        """The server said slow down: nobody in this process sends for ``seconds``."""
        with self._cond:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)
            self._cond.notify_all()

    def _wait_locked(self, now: float) -> float:
        span = self.window + self.margin
        while self._sent and self._sent[0] <= now - span:
            self._sent.popleft()
        wait = max(0.0, self._blocked_until - now)
        if len(self._sent) >= self.rate:
            wait = max(wait, self._sent[0] + span - now)
        return wait


def default_margin(window: float) -> float:
    """Time a request waits past the window's edge: covers clock reading and send latency, not a request."""
    return min(MAX_MARGIN, max(MIN_MARGIN, 0.01 * window))


@dataclass(frozen=True)
class DeviceRegistration:
    name: str
    node: str
    status: str                 # Registered | UnRegistered | Rejected | PartiallyRegistered | Unknown
    status_reason: int | None
    timestamp: int = 0
    ip_address: str = ""
    description: str = ""
    model: int | None = None

    @property
    def registered(self) -> bool:
        return self.status == "Registered"

    @property
    def reason(self) -> str:
        return reason_text(self.status_reason, self.status)


@dataclass(frozen=True)
class RegistrationSummary:
    """Phones at one moment: how many registered, where, and why the others are not."""

    total: int
    registered: int
    unregistered: int
    by_node: Mapping[str, int]          # node -> registered phones on it
    by_reason: Mapping[str, int]        # reason text -> phones not registered for it
    unregistered_names: tuple[str, ...]
    devices: tuple[DeviceRegistration, ...] = field(default=(), repr=False)

    @classmethod
    def build(cls, devices: Iterable[DeviceRegistration], expected: Sequence[str] = ()) -> RegistrationSummary:
        latest = dedupe(devices)
        for name in expected:
            latest.setdefault(name, DeviceRegistration(name=name, node="", status="Unknown", status_reason=None))
        rows = tuple(sorted(latest.values(), key=lambda d: d.name))
        down = [d for d in rows if not d.registered]
        return cls(
            total=len(rows),
            registered=len(rows) - len(down),
            unregistered=len(down),
            by_node=MappingProxyType(dict(sorted(Counter(d.node for d in rows if d.registered).items()))),
            by_reason=MappingProxyType(dict(sorted(Counter(d.reason for d in down).items()))),
            unregistered_names=tuple(d.name for d in down),
            devices=rows,
        )

    def to_frame(self) -> Any:
        import pandas as pd

        columns = ["name", "node", "status", "status_reason", "reason", "timestamp", "ip_address", "description"]
        data = [{**{c: getattr(d, c) for c in columns if c != "reason"}, "reason": d.reason} for d in self.devices]
        return pd.DataFrame(data, columns=columns)


def dedupe(devices: Iterable[DeviceRegistration]) -> dict[str, DeviceRegistration]:
    """One record per device name: the one with the latest TimeStamp (registered wins a tie)."""
    latest: dict[str, DeviceRegistration] = {}
    for device in devices:
        known = latest.get(device.name)
        if known is None or (device.timestamp, device.registered) > (known.timestamp, known.registered):
            latest[device.name] = device
    return latest


class RisPortClient(SoapClient):
    """Registration state of phones, cluster-wide, from any CUCM node."""

    def __init__(self, *, transport: Transport, budget: RateBudget, cap: int = DEFAULT_CAP,
                 attempts: int = DEFAULT_ATTEMPTS, backoff: float = DEFAULT_BACKOFF,
                 backoff_max: float = DEFAULT_BACKOFF_MAX, deadline: float | None = None,
                 device_class: str = "Phone") -> None:
        if cap < 1 or attempts < 1:
            raise ValueError("cap and attempts must be >= 1")
        self._transport = transport
        self._endpoint = SoapEndpoint(transport=transport, path=PATH, interface=INTERFACE)
        self.budget = budget
        self.cap = cap
        self._attempts = attempts
        self._backoff = backoff
        self._backoff_max = backoff_max
        self._deadline = deadline          # seconds one registration() may take, None = unbounded
        self.device_class = device_class
        self.requests_sent = 0
        self.throttled = 0                 # throttle faults met (and retried) by this client

    def __repr__(self) -> str:
        return f"RisPortClient(node={self._transport.node!r}, cap={self.cap}, budget={self.budget!r})"

    def registration(self, names: Sequence[str] | None = None, *, deadline: float | None = None) -> RegistrationSummary:
        """Summary of every phone (``names=None``) or of the named ones (missing = not registered).

        ``deadline`` (``time.monotonic()``): no request is sent, and no back-off waited for, past it.
        """
        if deadline is None and self._deadline is not None:
            deadline = time.monotonic() + self._deadline
        if names is None:
            return RegistrationSummary.build(self.devices(["*"], deadline=deadline))
        wanted = texts(names)
        return RegistrationSummary.build(self.devices(wanted, deadline=deadline), expected=wanted)

    def devices(self, names: Sequence[str], *, deadline: float | None = None) -> list[DeviceRegistration]:
        """Every record RisPort returns for ``names`` (may hold one device several times)."""
        found: list[DeviceRegistration] = []
        for batch in _batches(list(names), self.cap):
            found.extend(self._paged(batch, deadline))
        return found

    def _paged(self, batch: list[str], deadline: float | None) -> Iterator[DeviceRegistration]:
        """Pages chained by StateInfo. The next request leaves while this page is parsed, if the budget has room now."""
        seen_states: set[str] = set()
        answer = self._select(batch, "", deadline)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="risport-page") as pool:
            while True:
                state = select_state(answer)
                more = bool(state) and state not in seen_states and has_devices(answer)
                seen_states.add(state)
                ahead = pool.submit(self._select, batch, state, deadline) if more and self.budget.wait_time() <= 0 \
                    else None
                try:
                    yield from parse_devices(answer)
                except BaseException:          # the caller stopped: do not send a page nobody reads
                    if ahead is not None:
                        ahead.cancel()
                    raise
                if not more:
                    return
                answer = ahead.result() if ahead is not None else self._select(batch, state, deadline)

    def _select(self, batch: list[str], state: str, deadline: float | None) -> etree._Element:
        operation = "selectCmDevice" if any("*" in n for n in batch) else "selectCmDeviceExt"
        body = select_request(operation, batch, state_info=state, cap=self.cap, device_class=self.device_class)

        def send() -> etree._Element:
            self._take_slot(operation, deadline)
            self.requests_sent += 1
            try:
                return self._endpoint.call(operation, body, soap_action=operation)
            except ThrottledError:
                self.throttled += 1
                raise

        policy = retrying(attempts=self._attempts, first=self._backoff, cap=self._backoff_max,
                          retry_on=lambda exc: isinstance(exc, ThrottledError), sleep=self.budget.block)
        return policy(send)

    def _take_slot(self, operation: str, deadline: float | None) -> None:
        if not self.budget.acquire(deadline=deadline):
            raise TimeoutError_("the RisPort rate budget leaves no room before the deadline",
                                node=self._transport.node, interface=INTERFACE, operation=operation,
                                remedy="RisPort answers a limited number of requests per minute for the whole "
                                "cluster (registration.risport_rate per risport_window); wait for the window "
                                "to pass, or stop other tools polling RisPort on this cluster")


def _batches(names: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(names), size):
        yield names[start:start + size]


def _q(name: str) -> str:
    return f"{{{AST_NS}}}{name}"


def select_request(operation: str, names: Sequence[str], *, state_info: str = "", cap: int = DEFAULT_CAP,
                   device_class: str = "Phone") -> etree._Element:
    """A ``selectCmDevice``/``selectCmDeviceExt`` request selecting ``names`` by Name."""
    body = etree.Element(_q(operation), nsmap={"soap": AST_NS})
    sub(body, _q("StateInfo"), state_info)
    criteria = sub(body, _q("CmSelectionCriteria"))
    for tag, value in (("MaxReturnedDevices", str(cap)), ("DeviceClass", device_class), ("Model", "255"),
                       ("Status", "Any"), ("NodeName", ""), ("SelectBy", "Name")):
        sub(criteria, _q(tag), value)
    items = sub(criteria, _q("SelectItems"))
    for name in names:
        sub(sub(items, _q("item")), _q("Item"), name)
    sub(criteria, _q("Protocol"), "Any")
    sub(criteria, _q("DownloadStatus"), "Any")
    return body


def parse_select(answer: etree._Element) -> tuple[list[DeviceRegistration], str]:
    """(device records, StateInfo to send next) from a selectCmDevice(Ext)Response element."""
    return parse_devices(answer), select_state(answer)


def _result(answer: etree._Element) -> etree._Element | None:
    return child(next(iter(answer), None), "SelectCmDeviceResult")


def select_state(answer: etree._Element) -> str:
    """The StateInfo to send with the next page ('' when the answer has none)."""
    state = child(next(iter(answer), None), "StateInfo")
    return (state.text or "") if state is not None else ""


def has_devices(answer: etree._Element) -> bool:
    """True when the page holds at least one device (without building the records)."""
    return any(len(devices) > 0 for node in children(child(_result(answer), "CmNodes"), "item")
               if (devices := child(node, "CmDevices")) is not None)


def parse_devices(answer: etree._Element) -> list[DeviceRegistration]:
    """The device records of one page.

    One pass over each device element (a name -> text map), not one scan of its
    children per field: a 1000-device page is about 25,000 elements.
    """
    devices: list[DeviceRegistration] = []
    for node in children(child(_result(answer), "CmNodes"), "item"):
        node_name = child_text(node, "Name")
        devices.extend(_device(item, node_name) for item in children(child(node, "CmDevices"), "item"))
    return devices


def _device(item: etree._Element, node: str) -> DeviceRegistration:
    fields = child_texts(item)
    ip = child_text(child(child(item, "IPAddress"), "item"), "IP") if "IPAddress" in fields else ""
    get = fields.get
    return DeviceRegistration(
        name=get("Name", ""),
        node=node,
        status=get("Status") or "Unknown",
        status_reason=_uint(get("StatusReason", "")),
        timestamp=_uint(get("TimeStamp", "")) or 0,
        ip_address=ip,
        description=get("Description", ""),
        model=_uint(get("Model", "")),
    )


def _uint(text: str) -> int | None:
    return int(text) if text.isdigit() else None
