"""The lab's own WSDLs, served at ``<door>?wsdl`` (written here, never copied from Cisco's files).

Each SOAP door describes the operations it implements with ``Op`` and ``El``
values; ``render`` turns that into a WSDL 1.1 document/literal definition
carrying Cisco's service, binding, port type, port and namespace names, so a
SOAP client (zeep) builds a working client from it: the same operation and
element names the lab's door answers with, and the lab's own answers validate
against it. Only what the lab implements is described.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

__all__ = ["El", "Op", "WsdlSpec", "render", "wsdl_response", "wants_wsdl"]

WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
SOAP_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
HTTP_TRANSPORT = "http://schemas.xmlsoap.org/soap/http"


@dataclass(frozen=True)
class El:
    """One schema element: a simple type (``type``, an XSD built-in) or ``children`` (a sequence).

    ``many``: maxOccurs unbounded; ``optional``: minOccurs 0; ``attrs``: string attributes
    (on a simple element they make a simple-content extension of ``type``).
    """

    name: str
    type: str = "string"
    children: tuple[El, ...] | None = None
    many: bool = False
    optional: bool = True
    nillable: bool = False
    attrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Op:
    """An operation: its request children, its answer children, and (if shared) the answer element's name."""

    name: str
    inputs: tuple[El, ...] = ()
    outputs: tuple[El, ...] = ()
    output_element: str = ""   # default: ``<name>Response``
    soap_action: str = ""      # default: the operation name


@dataclass(frozen=True)
class WsdlSpec:
    """Cisco's names for a service, and the operations the lab implements."""

    target_ns: str             # the WSDL's targetNamespace (binding, port type, service)
    schema_ns: str             # the namespace of the operation elements
    service: str
    port: str
    port_type: str
    binding: str
    operations: tuple[Op, ...]
    qualified: bool = True     # elementFormDefault of the schema
    action: Callable[[str], str] = str
    response_attrs: tuple[str, ...] = ()  # attributes every answer element may carry (AXL: ``sequence``)


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _attrs(parent: etree._Element, names: tuple[str, ...]) -> None:
    for name in names:
        etree.SubElement(parent, _q(XSD_NS, "attribute"), name=name, type="xsd:string")


def _element(parent: etree._Element, el: El, *, top: bool = False) -> None:
    node = etree.SubElement(parent, _q(XSD_NS, "element"), name=el.name)
    if not top:
        node.set("minOccurs", "0" if el.optional else "1")
        if el.many:
            node.set("maxOccurs", "unbounded")
    if el.nillable:
        node.set("nillable", "true")
    if el.children is None and not el.attrs:
        node.set("type", f"xsd:{el.type}")
        return
    complex_type = etree.SubElement(node, _q(XSD_NS, "complexType"))
    if el.children is None:
        content = etree.SubElement(complex_type, _q(XSD_NS, "simpleContent"))
        extension = etree.SubElement(content, _q(XSD_NS, "extension"), base=f"xsd:{el.type}")
        _attrs(extension, el.attrs)
        return
    sequence = etree.SubElement(complex_type, _q(XSD_NS, "sequence"))
    for child in el.children:
        _element(sequence, child)
    _attrs(complex_type, el.attrs)


def _schema(types: etree._Element, spec: WsdlSpec) -> None:
    schema = etree.SubElement(types, _q(XSD_NS, "schema"), targetNamespace=spec.schema_ns,
                              elementFormDefault="qualified" if spec.qualified else "unqualified")
    for op in spec.operations:
        _element(schema, El(op.name, children=op.inputs), top=True)
    outputs: dict[str, Op] = {}
    for op in spec.operations:  # an answer element shared by several operations is declared by the first
        outputs.setdefault(op.output_element or f"{op.name}Response", op)
    for name, op in outputs.items():
        _element(schema, El(name, children=op.outputs, attrs=spec.response_attrs), top=True)


def _messages(root: etree._Element, spec: WsdlSpec) -> None:
    for op in spec.operations:
        for suffix, element in (("Request", op.name), ("Response", op.output_element or f"{op.name}Response")):
            message = etree.SubElement(root, _q(WSDL_NS, "message"), name=f"{op.name}{suffix}")
            etree.SubElement(message, _q(WSDL_NS, "part"), name="parameters", element=f"ns:{element}")


def _port_type(root: etree._Element, spec: WsdlSpec) -> None:
    port_type = etree.SubElement(root, _q(WSDL_NS, "portType"), name=spec.port_type)
    for op in spec.operations:
        operation = etree.SubElement(port_type, _q(WSDL_NS, "operation"), name=op.name)
        etree.SubElement(operation, _q(WSDL_NS, "input"), message=f"tns:{op.name}Request")
        etree.SubElement(operation, _q(WSDL_NS, "output"), message=f"tns:{op.name}Response")


def _binding(root: etree._Element, spec: WsdlSpec) -> None:
    binding = etree.SubElement(root, _q(WSDL_NS, "binding"), name=spec.binding, type=f"tns:{spec.port_type}")
    etree.SubElement(binding, _q(SOAP_NS, "binding"), style="document", transport=HTTP_TRANSPORT)
    for op in spec.operations:
        operation = etree.SubElement(binding, _q(WSDL_NS, "operation"), name=op.name)
        etree.SubElement(operation, _q(SOAP_NS, "operation"), soapAction=op.soap_action or spec.action(op.name))
        for direction in ("input", "output"):
            etree.SubElement(etree.SubElement(operation, _q(WSDL_NS, direction)), _q(SOAP_NS, "body"), use="literal")


def render(spec: WsdlSpec, address: str) -> bytes:
    """The WSDL document of ``spec`` whose service port points at ``address``."""
    nsmap = {"wsdl": WSDL_NS, "soap": SOAP_NS, "xsd": XSD_NS, "tns": spec.target_ns, "ns": spec.schema_ns}
    root = etree.Element(_q(WSDL_NS, "definitions"), nsmap=nsmap, targetNamespace=spec.target_ns)
    _schema(etree.SubElement(root, _q(WSDL_NS, "types")), spec)
    _messages(root, spec)
    _port_type(root, spec)
    _binding(root, spec)
    service = etree.SubElement(root, _q(WSDL_NS, "service"), name=spec.service)
    port = etree.SubElement(service, _q(WSDL_NS, "port"), name=spec.port, binding=f"tns:{spec.binding}")
    etree.SubElement(port, _q(SOAP_NS, "address"), location=address)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def wants_wsdl(query: dict[str, list[str]]) -> bool:
    """``?wsdl`` (any case, with or without a value), as Axis answers it."""
    return any(key.lower() == "wsdl" for key in query)


def wsdl_response(spec: WsdlSpec, *, host: str, path: str) -> tuple[bytes, str]:
    """(body, content type) of the WSDL for a request that reached ``https://<host><path>``."""
    return render(spec, f"https://{host}{path}"), "text/xml;charset=utf-8"
