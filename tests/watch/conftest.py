"""A lab fleet on ephemeral ports and a real SMTP server (aiosmtpd: STARTTLS required, AUTH required) on loopback.

Fleet: ``fleet000`` as the lab starts (an expired trust certificate in tomcat-trust, a CA-signed tomcat due in
20 days), ``fleet001`` with that expired trust certificate deleted (due items only), and ``down`` whose parameter
file points at a closed port.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from cucmkit.lab.fleet import LabFleet
from cucmkit.lab.starting import EXPIRED_CN

SMTP_USER = "watch"
SMTP_PASSWORD = "s3cret-SMTP-pa55word"   # the test checks it never reaches the message


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@dataclass
class Fleet:
    fleet: LabFleet
    folder: Path                     # the parameter files: down.yaml, fleet000.yaml, fleet001.yaml
    files: dict[str, Path] = field(default_factory=dict)


def _delete_expired_trust(fleet: LabFleet, index: int) -> None:
    state = fleet.labs[index].state
    for node in state.nodes.values():
        for filename in [f for f, pem in node.trust("tomcat-trust").items() if EXPIRED_CN.replace(" ", "_") in f]:
            node.delete_trust("tomcat-trust", filename)


@pytest.fixture(scope="module")
def lab_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("fleet")
    with LabFleet(root / "labs", clusters=2, nodes=2) as fleet:
        _delete_expired_trust(fleet, 1)
        folder = root / "parameters"
        folder.mkdir()
        out = Fleet(fleet=fleet, folder=folder)
        for data in fleet.parameters():
            out.files[data["cluster"]] = _write(folder / f"{data['cluster']}.yaml", data)
        down = fleet.parameters()[1]
        port = free_port()
        down["cluster"] = "down"
        down["nodes"] = [{**n, "https_port": port} for n in down["nodes"]]
        out.files["down"] = _write(folder / "down.yaml", down)
        yield out


# -- SMTP --------------------------------------------------------------------------------------------


def _server_tls(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A CA and a server certificate for 127.0.0.1 / localhost; (server context, CA file for the client)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Mail CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    import ipaddress
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    (folder / "server.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return context, folder / "ca.pem"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    login: str | None


class _Handler:
    def __init__(self) -> None:
        self.messages: list[Received] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else session.auth_data
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
                                      session.ssl is not None, login))
        return "250 OK"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == SMTP_USER.encode() \
        and auth_data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok, auth_data=SMTP_USER if ok else None, handled=False)


@dataclass
class SmtpServer:
    port: int
    ca_file: Path
    handler: _Handler


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    context, ca_file = _server_tls(tmp_path)
    handler = _Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), tls_context=context,
                            require_starttls=True, auth_required=True, auth_require_tls=True,
                            authenticator=_authenticator)
    controller.start()
    try:
        yield SmtpServer(port=controller.port, ca_file=ca_file, handler=handler)
    finally:
        controller.stop()
