"""Certificates for the watch's unit tests, built with cryptography builders (exact notAfter, fixed clock)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from cucmkit.certs.records import CertRecord, record_from_pem
from cucmkit.params import ClusterParams, load_parameters

NOW = dt.datetime(2026, 11, 27, 12, 0, 0, tzinfo=dt.UTC)


@cache
def key(slot: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class Made:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def fingerprint(self) -> str:
        return self.cert.fingerprint(hashes.SHA256()).hex()


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make(cn: str, *, not_after: dt.datetime, issuer: Made | None = None, ca: bool = False, slot: int = 0) -> Made:
    """A certificate valid until ``not_after``: self-signed without ``issuer``, else signed by it."""
    own = key(slot)
    builder = (x509.CertificateBuilder().subject_name(_name(cn))
               .issuer_name(issuer.cert.subject if issuer else _name(cn)).public_key(own.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(NOW - dt.timedelta(days=400))
               .not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    return Made(builder.sign(issuer.key if issuer else own, hashes.SHA256()), own)


def record(made: Made, *, node: str, store: str = "own", purpose: str | None = None) -> CertRecord:
    return record_from_pem(made.pem, node=node, store=store, purpose=purpose,
                           filename=f"{purpose}.pem" if store == "own" else "x.pem")


def params(cluster: str = "c1", *, imp: bool = True, threshold: int = 60, keep: list[str] | None = None) -> ClusterParams:
    nodes: list[dict[str, Any]] = [{"fqdn": "pub.c1.example", "role": "publisher"},
                                   {"fqdn": "sub.c1.example", "role": "subscriber"}]
    if imp:
        nodes.append({"fqdn": "imp.c1.example", "role": "publisher", "kind": "IM&P"})
    ref = {"username": "u", "password": {"env": "WATCH_TEST_UNUSED"}}
    data: dict[str, Any] = {"cluster": cluster, "nodes": nodes, "credentials": {"os_admin": ref, "app_user": ref},
                            "expiry_threshold_days": threshold}
    if keep:
        data["trust"] = {"keep": keep}
    return load_parameters(data, check_secrets=False)
