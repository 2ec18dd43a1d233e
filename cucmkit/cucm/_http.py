"""The HTTPS transport every HTTP-based CUCM client shares.

One ``HttpTransport`` talks to one node for one interface (certmgr REST,
Control Center, RisPort, AXL, SSO) with one set of credentials:

- it connects to ``address:port`` but sends SNI and verifies the certificate
  for the node's FQDN (a custom ``HTTPAdapter`` passes ``server_hostname`` and
  ``assert_hostname`` to urllib3), so a node reached by IP is still verified
  by name;
- it trusts the CA bundle files of the parameter file; a node with a pin
  accepts EITHER a chain that verifies for its FQDN against the bundle (tried
  first) OR exactly the leaf whose SHA-256 fingerprint equals the pin (tried
  once after a verification failure), so a pinned self-signed node keeps
  working after its tomcat certificate is renewed by the CA. urllib3 checks
  the pin right after the handshake and before a byte of the request (so
  credentials never reach an unpinned server). Verification is never
  switched off;
- it converts requests/urllib3/ssl exceptions into cucmkit's error tree once,
  here, and unexpected HTTP statuses into ``HttpStatusError`` naming node,
  interface, operation and status. No request body, header or password ever
  reaches an error or a log line.

``fetch_server_certificate`` reads the chain a node serves right now, without
verification, for ``cucmkit trust fetch`` and served-certificate checks.

TLS contexts are shared: every transport whose CA bundle files hold the same
text (and every pinned one) uses one ``ssl.SSLContext``, built once. Parsing
the bundle into a context was the largest piece of the kit's own CPU per node
in a fleet inventory (cProfile, 50 clusters x 6 nodes); a changed bundle file
has other text, so it gets a new context. urllib3 sets the same verify mode
and hostname flag on a shared context on every connection, so sharing changes
nothing a connection sees.
"""

from __future__ import annotations

import hashlib
import logging
import re
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import requests
import requests.adapters
import requests.auth
import requests.exceptions

from cucmkit.errors import (
    ConnectError,
    HttpStatusError,
    ParameterError,
    TimeoutError_,
    TlsError,
    TransportError,
)
from cucmkit.fingerprints import normalize_sha256
from cucmkit.params import Timeouts  # the kit's one Timeouts (re-exported here)
from cucmkit.secrets import Secret

__all__ = [
    "HttpTransport",
    "Timeouts",
    "DEFAULT_TIMEOUTS",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_HTTPS_PORT",
    "fetch_server_certificate",
    "check_trust",
]

log = logging.getLogger(__name__)

# Named defaults, in one place.
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_HTTPS_PORT = 443
_USER_AGENT = "cucmkit/0.1"
_MAX_MESSAGE = 300


DEFAULT_TIMEOUTS = Timeouts(connect=DEFAULT_CONNECT_TIMEOUT, read=DEFAULT_READ_TIMEOUT)

_TRUST_REMEDY = (
    "add the CA that issued the node's certificate to tls.ca_bundle in the parameter file, or, "
    "for a self-signed node, pin its SHA-256 fingerprint under tls.pins (see `cucmkit trust fetch`)"
)


_CONTEXTS: OrderedDict[tuple[str, str], ssl.SSLContext] = OrderedDict()
_CONTEXTS_LOCK = threading.Lock()
_CONTEXTS_SIZE = 32     # distinct bundles (and the one pinned context) kept; a fleet shares one or a few


def _ssl_context(ca_bundle: tuple[Path, ...], pin: str | None, *, node: str) -> ssl.SSLContext:
    """The shared context for these bundle files' text (or the pinned one); built on first use."""
    texts = [] if pin else [_read_bundle(path, node=node) for path in ca_bundle]
    digest = hashlib.sha256("\0".join(texts).encode()).hexdigest() if texts else "default"
    key = ("pin", "") if pin else ("ca", digest)
    with _CONTEXTS_LOCK:
        context = _CONTEXTS.get(key)
        if context is not None:
            _CONTEXTS.move_to_end(key)
            return context
    context = _new_context(texts, pin)
    with _CONTEXTS_LOCK:
        context = _CONTEXTS.setdefault(key, context)
        while len(_CONTEXTS) > _CONTEXTS_SIZE:
            _CONTEXTS.popitem(last=False)
    return context


def _new_context(bundles: list[str], pin: str | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if pin:
        # Only the pinned leaf is accepted; urllib3 compares it after the handshake.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if not bundles:
        context.load_default_certs()
    for text in bundles:
        context.load_verify_locations(cadata=text)
    return context


def _read_bundle(path: Path, *, node: str) -> str:
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(
            f"tls.ca_bundle file {path} cannot be read ({type(exc).__name__})",
            node=node,
            remedy="fix the path in the parameter file (for the lab: run `cucmkit lab start` first).",
        ) from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ParameterError(
            f"tls.ca_bundle file {path} holds no PEM certificate", node=node,
            remedy="point tls.ca_bundle at PEM files of the issuing CA chain.",
        )
    return text


class _NodeAdapter(requests.adapters.HTTPAdapter):
    """An adapter that verifies by the node's FQDN whatever address it connects to."""

    def __init__(self, *, fqdn: str, context: ssl.SSLContext, pin: str | None) -> None:
        self._tls: dict[str, Any] = {
            "ssl_context": context,
            "server_hostname": fqdn,
            "assert_hostname": None if pin else fqdn,
            "assert_fingerprint": pin,
            "cert_reqs": "CERT_NONE" if pin else "CERT_REQUIRED",
        }
        super().__init__(pool_connections=1, pool_maxsize=4, max_retries=0)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[Any, Any]:
        host_params, _ = super().build_connection_pool_key_attributes(request, True, None)
        return host_params, dict(self._tls)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """Never let requests add its own CA bundle (or turn verification off)."""
        conn.cert_reqs = self._tls["cert_reqs"]
        conn.ca_certs = None
        conn.ca_cert_dir = None


class HttpTransport:
    """HTTPS to one node, for one interface, with one account. A context manager."""

    def __init__(
        self,
        *,
        node: str,
        address: str,
        port: int = DEFAULT_HTTPS_PORT,
        interface: str,
        ca_bundle: Iterable[Path] = (),
        pin_sha256: str | None = None,
        username: str | None = None,
        password: Secret | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> None:
        if password is not None and not isinstance(password, Secret):
            raise TypeError("password must be a cucmkit.secrets.Secret")
        self.node = node
        self.address = address or node
        self.port = int(port)
        self.interface = interface
        self.username = username
        self.pin_sha256 = normalize_sha256(pin_sha256) if pin_sha256 else None
        self.timeouts = Timeouts(connect=float(connect_timeout), read=float(read_timeout))
        self._password = password
        bundle = tuple(Path(p) for p in ca_bundle)
        self._session = self._new_session(bundle, None)           # CA verification by FQDN
        self._pinned = self._new_session(bundle, self.pin_sha256) if self.pin_sha256 else None
        self._prefer_pin = False   # after the pin succeeded, try it first (saves a failing handshake)

    def _new_session(self, ca_bundle: tuple[Path, ...], pin: str | None) -> requests.Session:
        context = _ssl_context(ca_bundle, pin, node=self.node)
        session = requests.Session()
        session.trust_env = False  # no proxies or .netrc credentials from the environment
        session.headers["User-Agent"] = _USER_AGENT
        session.mount("https://", _NodeAdapter(fqdn=self.node, context=context, pin=pin))
        return session

    @property
    def base_url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"https://{host}:{self.port}"

    def __repr__(self) -> str:
        return (
            f"HttpTransport(node={self.node!r}, interface={self.interface!r}, "
            f"url={self.base_url!r}, username={self.username!r})"
        )

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()
        if self._pinned is not None:
            self._pinned.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        expect: Iterable[int] = (200,),
        auth: bool = True,
    ) -> requests.Response:
        """Send one request; return the response when its status is in ``expect``."""
        if not path.startswith("/"):
            raise ValueError("path must start with '/'")
        started = time.monotonic()
        response = self._send(method, path, operation, params=params, json=json, data=data,
                              headers=headers, auth=auth)
        elapsed_ms = (time.monotonic() - started) * 1000
        log.debug("%s %s %s %s -> %d in %.0f ms", self.node, self.interface, method, path,
                  response.status_code, elapsed_ms)
        if response.status_code not in tuple(expect):
            raise self._status_error(response, operation)
        return response

    def _send(self, method: str, path: str, operation: str, *, auth: bool, **kw: Any) -> requests.Response:
        """Send with CA trust; a pinned node falls back to (or starts with) the pin on a verification failure.

        Both failures happen in the handshake or right after it, before the
        request is written, so the retry never sends anything twice.
        """
        if self._pinned is None:
            return self._send_with(self._session, method, path, operation, auth=auth, **kw)
        modes = [(self._pinned, True), (self._session, False)]
        if not self._prefer_pin:
            modes.reverse()
        first: TlsError | None = None
        for session, pinned in modes:
            try:
                response = self._send_with(session, method, path, operation, auth=auth, **kw)
            except TlsError as exc:
                if first is not None:
                    raise self._neither(first, exc, operation) from exc
                if not _trust_failure(exc):
                    raise
                first = exc
                continue
            self._prefer_pin = pinned
            return response
        raise AssertionError("unreachable")

    def _neither(self, first: TlsError, second: TlsError, operation: str) -> TlsError:
        """Both the CA chain and the pin failed: name what the node serves and what to do."""
        served = _served_fingerprint(first, second)
        if served is None:
            return second
        return TlsError(
            f"pin mismatch and not trusted: {self.node} serves a certificate with SHA-256 {served}, which "
            f"neither verifies for {self.node} against tls.ca_bundle nor matches the pin {self.pin_sha256}",
            remedy="check the served certificate with `cucmkit trust fetch`; if it was renewed on purpose, add "
            "its issuing CA to tls.ca_bundle (then the pin may go) or update tls.pins with its fingerprint.",
            **self._where(operation))

    def _send_with(self, session: requests.Session, method: str, path: str, operation: str, *, auth: bool,
                   **kw: Any) -> requests.Response:
        basic = None
        if auth and self.username is not None and self._password is not None:
            basic = requests.auth.HTTPBasicAuth(self.username, self._password.reveal())
        try:
            response = session.request(
                method, self.base_url + path, auth=basic, allow_redirects=False,
                timeout=(self.timeouts.connect, self.timeouts.read), **kw,
            )
        except requests.exceptions.RequestException as exc:
            _forget_credentials(exc.request)
            raise self._map_exception(exc, operation, pinned=session is self._pinned) from exc
        except (ssl.SSLError, OSError) as exc:  # raised past requests in rare paths
            raise self._map_exception(exc, operation, pinned=session is self._pinned) from exc
        _forget_credentials(response.request)
        return response

    # -- errors -----------------------------------------------------------------

    def _where(self, operation: str) -> dict[str, Any]:
        return {"node": self.node, "interface": self.interface, "operation": operation}

    def _map_exception(self, exc: BaseException, operation: str, *, pinned: bool = False) -> TransportError:
        where = self._where(operation)
        target = f"{self.base_url}"
        if isinstance(exc, (requests.exceptions.SSLError, ssl.SSLError)):
            return self._tls_error(exc, operation, pinned=pinned)
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return TimeoutError_(f"no TCP connection to {target} within {self.timeouts.connect:g} s",
                                 remedy="check that the node is up and the address/port and firewall are right.",
                                 **where)
        if isinstance(exc, (requests.exceptions.ReadTimeout, socket.timeout)) and "handshake" in _root_reason(exc):
            return TimeoutError_(f"no TLS handshake with {target} within {self.timeouts.connect:g} s",
                                 remedy="check that the port serves HTTPS (a node whose Tomcat is starting accepts "
                                 "TCP but does not answer yet); raise timeouts.connect for a slow node.", **where)
        if isinstance(exc, (requests.exceptions.ReadTimeout, socket.timeout)):
            return TimeoutError_(f"no answer from {target} within {self.timeouts.read:g} s",
                                 remedy="the node may be overloaded or hung; retry later or raise timeouts.read.",
                                 **where)
        if isinstance(exc, (requests.exceptions.ConnectionError, OSError)):
            return ConnectError(f"cannot connect to {target}: {_root_reason(exc)}",
                                remedy="check that the node is up, and the address and port in the parameter file.",
                                **where)
        return TransportError(f"request to {target} failed: {type(exc).__name__}", **where)

    def _tls_error(self, exc: BaseException, operation: str, *, pinned: bool = False) -> TlsError:
        where = self._where(operation)
        reason = _root_reason(exc)
        if pinned and "Fingerprints did not match" in reason:
            got = re.search(r'got "?([0-9a-fA-F:]{32,})"?', reason)
            served = normalize_sha256(got.group(1)) if got else "another certificate"
            return TlsError(
                f"pin mismatch: {self.node} serves a certificate with SHA-256 {served}, "
                f"the parameter file pins {self.pin_sha256}",
                remedy="if the node's certificate was renewed on purpose, check it with "
                "`cucmkit trust fetch` and update tls.pins (or trust its CA via tls.ca_bundle).",
                **where)
        if "CERTIFICATE_VERIFY_FAILED" in reason or "hostname" in reason.lower() or "match" in reason:
            return TlsError(f"the certificate of {self.node} is not trusted: {reason}",
                            remedy=_TRUST_REMEDY + ".", **where)
        return TlsError(f"TLS handshake with {self.node} at {self.base_url} failed: {reason}",
                        remedy="check that the port serves HTTPS and the node's TLS settings.", **where)

    def _status_error(self, response: requests.Response, operation: str) -> HttpStatusError:
        status = response.status_code
        where = self._where(operation)
        cucm_message = _json_message(response)
        if status == 401:
            return HttpStatusError(
                f"HTTP 401: authentication failed for {self.username}", status=status,
                remedy=f"check the password referenced for {self.username} in the parameter file's "
                "credentials, and that the account is not locked (CUCM locks accounts after repeated failures).",
                cucm_message=cucm_message, **where)
        text = f"HTTP {status} {response.reason or ''}".rstrip()
        if cucm_message:
            text += f": {cucm_message}"
        remedy = {
            403: f"the account {self.username} lacks the privilege for this operation.",
            404: "this node does not serve this interface (AXL answers only on the publisher; REST needs 14+).",
            503: "the node is busy or throttling; retry later.",
        }.get(status)
        return HttpStatusError(text, status=status, remedy=remedy, cucm_message=cucm_message, **where)


_PIN_MISMATCH = re.compile(r"serves a certificate with SHA-256 ([0-9a-f]{64})")
_TRUST_MARKERS = ("not trusted", "pin mismatch")


def _trust_failure(exc: TlsError) -> bool:
    """A verification failure (untrusted chain, wrong name, pin mismatch), not a broken handshake."""
    return any(marker in exc.message for marker in _TRUST_MARKERS)


def _served_fingerprint(*errors: TlsError) -> str | None:
    for error in errors:
        found = _PIN_MISMATCH.search(error.message)
        if found:
            return found.group(1)
    return None


def _forget_credentials(request: Any) -> None:
    """Drop the Authorization header from a sent request kept on a response or an exception."""
    headers = getattr(request, "headers", None)
    if headers is not None:
        headers.pop("Authorization", None)


def _json_message(response: requests.Response) -> str | None:
    """CUCM's ``{"message": ...}`` from an error body (never the raw body)."""
    if "json" not in response.headers.get("Content-Type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    message = body.get("message") if isinstance(body, dict) else None
    return str(message)[:_MAX_MESSAGE] if message else None


def _root_reason(exc: BaseException) -> str:
    """The innermost cause of a requests/urllib3 exception, as short text."""
    seen: set[int] = set()
    current: BaseException | None = exc
    innermost = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        innermost = current
        nxt = getattr(current, "reason", None)
        if not isinstance(nxt, BaseException) and current.args and isinstance(current.args[0], BaseException):
            nxt = current.args[0]
        current = nxt if isinstance(nxt, BaseException) else (current.__cause__ or current.__context__)
    text = str(innermost)
    text = re.sub(r"^<[^>]*>:\s*", "", text)
    text = re.sub(r"^HTTPS?Connection\(host=[^)]*\):\s*", "", text)
    return (text or type(innermost).__name__)[:_MAX_MESSAGE]


def fetch_server_certificate(address: str, port: int, fqdn: str, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> list[str]:
    """The certificate chain (PEM, leaf first) the node serves now; NOT verified.

    Used to show what a node serves (``cucmkit trust fetch``) and to check
    which certificate is active; never used to send anything.
    """
    where = {"node": fqdn, "interface": "tls", "operation": "fetch certificate"}
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((address, port), timeout=timeout) as raw:
            raw.settimeout(timeout)
            with context.wrap_socket(raw, server_hostname=fqdn) as tls:
                return _served_chain(tls)
    except TimeoutError as exc:
        raise TimeoutError_(f"no TLS handshake with {address}:{port} within {timeout:g} s", **where) from exc
    except ssl.SSLError as exc:
        raise TlsError(f"TLS handshake with {address}:{port} failed: {exc.reason or exc}", **where) from exc
    except OSError as exc:
        raise ConnectError(f"cannot connect to {address}:{port}: {exc.strerror or exc}", **where) from exc


def check_trust(address: str, port: int, fqdn: str, ca_bundle: Iterable[Path],
                timeout: float = DEFAULT_CONNECT_TIMEOUT) -> str | None:
    """None when the node's chain verifies for ``fqdn`` against ``ca_bundle``; else the reason."""
    bundle = tuple(ca_bundle)
    try:
        context = _ssl_context(bundle, None, node=fqdn)
        with socket.create_connection((address, port), timeout=timeout) as raw:
            raw.settimeout(timeout)
            with context.wrap_socket(raw, server_hostname=fqdn):
                return None
    except ssl.SSLCertVerificationError as exc:
        return str(exc.verify_message or exc.reason or exc)
    except (ssl.SSLError, OSError, ParameterError) as exc:
        return f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"


def _served_chain(tls: ssl.SSLSocket) -> list[str]:
    public = getattr(tls, "get_unverified_chain", None)  # Python 3.13+
    if public is not None:
        return [ssl.DER_cert_to_PEM_cert(der) for der in public()]
    private = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)  # 3.10-3.12
    if private is not None:
        chain = private() or []
        return [_as_pem(cert) for cert in chain]
    leaf = tls.getpeercert(binary_form=True)
    return [ssl.DER_cert_to_PEM_cert(leaf)] if leaf else []


def _as_pem(cert: Any) -> str:
    if isinstance(cert, bytes):
        return ssl.DER_cert_to_PEM_cert(cert)
    return str(cert.public_bytes(1))  # _ssl.ENCODING_PEM
