"""AXL SOAP door (`/axl/`, CUCM publisher only; other nodes answer HTTP 404).

Speaks Cisco's ``AXLAPI.wsdl``/``AXLSoap.xsd``: the operation element is in
``http://www.cisco.com/AXL/API/<ver>`` and its children are unqualified
(``elementFormDefault="unqualified"``). The answer uses the namespace the
request used (12.5, 14.0, 15.0 and the other published versions).

Operations: ``getCCMVersion``, ``executeSQLQuery`` (a tiny SELECT over the
``processnode``, ``processconfig``, ``device``, ``devicepool`` and ``enduser``
tables; anything else is a fault, never an empty success), ``getPhone``,
``listPhone``, ``listUser`` (the lab's phones and one end user per phone),
``listProcessNode``, ``resetEnterpriseParameters`` (reset
all devices), ``resetDevicePool``, ``doDeviceReset``. With the node fault
``axl_503`` writes and resets answer HTTP 503, as AXL does when its database
change queue is backed up; with the value ``all`` every AXL request does (AXL
not available at all, e.g. its web application not started [INF]). Faults carry ``axlError`` details like CUCM's.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from lxml import etree

from cucmkit.lab.http import LabRequest, LabResponse
from cucmkit.lab.phones import PhoneView
from cucmkit.lab.risport import MODEL_CODES
from cucmkit.lab.soap import (
    LAB_VERSION,
    HttpAnswer,
    SoapCall,
    SoapFault,
    child,
    soap_door,
    sub,
    text_of,
    tomcat_error,
)
from cucmkit.lab.state import LabNodeState, LabRefusal, LabState
from cucmkit.lab.wsdl import El, Op, WsdlSpec

__all__ = [
    "ROUTES",
    "WSDL",
    "PATHS",
    "LAB_VERSION",
    "VERSIONS",
    "ENTERPRISE_WIDE",
    "Select",
    "parse_select",
    "run_select",
    "table_rows",
    "axl_fault",
]

PATHS = ("/axl/", "/axl", "/axl/services/AXLAPIService")
VERSIONS = ("8.0", "8.5", "9.0", "9.1", "10.0", "10.5", "11.0", "11.5", "12.0", "12.5", "14.0", "15.0")
_NS_RE = re.compile(r"^http://www\.cisco\.com/AXL/API/(\d+\.\d+)$")
ENTERPRISE_WIDE = "EnterpriseWideData"
_EWD_PKID = "00000000-1111-0000-0000-000000000000"
_WRITES = frozenset({"resetEnterpriseParameters", "resetDevicePool", "doDeviceReset"})


_Row = TypeVar("_Row")


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, "/".join(("cucmkit-lab", *parts))))


# --------------------------------------------------------------------------- faults

def axl_fault(message: str, code: int, operation: str, *, faultcode: str = "Client") -> SoapFault:
    """A SOAP fault with CUCM's ``<detail><axlError>`` block."""
    detail = etree.Element("axlError")
    sub(detail, "axlcode", code)
    sub(detail, "axlmessage", message)
    sub(detail, "request", operation)
    return SoapFault(message, code=faultcode, detail=detail)


# --------------------------------------------------------------------------- tables

_PROCESSNODE = (
    "pkid", "name", "mac", "systemnode", "description", "isactive", "nodeid",
    "tknodeusage", "ipv6name", "fklbmhubgroup", "tkprocessnoderole", "tkssomode",
)
_PROCESSCONFIG = ("pkid", "fkprocessnode", "tkservice", "paramname", "paramvalue", "tkparam", "isvalid")


def _node_row(node: LabNodeState, node_id: int, sso_mode: int = 0) -> dict[str, str]:
    return {
        "pkid": _uuid("processnode", node.fqdn),
        "name": node.fqdn,
        "mac": "",
        "systemnode": "f",
        "description": node.name,
        "isactive": "t",
        "nodeid": str(node_id),
        "tknodeusage": "0" if node.role == "publisher" else "1",
        "ipv6name": "",
        "fklbmhubgroup": "",
        "tkprocessnoderole": "1" if node.kind == "CUCM" else "2",
        "tkssomode": str(sso_mode),
    }


def _ewd_row() -> dict[str, str]:
    return {
        "pkid": _EWD_PKID, "name": ENTERPRISE_WIDE, "mac": "", "systemnode": "t", "description": "",
        "isactive": "t", "nodeid": "1", "tknodeusage": "1", "ipv6name": "", "fklbmhubgroup": "",
        "tkprocessnoderole": "1", "tkssomode": "0",
    }


def _ordered_nodes(state: LabState) -> list[LabNodeState]:
    """CUCM publisher first, then CUCM subscribers, then IM&P (topology order within each)."""
    return sorted(state.nodes.values(), key=lambda n: (n.kind != "CUCM", n.role != "publisher"))


def _processnode(state: LabState) -> list[dict[str, str]]:
    return [_ewd_row()] + [_node_row(node, index + 2, state.sso_mode(node.name))
                            for index, node in enumerate(_ordered_nodes(state))]


def _param_row(name: str, value: str, service: int = 11) -> dict[str, str]:
    return {
        "pkid": _uuid("processconfig", name), "fkprocessnode": _EWD_PKID, "tkservice": str(service),
        "paramname": name, "paramvalue": value, "tkparam": "1", "isvalid": "t",
    }


def _processconfig(state: LabState) -> list[dict[str, str]]:
    return [
        _param_row("ClusterSecurityMode", str(int(state.security_mode))),
        _param_row("ClusterID", "StandAloneCluster"),
        _param_row("AllowedDeviceQueriesPerMinute", str(_rate(state))),
        # 14+: "Phone Interaction on Certificate Update", default: reset phones automatically (SG14) [INF name]
        _param_row("PhoneInteractionOnCertificateUpdate", "1" if _phone_interaction(state) else "0"),
    ]


def _phone_interaction(state: LabState) -> bool:
    return bool(getattr(state.knobs, "phone_interaction", True))


def _rate(state: LabState) -> int:
    return int(state.knobs.risport_rate)


# Phones and their owners, from the lab's phone fleet (one end user per phone, named after its DN) [INF].
_DEVICE = ("pkid", "name", "description", "tkclass", "tkmodel", "tkdeviceprotocol", "fkdevicepool", "fkenduser")
_DEVICEPOOL = ("pkid", "name")
_ENDUSER = ("pkid", "userid", "firstname", "lastname", "telephonenumber", "mailid")
_TK_CLASS_PHONE, _TK_PROTOCOL_SIP = "1", "11"


def _user_id(dn: str) -> str:
    return f"labuser{dn}"


def _device(state: LabState) -> list[dict[str, str]]:
    return [{
        "pkid": _uuid("device", view.name), "name": view.name, "description": view.description,
        "tkclass": _TK_CLASS_PHONE, "tkmodel": str(MODEL_CODES.get(view.model, 0)),
        "tkdeviceprotocol": _TK_PROTOCOL_SIP, "fkdevicepool": _uuid("devicepool", view.device_pool.lower()),
        "fkenduser": _uuid("enduser", _user_id(view.dn)),
    } for view in state.phone_views()]


def _devicepool(state: LabState) -> list[dict[str, str]]:
    pools = sorted({view.device_pool for view in state.phone_views()})
    return [{"pkid": _uuid("devicepool", name.lower()), "name": name} for name in pools]


def _enduser(state: LabState) -> list[dict[str, str]]:
    domain = state.topology.domain
    return [{
        "pkid": _uuid("enduser", _user_id(view.dn)), "userid": _user_id(view.dn), "firstname": "Lab",
        "lastname": f"User {view.dn}", "telephonenumber": view.dn, "mailid": f"{_user_id(view.dn)}@{domain}",
    } for view in state.phone_views()]


_TABLES: dict[str, tuple[tuple[str, ...], Callable[[LabState], list[dict[str, str]]]]] = {
    "processnode": (_PROCESSNODE, _processnode),
    "processconfig": (_PROCESSCONFIG, _processconfig),
    "device": (_DEVICE, _device),
    "devicepool": (_DEVICEPOOL, _devicepool),
    "enduser": (_ENDUSER, _enduser),
}


def table_rows(state: LabState, table: str) -> list[dict[str, str]]:
    """Every row of a lab table (``processnode``, ``processconfig``, ``device``, ``devicepool``, ``enduser``)."""
    return _TABLES[table][1](state)


# --------------------------------------------------------------------------- the tiny SELECT

@dataclass(frozen=True)
class Select:
    columns: tuple[str, ...]                 # () = *
    table: str
    where: tuple[tuple[str, str], ...]       # (column, value) pairs joined by AND


_SELECT_RE = re.compile(
    r"^\s*select\s+(?P<cols>\*|[a-z_][a-z0-9_]*(?:\s*,\s*[a-z_][a-z0-9_]*)*)\s+from\s+(?P<table>[a-z_][a-z0-9_]*)"
    r"(?:\s+where\s+(?P<where>.+?))?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_COND_RE = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*=\s*(?:'((?:[^']|'')*)'|(-?\d+))\s*$", re.IGNORECASE)
_AND_RE = re.compile(r"\s+and\s+(?=(?:[^']*'[^']*')*[^']*$)", re.IGNORECASE)


def _syntax_error(operation: str) -> SoapFault:
    return axl_fault("A syntax error has occurred.", -201, operation)


def parse_select(sql: str, operation: str = "executeSQLQuery") -> Select:
    """``select <cols|*> from <table> [where <col>='<v>' [and ...]]``; anything else is a fault."""
    found = _SELECT_RE.match(sql)
    if found is None:
        raise _syntax_error(operation)
    columns = () if found["cols"] == "*" else tuple(c.strip().lower() for c in found["cols"].split(","))
    where: list[tuple[str, str]] = []
    if found["where"]:
        for part in _AND_RE.split(found["where"]):
            cond = _COND_RE.match(part)
            if cond is None:
                raise _syntax_error(operation)
            value = cond[2].replace("''", "'") if cond[2] is not None else cond[3]
            where.append((cond[1].lower(), value))
    return Select(columns, found["table"].lower(), tuple(where))


def _check_columns(select: Select, known: Sequence[str], operation: str) -> None:
    for column in (*select.columns, *(c for c, _ in select.where)):
        if column not in known:
            raise axl_fault(
                f"Column ({column}) not found in any table in the query (or SLV is undefined).", -217, operation
            )


def run_select(state: LabState, sql: str, operation: str = "executeSQLQuery") -> tuple[tuple[str, ...], list[dict[str, str]]]:
    """(columns, rows) of a SELECT over the lab's tables; ``SoapFault`` with CUCM's axlError otherwise.

    Shared with the admin CLI's ``run sql``. String comparisons are exact, as in Informix.
    """
    select = parse_select(sql, operation)
    if select.table not in _TABLES:
        raise axl_fault(f"The specified table ({select.table}) is not in the database.", -206, operation)
    known, rows_of = _TABLES[select.table]
    _check_columns(select, known, operation)
    rows = [r for r in rows_of(state) if all(r[column] == value for column, value in select.where)]
    return select.columns or known, rows


# --------------------------------------------------------------------------- operations

def _response(call: SoapCall) -> tuple[etree._Element, etree._Element]:
    root = etree.Element(f"{{{call.namespace}}}{call.operation}Response", nsmap={"ns": call.namespace})
    return root, sub(root, "return")


def _ccm_version(call: SoapCall) -> etree._Element:
    root, ret = _response(call)
    sub(sub(ret, "componentVersion"), "version", call.request.state.version if call.request.state else LAB_VERSION)
    return root


def _execute_sql(call: SoapCall) -> etree._Element:
    sql = text_of(call.element, "sql")
    if not sql:
        raise axl_fault("The sql element is required", 5003, call.operation)
    columns, rows = run_select(call.request.state, sql, call.operation)
    root, ret = _response(call)
    for row in rows:
        out = sub(ret, "row")
        for column in columns:
            sub(out, column, row[column] or None)
    return root


_USAGE = {"0": "Publisher", "1": "Subscriber"}
_ROLE = {"1": "CUCM Voice/Video", "2": "CUCM IM and Presence"}
_THICK: dict[str, Callable[[dict[str, str]], str]] = {
    "name": lambda r: r["name"],
    "description": lambda r: r["description"],
    "mac": lambda r: r["mac"],
    "ipv6Name": lambda r: r["ipv6name"],
    "nodeUsage": lambda r: _USAGE[r["tknodeusage"]],
    "lbmHubGroup": lambda r: r["fklbmhubgroup"],
    "processNodeRole": lambda r: _ROLE[r["tkprocessnoderole"]],
}


_PATTERNED = frozenset({"mac"})


def _like(pattern: str | None) -> Callable[[str], bool]:
    """AXL search criteria: SQL LIKE with ``%`` (case-insensitive)."""
    if pattern is None:
        return lambda value: True
    regex = re.compile("^" + ".*".join(map(re.escape, pattern.split("%"))) + "$", re.IGNORECASE | re.DOTALL)
    return lambda value: bool(regex.match(value))


def _wanted_tags(call: SoapCall) -> list[str]:
    tags = child(call.element, "returnedTags")
    names = [etree.QName(e).localname for e in tags if isinstance(e.tag, str)] if tags is not None else []
    return [n for n in _THICK if n in names] or list(_THICK)


def _search(call: SoapCall) -> list[dict[str, str]]:
    criteria = child(call.element, "searchCriteria")
    if criteria is None:
        raise axl_fault("searchCriteria is required", 5003, call.operation)
    tests = [
        (column, _like(text_of(criteria, tag)))  # absent or empty: everything
        for tag, column in (("name", "name"), ("description", "description"), ("processNodeRole", "role"))
    ]
    rows = [{**r, "role": _ROLE[r["tkprocessnoderole"]]} for r in _processnode(call.request.state)]
    return [r for r in rows if all(test(r[column]) for column, test in tests)]


def _count(call: SoapCall, tag: str) -> int | None:
    text = text_of(call.element, tag)
    if text is None:
        return None
    if not text.isdigit():
        raise axl_fault(f"Invalid value for {tag}: {text}", 5003, call.operation)
    return int(text)


def _page(call: SoapCall, rows: list[_Row]) -> list[_Row]:
    skip, first = _count(call, "skip") or 0, _count(call, "first")
    return rows[skip: skip + first] if first is not None else rows[skip:]


def _list_process_node(call: SoapCall) -> etree._Element:
    rows = _page(call, _search(call))
    tags = _wanted_tags(call)
    root, ret = _response(call)
    for row in rows:
        node = sub(ret, "processNode")
        node.set("uuid", "{" + row["pkid"].upper() + "}")
        for tag in tags:
            value = _THICK[tag](row)
            if value or tag not in _PATTERNED:  # an empty mac would break XMacAddress's pattern
                sub(node, tag, value or None)
    return root


def _standard(call: SoapCall, value: str) -> etree._Element:
    root, ret = _response(call)
    ret.text = value
    return root


def _reset_all(call: SoapCall) -> etree._Element:
    call.request.state.reset_all_devices()
    return _standard(call, "true")


def _reset_pool(call: SoapCall) -> etree._Element:
    name = text_of(call.element, "name") or text_of(call.element, "uuid") or ""
    try:
        call.request.state.reset_device_pool(name)
    except LabRefusal as refusal:
        raise axl_fault("Item not valid: The specified Device Pool was not found", 5007, call.operation) from refusal
    return _standard(call, "{" + _uuid("devicepool", name.lower()).upper() + "}")


def _device_reset(call: SoapCall) -> etree._Element:
    name = text_of(call.element, "deviceName") or ""
    try:
        call.request.state.reset_device(name)
    except LabRefusal as refusal:
        raise axl_fault(f"Item not valid: The specified Device {name} was not found", 5007, call.operation) from refusal
    return _standard(call, "{" + _uuid("device", name).upper() + "}")


# --------------------------------------------------------------------------- phones and users

def _fk(parent: etree._Element, tag: str, name: str, pkid: str) -> None:
    sub(parent, tag, name).set("uuid", "{" + pkid.upper() + "}")


# XPhone/LPhone tags the lab answers, in the schema's order (a sequence: order matters)
_PHONE_TAGS: dict[str, Callable[[etree._Element, PhoneView], None]] = {
    "name": lambda e, v: sub(e, "name", v.name),
    "description": lambda e, v: sub(e, "description", v.description),
    "product": lambda e, v: sub(e, "product", v.model),
    "model": lambda e, v: sub(e, "model", v.model),
    "class": lambda e, v: sub(e, "class", "Phone"),
    "protocol": lambda e, v: sub(e, "protocol", "SIP"),
    "protocolSide": lambda e, v: sub(e, "protocolSide", "User"),
    "devicePoolName": lambda e, v: _fk(e, "devicePoolName", v.device_pool, _uuid("devicepool", v.device_pool.lower())),
    "ownerUserName": lambda e, v: _fk(e, "ownerUserName", _user_id(v.dn), _uuid("enduser", _user_id(v.dn))),
}
_USER_TAGS: dict[str, Callable[[etree._Element, dict[str, str]], None]] = {
    "firstName": lambda e, u: sub(e, "firstName", u["firstname"]),
    "lastName": lambda e, u: sub(e, "lastName", u["lastname"]),
    "userid": lambda e, u: sub(e, "userid", u["userid"]),
    "mailid": lambda e, u: sub(e, "mailid", u["mailid"]),
    "telephoneNumber": lambda e, u: sub(e, "telephoneNumber", u["telephonenumber"]),
}


def _returned(call: SoapCall, known: Sequence[str]) -> list[str]:
    tags = child(call.element, "returnedTags")
    names = {etree.QName(e).localname for e in tags if isinstance(e.tag, str)} if tags is not None else set()
    return [n for n in known if n in names] or list(known)


def _matches(call: SoapCall, fields: dict[str, Callable[[Any], str]], row: Any) -> bool:
    criteria = child(call.element, "searchCriteria")
    if criteria is None:
        raise axl_fault("searchCriteria is required", 5003, call.operation)
    return all(_like(text_of(criteria, tag) or None)(value(row)) for tag, value in fields.items())


def _phone_element(parent: etree._Element, view: PhoneView, tags: Sequence[str]) -> None:
    phone = sub(parent, "phone")
    phone.set("uuid", "{" + _uuid("device", view.name).upper() + "}")
    for tag in tags:
        _PHONE_TAGS[tag](phone, view)


def _get_phone(call: SoapCall) -> etree._Element:
    name, pkid = text_of(call.element, "name"), (text_of(call.element, "uuid") or "").strip("{}").lower()
    found = [v for v in call.request.state.phone_views()
             if (name and v.name.lower() == name.lower()) or (pkid and _uuid("device", v.name) == pkid)]
    if not found:
        raise axl_fault("Item not valid: The specified Phone was not found", 5007, call.operation)
    root, ret = _response(call)
    _phone_element(ret, found[0], _returned(call, list(_PHONE_TAGS)))
    return root


_PHONE_SEARCH: dict[str, Callable[[Any], str]] = {
    "name": lambda v: v.name, "description": lambda v: v.description, "protocol": lambda v: "SIP",
    "devicePoolName": lambda v: v.device_pool,
}
_USER_SEARCH: dict[str, Callable[[Any], str]] = {
    "firstName": lambda u: u["firstname"], "lastName": lambda u: u["lastname"], "userid": lambda u: u["userid"],
}


def _list_phone(call: SoapCall) -> etree._Element:
    views = [v for v in call.request.state.phone_views() if _matches(call, _PHONE_SEARCH, v)]
    tags = _returned(call, list(_PHONE_TAGS))
    root, ret = _response(call)
    for view in _page(call, views):
        _phone_element(ret, view, tags)
    return root


def _list_user(call: SoapCall) -> etree._Element:
    users = [u for u in _enduser(call.request.state) if _matches(call, _USER_SEARCH, u)]
    tags = _returned(call, list(_USER_TAGS))
    root, ret = _response(call)
    for user in _page(call, users):
        out = sub(ret, "user")
        out.set("uuid", "{" + user["pkid"].upper() + "}")
        for tag in tags:
            _USER_TAGS[tag](out, user)
    return root


OPERATIONS = {
    "getPhone": _get_phone,
    "listPhone": _list_phone,
    "listUser": _list_user,
    "getCCMVersion": _ccm_version,
    "executeSQLQuery": _execute_sql,
    "listProcessNode": _list_process_node,
    "resetEnterpriseParameters": _reset_all,
    "resetDevicePool": _reset_pool,
    "doDeviceReset": _device_reset,
}


def _throttled(call: SoapCall) -> None:
    request = call.request
    state = request.state
    fault = state.faults.get(request.node.name, "axl_503")
    if fault == "all":
        raise HttpAnswer(tomcat_error(
            503, "Service Unavailable", "The requested service is not currently available."))
    if call.operation in _WRITES and (fault is not None or state.knobs.axl_write_503):
        raise HttpAnswer(tomcat_error(
            503, "Service Unavailable",
            "AXL is throttling write requests: the database change notification queue is too large. "
            "Retry after several seconds.",
        ))


def _dispatch(call: SoapCall) -> etree._Element:
    handler = OPERATIONS.get(call.operation)
    if handler is None:
        raise axl_fault(f"Unknown or unsupported operation {call.operation}", 5000, call.operation)
    _throttled(call)
    return handler(call)


def _resolve(namespace: str, operation: str) -> Callable[[SoapCall], etree._Element] | None:
    """Every operation in a published AXL namespace reaches ``_dispatch`` (unknown ones fault with axlError)."""
    found = _NS_RE.match(namespace)
    return _dispatch if found and found.group(1) in VERSIONS else None


# --------------------------------------------------------------------------- the lab's own WSDL (``?wsdl``)

WSDL_VERSION = "14.0"   # the lab's AXL schema version (its CUCM is 14.0)


def _fk_el(name: str) -> El:
    return El(name, attrs=("uuid",))


_PHONE_FIELDS = (El("name"), El("description"), El("product"), El("model"), El("class"), El("protocol"),
                 El("protocolSide"), _fk_el("devicePoolName"), _fk_el("ownerUserName"))
_USER_FIELDS = tuple(El(tag) for tag in _USER_TAGS)
_NODE_FIELDS = tuple(El(tag) for tag in _THICK)
_PAGING = (El("skip", "unsignedLong"), El("first", "unsignedLong"))


def _list_op(name: str, search: tuple[str, ...], fields: tuple[El, ...], item: str) -> Op:
    inputs = (El("searchCriteria", children=tuple(El(tag) for tag in search)),
              El("returnedTags", children=tuple(El(f.name) for f in fields)), *_PAGING)
    return Op(name, inputs, (El("return", children=(El(item, many=True, children=fields, attrs=("uuid",)),)),))


WSDL = WsdlSpec(
    target_ns="http://www.cisco.com/AXLAPIService/", schema_ns=f"http://www.cisco.com/AXL/API/{WSDL_VERSION}",
    service="AXLAPIService", port="AXLPort", port_type="AXLPort", binding="AXLAPIBinding", qualified=False,
    action=lambda name: f"CUCM:DB ver={WSDL_VERSION} {name}",
    response_attrs=("sequence",),  # as Cisco's answers: clients read answer["return"][...] either way
    operations=(
        Op("getCCMVersion", (El("processNodeName"),),
           (El("return", children=(El("componentVersion", children=(El("version"),)),)),)),
        Op("executeSQLQuery", (El("sql", optional=False),),
           (El("return", children=(El("row", "anyType", many=True),)),)),
        _list_op("listProcessNode", ("name", "description", "processNodeRole"), _NODE_FIELDS, "processNode"),
        Op("getPhone", (El("name"), El("uuid"), El("returnedTags", children=tuple(El(f.name) for f in _PHONE_FIELDS))),
           (El("return", children=(El("phone", children=_PHONE_FIELDS, attrs=("uuid",)),)),)),
        _list_op("listPhone", tuple(_PHONE_SEARCH), _PHONE_FIELDS, "phone"),
        _list_op("listUser", tuple(_USER_SEARCH), _USER_FIELDS, "user"),
        Op("resetEnterpriseParameters", (), (El("return"),)),
        Op("resetDevicePool", (El("name"), El("uuid")), (El("return"),)),
        Op("doDeviceReset", (El("deviceName"), El("isHardReset", "boolean"), El("isMGCP", "boolean"),
                             El("deviceResetType")), (El("return"),)),
    ),
)

_DOOR = soap_door(_resolve, get_page=lambda r: _get_page(r), wsdl=WSDL)


def _get_page(request: LabRequest) -> LabResponse:
    page = (
        "<html><head><title>Cisco CallManager: AXL Web Service</title></head><body>"
        "<h1>Cisco CallManager: AXL Web Service</h1>"
        "<p>The AXL Web Service is working and accepting requests. Use HTTP POST to send a request.</p>"
        "</body></html>"
    )
    return LabResponse(status=200, body=page.encode(), content_type="text/html;charset=utf-8", headers={})


def handle(request: LabRequest) -> LabResponse:
    node = request.node
    if node.kind != "CUCM" or node.role != "publisher":
        return tomcat_error(404, "Not Found", "The requested resource [/axl/] is not available")
    return _DOOR(request)


ROUTES: dict[str, Callable[[LabRequest], LabResponse]] = {path: handle for path in PATHS}
