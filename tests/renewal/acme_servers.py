"""Real servers for the ACME back-end's tests, on loopback, in tmp_path.

- ``Bind``: Debian's ``named`` serving the zone ``lab.example`` and taking
  RFC 2136 updates signed with a TSIG key (``update-policy``: TXT records only);
- ``ChallTestSrv``: ``pebble-challtestsrv``, a DNS server whose TXT answers a
  test sets through its management API (a resolver the back-end does not write to);
- ``Pebble``: Debian's ``pebble`` ACME server, TLS with a certificate made here,
  resolving DNS-01 names through one of the two above (``-dnsserver``).

A missing binary fails the test with the install command (never a skip).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import dns.message
import dns.query
import dns.rdatatype
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from cucmkit.ca.acme import AcmeCa, new_account_key
from cucmkit.ca.dns01 import challenge_name

ZONE = "lab.example"
_S = TypeVar("_S")
FILE_ZONE = "files.lab.example"     # a zone BIND reads from its file only (edited by lexicon's localzone)
TSIG_NAME = "cucmkit-acme"


def need(binary: str, package: str) -> str:
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if path is None:
        pytest.fail(f"{binary} is not installed: apt-get install -y --no-install-recommends {package} "
                    "(scripts/setup does this when run as root)")
    return path


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (DNS listens on both)."""
    for _ in range(50):
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return int(port)
    raise RuntimeError("no free port")


def _wait(check: Any, what: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if check():
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up in {timeout}s:\n{log.read_text(errors='replace')[-3000:]}")


def _soa(port: int) -> bool:
    answer = dns.query.udp(dns.message.make_query(ZONE, dns.rdatatype.SOA), "127.0.0.1", port=port, timeout=1)
    return bool(answer.answer)


def _retried(start: Callable[[int], _S], attempts: int = 3) -> _S:
    """Start a server, again on other ports if another process took a free port meanwhile."""
    for attempt in range(1, attempts + 1):
        try:
            return start(attempt)
        except RuntimeError as exc:
            if attempt == attempts or "in use" not in str(exc):
                raise
    raise AssertionError("unreachable")


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class Bind(Server):
    port: int = 0
    tsig_secret: str = ""
    folder: Path = field(default_factory=Path)

    @classmethod
    def start(cls, folder: Path) -> Bind:
        return _retried(lambda attempt: cls._start_once(folder / f"try{attempt}"))

    @classmethod
    def _start_once(cls, folder: Path) -> Bind:
        named = need("named", "bind9")
        folder.mkdir(parents=True, exist_ok=True)
        port, secret = free_port(), base64.b64encode(secrets.token_bytes(32)).decode()
        (folder / f"{ZONE}.zone").write_text(
            f"$TTL 60\n@ IN SOA ns.{ZONE}. hostmaster.{ZONE}. 1 60 60 600 60\n"
            f"@ IN NS ns.{ZONE}.\nns IN A 127.0.0.1\n")
        (folder / f"{FILE_ZONE}.zone").write_text(
            f"$ORIGIN {FILE_ZONE}.\n$TTL 60\n@ IN SOA ns.{ZONE}. hostmaster.{ZONE}. 1 60 60 600 60\n"
            f"@ IN NS ns.{ZONE}.\n")
        conf = folder / "named.conf"
        conf.write_text(
            f'options {{ directory "{folder}"; listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};\n'
            f'  pid-file "{folder}/named.pid"; session-keyfile "{folder}/session.key"; recursion no;\n'
            f'  dnssec-validation no; allow-query {{ any; }}; notify no; }};\n'
            f'controls {{ }};\n'
            f'key "{TSIG_NAME}" {{ algorithm hmac-sha256; secret "{secret}"; }};\n'
            f'zone "{ZONE}" {{ type primary; file "{folder}/{ZONE}.zone";\n'
            f'  update-policy {{ grant {TSIG_NAME} zonesub TXT; }}; }};\n'
            f'zone "{FILE_ZONE}" {{ type primary; file "{folder}/{FILE_ZONE}.zone"; }};\n')
        log = folder / "named.log"
        proc = subprocess.Popen([named, "-g", "-4", "-c", str(conf)], stdout=log.open("wb"),
                                stderr=subprocess.STDOUT, cwd=folder)
        server = cls(proc, log, port, secret, folder)
        try:
            _wait(lambda: _soa(port), "named", proc, log)
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def file_zone(self) -> Path:
        return self.folder / f"{FILE_ZONE}.zone"

    def reload(self) -> None:
        """Re-read changed zone files (SIGHUP), as a hosted DNS applies an API change on its own."""
        self.proc.send_signal(signal.SIGHUP)

    def txt(self, name: str) -> set[str]:
        answer = dns.query.udp(dns.message.make_query(name, dns.rdatatype.TXT), "127.0.0.1", port=self.port,
                               timeout=2)
        return {b"".join(r.strings).decode() for rrset in answer.answer for r in rrset}


@dataclass
class ChallTestSrv(Server):
    port: int = 0
    management: int = 0

    @classmethod
    def start(cls, folder: Path) -> ChallTestSrv:
        return _retried(lambda attempt: cls._start_once(folder / f"try{attempt}"))

    @classmethod
    def _start_once(cls, folder: Path) -> ChallTestSrv:
        binary = need("pebble-challtestsrv", "pebble")
        folder.mkdir(parents=True, exist_ok=True)
        port, management = free_port(), free_port()
        log = folder / "challtestsrv.log"
        proc = subprocess.Popen([binary, "-dns01", f"127.0.0.1:{port}", "-management", f"127.0.0.1:{management}",
                                 "-http01", "", "-https01", "", "-tlsalpn01", ""],
                                stdout=log.open("wb"), stderr=subprocess.STDOUT)
        server = cls(proc, log, port, management)
        try:
            _wait(lambda: requests.post(f"http://127.0.0.1:{management}/clear-txt",
                                        json={"host": "x."}, timeout=1).ok, "pebble-challtestsrv", proc, log)
        except BaseException:
            server.stop()
            raise
        return server

    def clear_txt(self, name: str) -> None:
        requests.post(f"http://127.0.0.1:{self.management}/clear-txt", json={"host": name + "."},
                      timeout=5).raise_for_status()

    def set_txt(self, name: str, value: str) -> None:
        requests.post(f"http://127.0.0.1:{self.management}/set-txt", json={"host": name + ".", "value": value},
                      timeout=5).raise_for_status()


def _tls_cert(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble test listener")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "listener.pem", folder / "listener.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Pebble(Server):
    port: int = 0
    management: int = 0
    folder: Path = field(default_factory=Path)
    tls_cert: Path = field(default_factory=Path)
    root: Path = field(default_factory=Path)

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    @classmethod
    def start(cls, folder: Path, *, dns_port: int, nonce_reject: int = 0, eab: dict[str, str] | None = None,
              ) -> Pebble:
        return _retried(lambda attempt: cls._start_once(folder / f"try{attempt}", dns_port=dns_port,
                                                        nonce_reject=nonce_reject, eab=eab))

    @classmethod
    def _start_once(cls, folder: Path, *, dns_port: int, nonce_reject: int, eab: dict[str, str] | None) -> Pebble:
        binary = need("pebble", "pebble")
        folder.mkdir(parents=True, exist_ok=True)
        cert, key = _tls_cert(folder)
        port, management = free_port(), free_port()
        config = {"pebble": {"listenAddress": f"127.0.0.1:{port}", "managementListenAddress": f"127.0.0.1:{management}",
                             "certificate": str(cert), "privateKey": str(key), "httpPort": free_port(),
                             "tlsPort": free_port(), "ocspResponderURL": "",
                             "externalAccountBindingRequired": bool(eab), "externalAccountMACKeys": eab or {}}}
        (folder / "pebble.json").write_text(json.dumps(config))
        env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_VA_ALWAYS_VALID": "0",
               "PEBBLE_WFE_NONCEREJECT": str(nonce_reject), "PEBBLE_AUTHZREUSE": "0"}
        log = folder / "pebble.log"
        proc = subprocess.Popen([binary, "-config", str(folder / "pebble.json"), "-dnsserver", f"127.0.0.1:{dns_port}"],
                                stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, cwd=folder)
        server = cls(proc, log, port, management, folder, cert, folder / "root.pem")
        try:
            _wait(lambda: requests.get(server.directory, verify=str(cert), timeout=1).ok, "pebble", proc, log)
            server.root.write_text(server.management_get("/roots/0"))
        except BaseException:
            server.stop()
            raise
        return server

    def management_get(self, path: str) -> str:
        response = requests.get(f"https://127.0.0.1:{self.management}{path}", verify=str(self.tls_cert), timeout=5)
        response.raise_for_status()
        return response.text

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


# ---- fixtures (import them into a test module) ---------------------------------------------------


@pytest.fixture(scope="module")
def bind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bind]:
    server = Bind.start(tmp_path_factory.mktemp("bind"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory, bind: Bind) -> Iterator[Pebble]:
    server = Pebble.start(tmp_path_factory.mktemp("pebble"), dns_port=bind.port)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChallTestSrv]:
    """The CA's own view of DNS (split horizon): a server the back-end does not write to."""
    server = ChallTestSrv.start(tmp_path_factory.mktemp("challtestsrv"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def split_pebble(tmp_path_factory: pytest.TempPathFactory, split: ChallTestSrv) -> Iterator[Pebble]:
    server = Pebble.start(tmp_path_factory.mktemp("pebble-split"), dns_port=split.port)
    yield server
    server.stop()


# ---- the back-end, CSRs and what an issued chain must be ----------------------------------------


def acme_section(tmp: Path, pebble: Pebble, bind: Bind, **overrides: Any) -> dict[str, Any]:
    """A parameter file's ``ca:`` section for pebble + BIND, secrets in 0600 files under ``tmp``."""
    secrets = tmp / "secrets"
    secrets.mkdir(exist_ok=True)
    for name, value in (("acme_account", new_account_key()), ("tsig", bind.tsig_secret)):
        path = secrets / name
        if not path.exists():
            path.write_text(value + "\n")
            path.chmod(0o600)
    section: dict[str, Any] = {
        "backend": "acme", "directory": pebble.directory, "account_key": {"file": str(secrets / "acme_account")},
        "contact": "uc-team@lab.example", "ca_bundle": str(pebble.tls_cert), "root_ca": str(pebble.root),
        "dns": {"provider": "rfc2136", "server": "127.0.0.1", "port": bind.port, "zone": ZONE,
                "tsig_key_name": TSIG_NAME, "tsig_secret": {"file": str(secrets / "tsig")},
                "tsig_algorithm": "hmac-sha256", "nameservers": [f"127.0.0.1:{bind.port}"]},
        "propagation_timeout": 10, "propagation_interval": 0.2, "wait_seconds": 30,
        "state_dir": str(tmp / "acme-state"),
    }
    section.update(overrides)
    return section


def make_ca(tmp: Path, pebble: Pebble, bind: Bind, **overrides: Any) -> AcmeCa:
    return AcmeCa.from_section(acme_section(tmp, pebble, bind, **overrides))


def make_csr(*names: str, cn: str | None = None, key: Any = None) -> str:
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn or names[0])]))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def certificates(files: list[bytes]) -> list[x509.Certificate]:
    return [c for blob in files for c in x509.load_pem_x509_certificates(blob)]


def assert_issued_for(files: list[bytes] | None, csr_pem: str, pebble: Pebble) -> x509.Certificate:
    assert files is not None
    certs = certificates(files)
    leaf, root = certs[0], certs[-1]
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    assert leaf.public_key() == csr.public_key()                     # the CSR's key: it never left the node
    wanted = set(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName))
    got = set(leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName))
    assert got == wanted
    assert root == x509.load_pem_x509_certificate(pebble.root.read_bytes())  # root_ca appended
    assert len(certs) == 3                                           # leaf, intermediate, root
    return leaf


def no_challenge_records(bind: Bind, *names: str) -> bool:
    return all(not bind.txt(challenge_name(n)) for n in names)


