"""A running lab's control endpoint: plain HTTP on 127.0.0.1, one token.

``cucmkit lab start`` (foreground process) serves it; ``lab.json`` records its
port and ``<state>/secrets/control_token`` holds the token that every call
sends in ``X-Lab-Token``. Calls are ``POST /<action>`` with a JSON body;
answers are JSON. Actions: status, fault_set, fault_clear, fault_list,
knob_set, set, ca_approve, ca_deny, ca_pending, phones, delete_itl, events, stop.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib import request as urlrequest

from cucmkit.lab import pki
from cucmkit.lab.state import LabRefusal, LabState

if TYPE_CHECKING:
    from cucmkit.lab import LabCluster

__all__ = ["ControlServer", "call", "lab_status", "apply_action", "TOKEN_FILE"]

TOKEN_FILE = "control_token"


def lab_status(state: LabState, endpoints: list[dict[str, Any]] | None, *, running: bool) -> dict[str, Any]:
    """What ``cucmkit lab status --json`` prints."""
    ports = {e["name"]: e for e in endpoints or []}
    certs = state.certificate_summary()
    nodes = []
    for name, node in state.nodes.items():
        ep = ports.get(name, {})
        nodes.append({"name": name, "fqdn": node.fqdn, "role": node.role, "kind": node.kind,
                      "address": ep.get("address", "127.0.0.1"), "https_port": ep.get("https_port"),
                      "ssh_port": ep.get("ssh_port"), "rest_port": ep.get("rest_port"),
                      "faults": state.faults.list().get(name, {}), "certificates": certs[name],
                      "xmpp_sessions": node.xmpp_sessions()})
    return {"running": running, "state_dir": str(state.state_dir), "security_mode": state.security_mode,
            "sso_enabled": state.sso_enabled, "backup_in_progress": state.backup_in_progress,
            "phones": state.phone_summary(), "nodes": nodes}


_SETTABLE = {"security_mode": "set_security_mode", "sso_enabled": "set_sso", "backup_in_progress": "set_backup",
             "restore_in_progress": "set_restore"}


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true", "yes", "on", "enabled")


@dataclass(frozen=True)
class _Ctx:
    state: LabState
    args: dict[str, Any]
    ca: Any
    endpoints: list[dict[str, Any]] | None
    running: bool


def _node_key(state: LabState, name: str) -> str:
    return "*" if name == "*" else state.node(name).name


def _fault_set(c: _Ctx) -> Any:
    value = c.args.get("value")
    c.state.faults.set(_node_key(c.state, c.args["node"]), c.args["fault"], True if value in (None, "") else value)
    return c.state.faults.list()


def _fault_clear(c: _Ctx) -> Any:
    c.state.faults.clear(_node_key(c.state, c.args["node"]), c.args.get("fault"))
    return c.state.faults.list()


def _knob_set(c: _Ctx) -> Any:
    with c.state.lock:
        value = c.state.knobs.set(c.args["name"], c.args["value"])
        c.state.changed()
    return {c.args["name"]: value}


def _setting(c: _Ctx) -> Any:
    name = c.args["name"]
    if name not in _SETTABLE:
        raise ValueError(f"unknown setting {name!r}; valid: {', '.join(_SETTABLE)}")
    value: Any = int(c.args["value"]) if name == "security_mode" else _truthy(c.args["value"])
    getattr(c.state, _SETTABLE[name])(value)
    return {name: value}


def _ca_decide(c: _Ctx, approve: bool) -> Any:
    if c.ca is None:
        raise ValueError("the lab CA is not available")
    req = c.ca.approve(int(c.args["req_id"])) if approve else c.ca.deny(int(c.args["req_id"]))
    return {"req_id": req.req_id, "status": req.status}


def _ca_rollover(c: _Ctx) -> Any:
    """A new CA (args: label, new_root, same_cn, cross_sign): the AD CS server issues from it from now on."""
    if c.ca is None:
        raise ValueError("the lab CA is not available")
    pair = c.ca.rollover(label=c.args.get("label") or None, new_root=_truthy(c.args.get("new_root", True)),
                         same_cn=_truthy(c.args.get("same_cn", False)),
                         cross_sign=_truthy(c.args.get("cross_sign", False)))
    c.state.record("ca_rollover", label=pair.label, root=pki.fingerprint(pair.root_pem),
                   issuing=pki.fingerprint(pair.inter_pem), cross=bool(pair.cross_pem))
    return {"label": pair.label, "root_sha256": pki.fingerprint(pair.root_pem),
            "issuing_sha256": pki.fingerprint(pair.inter_pem), "cross_signed": bool(pair.cross_pem)}


def _phones(c: _Ctx) -> Any:
    views = c.state.phone_views()
    return {"summary": c.state.phone_summary(), "by_node": _by_node(c.state),
            "unregistered": [v.name for v in views if v.status != "Registered"]}


def _delete_itl(c: _Ctx) -> Any:
    names = c.args.get("names") or [v.name for v in c.state.phone_views() if v.reason == 13]
    return {"deleted": c.state.delete_itl(names)}


def _events(c: _Ctx) -> Any:
    """The lab's event log as dicts, oldest first (args: ``since`` ISO time or epoch, ``kind``)."""
    since = c.args.get("since") or None
    return [e.to_dict() for e in c.state.events(since=since, kind=c.args.get("kind") or None)]


_ACTIONS: dict[str, Callable[[_Ctx], Any]] = {
    "status": lambda c: lab_status(c.state, c.endpoints, running=c.running),
    "fault_set": _fault_set,
    "fault_clear": _fault_clear,
    "fault_list": lambda c: c.state.faults.list(),
    "knob_set": _knob_set,
    "set": _setting,
    "ca_approve": lambda c: _ca_decide(c, True),
    "ca_deny": lambda c: _ca_decide(c, False),
    "ca_rollover": _ca_rollover,
    "ca_pending": lambda c: [{"req_id": r.req_id, "template": r.template} for r in (c.ca.pending() if c.ca else [])],
    "phones": _phones,
    "delete_itl": _delete_itl,
    "events": _events,
    "connections": lambda c: c.state.connections(),
}


def apply_action(state: LabState, action: str, args: dict[str, Any], *, ca: Any = None,
                 endpoints: list[dict[str, Any]] | None = None, running: bool = True) -> Any:
    """One control action on ``state`` (used by the endpoint and, offline, by the command)."""
    handler = _ACTIONS.get(action)
    if handler is None:
        raise ValueError(f"unknown action {action!r}")
    return handler(_Ctx(state, args, ca, endpoints, running))


def _by_node(state: LabState) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for view in state.phone_views():
        row = out.setdefault(view.node, {"registered": 0, "unregistered": 0})
        row["registered" if view.status == "Registered" else "unregistered"] += 1
    return out


class ControlServer:
    """Serves ``apply_action`` for a running LabCluster; ``on_stop`` is called by the stop action."""

    def __init__(self, *, cluster: LabCluster, on_stop: Callable[[], None], host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.cluster = cluster
        self.on_stop = on_stop
        self.token = secrets.token_urlsafe(24)
        token_file = cluster.state_dir / "secrets" / TOKEN_FILE
        token_file.touch(mode=0o600)
        token_file.write_text(self.token)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                outer._handle(self)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="lab-control", daemon=True)
        self._thread.start()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        if not secrets.compare_digest(handler.headers.get("X-Lab-Token", ""), self.token):
            return _reply(handler, 401, {"error": "bad control token"})
        action = handler.path.strip("/")
        length = int(handler.headers.get("Content-Length") or 0)
        try:
            args = json.loads(handler.rfile.read(length) or b"{}")
            if action == "stop":
                _reply(handler, 200, {"stopping": True})
                threading.Thread(target=self.on_stop, daemon=True).start()
                return
            eps = [e.__dict__ for e in self.cluster.endpoints()]
            result = apply_action(self.cluster.state, action, args, ca=self.cluster.ca, endpoints=eps)
            _reply(handler, 200, {"result": result})
        except (KeyError, ValueError, LabRefusal) as exc:
            _reply(handler, 400, {"error": getattr(exc, "message", None) or str(exc)})

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _reply(handler: BaseHTTPRequestHandler, status: int, obj: Any) -> None:
    body = json.dumps(obj).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def call(state_dir: Path, action: str, args: dict[str, Any] | None = None, *, timeout: float = 10) -> Any:
    """Call a running lab's control endpoint; RuntimeError with the lab's message on failure."""
    info = json.loads((Path(state_dir) / "lab.json").read_text())
    token = (Path(state_dir) / "secrets" / TOKEN_FILE).read_text().strip()
    req = urlrequest.Request(f"http://127.0.0.1:{info['control_port']}/{action}", method="POST",
                             data=json.dumps(args or {}).encode(),
                             headers={"X-Lab-Token": token, "Content-Type": "application/json"})
    opener = urlrequest.build_opener(urlrequest.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as resp:
            return json.loads(resp.read()).get("result")
    except urlrequest.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("error", str(exc))
        raise RuntimeError(detail) from None
