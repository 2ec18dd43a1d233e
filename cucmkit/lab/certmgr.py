"""Certificate Management REST door: ``/platformcom/api/v1/certmgr/config/...`` (CONTRACTS 1.1).

With the node fault ``certmgr_down`` every path answers Tomcat's 404 page, as a container whose certificate
API application is not running would [INF]: the kit's multi-server upload path check reads that as "REST
unavailable".
"""

from __future__ import annotations

import uuid
from typing import Any

from cucmkit.lab.http import Handler, LabRequest, LabResponse, error_response, json_response
from cucmkit.lab.soap import tomcat_error
from cucmkit.lab.state import LabNodeState, LabRefusal

__all__ = ["ROUTES", "BASE"]

BASE = "/platformcom/api/v1/certmgr/config"


def _unauthorized() -> LabResponse:
    return json_response({"message": "Unauthorized"}, 401, {"WWW-Authenticate": 'Basic realm="CMPlatform"'})


def _door(methods: dict[str, Handler]) -> Handler:
    """Auth (OS admin of this node), then dispatch on the HTTP method."""

    def handle(request: LabRequest) -> LabResponse:
        node, state = request.node, request.state
        if node is not None and state is not None and state.faults.active(node.name, "certmgr_down"):
            return tomcat_error(404, "Not Found", "The requested resource is not available.")  # [INF]
        if node is None or state is None or request.auth is None or not state.check_os_admin(node, *request.auth):
            return _unauthorized()
        handler = methods.get(request.method)
        if handler is None:
            return error_response(f"Method {request.method} is not allowed", 405)
        return handler(request)

    return handle


def _node(request: LabRequest) -> LabNodeState:
    assert request.node is not None
    return request.node


def _body(request: LabRequest) -> dict[str, Any]:
    data = request.json()
    if not isinstance(data, dict):
        raise LabRefusal("Request body must be a JSON object", 400)
    return data


def _service(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, str) or not value:
        raise LabRefusal("The service field is required", 400)
    return value


def snapshot(request: LabRequest) -> LabResponse:
    node = _node(request)
    identities = [{"service": unit, "filename": f"{unit}.pem", "certificate": own.pem,
                   "csr": node.pending_csr(unit)} for unit, own in node.own().items()]
    trusts = [{"service": store, "certificate_data": [{"filename": f, "certificate": p} for f, p in sorted(certs.items())]}
              for store, certs in node.trust_stores().items()]
    return json_response({"trackingId": str(uuid.uuid4()), "server": node.fqdn, "identities": identities,
                          "trusts": trusts, "revokedCertificates": []})


def generate_csr(request: LabRequest) -> LabResponse:
    data = _body(request)
    unit = _service(data.get("service"))
    alt = data.get("altNames") or []
    if not isinstance(alt, list):
        raise LabRefusal("altNames must be a list", 400)
    csr = _node(request).generate_csr(
        unit, common_name=data.get("commonName") or None, alt_names=[str(a) for a in alt],
        key_type=str(data.get("keyType", "rsa")), key_length=int(data.get("keyLength", 2048)),
        distribution=str(data.get("distribution", "this-server")))
    return json_response({"service": _node(request).unit(unit), "csr": csr})


def get_csr(request: LabRequest) -> LabResponse:
    node = _node(request)
    unit = _service(request.arg("service"))
    csr = node.pending_csr(unit)
    if csr is None:
        return error_response(node.csr_missing_message(unit), 404)
    return json_response({"service": node.unit(unit), "csr": csr})


def upload_identity(request: LabRequest) -> LabResponse:
    data = _body(request)
    unit = _service(data.get("service"))
    certs = data.get("certificates")
    if not isinstance(certs, list) or not certs or not isinstance(certs[0], str):
        raise LabRefusal("certificates must be a non-empty list of PEM strings", 400)
    node = _node(request)
    message = node.upload_identity(unit, certs[0])
    return json_response({"message": message, "restart": node.restart_hint(node.unit(unit))})


def list_trust(request: LabRequest) -> LabResponse:
    node = _node(request)
    store = node.trust(_service(request.arg("service")))
    return json_response({"certificates": [{"filename": f, "certificate": p} for f, p in sorted(store.items())]})


def delete_trust(request: LabRequest) -> LabResponse:
    node = _node(request)
    unit = _service(request.arg("service"))
    filename = request.arg("filename")
    if not filename:
        raise LabRefusal("The filename parameter is required", 400)
    node.delete_trust(unit, filename)
    return json_response({"message": f"Successfully deleted certificate {filename}."})


def upload_trust(request: LabRequest) -> LabResponse:
    data = _body(request)
    services = data.get("service")
    services = services if isinstance(services, list) else [services]
    certs = data.get("certificates")
    if not isinstance(certs, list) or not certs:
        raise LabRefusal("certificates must be a non-empty list of PEM strings", 400)
    node = _node(request)
    results, stores = [], []
    for service in services:
        unit = _service(service)
        stores.append(node.store(unit))
        for pem in certs:
            result = node.upload_trust(unit, pem)
            results.append({"filename": result.filename, "stored": result.stored, "reason": result.reason})
    names = ", ".join(dict.fromkeys(stores))
    return json_response({"message": f"Successfully imported certificate for {names}.", "results": results})


ROUTES: dict[str, Handler] = {
    f"{BASE}/snapshot/server": _door({"GET": snapshot}),
    f"{BASE}/csr": _door({"GET": get_csr, "POST": generate_csr}),
    f"{BASE}/identity/certificates": _door({"POST": upload_identity}),
    f"{BASE}/trust/certificate": _door({"GET": list_trust, "DELETE": delete_trust}),
    f"{BASE}/trust/certificates": _door({"POST": upload_trust, "GET": list_trust}),
}
