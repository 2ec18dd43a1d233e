"""SAML SSO status: ``GET /ssosp/ws/public/singleSignOn`` (no authentication).

``<Response><SingleSignOn version="1.0"><Status enabled="true|false"/></SingleSignOn></Response>``
(CONTRACTS §1.5). The setting is cluster-wide; every node serves it.
"""

from __future__ import annotations

from types import TracebackType

from lxml import etree

from cucmkit.cucm._http import HttpTransport
from cucmkit.cucm.soap import parse_xml
from cucmkit.errors import CucmError

__all__ = ["SsoClient", "PATH", "INTERFACE", "parse_sso_status"]

PATH = "/ssosp/ws/public/singleSignOn"
INTERFACE = "sso"


def parse_sso_status(content: bytes) -> bool | None:
    """``True``/``False`` from the status XML; ``None`` when it has no readable Status."""
    try:
        root = parse_xml(content)
    except etree.XMLSyntaxError:
        return None
    for element in root.iter():
        if isinstance(element.tag, str) and etree.QName(element).localname == "Status":
            value = (element.get("enabled") or "").strip().lower()
            if value in ("true", "false"):
                return value == "true"
    return None


class SsoClient:
    """Reads whether SAML SSO is enabled, from one node. A context manager."""

    def __init__(self, *, transport: HttpTransport) -> None:
        self._http = transport

    def __repr__(self) -> str:
        return f"SsoClient(node={self._http.node!r})"

    def __enter__(self) -> SsoClient:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def enabled(self) -> bool:
        response = self._http.request("GET", PATH, operation="sso status", auth=False)
        value = parse_sso_status(response.content)
        if value is None:
            raise CucmError("the SSO status answer has no <Status enabled=...>", node=self._http.node,
                            interface=INTERFACE, operation="sso status")
        return value
