"""Partners: the chain each system around CUCM needs, and a TLS check that it trusts the new chain.

``export_partner_files(partner, chain, folder)`` writes, per partner, one PEM bundle and one file per CA
certificate (root first), named for where they go (``<partner>-<destination>-bundle.pem``,
``<partner>-<destination>-1-root-<cn>.pem`` ...), and returns the paste instructions for that kind of system
(``cucmkit.trust.config.PARTNER_KINDS``): the Expressway, CUBE and IdP uploads stay manual.

``check_partner(partner, probe)`` connects to the partner's endpoint and presents a *probe* certificate issued by
the new CA (``issue_probe``: a fresh key, a CSR for ``cucmkit-probe.<domain>``, the cluster's CA back-end) with
the new chain, as a client certificate. A partner that does not trust the chain aborts the handshake (an
``unknown ca`` / ``bad certificate`` / ``certificate required`` alert): the check fails and the rotation stops
before any identity is issued from the new CA. The probe key lives only in memory and in a 0600 temporary file
for the length of one handshake. The partner's own server certificate is not verified: the check is about what
the partner accepts, and it sends nothing secret.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from cucmkit.ca import CaBackend
from cucmkit.certs.chain import self_issued
from cucmkit.certs.intake import load_bytes
from cucmkit.errors import CertificateError, WaitingError
from cucmkit.trust.config import PartnerParams

__all__ = ["Probe", "PartnerExport", "PartnerCheck", "export_partner_files", "check_partner", "issue_probe",
           "ordered_root_first", "PROBE_PURPOSE"]

PROBE_PURPOSE = "tomcat"    # the probe is issued like a tomcat certificate: serverAuth + clientAuth


@dataclass(frozen=True)
class Probe:
    """A certificate issued by the new CA, its chain, and its private key (memory only, never written to evidence)."""

    leaf_pem: str
    chain_pems: tuple[str, ...]
    key_pem: str

    def __repr__(self) -> str:
        return f"Probe(chain={len(self.chain_pems)} certificate(s))"


@dataclass(frozen=True)
class PartnerExport:
    partner: str
    title: str
    bundle: Path
    files: tuple[Path, ...]
    instructions: tuple[str, ...]


@dataclass(frozen=True)
class PartnerCheck:
    partner: str
    trusted: bool | None      # None: no endpoint given, not checked
    detail: str
    required: bool = True

    @property
    def blocks(self) -> bool:
        """A required partner that refused the chain, or could not be checked."""
        return self.required and self.trusted is not True


def ordered_root_first(chain_pems: Sequence[str]) -> list[x509.Certificate]:
    """The CA certificates of a chain, root (self-issued) first, then each one's child."""
    certs = [x509.load_pem_x509_certificate(p.encode()) for p in chain_pems]
    ordered = [c for c in certs if self_issued(c)]
    rest = [c for c in certs if not self_issued(c)]
    while rest:
        below = [c for c in rest if any(c.issuer == o.subject for o in ordered)] or rest[:1]
        ordered += below
        rest = [c for c in rest if c not in below]
    return ordered


def export_partner_files(partner: PartnerParams, chain_pems: Sequence[str], folder: Path) -> PartnerExport:
    """The bundle and per-certificate files for ``partner`` under ``folder``, and what to paste where."""
    facts = partner.facts
    folder.mkdir(parents=True, exist_ok=True)
    certs = ordered_root_first(chain_pems)
    stem = f"{partner.name}-{facts.destination}"
    files = []
    for index, cert in enumerate(certs, start=1):
        role = "root" if self_issued(cert) else "issuing"
        path = folder / f"{stem}-{index}-{role}-{_slug(_cn(cert))}.pem"
        path.write_text(_pem(cert))
        files.append(path)
    bundle = folder / f"{stem}-bundle.pem"
    bundle.write_text("".join(_pem(c) for c in certs))
    names = ", ".join(p.name for p in files)
    steps = tuple(step.format(bundle=bundle.name, files=names, root=files[0].name if files else "")
                  for step in facts.steps)
    return PartnerExport(partner=partner.name, title=facts.title, bundle=bundle, files=tuple(files),
                         instructions=steps)


def check_partner(partner: PartnerParams, probe: Probe | None, *, timeout: float = 10.0) -> PartnerCheck:
    """Present ``probe`` (the new chain) to the partner's TLS endpoint; trusted only if it accepts it."""
    if not partner.checkable:
        return PartnerCheck(partner.name, None, "no endpoint in the parameter file: confirm by hand",
                            partner.required)
    if probe is None:
        return PartnerCheck(partner.name, None, "no probe certificate from the new CA to present",
                            partner.required)
    try:
        detail = _handshake(partner, probe, timeout)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as exc:
        return PartnerCheck(partner.name, False, f"refused the new chain ({_reason(exc)})", partner.required)
    except OSError as exc:
        return PartnerCheck(partner.name, None, f"cannot connect to {partner.address}:{partner.port} ({exc})",
                            partner.required)
    return PartnerCheck(partner.name, True, detail, partner.required)


def _handshake(partner: PartnerParams, probe: Probe, timeout: float) -> str:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE          # we test what the partner accepts, not who it is
    with tempfile.TemporaryDirectory(prefix="cucmkit-probe-") as tmp:
        cert_file, key_file = Path(tmp) / "probe.pem", Path(tmp) / "probe.key"
        cert_file.write_text(probe.leaf_pem + "".join(probe.chain_pems))
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(probe.key_pem)
        context.load_cert_chain(str(cert_file), str(key_file))
    assert partner.address is not None and partner.port is not None
    with socket.create_connection((partner.address, partner.port), timeout=timeout) as raw, \
            context.wrap_socket(raw, server_hostname=partner.server_name or partner.address) as tls:
        tls.settimeout(min(timeout, 3.0))
        try:
            first = tls.recv(64)       # a TLS 1.3 server rejects a client certificate after the handshake
        except TimeoutError:
            return "handshake accepted (no alert)"
    return "handshake accepted" + (f" ({first.decode(errors='replace').strip()})" if first else "")


def _reason(exc: OSError) -> str:
    text = getattr(exc, "reason", None) or str(exc)
    return str(text).lower().replace("_", " ")


def issue_probe(backend: CaBackend, *, node: str, domain: str, timeout: float = 60.0) -> Probe:
    """A probe certificate from the CA back-end: a new key, a CSR for ``cucmkit-probe.<domain>``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = f"cucmkit-probe.{domain}" if domain else "cucmkit-probe"
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    request = backend.submit(node, PROBE_PURPOSE, csr)
    files = _collect(backend, request, timeout)
    certs = [loaded.certificate for f in files for loaded in load_bytes(f, name="probe").certificates]
    spki = _spki(key.public_key())
    leaf = next((c for c in certs if _spki(c.public_key()) == spki), None)
    if leaf is None:
        raise CertificateError("the CA's answer for the partner probe holds no certificate for the probe key",
                               interface="ca", operation="partner probe")
    chain = tuple(_pem(c) for c in certs if c is not leaf)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return Probe(leaf_pem=_pem(leaf), chain_pems=chain, key_pem=key_pem)


def _collect(backend: CaBackend, request: str, timeout: float) -> list[bytes]:
    deadline = time.monotonic() + timeout
    while True:
        files = backend.collect(request)
        if files:
            return files
        if time.monotonic() > deadline:
            raise WaitingError("the CA has not issued the partner probe certificate yet",
                               remedy="approve the request on the CA, then run the partner check again.")
        time.sleep(0.5)


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER,  # type: ignore[attr-defined, no-any-return]
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _cn(cert: x509.Certificate) -> str:
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else cert.subject.rfc4514_string()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_") or "ca"
