"""Test material built with cryptography builders: good chains, and every way a CA gets it wrong.

``Pki`` makes roots, intermediates, leaves and CSRs with explicit knobs; ``good(purpose)``
returns a correct bundle for a purpose; the encoders re-shape material the ways CAs do
(PEM, DER, PKCS#7 PEM/DER, ZIP, CRLF, BOM).
"""

from __future__ import annotations

import io
import ipaddress
import zipfile
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from cucmkit import catalogue

__all__ = [
    "NOW", "Pki", "Bundle", "rsa_key", "ec_key", "fresh_rsa_key", "good", "csr_for", "pem", "der",
    "p7b_pem", "p7b_der", "zip_of", "crlf", "with_bom", "name", "sha1_resigned", "csr_pem", "sans", "key_usage", "FQDN",
]

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
FQDN = "cucm-pub.lab.example"


@cache
def rsa_key(bits: int = 2048, slot: int = 0) -> rsa.RSAPrivateKey:
    """Cached keys (slot picks a distinct key of the same size)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@cache
def ec_key(curve: str = "secp256r1", slot: int = 0) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key({"secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1()}[curve])


def fresh_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def name(cn: str, org: str = "Lab") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


_KU_ALL = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
           "key_cert_sign", "crl_sign")


def key_usage(*names: str) -> x509.KeyUsage:
    flags = {n: n in names for n in _KU_ALL}
    return x509.KeyUsage(**flags, encipher_only=False, decipher_only=False)


def sans(*entries: str) -> x509.SubjectAlternativeName:
    out: list[x509.GeneralName] = []
    for entry in entries:
        kind, _, value = entry.partition(":")
        out.append(x509.IPAddress(ipaddress.ip_address(value)) if kind == "IP" else x509.DNSName(value))
    return x509.SubjectAlternativeName(out)


@dataclass
class Pki:
    """Knob-driven builder. Every method returns a cryptography object."""

    now: datetime = NOW

    def root(self, cn: str = "Lab Root CA", *, key=None, days_before: float = 3650, days_after: float = 3650,
             hash_alg: hashes.HashAlgorithm | None = None, path_length: int | None = None, v1: bool = False,
             bc: bool = True) -> x509.Certificate:
        key = key or rsa_key(2048, 1)
        builder = self._base(name(cn), name(cn), key.public_key(), days_before, days_after)
        if not v1:
            if bc:
                builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            builder = builder.add_extension(key_usage("key_cert_sign", "crl_sign", "digital_signature"), critical=True)
            builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        return builder.sign(key, hash_alg or hashes.SHA256())

    def intermediate(self, issuer: x509.Certificate, issuer_key, cn: str = "Lab Issuing CA", *, key=None,
                     days_before: float = 1000, days_after: float = 1800, path_length: int | None = 0,
                     hash_alg=None, bc: bool = True) -> x509.Certificate:
        key = key or rsa_key(2048, 2)
        builder = self._base(name(cn), issuer.subject, key.public_key(), days_before, days_after)
        if bc:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        builder = builder.add_extension(key_usage("key_cert_sign", "crl_sign", "digital_signature"), critical=True)
        return builder.sign(issuer_key, hash_alg or hashes.SHA256())

    def leaf(self, issuer: x509.Certificate, issuer_key, public_key, *, cn: str = FQDN,
             san: tuple[str, ...] | None = None, ku: tuple[str, ...] | None = None,
             eku: tuple[str, ...] | None = None, bc: tuple[bool, int | None] | None = None,
             days_before: float = 1, days_after: float = 365, hash_alg=None,
             san_critical: bool = False, eku_critical: bool = False) -> x509.Certificate:
        builder = self._base(name(cn), issuer.subject, public_key, days_before, days_after)
        san = (f"DNS:{cn}",) if san is None else san
        if san:
            builder = builder.add_extension(sans(*san), critical=san_critical)
        if ku:
            builder = builder.add_extension(key_usage(*ku), critical=True)
        if eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage([x509.ObjectIdentifier(o) for o in eku]),
                                            critical=eku_critical)
        if bc is not None:
            builder = builder.add_extension(x509.BasicConstraints(ca=bc[0], path_length=bc[1]), critical=True)
        return builder.sign(issuer_key, hash_alg or hashes.SHA256())

    def _base(self, subject: x509.Name, issuer: x509.Name, public_key, days_before: float, days_after: float):
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(self.now - timedelta(days=days_before))
                .not_valid_after(self.now + timedelta(days=days_after)))


def csr_for(key, *, cn: str = FQDN, san: tuple[str, ...] | None = None) -> x509.CertificateSigningRequest:
    san = (f"DNS:{cn}",) if san is None else san
    builder = x509.CertificateSigningRequestBuilder().subject_name(name(cn))
    if san:
        builder = builder.add_extension(sans(*san), critical=False)
    return builder.sign(key, hashes.SHA256())


@dataclass
class Bundle:
    """A CA's answer: leaf, intermediates (leaf side first), root; the CSR and the keys used."""

    leaf: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]
    root: x509.Certificate | None
    csr: x509.CertificateSigningRequest
    leaf_key: object
    root_key: object = None
    int_key: object = None
    extra: tuple[x509.Certificate, ...] = field(default=())

    def certs(self) -> list[x509.Certificate]:
        items = [self.leaf, *self.intermediates, *([self.root] if self.root is not None else []), *self.extra]
        return items

    def with_(self, **changes) -> Bundle:
        return replace(self, **changes)


def _purpose_leaf_args(purpose: catalogue.Purpose) -> dict:
    args = {"ku": tuple(sorted(purpose.key_usage)), "eku": tuple(sorted(purpose.extended_key_usage))}
    if purpose.ca_required:
        args["bc"] = (True, purpose.path_length)
    return args


def good(purpose: str = "tomcat", *, pki: Pki | None = None, leaf_key=None, **leaf_overrides) -> Bundle:
    """A correct root + intermediate + leaf for ``purpose`` with its matching CSR."""
    pki = pki or Pki()
    p = catalogue.get(purpose)
    leaf_key = leaf_key or (ec_key("secp256r1") if p.key_type == "ec" else rsa_key(2048, 0))
    root_key, int_key = rsa_key(2048, 1), rsa_key(2048, 2)
    root = pki.root(key=root_key)
    inter = pki.intermediate(root, root_key, key=int_key)
    args = {**_purpose_leaf_args(p), **leaf_overrides}
    csr_san = args.pop("csr_san", None)
    csr_cn = args.pop("csr_cn", args.get("cn", FQDN))
    leaf = pki.leaf(inter, int_key, leaf_key.public_key(), **args)
    csr = csr_for(leaf_key, cn=csr_cn, san=csr_san if csr_san is not None else args.get("san"))
    return Bundle(leaf=leaf, intermediates=(inter,), root=root, csr=csr, leaf_key=leaf_key, root_key=root_key,
                  int_key=int_key)


# --- encoders ----------------------------------------------------------------------------------


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def p7b_pem(*certs: x509.Certificate) -> bytes:
    return pkcs7.serialize_certificates(list(certs), serialization.Encoding.PEM)


def p7b_der(*certs: x509.Certificate) -> bytes:
    return pkcs7.serialize_certificates(list(certs), serialization.Encoding.DER)


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return buf.getvalue()


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def with_bom(data: bytes) -> bytes:
    return b"\xef\xbb\xbf" + data


def csr_pem(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.PEM)


_SHA256_RSA = bytes.fromhex("300d06092a864886f70d01010b0500")
_SHA1_RSA = bytes.fromhex("300d06092a864886f70d0101050500")


def sha1_resigned(cert: x509.Certificate, key: rsa.RSAPrivateKey) -> x509.Certificate:
    """The same certificate signed with SHA-1 (cryptography's builder no longer signs SHA-1).

    sha256WithRSA and sha1WithRSA identifiers have the same length, and so do the
    signatures of one RSA key, so the DER keeps its shape: swap the identifiers,
    re-sign the TBS bytes, swap the signature.
    """
    from cryptography.hazmat.primitives.asymmetric import padding

    data = der(cert)
    assert data.count(_SHA256_RSA) == 2, "expected an RSA/SHA-256 certificate"
    tbs = cert.tbs_certificate_bytes.replace(_SHA256_RSA, _SHA1_RSA)
    signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    assert len(signature) == len(cert.signature)
    new = data.replace(_SHA256_RSA, _SHA1_RSA)
    new = new[: len(new) - len(signature)] + signature
    return x509.load_der_x509_certificate(new)
