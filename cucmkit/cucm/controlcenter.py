"""Control Center Services SOAP client (`/controlcenterservice2/services/ControlCenterServices`).

Acts on ONE node: the one named in ``NodeName``, which must be the node the
transport talks to. Cisco Tomcat cannot be controlled here (Control Center
runs inside Tomcat); restart it with ``AdminCli.service_restart``.
"""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

from cucmkit.cucm.models import ServiceState, ServiceStates
from cucmkit.cucm.soap import AST_NS, SoapClient, SoapEndpoint, Transport, child, child_text, children, sub, texts
from cucmkit.errors import CucmError

__all__ = ["ControlCenterClient", "REASON_CODES", "CONTROL_ACTIONS", "PATH"]

PATH = "/controlcenterservice2/services/ControlCenterServices"
INTERFACE = "controlcenter"
CONTROL_ACTIONS = ("Start", "Stop", "Restart")

#: Item ReasonCodes (CONTRACTS 1.2; Cisco's -1000..-1075 table, the ones that matter).
REASON_CODES: dict[int, str] = {
    -1: "Successful",
    -1010: "No such service",
    -1019: "Component is not running",
    -1029: "Operation is pending",
    -1031: "Operation timed-out",
    -1039: "Service already started",
    -1040: "Service already stopped",
    -1068: "Service Not Activated",
    -1069: "Commanded Out of Service",
}
_NOT_ACTIVATED = -1068


def _q(name: str) -> str:
    return f"{{{AST_NS}}}{name}"


class ControlCenterClient(SoapClient):
    """Service status and start/stop/restart of one node's services."""

    def __init__(self, *, transport: Transport, node_name: str) -> None:
        if not node_name:
            raise ValueError("node_name is required (the node's FQDN or host name)")
        self._transport = transport
        self._endpoint = SoapEndpoint(transport=transport, path=PATH, interface=INTERFACE)
        self.node_name = node_name

    def __repr__(self) -> str:
        return f"ControlCenterClient(node_name={self.node_name!r})"

    def service_status(self, names: Sequence[str] = ()) -> ServiceStates:
        """Status of the named services (all services when ``names`` is empty)."""
        body = etree.Element(_q("soapGetServiceStatus"), nsmap={"soap": AST_NS})
        for name in texts(names) or [""]:
            sub(body, _q("ServiceStatus"), name)
        answer = self._endpoint.call("soapGetServiceStatus", body, soap_action="soapGetServiceStatus")
        return self._states(answer, "soapGetServiceStatus")

    def control(self, action: str, services: Sequence[str]) -> ServiceStates:
        """Start, Stop or Restart services; returns the states Control Center reports right away."""
        if action not in CONTROL_ACTIONS:
            raise ValueError(f"action must be one of {CONTROL_ACTIONS}, not {action!r}")
        wanted = texts(services)
        if not wanted:
            raise ValueError("name at least one service to control")
        answer = self._endpoint.call("soapDoControlServices", self._control_body(action, wanted),
                                     soap_action="soapDoControlServices")
        return self._states(answer, f"soapDoControlServices {action}")

    def _control_body(self, action: str, services: list[str]) -> etree._Element:
        body = etree.Element(_q("soapDoControlServices"), nsmap={"soap": AST_NS})
        request = sub(body, _q("ControlServiceRequest"))
        sub(request, _q("NodeName"), self.node_name)
        sub(request, _q("ControlType"), action)
        service_list = sub(request, _q("ServiceList"))
        for name in services:
            sub(service_list, _q("item"), name)
        return body

    def _states(self, answer: etree._Element, operation: str) -> ServiceStates:
        ret = next(iter(answer), None)
        if ret is None:
            raise CucmError("empty Control Center answer", node=self._transport.node,
                            interface=INTERFACE, operation=operation)
        return ServiceStates(map(_service_state, children(child(ret, "ServiceInfoList"), "item")))


def _service_state(item: etree._Element) -> ServiceState:
    code = _int(child_text(item, "ReasonCode"), default=-1)
    reason = child_text(item, "ReasonCodeString") or REASON_CODES.get(code, "")
    return ServiceState(
        name=child_text(item, "ServiceName"),
        status=child_text(item, "ServiceStatus", "Unknown") or "Unknown",
        activated=code != _NOT_ACTIVATED,
        reason_code=code,
        reason=reason,
    )


def _int(text: str, *, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default
