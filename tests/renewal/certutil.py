"""Small certificate builders for the renewal unit tests (cryptography builders, no fakes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cucmkit.certs.records import CertRecord, record_from_pem

_KEY = ec.generate_private_key(ec.SECP256R1())


def record(cn: str, *, days_left: float, now: datetime, purpose: str = "tomcat") -> CertRecord:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(_KEY.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=300)).not_valid_after(now + timedelta(days=days_left))
            .sign(_KEY, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return record_from_pem(pem, node=cn, purpose=purpose)


NOW = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
