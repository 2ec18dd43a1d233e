"""Fingerprints, in one place: certificates, public keys and SSH host keys.

- ``cert_sha256``: SHA-256 over a certificate's DER encoding, 64 lowercase hex
  characters (what ``openssl x509 -fingerprint -sha256`` shows, without colons).
- ``public_key_sha256``: SHA-256 over the SubjectPublicKeyInfo of a
  certificate's or a CSR's key (how the engine matches a certificate to its CSR).
- ``normalize_sha256``: the forms an engineer pastes (``AB:CD:..``, spaces,
  upper case) -> the canonical 64-hex form, ValueError otherwise.
- ``ssh_sha256`` / ``normalize_ssh_sha256``: OpenSSH's ``SHA256:<base64>`` form
  of a host key (as ``ssh-keygen -lf`` prints it).

Pure functions; no I/O. The lab keeps its own copy of nothing: it may import
this module (it is data about bytes, not a client).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from cryptography import x509
from cryptography.hazmat.primitives import serialization

__all__ = [
    "cert_sha256",
    "der_of",
    "normalize_sha256",
    "normalize_ssh_sha256",
    "public_key_sha256",
    "ssh_sha256",
]

_HEX64 = re.compile(r"[0-9a-f]{64}")


def der_of(cert: x509.Certificate | bytes | str) -> bytes:
    """The DER bytes of a certificate given as an object, DER bytes or PEM text."""
    if isinstance(cert, x509.Certificate):
        return cert.public_bytes(serialization.Encoding.DER)
    if isinstance(cert, str):
        return x509.load_pem_x509_certificate(cert.encode()).public_bytes(serialization.Encoding.DER)
    if cert.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(cert).public_bytes(serialization.Encoding.DER)
    return bytes(cert)


def cert_sha256(cert: x509.Certificate | bytes | str) -> str:
    """SHA-256 of the certificate's DER encoding, lowercase hex without colons."""
    return hashlib.sha256(der_of(cert)).hexdigest()


def public_key_sha256(item: x509.Certificate | x509.CertificateSigningRequest | str) -> str:
    """SHA-256 of the SubjectPublicKeyInfo of a certificate or CSR (object or PEM text)."""
    if isinstance(item, str):
        raw = item.encode()
        item = (x509.load_pem_x509_csr(raw) if b"CERTIFICATE REQUEST" in raw
                else x509.load_pem_x509_certificate(raw))
    der = item.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def normalize_sha256(value: str) -> str:
    """``AB:CD:..`` or ``abcd..`` -> 64 lowercase hex characters; ValueError otherwise."""
    text = value.replace(":", "").replace(" ", "").strip().lower()
    if not _HEX64.fullmatch(text):
        raise ValueError("a SHA-256 fingerprint is 64 hex characters (colons allowed)")
    return text


def ssh_sha256(key_blob: bytes) -> str:
    """OpenSSH's ``SHA256:<base64, no padding>`` fingerprint of a host key's wire blob (``PKey.asbytes()``)."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key_blob).digest()).decode("ascii").rstrip("=")


def normalize_ssh_sha256(value: str) -> str:
    """``SHA256:<base64>`` (as ssh-keygen -lf shows) or 64 hex characters -> ``SHA256:<base64, no padding>``."""
    text = value.strip()
    body = text[7:] if text.upper().startswith("SHA256:") else text
    hexed = body.replace(":", "").lower()
    if _HEX64.fullmatch(hexed):
        raw = bytes.fromhex(hexed)
    else:
        try:
            raw = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
        except (ValueError, binascii.Error):
            raw = b""
    if len(raw) != 32:
        raise ValueError("an SSH host key fingerprint is SHA256:<43 base64 characters> or 64 hex characters")
    return "SHA256:" + base64.b64encode(raw).decode("ascii").rstrip("=")
