"""The lab team's evidence-signing pair: a small team CA and a signing certificate it issued.

``write_signing_pair(folder)`` writes ``team-ca.pem``, ``signing-cert.pem`` and
``signing-key.pem`` (mode 0600) once and reuses them, so the lab parameter file
can name them in its ``evidence`` section and the demo's evidence is signed.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["SigningPair", "write_signing_pair"]


@dataclass(frozen=True)
class SigningPair:
    ca: Path
    cert: Path
    key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cucmkit lab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=not ca, content_commitment=not ca, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                         encipher_only=False, decipher_only=False)


def _cert(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
          issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=825))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(_usage(ca=ca), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(issuer_key, hashes.SHA256()))


def write_signing_pair(folder: Path, *, team: str = "lab change team") -> SigningPair:
    """The team CA, the signing certificate and its key under ``folder`` (created once, then reused)."""
    pair = SigningPair(ca=folder / "team-ca.pem", cert=folder / "signing-cert.pem", key=folder / "signing-key.pem")
    if pair.ca.is_file() and pair.cert.is_file() and pair.key.is_file():
        return pair
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = _cert(_name(f"{team} CA"), ca_key, _name(f"{team} CA"), ca_key, ca=True)
    cert = _cert(_name(f"{team} evidence signing"), key, ca_cert.subject, ca_key, ca=False)
    pair.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(pair.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return pair
