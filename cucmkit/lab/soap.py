"""SOAP 1.1 plumbing shared by the lab's SOAP doors (Control Center, RisPort70, AXL).

The doors are document/literal services behind Tomcat, as on CUCM:

- Tomcat checks HTTP Basic before the service sees the request: bad or
  missing credentials get ``401`` with Tomcat's HTML error page, never a
  SOAP fault.
- The service parses the envelope with a hardened parser (no DTD, no
  entities, no network). Anything it cannot read (not XML, a DOCTYPE, not a
  SOAP 1.1 envelope, an empty body) is answered with a SOAP fault and HTTP
  500, never a traceback and never an empty success.
- A handler returns the body element of its answer, or raises ``SoapFault``;
  an unexpected exception inside a handler becomes a ``Server`` fault whose
  text names no internals.

``soap_door`` turns a table of operation handlers into one route handler
(``Callable[[LabRequest], LabResponse]``) for ``cucmkit.lab.http``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from html import escape

from lxml import etree

from cucmkit.lab.http import LabRequest, LabResponse
from cucmkit.lab.topology import LAB_VERSION
from cucmkit.lab.wsdl import WsdlSpec, wants_wsdl, wsdl_response

__all__ = [
    "SOAP_ENV",
    "LAB_VERSION",
    "SOAP12_ENV",
    "XSI",
    "SoapFault",
    "HttpAnswer",
    "SoapCall",
    "Handler",
    "Resolver",
    "table_resolver",
    "parse_envelope",
    "envelope",
    "fault_envelope",
    "fault_response",
    "soap_response",
    "tomcat_error",
    "unauthorized",
    "check_app_user",
    "soap_door",
    "child",
    "children",
    "text_of",
    "sub",
    "nil",
]

log = logging.getLogger(__name__)

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
_AXIS_NS = "http://xml.apache.org/axis/"
_XML_CT = "text/xml; charset=utf-8"
_MAX_BODY = 4 * 1024 * 1024


class SoapFault(Exception):
    """A SOAP fault to send back. ``code`` is the local faultcode ("Client", "Server.NodeName", ...)."""

    def __init__(
        self,
        string: str,
        *,
        code: str = "Server",
        status: int = 500,
        detail: etree._Element | None = None,
    ) -> None:
        super().__init__(string)
        self.string = string
        self.code = code
        self.status = status
        self.detail = detail


class HttpAnswer(Exception):
    """Raised by a handler to answer with a plain HTTP response instead (e.g. AXL's 503)."""

    def __init__(self, response: LabResponse) -> None:
        super().__init__(f"HTTP {response.status}")
        self.response = response


@dataclass(frozen=True)
class SoapCall:
    """One parsed SOAP request as a handler sees it."""

    request: LabRequest
    operation: str              # local name of the body element
    namespace: str              # its namespace URI
    element: etree._Element = field(repr=False)
    soap_action: str | None = None


Handler = Callable[[SoapCall], etree._Element]


# --------------------------------------------------------------------------- parsing

def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=True,
        remove_comments=True,
    )


def _client_fault(text: str) -> SoapFault:
    return SoapFault(text, code="Client")


def _parse_xml(body: bytes) -> etree._Element:
    if not body or not body.strip():
        raise SoapFault("No SOAP message in the request body", code="Client")
    if len(body) > _MAX_BODY:
        raise _client_fault("Request body too large")
    try:
        root = etree.fromstring(body, parser=_parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise _client_fault(f"org.xml.sax.SAXParseException: {_first_line(exc)}") from exc
    if root.getroottree().docinfo.doctype:
        raise _client_fault("Document Type Declaration (DTD) not allowed in SOAP messages")
    return root


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or ["Content is not allowed in prolog."])[0][:200]


def _body_of(root: etree._Element) -> etree._Element:
    if root.tag == f"{{{SOAP12_ENV}}}Envelope":
        raise SoapFault("Version Mismatch: SOAP 1.2 envelope sent to a SOAP 1.1 service", code="VersionMismatch")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapFault("Version Mismatch: root element is not a SOAP 1.1 Envelope", code="VersionMismatch")
    bodies = root.findall(f"{{{SOAP_ENV}}}Body")
    if len(bodies) != 1:
        raise _client_fault("SOAP Envelope must contain exactly one Body")
    _check_headers(root)
    return bodies[0]


def _check_headers(root: etree._Element) -> None:
    for header in root.findall(f"{{{SOAP_ENV}}}Header"):
        for entry in header:
            if not isinstance(entry.tag, str):
                continue
            if entry.get(f"{{{SOAP_ENV}}}mustUnderstand") in ("1", "true"):
                raise SoapFault(
                    f"Did not understand \"MustUnderstand\" header(s):{etree.QName(entry).text}",
                    code="MustUnderstand",
                )


def parse_envelope(body: bytes) -> etree._Element:
    """Return the single operation element of a SOAP 1.1 document/literal request.

    Raises ``SoapFault`` (code ``Client``/``VersionMismatch``/``MustUnderstand``)
    for anything that is not a well-formed envelope with exactly one body element.
    """
    soap_body = _body_of(_parse_xml(body))
    elements = [e for e in soap_body if isinstance(e.tag, str)]
    if not elements:
        raise _client_fault("No operation in the SOAP Body")
    if len(elements) > 1:
        raise _client_fault("More than one operation in the SOAP Body")
    if (soap_body.text or "").strip() or any((e.tail or "").strip() for e in elements):
        raise _client_fault("Text content is not allowed in the SOAP Body")
    return elements[0]


# --------------------------------------------------------------------------- reading helpers

def children(parent: etree._Element | None, name: str) -> list[etree._Element]:
    """Child elements with local name ``name`` (any namespace: clients differ in qualification)."""
    if parent is None:
        return []
    return [e for e in parent if isinstance(e.tag, str) and etree.QName(e).localname == name]


def child(parent: etree._Element | None, name: str) -> etree._Element | None:
    found = children(parent, name)
    return found[0] if found else None


def _is_nil(element: etree._Element) -> bool:
    return element.get(f"{{{XSI}}}nil") in ("true", "1")


def text_of(parent: etree._Element | None, name: str, default: str | None = None) -> str | None:
    """Stripped text of the first child ``name``; ``default`` when absent, nil or empty."""
    element = child(parent, name)
    if element is None or _is_nil(element):
        return default
    value = "".join(element.itertext()).strip()
    return value if value else default


# --------------------------------------------------------------------------- building

def sub(parent: etree._Element, tag: str, value: object = None) -> etree._Element:
    """Append ``<tag>value</tag>``; booleans as ``true``/``false``; ``None`` leaves it empty."""
    element = etree.SubElement(parent, tag)
    if isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)
    return element


def nil(parent: etree._Element, tag: str) -> etree._Element:
    element = etree.SubElement(parent, tag)
    element.set(f"{{{XSI}}}nil", "true")
    return element


def envelope(payload: etree._Element) -> bytes:
    """Wrap one body element in a SOAP 1.1 envelope, the way Axis writes it."""
    nsmap = {"soapenv": SOAP_ENV, "xsd": XSD, "xsi": XSI}
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap=nsmap)
    body = etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
    body.append(payload)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def fault_envelope(
    code: str, string: str, *, detail: etree._Element | None = None, hostname: str | None = None
) -> bytes:
    """A SOAP 1.1 Fault body: ``faultcode`` qualified with ``soapenv:``, ``faultstring``, ``detail``."""
    fault = etree.Element(f"{{{SOAP_ENV}}}Fault")
    sub(fault, "faultcode", f"soapenv:{code}")
    sub(fault, "faultstring", string)
    detail_el = etree.SubElement(fault, "detail")
    if detail is not None:
        detail_el.append(detail)
    if hostname:
        host = etree.SubElement(detail_el, f"{{{_AXIS_NS}}}hostname", nsmap={"ns1": _AXIS_NS})
        host.text = hostname
    return envelope(fault)


def soap_response(payload: etree._Element, *, status: int = 200) -> LabResponse:
    return LabResponse(status=status, body=envelope(payload), content_type=_XML_CT, headers={})


def fault_response(fault: SoapFault, *, hostname: str | None = None) -> LabResponse:
    body = fault_envelope(fault.code, fault.string, detail=fault.detail, hostname=hostname)
    return LabResponse(status=fault.status, body=body, content_type=_XML_CT, headers={})


_TOMCAT_PAGE = (
    "<!doctype html><html lang=\"en\"><head><title>HTTP Status {status} \u2013 {reason}</title>"
    "<style type=\"text/css\">body {{font-family:Tahoma,Arial,sans-serif;}} h1 {{font-size:22px;}}</style>"
    "</head><body><h1>HTTP Status {status} \u2013 {reason}</h1><hr class=\"line\" />"
    "<p><b>Type</b> Status Report</p><p><b>Description</b> {description}</p>"
    "<hr class=\"line\" /><h3>Apache Tomcat</h3></body></html>"
)


def tomcat_error(status: int, reason: str, description: str, *, headers: Mapping[str, str] | None = None) -> LabResponse:
    """Tomcat's HTML error report page (what CUCM's container answers for 401, 404, 405, 503)."""
    page = _TOMCAT_PAGE.format(status=status, reason=escape(reason), description=escape(description))
    return LabResponse(
        status=status,
        body=page.encode("utf-8"),
        content_type="text/html;charset=utf-8",
        headers=dict(headers or {}),
    )


def unauthorized(realm: str = "Cisco Tomcat") -> LabResponse:
    return tomcat_error(
        401,
        "Unauthorized",
        "The request has not been applied because it lacks valid authentication credentials "
        "for the target resource.",
        headers={"WWW-Authenticate": f'Basic realm="{realm}"'},
    )


def check_app_user(request: LabRequest, *, realm: str = "Cisco Tomcat") -> LabResponse | None:
    """``None`` when the request carries the application user's credentials, else the 401 page."""
    if request.auth is None:
        return unauthorized(realm)
    user, password = request.auth
    if not request.state.check_app_user(user, password):
        return unauthorized(realm)
    return None


# --------------------------------------------------------------------------- the door

def _soap_action(request: LabRequest) -> str | None:
    value = request.headers.get("SOAPAction")
    return value.strip().strip('"') if value is not None else None


Resolver = Callable[[str, str], "Handler | None"]


def table_resolver(operations: Mapping[str, Handler], namespaces: Iterable[str]) -> Resolver:
    """Resolve (namespace, operation) by a fixed table of operations in fixed namespaces."""
    allowed = frozenset(namespaces)
    return lambda namespace, name: operations.get(name) if namespace in allowed else None


def _dispatch(request: LabRequest, resolve: Resolver) -> LabResponse:
    element = parse_envelope(request.body)
    qname = etree.QName(element)
    handler = resolve(qname.namespace or "", qname.localname)
    if handler is None:
        raise SoapFault(f"No such operation '{qname.localname}'", code="Client")
    call = SoapCall(request, qname.localname, qname.namespace or "", element, _soap_action(request))
    return soap_response(handler(call))


def _method_not_allowed() -> LabResponse:
    return tomcat_error(
        405, "Method Not Allowed", "The method received in the request-line is not supported by the target resource.",
        headers={"Allow": "GET, POST"},
    )


def soap_door(
    operations: Mapping[str, Handler] | Resolver,
    *,
    namespaces: Iterable[str] = (),
    realm: str = "Cisco Tomcat",
    get_page: Callable[[LabRequest], LabResponse] | None = None,
    wsdl: WsdlSpec | None = None,
) -> Callable[[LabRequest], LabResponse]:
    """One route handler: Basic auth, then parse, dispatch, and faults (or a handler's ``HttpAnswer``).

    ``operations`` is either a table (operation name -> handler, valid in ``namespaces``)
    or a resolver ``(namespace, operation) -> handler | None``. ``GET ...?wsdl`` answers
    the lab's own WSDL of the door (``wsdl``), any other GET the door's page.
    """
    resolve = operations if callable(operations) else table_resolver(operations, namespaces)

    def handle(request: LabRequest) -> LabResponse:
        denied = check_app_user(request, realm=realm)
        if denied is not None:
            return denied
        if request.method == "GET" and wsdl is not None and wants_wsdl(request.query):
            body, content_type = wsdl_response(wsdl, host=_host(request), path=request.path)
            return LabResponse(status=200, body=body, content_type=content_type, headers={})
        if request.method == "GET" and get_page is not None:
            return get_page(request)
        if request.method != "POST":
            return _method_not_allowed()
        return _answer(request, resolve)

    return handle


def _host(request: LabRequest) -> str:
    """The Host the client used (its port included), else the node's FQDN."""
    host = next((v for k, v in request.headers.items() if k.lower() == "host"), "")
    return host or (request.node.fqdn if request.node is not None else "localhost")


def _answer(request: LabRequest, resolve: Resolver) -> LabResponse:
    host = request.node.name
    try:
        return _dispatch(request, resolve)
    except SoapFault as fault:
        return fault_response(fault, hostname=host)
    except HttpAnswer as answer:
        return answer.response
    except Exception:  # noqa: BLE001 - a lab door answers a fault, never a traceback
        log.exception("SOAP handler failed on %s %s", host, request.path)
        return fault_response(SoapFault("Internal server error", code="Server"), hostname=host)
