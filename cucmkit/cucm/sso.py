"""SAML SSO status, three ways CUCM tells it (CONTRACTS 1.5).

- ``GET /ssosp/ws/public/singleSignOn`` (no authentication), on every node:
  ``<Response><SingleSignOn version="1.0"><Status enabled="true|false"/></SingleSignOn></Response>``.
- ``utils sso status`` on each node's CLI (TAC 217268): ``SSO Status: SAML SSO Enabled|Disabled``
  then ``IdP Metadata Imported Date``, ``SP Metadata Exported Date``, ``SSO Test Result Date``,
  ``SAML SSO Test Status``, ``Recovery URL Status = enabled|disabled`` and ``Entity ID``
  (:func:`parse_sso_cli_status`).
- the database's ``processnode.tkssomode`` per node (0 disabled, 1 agent flow, 2 SAML).

The CLI and the GUI can disagree (TAC 217268 names ``processnode.tkssomode``), so a pre-check reads
every node and calls SSO enabled when any source on any node says so (:class:`SsoNodeStatus`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import TracebackType

from lxml import etree

from cucmkit.cucm._http import HttpTransport
from cucmkit.cucm.soap import parse_xml
from cucmkit.errors import CucmError

__all__ = ["SsoClient", "PATH", "INTERFACE", "SSO_MODES", "SsoCliStatus", "SsoNodeStatus", "parse_sso_status",
           "parse_sso_cli_status"]

PATH = "/ssosp/ws/public/singleSignOn"
INTERFACE = "sso"
SSO_MODES = {0: "disabled", 1: "agent flow", 2: "SAML"}     # processnode.tkssomode (TAC 217268)
_FIELD = re.compile(r"^\s*(?P<key>[A-Za-z][A-Za-z ]*?)\s*[:=]\s*(?P<value>.*?)\s*$")


@dataclass(frozen=True)
class SsoCliStatus:
    """One node's ``utils sso status``; the optional fields are None when the node did not print them."""

    enabled: bool                       # from the "SSO Status:" line only
    status: str                         # that line's value, e.g. "SAML SSO Enabled"
    idp_metadata_imported: str | None = None
    sp_metadata_exported: str | None = None
    test_result_date: str | None = None
    test_status: str | None = None
    recovery_url: bool | None = None    # "Recovery URL Status = enabled|disabled"
    entity_id: str | None = None


_CLI_KEYS = {
    "idp metadata imported date": "idp_metadata_imported",
    "sp metadata exported date": "sp_metadata_exported",
    "sso test result date": "test_result_date",
    "saml sso test status": "test_status",
    "entity id": "entity_id",
}


def parse_sso_cli_status(text: str) -> SsoCliStatus | None:
    """The fields of ``utils sso status``; None when the output has no ``SSO Status:`` line.

    Only the ``SSO Status`` line says whether SSO is on: "Recovery URL Status = disabled" on an
    enabled cluster must not read as disabled.
    """
    fields: dict[str, str] = {}
    for line in text.splitlines():
        match = _FIELD.match(line)
        if match:
            fields.setdefault(" ".join(match["key"].lower().split()), match["value"])
    status = fields.get("sso status")
    if status is None:
        return None
    words = status.lower().split()
    if "enabled" not in words and "disabled" not in words:
        return None
    recovery = fields.get("recovery url status", "").lower()
    extra = {attr: fields[key] for key, attr in _CLI_KEYS.items() if fields.get(key)}
    return SsoCliStatus(enabled="enabled" in words, status=status,
                        recovery_url={"enabled": True, "disabled": False}.get(recovery), **extra)


@dataclass(frozen=True)
class SsoNodeStatus:
    """What one node says about SAML SSO: the web API, its CLI and its database row (None = not read)."""

    node: str
    api: bool | None = None             # /ssosp/ws/public/singleSignOn on this node
    cli: bool | None = None             # utils sso status on this node
    db_mode: int | None = None          # processnode.tkssomode of this node
    error: str | None = None            # why a source could not be read

    @property
    def known(self) -> tuple[bool, ...]:
        db = None if self.db_mode is None else self.db_mode != 0
        return tuple(v for v in (self.api, self.cli, db) if v is not None)

    @property
    def enabled(self) -> bool | None:
        """True when any source says enabled; None when nothing could be read."""
        return any(self.known) if self.known else None

    @property
    def disagree(self) -> bool:
        return len(set(self.known)) > 1

    def describe(self) -> str:
        parts = [f"{name} {'enabled' if value else 'disabled'}"
                 for name, value in (("API", self.api), ("CLI", self.cli)) if value is not None]
        if self.db_mode is not None:
            parts.append(f"tkssomode {self.db_mode} ({SSO_MODES.get(self.db_mode, 'unknown')})")
        if self.error:
            parts.append(f"unread: {self.error}")
        return f"{self.node}: " + (", ".join(parts) or "nothing read")


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
