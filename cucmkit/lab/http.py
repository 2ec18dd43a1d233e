"""The lab's HTTPS listeners: one per node (and one for the lab CA).

Each listener is a stdlib ``ThreadingHTTPServer`` whose TLS handshake runs in
the connection's thread with the SSLContext of the certificate the node
serves *now* (its active tomcat certificate): when a Cisco Tomcat restart
completes, the next connection gets the new certificate. Requests become
``LabRequest`` values and are routed by path to handlers that return
``LabResponse`` values. While Cisco Tomcat is not Started (restarting,
stopped) every connection is reset, as on CUCM. Faults: ``unreachable``
resets every connection at once; ``tls_fail`` answers the ClientHello with a
handshake_failure alert.
Connections are HTTP/1.1 keep-alive (every response has Content-Length), so
clients reuse their TLS sessions. Between requests the connection's thread
watches the node: when Cisco Tomcat stops or ``unreachable`` is set the
connection is reset, when the served certificate changed it is closed (so the
next request opens a new connection and sees the new certificate), and after
``KEEPALIVE_IDLE`` seconds without a request it is closed, as Tomcat does.
The ``http_latency`` knob makes every request answer that many seconds late.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import select
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from requests.structures import CaseInsensitiveDict

from cucmkit.lab.state import LabNodeState, LabRefusal, LabState

__all__ = [
    "LabRequest",
    "LabResponse",
    "Handler",
    "LabHttpServer",
    "json_response",
    "error_response",
    "KEEPALIVE_IDLE",
]

log = logging.getLogger(__name__)

TlsSource = Callable[[], tuple[str, str, list[str]]]
# TLS alert: handshake_failure (fatal), TLS 1.2 record
_HANDSHAKE_FAILURE = b"\x15\x03\x03\x00\x02\x02\x28"
KEEPALIVE_IDLE = 20.0        # seconds an idle keep-alive connection stays open (Tomcat's default)
_WATCH_SLICE = 0.1           # seconds between checks of the node while a connection idles


@dataclass(frozen=True)
class LabRequest:
    """One HTTP request as the lab's handlers see it. ``node`` is None on the CA listener."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    auth: tuple[str, str] | None
    node: LabNodeState | None
    state: LabState | None

    def __repr__(self) -> str:  # never show credentials or bodies
        return f"LabRequest({self.method} {self.path})"

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8") or "null")
        except (UnicodeDecodeError, ValueError) as exc:
            raise LabRefusal("Invalid JSON in request body", 400) from exc


@dataclass(frozen=True)
class LabResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[LabRequest], LabResponse]


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> LabResponse:
    return LabResponse(status, json.dumps(obj).encode(), "application/json", dict(headers or {}))


def error_response(message: str, status: int) -> LabResponse:
    return json_response({"message": message}, status)


def _parse_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 30
    protocol_version = "HTTP/1.1"
    served_key: str | None = None       # the certificate this connection's handshake presented
    server_version = ""
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    def version_string(self) -> str:
        return "Apache-Coyote/1.1" if self.server.lab.node is not None else "Microsoft-IIS/10.0"

    def handle(self) -> None:
        """Requests until the client closes, the node changes under us, or the connection idles out."""
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection and self.server.lab.await_request(self.connection, self.served_key):
            self.handle_one_request()

    def _dispatch(self) -> None:
        lab = self.server.lab
        parts = urlsplit(self.path)
        body = self._body()
        request = LabRequest(
            method=self.command, path=parts.path, query=parse_qs(parts.query, keep_blank_values=True),
            headers=CaseInsensitiveDict(dict(self.headers.items())), body=body,
            auth=_parse_auth(self.headers.get("Authorization")), node=lab.node, state=lab.state)
        self._send(lab.handle(request))

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, response: LabResponse) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for key, value in response.headers.items():
            self.send_header(key, value)
        # headers and body in one write: two small writes on a kept-alive connection meet the
        # client's delayed ACK (Nagle), about 40 ms a response
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(response.body)
        self.flush_headers()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch


class _KeyedHandler(_Handler):
    """A handler that knows which certificate its connection's handshake presented."""

    def __init__(self, request: Any, client_address: Any, server: _Server, served_key: str | None) -> None:
        self.served_key = served_key
        super().__init__(request, client_address, server)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], lab: LabHttpServer) -> None:
        self.lab = lab
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        return self.socket.accept()  # raw: the handshake happens in the connection's thread

    def process_request_thread(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.lab.serve_connection(request, client_address, self)
        except Exception:  # noqa: BLE001 - one bad connection must not kill the listener
            log.debug("connection error", exc_info=True)
        finally:
            _close(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("request error from %s", client_address, exc_info=True)


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): the client sees 'connection reset'."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    _close(sock)


class LabHttpServer:
    """A threaded HTTPS listener serving ``tls()`` and routing with ``router(request) -> handler``."""

    # Seconds an idle listener sleeps between checks for shutdown. A connection wakes it at once, so this costs
    # only CPU while idle; a fleet of thousands of listeners in one process raises it (cucmkit/lab/fleet.py).
    idle_poll: float = 0.1

    def __init__(self, *, host: str, port: int, tls: TlsSource,
                 router: Callable[[LabRequest], Handler | None], node: LabNodeState | None = None,
                 state: LabState | None = None, work_dir: Path | None = None) -> None:
        self.node = node
        self.state = state
        self._tls = tls
        self._router = router
        self._ctx_lock = threading.Lock()
        self._ctx_key: str | None = None
        self._ctx: ssl.SSLContext | None = None
        self._work_dir = work_dir
        self._server = _Server((host, port), self)
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": self.idle_poll},
                                        name=f"lab-https-{node.name if node else 'ca'}", daemon=True)

    def start(self) -> LabHttpServer:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            stopper = threading.Thread(target=self._server.shutdown, name="lab-https-stop", daemon=True)
            stopper.start()
            while stopper.is_alive():      # wake the idle listener instead of waiting out its poll
                self._poke()
                stopper.join(0.05)
        self._server.server_close()
        self._thread.join(timeout=5)

    def _poke(self) -> None:
        try:
            socket.create_connection((self.host, self.port), timeout=0.5).close()
        except OSError:
            pass

    # -- per connection

    def _fault(self, name: str) -> bool:
        return bool(self.node and self.state and self.state.faults.active(self.node.name, name))

    def _tomcat_down(self) -> bool:
        """Every HTTPS door runs inside Cisco Tomcat: while it is not Started, nothing answers."""
        if self.node is None:
            return False
        try:
            return self.node.service("Cisco Tomcat").status != "Started"
        except LabRefusal:
            return False

    def serve_connection(self, raw: socket.socket, client_address: Any, server: _Server) -> None:
        if self.node is not None and self.state is not None:
            self.state.count_connection(self.node.name, "https")
        if self._fault("unreachable") or self._tomcat_down():
            _reset(raw)
            return
        if self._fault("tls_fail"):
            raw.settimeout(2)
            try:
                raw.recv(4096)
                raw.sendall(_HANDSHAKE_FAILURE)
            except OSError:
                pass
            _close(raw)
            return
        raw.settimeout(30)
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        try:
            tls_sock = self.context().wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            _close(raw)
            return
        try:
            _KeyedHandler(tls_sock, client_address, server, self._ctx_key_for(tls_sock))
        finally:
            try:
                tls_sock.close()
            except OSError:
                pass

    def _ctx_key_for(self, tls_sock: ssl.SSLSocket) -> str | None:
        with self._ctx_lock:
            return self._ctx_key

    def await_request(self, sock: ssl.SSLSocket, served_key: str | None) -> bool:
        """Wait for the next request on a kept-alive connection; False: the connection must end.

        Checked while idle and again when a request arrives, so a request never reaches a node
        that changed: Tomcat down or ``unreachable`` resets the socket, ``tls_fail`` answers a
        handshake_failure alert, another certificate served now or ``KEEPALIVE_IDLE`` seconds
        without a request close it cleanly (the client's next request opens a new connection)."""
        deadline = time.monotonic() + KEEPALIVE_IDLE
        while True:
            if not self._connection_still_valid(sock, served_key):
                return False
            if sock.pending():
                return self._connection_still_valid(sock, served_key)
            try:
                poller = select.poll()
                poller.register(sock.fileno(), select.POLLIN)
                if poller.poll(_WATCH_SLICE * 1000):   # a request, or the client's close (end of stream)
                    return self._connection_still_valid(sock, served_key)
            except (OSError, ValueError):
                return False
            if time.monotonic() >= deadline:
                return False

    def _connection_still_valid(self, sock: ssl.SSLSocket, served_key: str | None) -> bool:
        if self._fault("unreachable") or self._tomcat_down():
            _reset(sock)
            return False
        if self._fault("tls_fail"):
            try:
                os.write(sock.fileno(), _HANDSHAKE_FAILURE)   # raw, outside the TLS session
            except OSError:
                pass
            return False
        return served_key is None or self._current_cert() == served_key

    def _current_cert(self) -> str | None:
        try:
            return self._tls()[0]
        except Exception:  # noqa: BLE001 - the node's state is being changed: end the connection
            return None

    def context(self) -> ssl.SSLContext:
        cert_pem, key_pem, chain = self._tls()
        with self._ctx_lock:
            if self._ctx is None or self._ctx_key != cert_pem:
                self._ctx = _make_context(cert_pem, key_pem, chain, self._work_dir)
                self._ctx_key = cert_pem
            return self._ctx

    def handle(self, request: LabRequest) -> LabResponse:
        latency = float(getattr(self.state.knobs, "http_latency", 0.0) or 0.0) if self.state else 0.0
        if latency > 0:
            time.sleep(latency)   # in the request's own thread: concurrent requests overlap
        try:
            handler = self._router(request)
            if handler is None:
                return _not_found(request.path)
            with LabState.door(_door_of(request.path)):
                return handler(request)
        except LabRefusal as exc:
            return error_response(exc.message, exc.status)
        except Exception:  # noqa: BLE001 - a handler bug is a 500, as on Tomcat
            log.exception("lab handler failed for %s %s", request.method, request.path)
            return error_response("Internal Server Error", 500)


def _door_of(path: str) -> str:
    """The door a request came through, for the lab's event log."""
    return "controlcenter" if path.startswith("/controlcenterservice2/") else "https"


def _not_found(path: str) -> LabResponse:
    if path.startswith("/platformcom/"):
        return error_response("Not Found", 404)
    title = "HTTP Status 404 - Not Found"
    body = f"<html><head><title>{title}</title></head><body><h1>{title}</h1><p>{path}</p></body></html>"
    return LabResponse(404, body.encode(), "text/html;charset=utf-8")


def _make_context(cert_pem: str, key_pem: str, chain: list[str], work_dir: Path | None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        cert_file, key_file = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        cert_file.write_text(cert_pem + "".join(chain))
        key_file.touch(mode=0o600)
        key_file.write_text(key_pem)
        ctx.load_cert_chain(cert_file, key_file)
    return ctx
