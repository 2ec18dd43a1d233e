"""SOAP plumbing shared by the Control Center, RisPort70 and AXL clients.

Envelopes are built with lxml; answers are read with a hardened parser (no
DTD, no entities, no network). A SOAP fault becomes ``SoapFaultError`` (or
``ThrottledError`` for RisPort's rate fault and AXL's load limit) naming the
node, the interface and the operation. The request body is never echoed in
an error: AXL faults carry the request back in ``<axlError><request>``, and
that element is ignored on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

import requests
from lxml import etree

from cucmkit.errors import CucmError, HttpStatusError, SoapFaultError, ThrottledError

__all__ = [
    "SOAP_ENV",
    "AST_NS",
    "SoapFault",
    "SoapEndpoint",
    "Transport",
    "SoapClient",
    "envelope",
    "parse_xml",
    "body_child",
    "find_fault",
    "sub",
    "children",
    "child",
    "child_text",
    "child_texts",
    "local",
    "is_throttle",
    "texts",
]

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
AST_NS = "http://schemas.cisco.com/ast/soap"

#: Phrases that mean "slow down", not "you asked for something wrong".
_THROTTLE_MARKERS = ("Exceeded allowed rate", "Maximum AXL Memory Allocation", "throttl")

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


class Transport(Protocol):
    """What the SOAP clients need from ``cucmkit.cucm._http.HttpTransport``."""

    node: str

    def request(self, method: str, path: str, *, operation: str, data: bytes | None = None,
                headers: Mapping[str, str] | None = None, expect: Iterable[int] = (200,)) -> requests.Response: ...

    def close(self) -> None: ...


class SoapClient:
    """What the SOAP clients share: a context manager; closing it closes the transport."""

    _transport: Transport

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()


@dataclass(frozen=True)
class SoapFault:
    code: str
    string: str
    detail_message: str | None = None  # AXL's axlmessage, when present


def envelope(body: etree._Element, *, nsmap: dict[str | None, str] | None = None) -> bytes:
    """Wrap one body element in a SOAP 1.1 envelope, serialised as UTF-8 bytes."""
    namespaces = {"soapenv": SOAP_ENV, **(nsmap or {})}
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap=namespaces)
    etree.SubElement(env, f"{{{SOAP_ENV}}}Header")
    etree.SubElement(env, f"{{{SOAP_ENV}}}Body").append(body)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


def sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    """Add a child element (``tag`` in Clark notation or bare), optionally with text."""
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def parse_xml(content: bytes) -> etree._Element:
    """Parse untrusted XML: refuses DTDs, never resolves entities or fetches anything."""
    root = etree.fromstring(content, parser=_PARSER)
    if root.getroottree().docinfo.doctype:
        raise etree.XMLSyntaxError("DOCTYPE is not allowed in a SOAP message", None, 0, 0)
    return root


def local(element: etree._Element) -> str:
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag[tag.rfind("}") + 1:]


def _local_tag(tag: object) -> str | None:
    """Local name of a tag (Clark notation or bare); None for comments and PIs."""
    if not isinstance(tag, str):
        return None
    return tag[tag.rfind("}") + 1:]


def children(element: etree._Element | None, name: str) -> Iterator[etree._Element]:
    """Child elements with this local name, whatever their namespace."""
    if element is None:
        return iter(())
    return (c for c in element if _local_tag(c.tag) == name)


def child(element: etree._Element | None, name: str) -> etree._Element | None:
    if element is None:
        return None
    for c in element:
        if _local_tag(c.tag) == name:
            return c
    return None


def child_texts(element: etree._Element | None) -> dict[str, str]:
    """Local name -> stripped text of every child element, in one pass (the first of a name wins)."""
    found: dict[str, str] = {}
    if element is None:
        return found
    for c in element:
        name = _local_tag(c.tag)
        if name is not None and name not in found:
            text = c.text
            found[name] = text.strip() if text else ""
    return found


def child_text(element: etree._Element | None, name: str, default: str = "") -> str:
    found = child(element, name)
    if found is None or found.text is None:
        return default
    return str(found.text).strip()


def body_child(root: etree._Element) -> etree._Element | None:
    """The first element inside ``Envelope/Body``."""
    body = child(root, "Body")
    return next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None


def find_fault(root: etree._Element) -> SoapFault | None:
    first = body_child(root)
    if first is None or local(first) != "Fault":
        return None
    axl_message = None
    for element in first.iter():
        if isinstance(element.tag, str) and local(element) == "axlmessage":
            axl_message = (element.text or "").strip() or None
    return SoapFault(child_text(first, "faultcode"), child_text(first, "faultstring"), axl_message)


def is_throttle(fault: SoapFault) -> bool:
    text = f"{fault.string} {fault.detail_message or ''}".lower()
    return any(marker.lower() in text for marker in _THROTTLE_MARKERS)


class SoapEndpoint:
    """One SOAP service path on one node, spoken through an HTTP transport."""

    def __init__(self, *, transport: Transport, path: str, interface: str) -> None:
        self._transport = transport
        self._path = path
        self.interface = interface

    @property
    def node(self) -> str:
        return self._transport.node

    def call(self, operation: str, body: etree._Element, *, soap_action: str,
             nsmap: dict[str | None, str] | None = None) -> etree._Element:
        """POST one request; return the response element inside Body, or raise the fault."""
        response = self._transport.request(
            "POST",
            self._path,
            operation=operation,
            data=envelope(body, nsmap=nsmap),
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{soap_action}"'},
            expect=(200, 500),
        )
        return self.read(operation, response.status_code, response.content)

    def read(self, operation: str, status: int, content: bytes) -> etree._Element:
        """Turn an HTTP answer into the response element, or raise the matching error."""
        try:
            root = parse_xml(content)
        except etree.XMLSyntaxError as exc:
            raise self._unreadable(operation, status) from exc
        fault = find_fault(root)
        if fault is not None:
            raise self.fault_error(operation, fault)
        first = body_child(root)
        if first is None or status != 200:
            raise self._unreadable(operation, status)
        return first

    def fault_error(self, operation: str, fault: SoapFault) -> SoapFaultError:
        message = fault.string or fault.detail_message or "SOAP fault without a faultstring"
        if fault.detail_message and fault.detail_message not in message:
            message = f"{message}: {fault.detail_message}"
        kind = ThrottledError if is_throttle(fault) else SoapFaultError
        remedy = _remedy_for(message)
        return kind(message, fault_code=fault.code or None, node=self.node,
                    interface=self.interface, operation=operation, remedy=remedy)

    def _unreadable(self, operation: str, status: int) -> CucmError:
        where = dict(node=self.node, interface=self.interface, operation=operation)
        if status != 200:
            return HttpStatusError(f"HTTP {status} without a readable SOAP answer", status=status, **where)
        return CucmError("the answer is not a readable SOAP envelope", **where)


def _remedy_for(message: str) -> str | None:
    if "Query request too large" in message:
        return "narrow the query (fewer columns, a WHERE clause) or page it with SKIP/FIRST"
    if "Exceeded allowed rate" in message:
        return "wait for the RisPort rate window to pass; cucmkit budgets requests per cluster"
    if "Maximum AXL Memory Allocation" in message:
        return "AXL's memory limit for recent requests was reached: wait a few minutes, then retry smaller requests"
    return None


def texts(values: Sequence[str]) -> list[str]:
    """Normalise a sequence of names (strip, drop blanks, keep order, no duplicates)."""
    seen: dict[str, None] = {}
    for value in values:
        if value and value.strip():
            seen.setdefault(value.strip(), None)
    return list(seen)
