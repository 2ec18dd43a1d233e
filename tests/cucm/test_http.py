"""HttpTransport against a real TLS server on loopback (no lab needed).

The server presents a certificate for ``node.test.example`` issued by a test CA;
the client connects to 127.0.0.1 and must verify by the FQDN.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cucmkit.cucm._http import HttpTransport, fetch_server_certificate
from cucmkit.errors import ConnectError, HttpStatusError, TimeoutError_, TlsError
from cucmkit.fingerprints import cert_sha256
from cucmkit.secrets import Secret

FQDN = "node.test.example"
SENTINEL = "S3ntinel-Pa55-9f1c"
NOW = dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key, issuer: str, issuer_key, *, ca: bool, sans: tuple[str, ...] = ()) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject)).issuer_name(_name(issuer))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class Pki:
    def __init__(self, tmp: Path) -> None:
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = _cert("Test Root CA", self.ca_key, "Test Root CA", self.ca_key, ca=True)
        self.other_ca_key = ec.generate_private_key(ec.SECP256R1())
        self.other_ca = _cert("Other CA", self.other_ca_key, "Other CA", self.other_ca_key, ca=True)
        self.tmp = tmp
        self.bundle = tmp / "ca.pem"
        self.bundle.write_text(_pem(self.ca))
        self.other_bundle = tmp / "other.pem"
        self.other_bundle.write_text(_pem(self.other_ca))

    def leaf_files(self, sans: tuple[str, ...], *, self_signed: bool = False) -> tuple[Path, Path, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        if self_signed:
            cert = _cert(FQDN, key, FQDN, key, ca=False, sans=sans)
        else:
            cert = _cert(FQDN, key, "Test Root CA", self.ca_key, ca=False, sans=sans)
        name = "self" if self_signed else "-".join(sans) or "nosan"
        cert_file, key_file = self.tmp / f"{name}.crt", self.tmp / f"{name}.key"
        chain = _pem(cert) + ("" if self_signed else _pem(self.ca))
        cert_file.write_text(chain)
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_file, key_file, cert


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen_auth: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:  # noqa: N802
        auth = self.headers.get("Authorization", "")
        type(self).seen_auth.append(auth)
        expected = "Basic " + base64.b64encode(f"admin:{SENTINEL}".encode()).decode()
        if self.path.startswith("/slow"):
            threading.Event().wait(2.0)
        if auth != expected:
            self._reply(401, {"message": "Unauthorized"}, {"WWW-Authenticate": 'Basic realm="CMPlatform"'})
        elif self.path.startswith("/bad"):
            self._reply(400, {"message": "The certificate is expired"})
        else:
            self._reply(200, {"ok": True, "path": self.path})


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def _serve(cert_file: Path, key_file: Path) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def good_port(pki: Pki) -> Iterator[int]:
    cert_file, key_file, _ = pki.leaf_files((FQDN,))
    yield from _serve(cert_file, key_file)


@pytest.fixture(scope="module")
def wrong_name_port(pki: Pki) -> Iterator[int]:
    cert_file, key_file, _ = pki.leaf_files(("someone-else.test.example",))
    yield from _serve(cert_file, key_file)


@pytest.fixture(scope="module")
def self_signed(pki: Pki) -> Iterator[tuple[int, x509.Certificate]]:
    cert_file, key_file, cert = pki.leaf_files((FQDN,), self_signed=True)
    for port in _serve(cert_file, key_file):
        yield port, cert


def _transport(port: int, **kw: object) -> HttpTransport:
    args: dict[str, object] = dict(node=FQDN, address="127.0.0.1", port=port, interface="certmgr",
                                   username="admin", password=Secret(SENTINEL, source="test:sentinel"),
                                   connect_timeout=2, read_timeout=5)
    args.update(kw)
    return HttpTransport(**args)  # type: ignore[arg-type]


def test_verifies_by_fqdn_while_connecting_to_address(pki: Pki, good_port: int) -> None:
    with _transport(good_port, ca_bundle=(pki.bundle,)) as http:
        response = http.request("GET", "/snapshot", operation="snapshot")
    assert response.json() == {"ok": True, "path": "/snapshot"}


def test_params_are_sent(pki: Pki, good_port: int) -> None:
    with _transport(good_port, ca_bundle=(pki.bundle,)) as http:
        response = http.request("GET", "/csr", operation="get csr", params={"service": "tomcat"})
    assert response.json()["path"] == "/csr?service=tomcat"


def test_untrusted_ca_is_tls_error_and_sends_no_credentials(pki: Pki, good_port: int) -> None:
    _Handler.seen_auth.clear()
    with _transport(good_port, ca_bundle=(pki.other_bundle,)) as http, pytest.raises(TlsError) as info:
        http.request("GET", "/x", operation="snapshot")
    assert info.value.node == FQDN and info.value.interface == "certmgr" and info.value.operation == "snapshot"
    assert "not trusted" in str(info.value) and "tls.ca_bundle" in str(info.value)
    assert _Handler.seen_auth == []


def test_name_mismatch_is_tls_error(pki: Pki, wrong_name_port: int) -> None:
    with _transport(wrong_name_port, ca_bundle=(pki.bundle,)) as http, pytest.raises(TlsError) as info:
        http.request("GET", "/x", operation="snapshot")
    assert FQDN in str(info.value)


def test_pin_accepted(self_signed: tuple[int, x509.Certificate]) -> None:
    port, cert = self_signed
    pin = cert_sha256(cert.public_bytes(serialization.Encoding.DER))
    colon_pin = ":".join(pin[i:i + 2] for i in range(0, 64, 2)).upper()
    with _transport(port, pin_sha256=colon_pin) as http:
        assert http.request("GET", "/pinned", operation="snapshot").status_code == 200


def test_wrong_pin_refused_before_credentials_sent(self_signed: tuple[int, x509.Certificate]) -> None:
    port, cert = self_signed
    _Handler.seen_auth.clear()
    with _transport(port, pin_sha256="ab" * 32) as http, pytest.raises(TlsError) as info:
        http.request("GET", "/pinned", operation="snapshot")
    served = cert_sha256(cert.public_bytes(serialization.Encoding.DER))
    assert "pin mismatch" in str(info.value) and served in str(info.value)
    assert _Handler.seen_auth == []


def test_self_signed_without_pin_refused(pki: Pki, self_signed: tuple[int, x509.Certificate]) -> None:
    port, _ = self_signed
    with _transport(port, ca_bundle=(pki.bundle,)) as http, pytest.raises(TlsError):
        http.request("GET", "/x", operation="snapshot")


def test_401_names_user_and_remedy_not_password(pki: Pki, good_port: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = Secret(SENTINEL + "-wrong", source="test:wrong")
    with _transport(good_port, ca_bundle=(pki.bundle,), password=wrong) as http:
        with pytest.raises(HttpStatusError) as info:
            http.request("GET", "/x", operation="snapshot")
        assert SENTINEL not in repr(http)
    err = info.value
    assert err.status == 401 and "authentication failed for admin" in str(err) and err.remedy
    for text in (str(err), repr(err), repr(err.context), caplog.text):
        assert SENTINEL not in text


def test_sent_credentials_are_not_kept(pki: Pki, good_port: int) -> None:
    with _transport(good_port, ca_bundle=(pki.bundle,)) as http:
        response = http.request("GET", "/ok", operation="snapshot")
        assert response.status_code == 200 and "Authorization" not in response.request.headers
        with pytest.raises(TimeoutError_) as info:
            HttpTransport(node=FQDN, address="127.0.0.1", port=good_port, interface="certmgr",
                          ca_bundle=(pki.bundle,), username="admin", password=Secret(SENTINEL, source="t"),
                          read_timeout=0.2).request("GET", "/slow", operation="snapshot")
    cause = info.value.__cause__
    assert "Authorization" not in getattr(getattr(cause, "request", None), "headers", {})


def test_unexpected_status_carries_cucm_message(pki: Pki, good_port: int) -> None:
    with _transport(good_port, ca_bundle=(pki.bundle,)) as http, pytest.raises(HttpStatusError) as info:
        http.request("GET", "/bad", operation="upload identity")
    assert info.value.status == 400 and "The certificate is expired" in str(info.value)
    assert info.value.context["cucm_message"] == "The certificate is expired"


def test_expected_error_status_is_returned(pki: Pki, good_port: int) -> None:
    with _transport(good_port, ca_bundle=(pki.bundle,)) as http:
        assert http.request("GET", "/bad", operation="x", expect=(200, 400)).status_code == 400


def test_read_timeout(pki: Pki, good_port: int) -> None:
    with _transport(good_port, ca_bundle=(pki.bundle,), read_timeout=0.3) as http:
        with pytest.raises(TimeoutError_) as info:
            http.request("GET", "/slow", operation="snapshot")
    assert info.value.operation == "snapshot" and "0.3" in str(info.value)


def test_refused_is_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with _transport(port) as http, pytest.raises(ConnectError) as info:
        http.request("GET", "/x", operation="snapshot")
    assert info.value.node == FQDN and "refused" in str(info.value).lower()


def test_handshake_hang_is_timeout() -> None:
    with socket.socket() as listener:  # accepts TCP, never speaks TLS
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        with _transport(listener.getsockname()[1], read_timeout=0.5) as http:
            with pytest.raises((TimeoutError_, TlsError)):
                http.request("GET", "/x", operation="snapshot")


def test_handshake_hang_is_bounded_by_the_connect_timeout_and_says_so() -> None:
    """Issue 11 item 7: the TLS handshake waits timeouts.connect (here 0.4 s), not a fixed or read timeout."""
    with socket.socket() as listener:  # accepts TCP, never speaks TLS
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        with _transport(listener.getsockname()[1], connect_timeout=0.4, read_timeout=30) as http:
            started = time.monotonic()
            with pytest.raises(TimeoutError_) as info:
                http.request("GET", "/x", operation="snapshot")
    assert time.monotonic() - started < 3
    assert "no TLS handshake" in info.value.message and "0.4 s" in info.value.message
    assert "HTTPS" in (info.value.remedy or "") and "timeouts.connect" in (info.value.remedy or "")


def test_fetch_server_certificate_returns_chain(pki: Pki, good_port: int) -> None:
    chain = fetch_server_certificate("127.0.0.1", good_port, FQDN, timeout=2)
    subjects = [x509.load_pem_x509_certificate(p.encode()).subject.rfc4514_string() for p in chain]
    assert subjects == [f"CN={FQDN}", "CN=Test Root CA"]


def test_fetch_server_certificate_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectError):
        fetch_server_certificate("127.0.0.1", port, FQDN, timeout=1)


def test_password_must_be_secret() -> None:
    with pytest.raises(TypeError):
        HttpTransport(node=FQDN, address="127.0.0.1", port=1, interface="x", username="a",
                      password=SENTINEL)  # type: ignore[arg-type]


# -- a pin with a CA fallback ----------------------------------------------------------------


def test_pinned_node_accepts_ca_signed_chain_after_renewal(pki: Pki, good_port: int) -> None:
    """The pin names the old self-signed leaf; the node now serves a CA-signed one: accepted by the CA."""
    with _transport(good_port, ca_bundle=(pki.bundle,), pin_sha256="cd" * 32) as http:
        assert http.request("GET", "/renewed", operation="snapshot").json()["path"] == "/renewed"
        assert http.request("GET", "/again", operation="snapshot").status_code == 200


def test_pinned_node_accepts_pinned_leaf_when_ca_does_not_verify(pki: Pki,
                                                                 self_signed: tuple[int, x509.Certificate]) -> None:
    port, cert = self_signed
    pin = cert_sha256(cert.public_bytes(serialization.Encoding.DER))
    with _transport(port, ca_bundle=(pki.bundle,), pin_sha256=pin) as http:
        assert http.request("GET", "/pinned", operation="snapshot").status_code == 200
        assert http.request("GET", "/pinned2", operation="snapshot").status_code == 200


def test_pinned_node_refused_when_neither_ca_nor_pin(pki: Pki, good_port: int) -> None:
    """CA-signed by a CA not in the bundle and not the pinned leaf: refused, naming the served fingerprint."""
    _Handler.seen_auth.clear()
    served = cert_sha256(fetch_server_certificate("127.0.0.1", good_port, FQDN)[0])
    with _transport(good_port, ca_bundle=(pki.other_bundle,), pin_sha256="ef" * 32) as http, \
            pytest.raises(TlsError) as info:
        http.request("GET", "/x", operation="snapshot")
    text = str(info.value)
    assert served in text and "ef" * 32 in text
    assert "tls.ca_bundle" in info.value.remedy and "tls.pins" in info.value.remedy
    assert info.value.node == FQDN
    assert _Handler.seen_auth == []


def test_pinned_node_with_wrong_name_ca_chain_falls_back_to_pin_only(pki: Pki, wrong_name_port: int) -> None:
    """A CA-signed chain for another name does not verify by FQDN; the pin (of that very leaf) still may."""
    leaf = fetch_server_certificate("127.0.0.1", wrong_name_port, FQDN)[0]
    with _transport(wrong_name_port, ca_bundle=(pki.bundle,), pin_sha256=cert_sha256(leaf)) as http:
        assert http.request("GET", "/x", operation="snapshot").status_code == 200
    with _transport(wrong_name_port, ca_bundle=(pki.bundle,), pin_sha256="01" * 32) as http, \
            pytest.raises(TlsError, match=cert_sha256(leaf)):
        http.request("GET", "/x", operation="snapshot")
