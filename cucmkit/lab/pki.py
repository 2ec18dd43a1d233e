"""The lab's PKI: key and certificate builders, the old and current lab CAs.

Two CAs live in a lab: the *old* CA (root + intermediate) that signed the
starting certificates, and the *current* CA that issues new ones (the CA a
renewal uses). ``LabCA`` wraps the current CA with the test API
(``issue`` with deliberate defects) and the AD CS request book
(submit / approve / deny), persisted under ``<state>/ca/``.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from cucmkit import catalogue
from cucmkit.fingerprints import cert_sha256

__all__ = [
    "PrivateKey",
    "new_key",
    "key_to_pem",
    "load_key",
    "cert_to_pem",
    "load_cert",
    "fingerprint",
    "common_name",
    "san_strings",
    "CaPair",
    "make_ca",
    "roll_ca",
    "bundle_roots",
    "build_cert",
    "self_signed",
    "unit_usages",
    "make_csr",
    "subject_name",
    "sign_with",
    "pooled_key",
    "CertSpec",
    "CaRequest",
    "LabCA",
    "utcnow",
]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
_KEY_POOL: dict[tuple[str, int, int], PrivateKey] = {}
_POOL_LOCK = threading.Lock()
_ORG = "Lab Example"
# AD CS's denial for a subject its policy refuses (CERTSRV_E_BAD_REQUESTSUBJECT); that a CA answers a -ms
# common name this way is [INF]: the seed only says some CAs do not accept -ms.
MS_REFUSED = ("The request subject name is invalid or too long. 0x80094001 (-2146877439 "
              "CERTSRV_E_BAD_REQUESTSUBJECT)")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_key(key_type: str = "rsa", size: int = 2048) -> PrivateKey:
    if key_type == "ec":
        curve = {256: ec.SECP256R1(), 384: ec.SECP384R1(), 521: ec.SECP521R1()}.get(size, ec.SECP384R1())
        return ec.generate_private_key(curve)
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def pooled_key(key_type: str, size: int, slot: int) -> PrivateKey:
    """A key for the lab's starting state, reused across labs in one process (tests start many)."""
    with _POOL_LOCK:
        key = _KEY_POOL.get((key_type, size, slot))
        if key is None:
            key = _KEY_POOL[(key_type, size, slot)] = new_key(key_type, size)
        return key


def key_to_pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@functools.lru_cache(maxsize=256)
def load_key(pem: str) -> PrivateKey:
    """Lab keys are our own: skip the (slow) RSA consistency check; cache repeats."""
    return serialization.load_pem_private_key(  # type: ignore[return-value]
        pem.encode(), password=None, unsafe_skip_rsa_key_validation=True)


def cert_to_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def load_cert(data: bytes | str) -> x509.Certificate:
    """PEM or DER -> certificate; ValueError when it is neither."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if b"-----BEGIN CERTIFICATE-----" in raw:
        return x509.load_pem_x509_certificate(raw)
    return x509.load_der_x509_certificate(raw)


def fingerprint(pem: str) -> str:
    """SHA-256 of a certificate, lowercase hex (``cucmkit.fingerprints.cert_sha256``)."""
    return cert_sha256(pem)


def common_name(cert: x509.Certificate | x509.Name) -> str:
    name = cert if isinstance(cert, x509.Name) else cert.subject
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def san_strings(obj: x509.Certificate | x509.CertificateSigningRequest) -> frozenset[str]:
    try:
        ext = obj.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return frozenset()
    dns = {f"DNS:{v.lower()}" for v in ext.get_values_for_type(x509.DNSName)}
    ips = {f"IP:{v}" for v in ext.get_values_for_type(x509.IPAddress)}
    return frozenset(dns | ips)


def _general_names(sans: list[str] | tuple[str, ...]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for san in sans:
        value = san.split(":", 1)[1] if san.startswith(("DNS:", "IP:")) else san
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(value)))
        except ValueError:
            out.append(x509.DNSName(value))
    return out


def subject_name(cn: str, *, ou: str | None = None, o: str = _ORG, l: str | None = None,  # noqa: E741
                 st: str | None = None, c: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    if o:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o))
    if l:
        attrs.append(x509.NameAttribute(NameOID.LOCALITY_NAME, l))
    if st:
        attrs.append(x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, st))
    if c:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, c))
    return x509.Name(attrs)


def unit_usages(unit: str, key_type: str = "rsa") -> tuple[frozenset[str], frozenset[str], bool]:
    """(key usages, extended key usages, is CA) the catalogue requires for ``unit``.

    The CA signs with what the catalogue says, so a purpose added there is signed right here too.
    ``key_type`` is kept for callers: the catalogue has one entry per key type (the -ECDSA purposes).
    ValueError (AD CS's wording) for a unit the catalogue does not know.
    """
    try:
        purpose = catalogue.get(unit)
    except ValueError as exc:
        raise ValueError(f"The requested certificate template is not supported by this CA ({unit}). "
                         "0x80094800 (-2146875392 CERTSRV_E_UNSUPPORTED_CERT_TYPE)") from exc
    return purpose.key_usage, purpose.extended_key_usage, purpose.ca_required


_KU_FIELDS = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
              "key_agreement", "key_cert_sign", "crl_sign")


def _key_usage(names: frozenset[str]) -> x509.KeyUsage:
    flags = {f: (f in names) for f in _KU_FIELDS}
    return x509.KeyUsage(**flags, encipher_only=False, decipher_only=False)


@dataclass(frozen=True)
class CertSpec:
    """Everything a certificate may carry; builders fill it, overrides bend it."""

    subject: x509.Name
    public_key: Any
    sans: tuple[str, ...] = ()
    key_usage: frozenset[str] | None = None
    eku: frozenset[str] | None = None
    is_ca: bool = False
    path_length: int | None = None
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    hash_name: str = "sha256"


def build_cert(spec: CertSpec, *, issuer: x509.Name, issuer_key: PrivateKey,
               issuer_public_key: Any = None) -> x509.Certificate:
    now = utcnow()
    nb = spec.not_before or now - dt.timedelta(minutes=5)
    na = spec.not_after or nb + dt.timedelta(days=730)
    builder = (
        x509.CertificateBuilder()
        .subject_name(spec.subject)
        .issuer_name(issuer)
        .public_key(spec.public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(nb)
        .not_valid_after(na)
        .add_extension(x509.BasicConstraints(ca=spec.is_ca, path_length=spec.path_length if spec.is_ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(spec.public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key or issuer_key.public_key()),
                       critical=False)
    )
    if spec.sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(_general_names(spec.sans)), critical=False)
    if spec.key_usage is not None:
        builder = builder.add_extension(_key_usage(spec.key_usage), critical=True)
    if spec.eku:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.ObjectIdentifier(o) for o in sorted(spec.eku)]), critical=False)
    algo = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512(),
            "sha1": hashes.SHA1()}.get(spec.hash_name)
    if algo is None:
        raise ValueError(f"unknown hash {spec.hash_name!r}")
    try:
        return builder.sign(issuer_key, algo)
    except UnsupportedAlgorithm as exc:  # cryptography >= 45 no longer signs with sha1
        raise ValueError(f"this cryptography build cannot sign with {spec.hash_name}") from exc


def self_signed(*, cn: str, key: PrivateKey, unit: str | None = None, sans: tuple[str, ...] = (),
                days: float = 1825, not_before: dt.datetime | None = None, ou: str | None = None,
                is_ca: bool = False) -> str:
    key_type = "ec" if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa"
    ku, eku, unit_ca = unit_usages(unit, key_type) if unit else (None, None, False)
    nb = not_before or utcnow() - dt.timedelta(days=1)
    is_ca = is_ca or unit_ca
    if is_ca and ku is not None:
        ku = ku | {"key_cert_sign"}
    spec = CertSpec(subject=subject_name(cn, ou=ou), public_key=key.public_key(), sans=sans,
                    key_usage=ku, eku=eku, is_ca=is_ca, path_length=0 if unit_ca else None,
                    not_before=nb, not_after=utcnow() + dt.timedelta(days=days))
    return cert_to_pem(build_cert(spec, issuer=spec.subject, issuer_key=key))


@dataclass(frozen=True)
class CaPair:
    """A CA: self-signed root and one intermediate, PEM text."""

    label: str
    root_pem: str
    root_key_pem: str = field(repr=False)
    inter_pem: str = field(repr=False)
    inter_key_pem: str = field(repr=False)
    cross_pem: str = field(default="", repr=False)   # this root's key certified by the previous root (rollover)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for name in ("root_pem", "root_key_pem", "inter_pem", "inter_key_pem", "cross_pem"):
            if not getattr(self, name):
                continue
            path = directory / name.replace("_pem", ".pem")
            path.write_text(getattr(self, name))
            if "key" in name:
                path.chmod(0o600)
        (directory / "label").write_text(self.label)

    @classmethod
    def load(cls, directory: Path) -> CaPair:
        read = lambda n: (directory / n).read_text()  # noqa: E731
        cross = directory / "cross.pem"
        return cls(label=read("label"), root_pem=read("root.pem"), root_key_pem=read("root_key.pem"),
                   inter_pem=read("inter.pem"), inter_key_pem=read("inter_key.pem"),
                   cross_pem=cross.read_text() if cross.exists() else "")


def make_ca(label: str, *, not_before: dt.datetime | None = None, days: float = 3650, slot: int = 0) -> CaPair:
    """A root + intermediate named ``<label> Root CA`` / ``<label> Issuing CA``."""
    nb = not_before or utcnow() - dt.timedelta(days=30)
    na = utcnow() + dt.timedelta(days=days)
    root_key = pooled_key("rsa", 2048, 1000 + slot)
    inter_key = pooled_key("rsa", 2048, 1001 + slot)
    root_name = subject_name(f"{label} Root CA", ou="PKI")
    inter_name = subject_name(f"{label} Issuing CA", ou="PKI")
    ca_ku = frozenset({"key_cert_sign", "crl_sign", "digital_signature"})
    root = build_cert(CertSpec(subject=root_name, public_key=root_key.public_key(), key_usage=ca_ku,
                               is_ca=True, path_length=1, not_before=nb, not_after=na),
                      issuer=root_name, issuer_key=root_key)
    inter = build_cert(CertSpec(subject=inter_name, public_key=inter_key.public_key(), key_usage=ca_ku,
                                is_ca=True, path_length=0, not_before=nb, not_after=na - dt.timedelta(days=1)),
                       issuer=root_name, issuer_key=root_key)
    return CaPair(label=label, root_pem=cert_to_pem(root), root_key_pem=key_to_pem(root_key),
                  inter_pem=cert_to_pem(inter), inter_key_pem=key_to_pem(inter_key))


_CA_USAGES = frozenset({"key_cert_sign", "crl_sign", "digital_signature"})


def roll_ca(previous: CaPair, *, label: str, new_root: bool = True, same_cn: bool = False,
            cross_sign: bool = False, slot: int = 10, days: float = 3650) -> CaPair:
    """The CA after a rollover: a new issuing CA, under a new root unless ``new_root`` is False.

    ``same_cn`` keeps the previous CA names (a new key under the same CN: what CUCM's one-certificate-per-CN
    trust stores cannot hold side by side); ``cross_sign`` certifies the new root's key with the previous root.
    """
    now = utcnow()
    old_root, old_root_key = load_cert(previous.root_pem), load_key(previous.root_key_pem)
    if new_root:
        root_key = pooled_key("rsa", 2048, 1000 + slot)
        root_name = old_root.subject if same_cn else subject_name(f"{label} Root CA", ou="PKI")
        root = build_cert(CertSpec(subject=root_name, public_key=root_key.public_key(), key_usage=_CA_USAGES,
                                   is_ca=True, path_length=1, not_before=now - dt.timedelta(minutes=10),
                                   not_after=now + dt.timedelta(days=days)), issuer=root_name, issuer_key=root_key)
    else:
        root, root_key, root_name = old_root, old_root_key, old_root.subject
    inter_key = pooled_key("rsa", 2048, 1001 + slot)
    inter_name = load_cert(previous.inter_pem).subject if same_cn else subject_name(f"{label} Issuing CA", ou="PKI")
    inter = build_cert(CertSpec(subject=inter_name, public_key=inter_key.public_key(), key_usage=_CA_USAGES,
                                is_ca=True, path_length=0, not_before=now - dt.timedelta(minutes=10),
                                not_after=min(root.not_valid_after_utc, now + dt.timedelta(days=days - 1))),
                       issuer=root_name, issuer_key=root_key)
    cross = ""
    if cross_sign and new_root:
        cross = cert_to_pem(build_cert(CertSpec(subject=root_name, public_key=root_key.public_key(),
                                                key_usage=_CA_USAGES, is_ca=True, path_length=1,
                                                not_before=now - dt.timedelta(minutes=10),
                                                not_after=old_root.not_valid_after_utc),
                                       issuer=old_root.subject, issuer_key=old_root_key))
    return CaPair(label=label, root_pem=cert_to_pem(root), root_key_pem=key_to_pem(root_key),
                  inter_pem=cert_to_pem(inter), inter_key_pem=key_to_pem(inter_key), cross_pem=cross)


def bundle_roots(ca_dir: Path) -> str:
    """Every lab root under ``<state>/ca/`` (current first, then old and retired ones), one PEM text, no repeats."""
    order = sorted((d for d in ca_dir.iterdir() if (d / "root.pem").exists()),
                   key=lambda d: (d.name != "current", d.name))
    roots: list[str] = []
    for directory in order:
        pem = (directory / "root.pem").read_text()
        if pem not in roots:
            roots.append(pem)
    return "".join(roots)


def sign_with(pair: CaPair, *, subject: x509.Name, public_key: Any, unit: str | None, sans: tuple[str, ...],
              not_before: dt.datetime | None = None, not_after: dt.datetime | None = None) -> str:
    """A leaf for ``unit`` signed by the pair's intermediate with the unit's usages."""
    key_type = "ec" if isinstance(public_key, ec.EllipticCurvePublicKey) else "rsa"
    ku, eku, is_ca = unit_usages(unit, key_type) if unit else (None, None, False)
    spec = CertSpec(subject=subject, public_key=public_key, sans=sans, key_usage=ku, eku=eku,
                    is_ca=is_ca, path_length=0 if is_ca else None, not_before=not_before, not_after=not_after)
    inter = load_cert(pair.inter_pem)
    return cert_to_pem(build_cert(spec, issuer=inter.subject, issuer_key=load_key(pair.inter_key_pem)))


def make_csr(*, key: PrivateKey, cn: str, sans: tuple[str, ...] = (), ou: str | None = None,
             o: str = _ORG, l: str | None = None, st: str | None = None, c: str | None = None) -> str:  # noqa: E741
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject_name(cn, ou=ou, o=o, l=l, st=st, c=c))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(_general_names(sans)), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


# ---------------------------------------------------------------- the lab CA


@dataclass(frozen=True)
class CaRequest:
    """One AD CS request: status is "issued", "pending" or "denied"."""

    req_id: int
    status: str
    purpose: str
    csr_pem: str
    template: str
    leaf_pem: str | None = None


@dataclass
class _Book:
    next_id: int = 1
    requests: dict[int, CaRequest] = field(default_factory=dict)


class LabCA:
    """The current lab CA: issues certificates (good or deliberately bad) and runs the AD CS book."""

    def __init__(self, *, pair: CaPair, old: CaPair | None = None, directory: Path | None = None,
                 knobs: Any = None) -> None:
        self.pair = pair
        self.old = old
        self.directory = directory
        self.knobs = knobs
        self._lock = threading.RLock()
        self._book = _Book()
        self._load()

    @property
    def root_pem(self) -> str:
        return self.pair.root_pem

    @property
    def intermediate_pem(self) -> str:
        return self.pair.inter_pem

    def chain(self) -> list[str]:
        """Intermediate then root."""
        return [self.pair.inter_pem, self.pair.root_pem]

    # -- issuing

    def issue(self, csr_pem: str, purpose: str, **overrides: Any) -> tuple[str, list[str]]:
        """Sign ``csr_pem`` for ``purpose`` -> (leaf PEM, [intermediate, root]).

        Overrides make deliberately bad certificates: ``extra_sans`` (list),
        ``sans`` (replace the list), ``no_san=True``, ``wrong_key=True``
        (or ``public_key=...``), ``expired=True``, ``not_yet_valid=True``,
        ``not_before``/``not_after``/``days``, ``key_usage`` (set of names),
        ``no_data_encipherment=True``, ``eku`` (set of OIDs), ``wildcard=True``,
        ``hash="sha384"`` (sha1: ValueError, cryptography no longer signs it), ``common_name``,
        ``signer="old"|"self"``, ``is_ca``, ``path_length``.
        """
        csr = x509.load_pem_x509_csr(csr_pem.encode() if isinstance(csr_pem, str) else csr_pem)
        spec = self._spec(csr, purpose, overrides)
        signer = overrides.get("signer", "current")
        if signer == "self":
            key = new_key("rsa", 2048)
            spec = CertSpec(**{**spec.__dict__, "public_key": key.public_key()})
            return cert_to_pem(build_cert(spec, issuer=spec.subject, issuer_key=key)), []
        pair = self.old if signer == "old" and self.old else self.pair
        inter = load_cert(pair.inter_pem)
        leaf = build_cert(spec, issuer=inter.subject, issuer_key=load_key(pair.inter_key_pem))
        return cert_to_pem(leaf), [pair.inter_pem, pair.root_pem]

    def _spec(self, csr: x509.CertificateSigningRequest, purpose: str, ov: dict[str, Any]) -> CertSpec:
        key_type = "ec" if isinstance(csr.public_key(), ec.EllipticCurvePublicKey) else "rsa"
        ku, eku, is_ca = unit_usages(purpose, key_type)
        sans = tuple(sorted(san_strings(csr)))
        subject = csr.subject
        if "sans" in ov:
            sans = tuple(ov["sans"])
        sans = sans + tuple(ov.get("extra_sans", ()))
        if ov.get("no_san"):
            sans = ()
        if ov.get("wildcard"):
            domain = common_name(csr.subject).split(".", 1)[-1]
            subject = subject_name(f"*.{domain}")
            sans = (f"DNS:*.{domain}",)
        if ov.get("common_name"):
            subject = subject_name(ov["common_name"])
        public_key = ov.get("public_key") or (new_key(key_type, 2048 if key_type == "rsa" else 384).public_key()
                                              if ov.get("wrong_key") else csr.public_key())
        if "key_usage" in ov:
            ku = frozenset(ov["key_usage"])
        if ov.get("no_data_encipherment"):
            ku = ku - {"data_encipherment"}
        now = utcnow()
        nb, na = ov.get("not_before"), ov.get("not_after")
        if ov.get("expired"):
            nb, na = now - dt.timedelta(days=400), now - dt.timedelta(days=1)
        if ov.get("not_yet_valid"):
            nb, na = now + dt.timedelta(days=10), now + dt.timedelta(days=400)
        if nb is None:
            nb = now - dt.timedelta(minutes=5)
        if na is None:
            na = nb + dt.timedelta(days=float(ov.get("days", 730)))
        return CertSpec(subject=subject, public_key=public_key, sans=sans, key_usage=ku,
                        eku=frozenset(ov.get("eku", eku)), is_ca=bool(ov.get("is_ca", is_ca)),
                        path_length=ov.get("path_length", 0 if is_ca else None),
                        not_before=nb, not_after=na, hash_name=str(ov.get("hash", "sha256")))

    # -- rollover

    def rollover(self, *, label: str | None = None, new_root: bool = True, same_cn: bool = False,
                 cross_sign: bool = False) -> CaPair:
        """Replace the current CA (kept as ``ca/retired-<n>/``); the bundle keeps every root. Returns the new CA."""
        with self._lock:
            retired = len(list(self.directory.glob("retired-*"))) + 1 if self.directory else 1
            new = roll_ca(self.pair, label=label or f"Lab G{retired + 1}", new_root=new_root, same_cn=same_cn,
                          cross_sign=cross_sign, slot=10 + 4 * retired)
            if self.directory is not None:
                self.pair.save(self.directory / f"retired-{retired}")
                new.save(self.directory / "current")
                if not new.cross_pem and (self.directory / "current" / "cross.pem").exists():
                    (self.directory / "current" / "cross.pem").unlink()
                (self.directory.parent / "ca-bundle.pem").write_text(bundle_roots(self.directory))
            self.pair = new
            return new

    # -- AD CS request book

    def submit(self, csr_pem: str, template: str) -> CaRequest:
        """File a request for template ``CUCM-<purpose>[-Pending]``; issue now unless it must wait."""
        purpose = template.removeprefix("CUCM-").removesuffix("-Pending")
        unit_usages(purpose)                    # an unknown template is refused now, like AD CS does
        try:
            csr = x509.load_pem_x509_csr(csr_pem.encode())
        except ValueError as exc:
            raise ValueError("The request is not a valid PKCS #10 certificate request") from exc
        if getattr(self.knobs, "ca_refuses_ms_cn", False) and common_name(csr.subject).split(".", 1)[0].endswith("-ms"):
            raise ValueError(MS_REFUSED)
        manual = template.endswith("-Pending") or str(getattr(self.knobs, "ca_approval", "auto")) == "manual"
        with self._lock:
            req_id = self._book.next_id
            self._book.next_id += 1
            req = CaRequest(req_id=req_id, status="pending", purpose=purpose, csr_pem=csr_pem, template=template)
            if not manual:
                req = self._issued(req)
            self._book.requests[req_id] = req
            self._save()
            return req

    def _issued(self, req: CaRequest) -> CaRequest:
        leaf, _ = self.issue(req.csr_pem, req.purpose, **self._knob_overrides(req.csr_pem))
        return CaRequest(**{**req.__dict__, "status": "issued", "leaf_pem": leaf})

    def _knob_overrides(self, csr_pem: str) -> dict[str, Any]:
        """Knob ``ca_drop_san``: a CA that leaves one DNS name (an FQDN, or a host of the CSR's SANs) out."""
        drop = str(getattr(self.knobs, "ca_drop_san", "") or "").strip().lower()
        if not drop:
            return {}
        names = sorted(san_strings(x509.load_pem_x509_csr(csr_pem.encode())))
        kept = [n for n in names if n.lower() not in (f"dns:{drop}",) and not n.lower().startswith(f"dns:{drop}.")]
        return {"sans": kept} if len(kept) < len(names) else {}

    def request(self, req_id: int) -> CaRequest | None:
        with self._lock:
            return self._book.requests.get(int(req_id))

    def pending(self) -> list[CaRequest]:
        with self._lock:
            return [r for r in self._book.requests.values() if r.status == "pending"]

    def approve(self, req_id: int) -> CaRequest:
        return self._decide(req_id, approve=True)

    def deny(self, req_id: int) -> CaRequest:
        return self._decide(req_id, approve=False)

    def _decide(self, req_id: int, *, approve: bool) -> CaRequest:
        with self._lock:
            req = self._book.requests.get(int(req_id))
            if req is None:
                raise KeyError(f"no CA request {req_id}")
            if req.status != "pending":
                raise ValueError(f"CA request {req_id} is {req.status}, not pending")
            req = self._issued(req) if approve else CaRequest(**{**req.__dict__, "status": "denied"})
            self._book.requests[req.req_id] = req
            self._save()
            return req

    def p7b(self, req_id: int) -> str:
        req = self.request(req_id)
        if req is None or req.leaf_pem is None:
            raise KeyError(f"no issued CA request {req_id}")
        certs = [load_cert(p) for p in (req.leaf_pem, self.pair.inter_pem, self.pair.root_pem)]
        return pkcs7.serialize_certificates(certs, serialization.Encoding.PEM).decode()

    # -- persistence

    def _file(self) -> Path | None:
        return self.directory / "requests.json" if self.directory else None

    def _save(self) -> None:
        path = self._file()
        if path is None:
            return
        data = {"next_id": self._book.next_id, "requests": [r.__dict__ for r in self._book.requests.values()]}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)

    def _load(self) -> None:
        path = self._file()
        if path is None or not path.exists():
            return
        data = json.loads(path.read_text())
        self._book = _Book(next_id=int(data["next_id"]),
                           requests={int(r["req_id"]): CaRequest(**r) for r in data["requests"]})
