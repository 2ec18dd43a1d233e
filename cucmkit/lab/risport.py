"""RisPort70 SOAP door (`/realtimeservice2/services/RISService70`).

Speaks Cisco's ``RISService70.wsdl`` (namespace ``http://schemas.cisco.com/ast/soap``,
document/literal, qualified). Any CUCM node answers for the whole cluster,
grouped per CallManager node (``CmNodes``). Faithful limits (CONTRACTS 1.3):

- a cluster-wide sliding 60 s window of accepted requests (knob
  ``risport_rate``, default 15); one more gets Cisco's throttle fault, typo
  included; the node fault ``risport_throttle`` forces that fault;
- a per-request device cap (knob ``risport_cap``, default 1000): the first
  ``cap`` matches by name, and a ``StateInfo`` whose ``<Node>`` carries the
  next device name so the caller continues from there; the last page has an
  empty ``StateInfo``.

Both ``selectCmDevice`` and ``selectCmDeviceExt`` answer with the WSDL's
``selectCmDeviceResponse`` element (the Ext operation's output message in
Cisco's WSDL). A node without matching devices is reported ``NotFound``. A
StateInfo the lab did not write is a fault (never a silent restart from page
1). ``selectCtiItem`` answers ``NotFound`` per CallManager node: the lab runs
no CTI applications.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from lxml import etree

from cucmkit.lab.http import LabRequest, LabResponse
from cucmkit.lab.phones import PhoneView
from cucmkit.lab.soap import SoapCall, SoapFault, child, children, nil, soap_door, sub, text_of
from cucmkit.lab.state import LabNodeState, LabState
from cucmkit.lab.wsdl import El, Op, WsdlSpec

__all__ = [
    "ROUTES",
    "WSDL",
    "PATH",
    "NAMESPACE",
    "THROTTLE_TEXT",
    "DEFAULT_RATE",
    "DEFAULT_CAP",
    "DEFAULT_WINDOW",
    "RisDevice",
    "MODEL_CODES",
    "ris_devices",
    "select_devices",
]

PATH = "/realtimeservice2/services/RISService70"
NAMESPACE = "http://schemas.cisco.com/ast/soap"
DEFAULT_RATE = 15
DEFAULT_CAP = 1000
DEFAULT_WINDOW = 60.0
THROTTLE_TEXT = (
    "AxisFault: Exceeded allowed rate for Reatime information. "
    "Current allowed rate for realtime information is {rate} requests per minute."
)
_STATUSES = ("Any", "Registered", "UnRegistered", "Rejected", "PartiallyRegistered", "Unknown")
_SELECT_BY = ("Name", "IPV4Address", "IPV6Address", "DirNumber", "Description")
_DOWNLOAD = ("Any", "Upgrading", "Successful", "Failed", "Unknown")
_MODEL_ANY = 255


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _add(parent: etree._Element, name: str, value: object = None) -> etree._Element:
    return sub(parent, _q(name), value)


# --------------------------------------------------------------------------- phones as RisPort sees them

# Model names of the lab's phones -> RisPort model/product codes (typemodel enum) [INF].
MODEL_CODES: dict[str, int] = {
    "Cisco 8811": 36213, "Cisco 8841": 36214, "Cisco 8851": 36215, "Cisco 8861": 36216,
    "Cisco 8845": 36224, "Cisco 8865": 36225, "Cisco 7841": 36208, "Cisco 7821": 36209,
}
_DEFAULT_MODEL = 36224


@dataclass(frozen=True)
class RisDevice:
    """One phone's RisPort record, read from the lab's phone fleet."""

    name: str
    node: str                 # short name of the CallManager node it is (or was last) registered to
    status: str               # Registered | UnRegistered
    status_reason: int
    timestamp: int            # epoch seconds of the last status change
    ip: str
    dir_number: str
    description: str
    model: int = _DEFAULT_MODEL
    protocol: str = "SIP"
    load_id: str = "sip88xx.14-2-1-0001-14"


def _device_of(view: PhoneView) -> RisDevice:
    return RisDevice(
        name=view.name, node=view.node, status=view.status, status_reason=int(view.reason),
        timestamp=int(view.timestamp), ip=view.ip, dir_number=view.dn,
        description=view.description or f"Lab phone {view.name}",
        model=MODEL_CODES.get(view.model, _DEFAULT_MODEL),
    )


def ris_devices(state: LabState) -> list[RisDevice]:
    """Every phone of the lab, sorted by name, as RisPort reports it now."""
    return sorted(map(_device_of, state.phone_views()), key=lambda d: d.name)


# --------------------------------------------------------------------------- selection criteria

@dataclass(frozen=True)
class Criteria:
    max_devices: int
    device_class: str
    model: int
    status: str
    node: str
    select_by: str
    items: tuple[str, ...]
    protocol: str
    download_status: str


def _uint(text: str | None, default: int, what: str) -> int:
    if text is None:
        return default
    if not text.isdigit():
        raise SoapFault(f"Invalid value for {what}: {text}", code="Client")
    return int(text)


def _choice(text: str | None, allowed: Sequence[str], what: str, default: str = "Any") -> str:
    value = text or default
    if value not in allowed:
        raise SoapFault(f"Invalid value for {what}: {value}", code="Client")
    return value


def parse_criteria(element: etree._Element, cap: int) -> Criteria:
    raw = child(element, "CmSelectionCriteria")
    if raw is None:
        raise SoapFault("CmSelectionCriteria is required", code="Client")
    items = tuple(
        value for value in (text_of(item, "Item") for item in children(child(raw, "SelectItems"), "item")) if value
    )
    wanted = _uint(text_of(raw, "MaxReturnedDevices"), cap, "MaxReturnedDevices")
    return Criteria(
        max_devices=min(wanted or cap, cap),
        device_class=text_of(raw, "DeviceClass") or "Any",
        model=_uint(text_of(raw, "Model"), _MODEL_ANY, "Model"),
        status=_choice(text_of(raw, "Status"), _STATUSES, "Status"),
        node=text_of(raw, "NodeName") or "",
        select_by=_choice(text_of(raw, "SelectBy"), _SELECT_BY, "SelectBy", default="Name"),
        items=items,
        protocol=_choice(text_of(raw, "Protocol"), ("Any", "SCCP", "SIP", "Unknown"), "Protocol"),
        download_status=_choice(text_of(raw, "DownloadStatus"), _DOWNLOAD, "DownloadStatus"),
    )


def _wildcard(item: str) -> re.Pattern[str]:
    """RisPort's only wildcard is ``*``; matching ignores case."""
    return re.compile("^" + ".*".join(map(re.escape, item.split("*"))) + "$", re.IGNORECASE | re.DOTALL)


def _pattern(items: Iterable[str]) -> Callable[[str], bool]:
    regexes = [_wildcard(item) for item in items]
    if not regexes:
        return lambda value: True
    return lambda value: any(r.match(value) for r in regexes)


_KEYS: dict[str, Callable[[RisDevice], str]] = {
    "Name": lambda p: p.name,
    "IPV4Address": lambda p: p.ip,
    "IPV6Address": lambda p: "",
    "DirNumber": lambda p: p.dir_number,
    "Description": lambda p: p.description,
}


def select_devices(phones: Iterable[RisDevice], criteria: Criteria, node_short: Callable[[str], str | None]) -> list[RisDevice]:
    """The phones matching every filter of ``criteria``, sorted by name."""
    matches = _pattern(criteria.items)
    key = _KEYS[criteria.select_by]
    node = node_short(criteria.node) if criteria.node else None
    return sorted(
        (
            p for p in phones
            if criteria.device_class in ("Any", "Phone")
            and criteria.model in (_MODEL_ANY, p.model)
            and criteria.status in ("Any", p.status)
            and criteria.protocol in ("Any", p.protocol)
            and criteria.download_status in ("Any", "Unknown")  # the lab's phones report Unknown
            and (node is None or p.node == node)
            and matches(key(p))
        ),
        key=lambda p: p.name,
    )


# --------------------------------------------------------------------------- rate limit

class _RateWindow:
    """Accepted requests of one lab cluster in the last ``window`` seconds."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def admit(self, rate: int, window: float, now: float) -> bool:
        with self._lock:
            while self._times and self._times[0] <= now - window:
                self._times.popleft()
            if len(self._times) >= rate:
                return False
            self._times.append(now)
            return True


_WINDOWS: weakref.WeakKeyDictionary[LabState, _RateWindow] = weakref.WeakKeyDictionary()
_WINDOWS_LOCK = threading.Lock()


def _window_for(state: LabState) -> _RateWindow:
    with _WINDOWS_LOCK:
        window = _WINDOWS.get(state)
        if window is None:
            window = _WINDOWS[state] = _RateWindow()
        return window


def _throttle(request: LabRequest) -> None:
    state = request.state
    rate = int(state.knobs.risport_rate)
    fault = THROTTLE_TEXT.format(rate=rate)
    if state.faults.active(request.node.name, "risport_throttle"):
        raise SoapFault(fault, code="Server.userException")
    window = float(getattr(state.knobs, "risport_window", DEFAULT_WINDOW) or DEFAULT_WINDOW)
    if not _window_for(state).admit(rate, window, time.monotonic()):
        raise SoapFault(fault, code="Server.userException")


# --------------------------------------------------------------------------- StateInfo

_BOOT = time.time()
_CTI_CLASSES = ("Provider", "Device", "Line")
_CTI_STATUSES = ("Any", "Open", "Closed", "OpenFailed", "Unknown")


def _start_after(state_info: str | None) -> str:
    """The device name the previous page stopped before ('' = from the start).

    Anything but an empty StateInfo or one this lab wrote (a ``<StateInfo>`` whose
    ``<Node>`` names a next device) is a fault: never a silent restart from page 1.
    """
    if not state_info or not state_info.strip():
        return ""
    try:
        root = etree.fromstring(state_info.strip().encode(), etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        root = None
    node = root.find("Node") if root is not None and root.tag == "StateInfo" else None
    after = node.get("NextDevice", "") if node is not None else ""
    if not after:
        raise SoapFault("Invalid StateInfo", code="Client")
    return after


def _state_info(node_fqdn: str, total: int, returned: int, next_name: str) -> str:
    return (
        f'<StateInfo ClusterWide="1"><Node Name={quoteattr(node_fqdn)} SubsystemStartTime="{int(_BOOT)}" '
        f'StateId="{returned}" TotalItemsFound="{total}" TotalItemsReturned="{returned}" '
        f"NextDevice={quoteattr(next_name)}/></StateInfo>"
    )


# --------------------------------------------------------------------------- answer

def _device(parent: etree._Element, phone: RisDevice) -> None:
    item = _add(parent, "item")
    for tag, value in (
        ("Name", phone.name), ("DirNumber", f"{phone.dir_number}-{phone.status}"), ("DeviceClass", "Phone"),
        ("Model", phone.model), ("Product", phone.model), ("BoxProduct", 0), ("Httpd", "Yes"),
        ("RegistrationAttempts", 0), ("IsCtiControllable", True),
    ):
        _add(item, tag, value)
    nil(item, _q("LoginUserId"))
    for tag, value in (
        ("Status", phone.status), ("StatusReason", phone.status_reason), ("PerfMonObject", 2), ("DChannel", 0),
        ("Description", phone.description),
    ):
        _add(item, tag, value)
    nil(item, _q("H323Trunk"))
    _add(item, "TimeStamp", phone.timestamp)
    _add(item, "Protocol", phone.protocol)
    _add(item, "NumOfLines", 1)
    line = _add(_add(item, "LinesStatus"), "item")
    _add(line, "DirectoryNumber", phone.dir_number)
    _add(line, "Status", "Registered" if phone.status == "Registered" else "UnRegistered")
    _add(item, "ActiveLoadID", phone.load_id)
    nil(item, _q("InactiveLoadID"))
    _add(item, "DownloadStatus", "Unknown")
    nil(item, _q("DownloadFailureReason"))
    nil(item, _q("DownloadServer"))
    address = _add(_add(item, "IPAddress"), "item")
    _add(address, "IP", phone.ip)
    _add(address, "IPAddrType", "ipv4")
    _add(address, "Attribute", "Unknown")


def _cm_node(parent: etree._Element, fqdn: str, phones: Sequence[RisDevice]) -> None:
    item = _add(parent, "item")
    _add(item, "ReturnCode", "Ok" if phones else "NotFound")
    _add(item, "Name", fqdn)
    _add(item, "NoChange", False)
    devices = _add(item, "CmDevices")
    for phone in phones:
        _device(devices, phone)


def _cm_nodes(state: LabState) -> list[LabNodeState]:
    return [n for n in state.nodes.values() if n.kind == "CUCM"]


def _node_short(state: LabState) -> Callable[[str], str | None]:
    names: dict[str, str] = {}
    for node in _cm_nodes(state):
        names[node.name.lower()] = node.name
        names[node.fqdn.lower()] = node.name
    return lambda given: names.get(given.strip().lower(), f"<no node {given}>")


def _select(call: SoapCall) -> etree._Element:
    request = call.request
    if request.node.kind != "CUCM":
        raise SoapFault("RisPort70 is served by CallManager nodes only", code="Server")
    _throttle(request)
    state = request.state
    criteria = parse_criteria(call.element, int(state.knobs.risport_cap))
    after = _start_after(text_of(call.element, "StateInfo"))
    matching = select_devices(ris_devices(state), criteria, _node_short(state))
    remaining = [p for p in matching if p.name >= after] if after else matching
    page, rest = remaining[: criteria.max_devices], remaining[criteria.max_devices :]
    return _answer(state, request.node.fqdn, page, len(matching), rest[0].name if rest else "")


def _answer(state: LabState, fqdn: str, page: Sequence[RisDevice], total: int, next_name: str) -> etree._Element:
    root = etree.Element(_q("selectCmDeviceResponse"), nsmap={"ns1": NAMESPACE})
    ret = _add(root, "selectCmDeviceReturn")
    result = _add(ret, "SelectCmDeviceResult")
    _add(result, "TotalDevicesFound", len(page))
    nodes = _add(result, "CmNodes")
    for node in _cm_nodes(state):
        _cm_node(nodes, node.fqdn, [p for p in page if p.node == node.name])
    _add(ret, "StateInfo", _state_info(fqdn, total, len(page), next_name) if next_name else "")
    return root


# --------------------------------------------------------------------------- selectCtiItem


def _select_cti(call: SoapCall) -> etree._Element:
    """CTI applications, devices and lines: the lab runs none, so every CallManager node says NotFound."""
    request = call.request
    if request.node.kind != "CUCM":
        raise SoapFault("RisPort70 is served by CallManager nodes only", code="Server")
    _throttle(request)
    raw = child(call.element, "CtiSelectionCriteria")
    if raw is None:
        raise SoapFault("CtiSelectionCriteria is required", code="Client")
    _uint(text_of(raw, "MaxReturnedItems"), 0, "MaxReturnedItems")
    _choice(text_of(raw, "CtiMgrClass"), _CTI_CLASSES, "CtiMgrClass", default="Provider")
    _choice(text_of(raw, "Status"), _CTI_STATUSES, "Status")
    _start_after(text_of(call.element, "StateInfo"))
    root = etree.Element(_q("selectCtiItemResponse"), nsmap={"ns1": NAMESPACE})
    ret = _add(root, "selectCtiItemReturn")
    result = _add(ret, "SelectCtiItemResult")
    _add(result, "TotalItemsFound", 0)
    nodes = _add(result, "CtiNodes")
    for node in _cm_nodes(request.state):
        item = _add(nodes, "item")
        _add(item, "ReturnCode", "NotFound")
        _add(item, "Name", node.fqdn)
        _add(item, "NoChange", False)
        _add(item, "CtiItems")
    _add(ret, "StateInfo", "")
    return root


OPERATIONS = {"selectCmDevice": _select, "selectCmDeviceExt": _select, "selectCtiItem": _select_cti}


def _axis_page(request: LabRequest) -> LabResponse:
    page = "<h1>RISService70</h1><p>Hi there, this is an AXIS service!</p>"
    return LabResponse(status=200, body=page.encode(), content_type="text/html;charset=utf-8", headers={})


# --------------------------------------------------------------------------- the lab's own WSDL (``?wsdl``)

_NIL = {"nillable": True}
_CM_DEVICE = El("item", many=True, children=(
    El("Name"), El("DirNumber"), El("DeviceClass"), El("Model", "unsignedInt"), El("Product", "unsignedInt"),
    El("BoxProduct", "unsignedInt"), El("Httpd"), El("RegistrationAttempts", "unsignedInt"),
    El("IsCtiControllable", "boolean"), El("LoginUserId", **_NIL), El("Status"), El("StatusReason", "unsignedInt"),
    El("PerfMonObject", "unsignedInt"), El("DChannel", "unsignedInt"), El("Description"), El("H323Trunk", **_NIL),
    El("TimeStamp", "unsignedInt"), El("Protocol"), El("NumOfLines", "unsignedInt"),
    El("LinesStatus", children=(El("item", many=True, children=(El("DirectoryNumber"), El("Status"))),)),
    El("ActiveLoadID"), El("InactiveLoadID", **_NIL), El("DownloadStatus"), El("DownloadFailureReason", **_NIL),
    El("DownloadServer", **_NIL),
    El("IPAddress", children=(El("item", many=True, children=(El("IP"), El("IPAddrType"), El("Attribute"))),)),
))
_CM_CRITERIA = El("CmSelectionCriteria", children=(
    El("MaxReturnedDevices", "unsignedInt"), El("DeviceClass"), El("Model", "unsignedInt"), El("Status"),
    El("NodeName"), El("SelectBy"), El("SelectItems", children=(El("item", many=True, children=(El("Item"),)),)),
    El("Protocol"), El("DownloadStatus"),
))
_CM_RETURN = El("selectCmDeviceReturn", children=(
    El("SelectCmDeviceResult", children=(
        El("TotalDevicesFound", "unsignedInt"),
        El("CmNodes", children=(El("item", many=True, children=(
            El("ReturnCode"), El("Name"), El("NoChange", "boolean"), El("CmDevices", children=(_CM_DEVICE,)))),)),
    )),
    El("StateInfo"),
))
_CTI_CRITERIA = El("CtiSelectionCriteria", children=(
    El("MaxReturnedItems", "unsignedInt"), El("CtiMgrClass"), El("Status"), El("NodeName"), El("SelectAppBy"),
    El("AppItems", children=(El("item", many=True, children=(El("AppItem"),)),)),
    El("DevNames", children=(El("item", many=True, children=(El("DevName"),)),)),
    El("DirNumbers", children=(El("item", many=True, children=(El("DirNumber"),)),)),
))
_CTI_RETURN = El("selectCtiItemReturn", children=(
    El("SelectCtiItemResult", children=(
        El("TotalItemsFound", "unsignedInt"),
        El("CtiNodes", children=(El("item", many=True, children=(
            El("ReturnCode"), El("Name"), El("NoChange", "boolean"),
            El("CtiItems", children=(El("item", "anyType", many=True),)))),)),
    )),
    El("StateInfo"),
))
WSDL = WsdlSpec(
    target_ns=NAMESPACE, schema_ns=NAMESPACE, service="RISService70", port="RisPort70", port_type="RisPortType",
    binding="RisBinding",
    operations=(
        Op("selectCmDevice", (El("StateInfo"), _CM_CRITERIA), (_CM_RETURN,)),
        Op("selectCmDeviceExt", (El("StateInfo"), _CM_CRITERIA), (), output_element="selectCmDeviceResponse"),
        Op("selectCtiItem", (El("StateInfo"), _CTI_CRITERIA), (_CTI_RETURN,)),
    ),
)

ROUTES: dict[str, Callable[[LabRequest], LabResponse]] = {
    PATH: soap_door(OPERATIONS, namespaces=(NAMESPACE,), get_page=_axis_page, wsdl=WSDL),
}
