"""AXL SOAP client (`/axl/`, publisher only).

AXL answers writes with HTTP 503 while the database is busy: those calls are
retried with backoff a bounded number of times (``cucmkit.cucm.retrying``, from
``retries.axl`` in the parameter file), then ``ThrottledError``. A read
that is too large comes back as the fault ``Query request too large ...``,
raised as ``SoapFaultError`` with that message and a remedy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from lxml import etree

from cucmkit.cucm.models import ProcessNode
from cucmkit.cucm.retrying import retrying
from cucmkit.cucm.soap import SoapClient, SoapEndpoint, Transport, child, child_text, children, local, sub
from cucmkit.errors import CucmError, HttpStatusError, ThrottledError

__all__ = ["AxlClient", "PATH", "ENTERPRISE_WIDE", "SUPPORTED_VERSIONS"]

PATH = "/axl/"
INTERFACE = "axl"
SUPPORTED_VERSIONS = ("12.5", "14.0", "15.0")
ENTERPRISE_WIDE = "EnterpriseWideData"
SECURITY_MODE_SQL = "select paramname,paramvalue from processconfig where paramname='ClusterSecurityMode'"
# "Phone Interaction on Certificate Update" (Security Parameters, CUCM 14+; SG14: default resets automatically).
# The processconfig name and its values are [INF]: 1 (the default) resets phones automatically, 0 manually.
PHONE_INTERACTION_PARAM = "PhoneInteractionOnCertificateUpdate"
PHONE_INTERACTION_SQL = ("select paramname,paramvalue from processconfig "
                         f"where paramname='{PHONE_INTERACTION_PARAM}'")
PROCESS_NODE_SQL = "select name,description,nodeid,tknodeusage,tkprocessnoderole from processnode"

DEFAULT_RETRIES = 4          # 503 answers retried this many times before ThrottledError
DEFAULT_BACKOFF = 2.0        # seconds; doubled each attempt, with jitter
DEFAULT_BACKOFF_MAX = 30.0

T = TypeVar("T")


class AxlClient(SoapClient):
    """Version, SQL reads, cluster nodes, security mode and device resets, from the publisher."""

    def __init__(self, *, transport: Transport, version: str = "14.0", retries: int = DEFAULT_RETRIES,
                 backoff: float = DEFAULT_BACKOFF, backoff_max: float = DEFAULT_BACKOFF_MAX,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if retries < 0 or backoff < 0:
            raise ValueError("retries and backoff must not be negative")
        self._transport = transport
        self._endpoint = SoapEndpoint(transport=transport, path=PATH, interface=INTERFACE)
        self.version = version
        self.namespace = f"http://www.cisco.com/AXL/API/{version}"
        self._retries = retries
        self._backoff = backoff
        self._backoff_max = backoff_max
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"AxlClient(node={self._transport.node!r}, version={self.version!r})"

    # -- reads -----------------------------------------------------------------------------

    def ccm_version(self) -> str:
        answer = self._call("getCCMVersion", self.request("getCCMVersion"))
        version = next((e.text for e in answer.iter() if isinstance(e.tag, str) and local(e) == "version"), None)
        if not version:
            raise self._error("getCCMVersion", "the answer carries no version")
        return str(version).strip()

    def sql(self, query: str) -> list[dict[str, str]]:
        """``executeSQLQuery``: every row as a dict of column name -> text ('' for NULL)."""
        answer = self._call("executeSQLQuery", self.sql_request(query))
        rows = children(child(answer, "return"), "row")
        return [{local(col): (col.text or "").strip() for col in row if isinstance(col.tag, str)} for row in rows]

    def security_mode(self) -> int:
        """ClusterSecurityMode: 0 non-secure, 1 mixed mode."""
        rows = self.sql(SECURITY_MODE_SQL)
        try:
            return int(rows[0]["paramvalue"])
        except (IndexError, KeyError, ValueError) as exc:
            raise self._error("executeSQLQuery", "ClusterSecurityMode not found in processconfig") from exc

    def phone_interaction(self) -> bool:
        """True when CUCM resets phones itself on a TVS, CAPF or TFTP certificate change (14+);
        False when the parameter is absent (before 14) or set to manual."""
        rows = self.sql(PHONE_INTERACTION_SQL)
        return bool(rows) and rows[0].get("paramvalue", "").strip().lower() in ("1", "t", "true")

    def process_nodes(self) -> list[ProcessNode]:
        """The cluster's servers from the ``processnode`` table, without EnterpriseWideData."""
        return [_node_from_row(row) for row in self.sql(PROCESS_NODE_SQL) if row.get("name") != ENTERPRISE_WIDE]

    def list_process_nodes(self) -> list[ProcessNode]:
        """The same list through the thick-AXL ``listProcessNode`` operation."""
        request = self.request("listProcessNode")
        sub(sub(request, "searchCriteria"), "name", "%")
        tags = sub(request, "returnedTags")
        for tag in ("name", "description", "nodeUsage", "processNodeRole"):
            sub(tags, tag, "")
        answer = self._call("listProcessNode", request)
        found = children(child(answer, "return"), "processNode")
        return [node for node in map(_node_from_thick, found) if node.name != ENTERPRISE_WIDE]

    # -- writes (throttled with 503) ---------------------------------------------------------

    def reset_all_devices(self) -> None:
        """``resetEnterpriseParameters``: the Enterprise Parameters page's "Reset" (all devices)."""
        self._call("resetEnterpriseParameters", self.request("resetEnterpriseParameters"))

    def reset_device_pool(self, name: str) -> None:
        request = self.request("resetDevicePool")
        sub(request, "name", _required(name, "device pool name"))
        self._call("resetDevicePool", request)

    def reset_device(self, name: str, *, hard: bool = False) -> None:
        request = self.request("doDeviceReset")
        sub(request, "deviceName", _required(name, "device name"))
        sub(request, "isHardReset", "true" if hard else "false")
        self._call("doDeviceReset", request)

    # -- request building (public so tests validate them against Cisco's XSD) ----------------

    def request(self, operation: str) -> etree._Element:
        """An empty request element for ``operation`` in this client's AXL namespace."""
        return etree.Element(f"{{{self.namespace}}}{operation}", nsmap={"ns": self.namespace})

    def sql_request(self, query: str) -> etree._Element:
        request = self.request("executeSQLQuery")
        sub(request, "sql", _required(query, "SQL query"))
        return request

    # -- plumbing ---------------------------------------------------------------------------

    def _call(self, operation: str, request: etree._Element) -> etree._Element:
        action = f"CUCM:DB ver={self.version} {operation}"
        return self._with_retry(operation, lambda: self._endpoint.call(operation, request, soap_action=action))

    def _with_retry(self, operation: str, attempt: Callable[[], T]) -> T:
        policy = retrying(attempts=self._retries + 1, first=self._backoff, cap=self._backoff_max,
                          retry_on=_busy, sleep=self._sleep)
        try:
            return policy(attempt)
        except HttpStatusError as exc:
            if not _busy(exc):
                raise
            raise ThrottledError(
                f"AXL answered HTTP 503 (busy) {self._retries + 1} times", node=self._transport.node,
                interface=INTERFACE, operation=operation,
                remedy="the publisher's database is busy (its change queue is backed up): retry later, "
                "or raise retries.axl in the parameter file") from exc

    def _error(self, operation: str, message: str) -> CucmError:
        return CucmError(message, node=self._transport.node, interface=INTERFACE, operation=operation)


def _busy(exc: BaseException) -> bool:
    return isinstance(exc, HttpStatusError) and exc.status == 503


def _required(value: str, what: str) -> str:
    if not value or not value.strip():
        raise ValueError(f"{what} must not be empty")
    return value.strip()


def _node_from_row(row: dict[str, str]) -> ProcessNode:
    node_id = row.get("nodeid", "")
    return ProcessNode(
        name=row.get("name", ""),
        role="publisher" if row.get("tknodeusage", "1") == "0" else "subscriber",
        kind="IM&P" if row.get("tkprocessnoderole", "1") == "2" else "CUCM",
        description=row.get("description", ""),
        node_id=int(node_id) if node_id.lstrip("-").isdigit() else None,
    )


def _node_from_thick(element: etree._Element) -> ProcessNode:
    return ProcessNode(
        name=child_text(element, "name"),
        role="publisher" if child_text(element, "nodeUsage") == "Publisher" else "subscriber",
        kind="IM&P" if "IM and Presence" in child_text(element, "processNodeRole") else "CUCM",
        description=child_text(element, "description"),
    )
