"""Helpers for the lab SOAP door tests: Cisco's WSDLs, zeep clients, raw posts.

Cisco's WSDL/XSD files are read from the installed ``CollabConnector`` package
(never copied into the repository). Clients connect to 127.0.0.1 and verify
the node's certificate by its FQDN against the lab's CA bundle.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

import CollabConnector
import requests
from requests.adapters import HTTPAdapter
from zeep import Client, Settings
from zeep.transports import Transport

from cucmkit.lab.testing import wait_until  # noqa: F401 - re-exported for the SOAP tests

SCHEMA = Path(os.path.dirname(CollabConnector.__file__)) / "CUCM" / "AXL" / "schema"
AST = "http://schemas.cisco.com/ast/soap"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def wsdl(version: str, name: str) -> str:
    path = SCHEMA / version / name
    assert path.is_file(), f"Cisco WSDL missing: {path}"
    return str(path)


class FqdnAdapter(HTTPAdapter):
    """Connect wherever the URL says; verify the certificate for ``fqdn``."""

    def __init__(self, fqdn: str, ca_bundle: str) -> None:
        self._fqdn = fqdn
        self._context = ssl.create_default_context(cafile=ca_bundle)
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        kwargs["server_hostname"] = self._fqdn
        kwargs["assert_hostname"] = self._fqdn
        super().init_poolmanager(*args, **kwargs)


def endpoint(lab: Any, name: str) -> Any:
    return lab.endpoint(name)


def ca_bundle(lab: Any) -> str:
    return str(lab.ca_bundle)


def secret(lab: Any, name: str) -> str:
    return (Path(lab.state_dir) / "secrets" / name).read_text().strip()


def all_registered(lab: Any) -> bool:
    return all(view.status == "Registered" for view in lab.state.phone_views())


def session(lab: Any, node: str | None = None, *, auth: tuple[str, str] | None = None) -> requests.Session:
    """A session that reaches every node of ``lab`` by address and verifies each by its FQDN."""
    s = requests.Session()
    for ep in lab.endpoints():
        s.mount(f"https://{ep.address}:{ep.https_port}/", FqdnAdapter(ep.fqdn, ca_bundle(lab)))
    s.auth = auth if auth is not None else ("ccmadmin", secret(lab, "app_user"))
    return s


def url(lab: Any, node: str, path: str) -> str:
    ep = endpoint(lab, node)
    return f"https://{ep.address}:{ep.https_port}{path}"


_CLIENTS: dict[tuple[str, str, tuple[str, str] | None], Client] = {}


def zeep_client(lab: Any, wsdl_path: str, *, auth: tuple[str, str] | None = None) -> Client:
    """A zeep client from Cisco's WSDL (cached per lab, WSDL and credentials: parsing AXL's is slow)."""
    key = (str(lab.state_dir), wsdl_path, auth)
    if key not in _CLIENTS:
        transport = Transport(session=session(lab, auth=auth), timeout=10, operation_timeout=10)
        _CLIENTS[key] = Client(wsdl_path, transport=transport, settings=Settings(strict=True, xml_huge_tree=False))
    return _CLIENTS[key]


def zeep_service(lab: Any, node: str, wsdl_path: str, binding: str, path: str, *,
                 auth: tuple[str, str] | None = None) -> Any:
    """A zeep service built from Cisco's WSDL, bound to the lab node's address."""
    return zeep_client(lab, wsdl_path, auth=auth).create_service(binding, url(lab, node, path))


def post(lab: Any, node: str, path: str, body: bytes | str, *, auth: tuple[str, str] | None = None,
         headers: dict[str, str] | None = None) -> requests.Response:
    data = body.encode() if isinstance(body, str) else body
    hdrs = {"Content-Type": "text/xml; charset=utf-8", **(headers or {})}
    return session(lab, node, auth=auth).post(url(lab, node, path), data=data, headers=hdrs, timeout=10)


def envelope(inner: str, *, ns: str = AST) -> str:
    return (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:ns="{ns}">'
        f"<soapenv:Header/><soapenv:Body>{inner}</soapenv:Body></soapenv:Envelope>"
    )


def fault_of(response: requests.Response) -> tuple[str, str]:
    """(faultcode, faultstring) of a SOAP fault answer; fails the test if it is not one."""
    from lxml import etree

    assert response.status_code == 500, response.text[:500]
    assert response.headers["Content-Type"].startswith("text/xml"), response.headers
    root = etree.fromstring(response.content)
    fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault is not None, response.text[:500]
    return fault.findtext("faultcode"), fault.findtext("faultstring")


FAULT_CODES = ("soapenv:Client", "soapenv:VersionMismatch", "soapenv:MustUnderstand")
MALFORMED: dict[str, bytes] = {
    "empty": b"",
    "not xml": b"this is not xml",
    "truncated": b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>',
    "no envelope": b"<hello/>",
    "no body": b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"/>',
    "empty body": b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body/></soapenv:Envelope>',
    "soap 1.2": b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><x/></e:Body></e:Envelope>',
    "entity": (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "boom">]>'
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<soapenv:Body><a>&x;</a></soapenv:Body></soapenv:Envelope>"
    ),
    "two operations": (
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<soapenv:Body><a/><b/></soapenv:Body></soapenv:Envelope>"
    ),
    "must understand": (
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        b'<soapenv:Header><s:Security xmlns:s="urn:x" soapenv:mustUnderstand="1"/></soapenv:Header>'
        b"<soapenv:Body><a/></soapenv:Body></soapenv:Envelope>"
    ),
    "external entity": (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<soapenv:Body><a>&x;</a></soapenv:Body></soapenv:Envelope>"
    ),
}


XSD_NS = "http://www.w3.org/2001/XMLSchema"
_SCHEMAS: dict[str, Any] = {}


def wsdl_schema(version: str, name: str) -> Any:
    """The XML Schema inside a Cisco WSDL's <types> (WSDL prefixes kept in scope)."""
    import copy

    from lxml import etree

    key = f"{version}/{name}"
    if key not in _SCHEMAS:
        doc = etree.parse(wsdl(version, name))
        inner = doc.find(f".//{{{XSD_NS}}}schema")
        nsmap = {k: v for k, v in {**doc.getroot().nsmap, **inner.nsmap}.items() if k}
        root = etree.Element(inner.tag, attrib=dict(inner.attrib), nsmap={**nsmap, None: XSD_NS})
        for element in inner:
            root.append(copy.deepcopy(element))
        _SCHEMAS[key] = etree.XMLSchema(etree.fromstring(etree.tostring(root)))
    return _SCHEMAS[key]


def axl_schema(version: str) -> Any:
    from lxml import etree

    key = f"axl/{version}"
    if key not in _SCHEMAS:
        _SCHEMAS[key] = etree.XMLSchema(etree.parse(str(SCHEMA / version / "AXLSoap.xsd")))
    return _SCHEMAS[key]


def body_element(response: requests.Response) -> Any:
    from lxml import etree

    assert response.status_code == 200, response.text[:500]
    return etree.fromstring(response.content).find(f"{{{SOAP_ENV}}}Body")[0]


def assert_valid(schema: Any, element: Any) -> None:
    """The answer's body element validates against Cisco's schema."""
    from lxml import etree

    document = etree.fromstring(etree.tostring(element))
    assert schema.validate(document), str(schema.error_log)
