"""Control Center Services SOAP door (`/controlcenterservice2/services/ControlCenterServices`).

Speaks Cisco's ``ControlCenterServices.wsdl`` (namespace
``http://schemas.cisco.com/ast/soap``, document/literal, elements qualified)
over the node's ``LabState``. Only the local node is controlled: a
``NodeName`` naming any other node is a fault (an absent or empty one means the
local node), as is Cisco Tomcat (Control Center runs inside it). Item ReasonCodes follow CONTRACTS section 1.2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from lxml import etree

from cucmkit.lab.http import LabRequest, LabResponse
from cucmkit.lab.soap import LAB_VERSION, SoapCall, SoapFault, child, children, nil, soap_door, sub, text_of
from cucmkit.lab.state import LabNodeState, LabRefusal, ServiceState
from cucmkit.lab.wsdl import El, Op, WsdlSpec

__all__ = ["ROUTES", "PATH", "NAMESPACE", "WSDL", "REASONS", "TOMCAT", "TOMCAT_REFUSED", "OPERATIONS"]

PATH = "/controlcenterservice2/services/ControlCenterServices"
NAMESPACE = "http://schemas.cisco.com/ast/soap"
TOMCAT = "Cisco Tomcat"
TOMCAT_REFUSED = (
    "Cisco Tomcat cannot be controlled through Control Center; "
    "use 'utils service restart Cisco Tomcat' from the CLI"
)

OK, NOT_RUNNING, PENDING, NO_SUCH, ALREADY_STARTED, ALREADY_STOPPED, NOT_ACTIVATED = (
    -1, -1019, -1029, -1010, -1039, -1040, -1068,
)
REASONS: dict[int, str] = {
    OK: " ",
    NO_SUCH: "No such service",
    NOT_RUNNING: "Component is not running",
    PENDING: "Operation is pending",
    ALREADY_STARTED: "Service already started",
    ALREADY_STOPPED: "Service already stopped",
    NOT_ACTIVATED: "Service Not Activated",
}

# Feature services (deployable through service activation) and their Serviceability groups.
_FEATURE_GROUPS: dict[str, str] = {
    "Cisco CallManager": "CM Services",
    "Cisco Tftp": "CM Services",
    "Cisco Extension Mobility": "CM Services",
    "Cisco Intercluster Lookup Service": "CM Services",
    "Cisco Location Bandwidth Manager": "CM Services",
    "Cisco CTIManager": "CTI Services",
    "Cisco Certificate Authority Proxy Function": "Security Services",
    "Cisco SIP Proxy": "IM and Presence Services",
    "Cisco Presence Engine": "IM and Presence Services",
    "Cisco XCP Connection Manager": "IM and Presence Services",
    "Cisco XCP Web Connection Manager": "IM and Presence Services",
    "Cisco XCP Directory Service": "IM and Presence Services",
    "Cisco XCP XMPP Federation Connection Manager": "IM and Presence Services",
}
_NETWORK_GROUPS: dict[str, str] = {
    "Cisco DRF Master": "Backup and Restore Services",
    "Cisco DRF Local": "Backup and Restore Services",
    "Cisco Trust Verification Service": "Security Services",
    "Cisco Tomcat": "Platform Services",
    "Cisco AXL Tomcat": "Platform Services",
    "Cisco UDS Tomcat": "Platform Services",
    "Cisco SSOSP Tomcat": "Platform Services",
    "Cisco HAProxy": "Platform Services",
}


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _root(name: str) -> etree._Element:
    return etree.Element(_q(name), nsmap={"ns1": NAMESPACE})


def _add(parent: etree._Element, name: str, value: object = None) -> etree._Element:
    return sub(parent, _q(name), value)


# --------------------------------------------------------------------------- state access

def _text(element: etree._Element) -> str:
    return "".join(element.itertext()).strip()


def _services(call: SoapCall) -> dict[str, ServiceState]:
    return call.request.node.services()


def _lookup(services: dict[str, ServiceState], name: str) -> ServiceState | None:
    """Service names are matched case-insensitively, as Control Center does."""
    wanted = name.strip().lower()
    return next((svc for key, svc in services.items() if key.lower() == wanted), None)


def _started_at(service: ServiceState) -> datetime | None:
    if service.started_at is None:
        return None
    return datetime.fromtimestamp(float(service.started_at), tz=UTC)


# --------------------------------------------------------------------------- building answers

def _start_time(when: datetime | None) -> str | None:
    return when.astimezone(UTC).strftime("%a %b %d %H:%M:%S %Y") if when else None


def _uptime(service: ServiceState) -> int:
    when = _started_at(service)
    if service.status != "Started" or when is None:
        return -1
    return max(0, int((datetime.now(UTC) - when).total_seconds()))


def _item(parent: etree._Element, name: str, service: ServiceState | None, reason: int | None = None) -> None:
    item = _add(parent, "item")
    _add(item, "ServiceName", service.name if service is not None else name)
    _add(item, "ServiceStatus", service.status if service is not None else "Unknown")
    code = NO_SUCH if service is None else service.reason if reason is None else reason
    _add(item, "ReasonCode", code)
    _add(item, "ReasonCodeString", REASONS.get(code, " "))
    started = _start_time(_started_at(service)) if service is not None and service.status == "Started" else None
    if started:
        _add(item, "StartTime", started)
    else:
        nil(item, _q("StartTime"))
    _add(item, "UpTime", _uptime(service) if service is not None else -1)


def _information(name: str, items: Iterable[tuple[str, ServiceState | None, int | None]]) -> etree._Element:
    root = _root(f"{name}Response")
    ret = _add(root, f"{name}Return")
    _add(ret, "ReturnCode", "0")
    nil(ret, _q("ReasonCode"))
    nil(ret, _q("ReasonString"))
    listing = _add(ret, "ServiceInfoList")
    for service_name, service, reason in items:
        _item(listing, service_name, service, reason)
    return root


# --------------------------------------------------------------------------- soapGetServiceStatus

def _get_service_status(call: SoapCall) -> etree._Element:
    wanted = [_text(e) for e in children(call.element, "ServiceStatus")]
    services = _services(call)
    names = [n for n in wanted if n] or sorted(services)
    return _information("soapGetServiceStatus", ((n, _lookup(services, n), None) for n in names))


# --------------------------------------------------------------------------- soapDoControlServices

def _check_node(request: LabRequest, node_name: str | None) -> None:
    """An absent or empty NodeName means the local node (clients call each node directly)."""
    node = request.node
    given = (node_name or "").strip()
    if given and given.lower() not in {node.fqdn.lower(), node.name.lower()}:
        raise SoapFault(f"The NodeName {given} is not the local node {node.fqdn}", code="Server.NodeName")


Outcome = tuple[str, ServiceState | None, int | None]


def _control_one(node: LabNodeState, action: str, name: str, services: dict[str, ServiceState]) -> Outcome:
    service = _lookup(services, name)
    if service is None:
        return name, None, NO_SUCH
    if not service.activated:
        return name, service, NOT_ACTIVATED
    if service.status in ("Starting", "Stopping"):
        return name, service, PENDING
    if action == "Start" and service.status == "Started":
        return name, service, ALREADY_STARTED
    if action == "Stop" and service.status == "Stopped":
        return name, service, ALREADY_STOPPED
    try:
        return name, _ACTIONS[action](node, service.name), OK
    except LabRefusal as refusal:
        return name, node.service(service.name), refusal.code if refusal.code is not None else NOT_RUNNING


_ACTIONS: dict[str, Callable[[LabNodeState, str], ServiceState]] = {
    "Start": LabNodeState.start,
    "Stop": LabNodeState.stop,
    "Restart": LabNodeState.restart,
}


def _do_control_services(call: SoapCall) -> etree._Element:
    request_el = child(call.element, "ControlServiceRequest")
    if request_el is None:
        raise SoapFault("ControlServiceRequest is required", code="Client")
    _check_node(call.request, text_of(request_el, "NodeName"))
    action = text_of(request_el, "ControlType") or ""
    if action not in _ACTIONS:
        raise SoapFault(f"Invalid ControlType '{action}': expected Start, Stop or Restart", code="Client")
    names = [n for n in map(_text, children(child(request_el, "ServiceList"), "item")) if n]
    if any(n.lower() == TOMCAT.lower() for n in names):
        raise SoapFault(TOMCAT_REFUSED, code="Server")
    node = call.request.node
    services = _services(call)
    results = [_control_one(node, action, name, services) for name in names]
    return _information("soapDoControlServices", results)


# --------------------------------------------------------------------------- static lists

def _group(name: str) -> str:
    return _FEATURE_GROUPS.get(name) or _NETWORK_GROUPS.get(name) or "Platform Services"


def _spec(parent: etree._Element, name: str, product_id: str | None) -> None:
    item = _add(parent, "item")
    _add(item, "ServiceName", name)
    _add(item, "ServiceType", "Service")
    _add(item, "Deployable", name in _FEATURE_GROUPS)
    _add(item, "GroupName", _group(name))
    if product_id is not None:
        _add(item, "ProductID", product_id)
    _add(item, "DependentServices")


def _product_id(request: LabRequest) -> str:
    return "CallManager" if request.node.kind == "CUCM" else "CUP"


def _static_service_list(call: SoapCall) -> etree._Element:
    root = _root("soapGetStaticServiceListResponse")
    ret = _add(root, "soapGetStaticServiceListReturn")
    listing = _add(ret, "Services")
    for name in sorted(_services(call)):
        _spec(listing, name, None)
    return root


def _products(parent: etree._Element, request: LabRequest) -> None:
    products = _add(parent, "Products")
    item = _add(products, "item")
    cucm = request.node.kind == "CUCM"
    _add(item, "ProductName", "Cisco Unified Communications Manager" if cucm else "Cisco Unified IM and Presence")
    _add(item, "ProductVersion", request.state.version if request.state else LAB_VERSION)
    _add(item, "ProductDescription", "Cisco Unified Communications Manager" if cucm else "IM and Presence Service")
    _add(item, "ProductID", _product_id(request))
    _add(item, "ShortName", "CM" if cucm else "CUP")


def _product_information(call: SoapCall) -> etree._Element:
    request = call.request
    root = _root("getProductInformationListResponse")
    ret = _add(root, "getProductInformationListReturn")
    _add(ret, "ActiveServerVersion", request.state.version if request.state else LAB_VERSION)
    _add(ret, "PrimaryNode", request.node.fqdn)
    nil(ret, _q("SecondaryNode"))
    _products(ret, request)
    services = _add(ret, "Services")
    for name in sorted(_services(call)):
        _spec(services, name, _product_id(request))
    return root


OPERATIONS = {
    "soapGetServiceStatus": _get_service_status,
    "soapDoControlServices": _do_control_services,
    "soapGetStaticServiceList": _static_service_list,
    "getProductInformationList": _product_information,
}


def _axis_page(request: LabRequest) -> LabResponse:
    page = (
        "<h1>ControlCenterServices</h1><p>Hi there, this is an AXIS service!</p>"
        "<i>Perhaps there will be a form for invoking the service here...</i>"
    )
    return LabResponse(status=200, body=page.encode(), content_type="text/html;charset=utf-8", headers={})


# --------------------------------------------------------------------------- the lab's own WSDL (``?wsdl``)

_SERVICE_INFO = El("item", many=True, children=(
    El("ServiceName"), El("ServiceStatus"), El("ReasonCode", "int"), El("ReasonCodeString"),
    El("StartTime", nillable=True), El("UpTime", "int"),
))
_INFO_RETURN = (El("ReturnCode"), El("ReasonCode", "int", nillable=True), El("ReasonString", nillable=True),
                El("ServiceInfoList", children=(_SERVICE_INFO,)))
_SPEC_ITEM = El("item", many=True, children=(
    El("ServiceName"), El("ServiceType"), El("Deployable", "boolean"), El("GroupName"), El("ProductID"),
    El("DependentServices", children=(El("item", many=True),)),
))
WSDL = WsdlSpec(
    target_ns=NAMESPACE, schema_ns=NAMESPACE, service="ControlCenterServices", port="ControlCenterServicesPort",
    port_type="ControlCenterServicesPort", binding="ControlCenterServicesBinding",
    operations=(
        Op("soapGetServiceStatus", (El("ServiceStatus", many=True),),
           (El("soapGetServiceStatusReturn", children=_INFO_RETURN),)),
        Op("soapDoControlServices", (El("ControlServiceRequest", children=(
            El("NodeName"), El("ControlType"), El("ServiceList", children=(El("item", many=True),)))),),
           (El("soapDoControlServicesReturn", children=_INFO_RETURN),)),
        Op("soapGetStaticServiceList", (El("ServiceInformationResponse"),),
           (El("soapGetStaticServiceListReturn", children=(El("Services", children=(_SPEC_ITEM,)),)),)),
        Op("getProductInformationList", (El("ServiceInfo"),),
           (El("getProductInformationListReturn", children=(
               El("ActiveServerVersion"), El("PrimaryNode"), El("SecondaryNode", nillable=True),
               El("Products", children=(El("item", many=True, children=(
                   El("ProductName"), El("ProductVersion"), El("ProductDescription"), El("ProductID"),
                   El("ShortName"))),)),
               El("Services", children=(_SPEC_ITEM,)))),)),
    ),
)

ROUTES: dict[str, Callable[[LabRequest], LabResponse]] = {
    PATH: soap_door(OPERATIONS, namespaces=(NAMESPACE,), get_page=_axis_page, wsdl=WSDL),
}
