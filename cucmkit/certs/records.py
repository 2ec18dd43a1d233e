"""Certificate records: one flat, frozen value per certificate for inventory and plans.

``record_from_pem`` parses a certificate (PEM text, possibly with text around it,
or DER bytes); ``record_from_show_cert`` parses CUCM's ``show cert own`` /
``show cert trust`` output, whose PEM block at the end is the source of truth
(the text lines above it are only a fallback when the PEM is missing).
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from cucmkit.errors import CertificateError
from cucmkit.fingerprints import cert_sha256

__all__ = [
    "CertRecord",
    "record_from_pem",
    "record_from_show_cert",
    "record_from_certificate",
    "key_description",
    "san_strings",
]

_CERT_MARKER = re.compile(rb"-----(BEGIN|END) (?:X509 |TRUSTED )?CERTIFICATE-----")


def _cert_blocks(data: bytes) -> list[bytes]:
    """The base64 bodies of the certificate PEM blocks, found in one linear pass over the markers."""
    bodies: list[bytes] = []
    start: int | None = None
    for marker in _CERT_MARKER.finditer(data):
        if marker.group(1) == b"BEGIN":
            start = marker.end()
        elif start is not None:
            bodies.append(data[start:marker.start()].strip())
            start = None
    return bodies


@dataclass(frozen=True)
class CertRecord:
    """One certificate as seen on a node (or in a bundle), flattened for tables."""

    node: str | None
    purpose: str | None
    store: str  # "own" or the trust store name
    filename: str | None
    subject: str
    issuer: str
    common_name: str
    serial: int
    sans: tuple[str, ...]  # "DNS:x", "IP:1.2.3.4"
    not_before: datetime  # aware UTC
    not_after: datetime  # aware UTC
    key_type: str  # "RSA" / "EC" / ...
    key_size: int
    fingerprint_sha256: str  # hex lowercase, no colons
    self_signed: bool
    pem: str

    def days_left(self, now: datetime) -> float:
        """Days until notAfter (negative once expired). ``now`` must be timezone-aware."""
        _require_aware(now)
        return (self.not_after - now).total_seconds() / 86400.0

    def certificate(self) -> x509.Certificate:
        """The parsed certificate (only when the record came with its PEM)."""
        if not self.pem:
            raise CertificateError("this record was read from text only and has no PEM", subject=self.subject)
        return x509.load_pem_x509_certificate(self.pem.encode("ascii"))


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")


def key_description(public_key: object) -> tuple[str, int]:
    """("RSA", 2048), ("EC", 256), ("Ed25519", 256), ...; ("unknown", 0) otherwise."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RSA", public_key.key_size
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "EC", public_key.curve.key_size
    if isinstance(public_key, dsa.DSAPublicKey):
        return "DSA", public_key.key_size
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return "unknown", 0


def _public_key(cert: x509.Certificate) -> object | None:
    try:
        return cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return None


def san_strings(cert: x509.Certificate) -> tuple[str, ...]:
    """The subjectAltName entries as "DNS:x" / "IP:a.b.c.d" (others with their own prefix)."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):  # malformed extensions
        return ()
    return tuple(_san_string(name) for name in ext.value)


def _san_string(name: x509.GeneralName) -> str:
    if isinstance(name, x509.DNSName):
        return f"DNS:{name.value}"
    if isinstance(name, x509.IPAddress):
        return f"IP:{name.value}"
    if isinstance(name, x509.RFC822Name):
        return f"email:{name.value}"
    if isinstance(name, x509.UniformResourceIdentifier):
        return f"URI:{name.value}"
    if isinstance(name, x509.DirectoryName):
        return f"DirName:{name.value.rfc4514_string()}"
    if isinstance(name, x509.RegisteredID):
        return f"RID:{name.value.dotted_string}"
    return f"othername:{getattr(name, 'type_id', name)}"


def _name_string(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()
    except ValueError:
        return repr(name)


def common_name(name: x509.Name) -> str:
    try:
        values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        return ""
    value = values[0].value if values else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _is_self_signed(cert: x509.Certificate) -> bool:
    from cucmkit.certs.chain import issued_by  # chain imports intake, which does not import records

    try:
        return issued_by(cert, cert)
    except ValueError:
        return False


_CACHE_SIZE = 4096       # parsed certificates kept, by DER sha256 (trust stores repeat on every node)
_cache: OrderedDict[str, CertRecord] = OrderedDict()
_cache_lock = threading.Lock()


def _cached(digest: str) -> CertRecord | None:
    with _cache_lock:
        record = _cache.get(digest)
        if record is not None:
            _cache.move_to_end(digest)
        return record


def _remember(digest: str, record: CertRecord) -> None:
    with _cache_lock:
        _cache[digest] = record
        _cache.move_to_end(digest)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)


def _placed(template: CertRecord, node: str | None, purpose: str | None, store: str,
            filename: str | None) -> CertRecord:
    """``replace(template, node=..., ...)`` without re-running the dataclass ``__init__`` over all 16 fields
    (a fleet inventory places tens of thousands of cached records: cProfile showed ``replace`` among the
    kit's largest costs). CertRecord has no ``__post_init__``, so the result is equal to ``replace``'s."""
    placed = object.__new__(CertRecord)
    placed.__dict__.update(template.__dict__, node=node, purpose=purpose, store=store, filename=filename)
    return placed


_digests: OrderedDict[str, str] = OrderedDict()    # PEM text as served -> DER sha256 (skips base64 + hash)


def _digest_of_text(text: str) -> str | None:
    with _cache_lock:
        return _digests.get(text)


def _remember_text(text: str, digest: str) -> None:
    with _cache_lock:
        _digests[text] = digest
        while len(_digests) > _CACHE_SIZE:
            _digests.popitem(last=False)


def record_from_certificate(
    cert: x509.Certificate,
    *,
    node: str | None = None,
    purpose: str | None = None,
    store: str = "own",
    filename: str | None = None,
) -> CertRecord:
    """The record of an already parsed certificate (the parse is cached by DER sha256)."""
    digest = cert_sha256(cert)
    template = _cached(digest)
    if template is None:
        template = _parse(cert, digest)
        _remember(digest, template)
    return _placed(template, node, purpose, store, filename)


def _parse(cert: x509.Certificate, digest: str) -> CertRecord:
    """Every field that depends on the certificate alone (the expensive part: extensions, signature)."""
    node, purpose, store, filename = None, None, "own", None
    key = _public_key(cert)
    key_type, key_size = key_description(key) if key is not None else ("unknown", 0)
    return CertRecord(
        node=node,
        purpose=purpose,
        store=store,
        filename=filename,
        subject=_name_string(cert.subject),
        issuer=_name_string(cert.issuer),
        common_name=common_name(cert.subject),
        serial=cert.serial_number,
        sans=san_strings(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_type=key_type,
        key_size=key_size,
        fingerprint_sha256=digest,
        self_signed=_is_self_signed(cert),
        pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    )


def _load_one(data: bytes, *, last: bool) -> x509.Certificate:
    blocks = _cert_blocks(data)
    try:
        if blocks:
            body = b"".join((blocks[-1] if last else blocks[0]).split())
            text = b"-----BEGIN CERTIFICATE-----\n" + body + b"\n-----END CERTIFICATE-----\n"
            return x509.load_pem_x509_certificate(text)
        if b"-----BEGIN" in data:
            raise CertificateError("no PEM certificate block found (BEGIN CERTIFICATE)")
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise CertificateError(f"cannot read the certificate: {exc}") from exc


def _checked(cert: x509.Certificate) -> x509.Certificate:
    try:
        cert.version, cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(), cert.not_valid_after_utc
    except (ValueError, x509.InvalidVersion) as exc:
        raise CertificateError(f"cannot read the certificate: {exc}") from exc
    return cert


def _as_bytes(pem: str | bytes) -> bytes:
    if isinstance(pem, str):
        return pem.encode("utf-8", "replace")
    if isinstance(pem, (bytes, bytearray, memoryview)):
        return bytes(pem)
    raise TypeError(f"expected str or bytes, got {type(pem).__name__}")


def record_from_pem(
    pem: str | bytes,
    *,
    node: str | None = None,
    purpose: str | None = None,
    store: str = "own",
    filename: str | None = None,
) -> CertRecord:
    """The record of the first certificate in ``pem`` (PEM text with text around it, or DER bytes)."""
    known = _digest_of_text(pem) if isinstance(pem, str) else None
    template = _cached(known) if known is not None else None
    if template is not None:       # this very text seen before: not even decoded
        return _placed(template, node, purpose, store, filename)
    data = _as_bytes(pem)
    der = _first_der(data)
    if der is not None:
        template = _cached(cert_sha256(der))
        if template is not None:   # seen before: no parse at all
            if isinstance(pem, str):
                _remember_text(pem, template.fingerprint_sha256)
            return _placed(template, node, purpose, store, filename)
    cert = _checked(_load_one(data, last=False))
    record = record_from_certificate(cert, node=node, purpose=purpose, store=store, filename=filename)
    if isinstance(pem, str) and der is not None:          # the text whose first block is that DER
        _remember_text(pem, record.fingerprint_sha256)
    return record


def _first_der(data: bytes) -> bytes | None:
    """The DER bytes of the first certificate in ``data`` without parsing it (None: not decodable here)."""
    blocks = _cert_blocks(data)
    if not blocks:
        return None if b"-----BEGIN" in data else data
    try:
        return base64.b64decode(b"".join(blocks[0].split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def record_from_show_cert(
    text: str | bytes,
    *,
    node: str | None = None,
    purpose: str | None = None,
    store: str = "own",
    filename: str | None = None,
) -> CertRecord:
    """The record of CUCM's ``show cert own|trust`` output: the PEM at the end wins, the text is a fallback."""
    data = _as_bytes(text)
    if _cert_blocks(data):
        cert = _checked(_load_one(data, last=True))
        return record_from_certificate(cert, node=node, purpose=purpose, store=store, filename=filename)
    return _record_from_text(data.decode("utf-8", "replace"), node=node, purpose=purpose, store=store, filename=filename)


# --- text fallback ---------------------------------------------------------------------------

_FIELD = re.compile(r"^\s*(Serial Number|Issuer Name|Subject Name|Validity From|To|Key)\s*:\s*(.*?)\s*$", re.MULTILINE)
_DATE_FORMATS = ("%a %b %d %H:%M:%S %Y", "%b %d %H:%M:%S %Y", "%Y-%m-%d %H:%M:%S")
_UTC_NAMES = ("UTC", "GMT", "Z")


def _fields(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for match in _FIELD.finditer(text):
        found.setdefault(match.group(1), match.group(2))
    return found


def _parse_date(value: str) -> datetime:
    words = value.split()
    zone = [w for w in words if w.isalpha() and w.upper() in _UTC_NAMES]
    others = [w for w in words if not (w.isalpha() and w.upper() in _UTC_NAMES)]
    if not zone and len(others) != len(words):
        raise CertificateError(f"unsupported time zone in date {value!r}")
    if len(words) - len(zone) != len(others):
        raise CertificateError(f"cannot read date {value!r}")
    plain = " ".join(others)
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(plain, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise CertificateError(f"cannot read date {value!r} (expected e.g. 'Tue Nov 25 10:00:00 UTC 2025')")


def _parse_serial(value: str) -> int:
    raw = value.strip().split()[0] if value.strip() else ""
    try:
        if raw.lower().startswith("0x"):
            return int(raw, 16)
        if ":" in raw or re.search(r"[a-fA-F]", raw):
            return int(raw.replace(":", ""), 16)
        return int(raw, 10)
    except ValueError as exc:
        raise CertificateError(f"cannot read serial number {value!r}") from exc


def _cn_from_rfc4514(name: str) -> str:
    match = re.search(r"(?:^|,)\s*CN=((?:[^,\\]|\\.)*)", name)
    return match.group(1).replace("\\", "") if match else ""


_SAN_LINE = re.compile(r"^\s*(dNSName|iPAddress)\s*:\s*(\S+)\s*$", re.MULTILINE)
_KEY_VALUE = re.compile(r"Key value:\s*\n\s*([0-9a-fA-F]+)\s*$", re.MULTILINE)


def _text_sans(text: str) -> tuple[str, ...]:
    start = text.find("Subject Alternative Names:")
    if start < 0:
        return ()
    block = text[start:].split("]", 1)[0]
    return tuple(("DNS:" if kind == "dNSName" else "IP:") + value for kind, value in _SAN_LINE.findall(block))


def _text_key(text: str, fallback: str) -> tuple[str, int]:
    match = _KEY_VALUE.search(text)
    if match:
        try:
            return key_description(serialization.load_der_public_key(bytes.fromhex(match.group(1))))
        except (ValueError, UnsupportedAlgorithm):
            pass
    kind = fallback.split(" ")[0] or "unknown"
    return ("EC" if kind.upper() in ("EC", "ECDSA") else kind), 0


def _record_from_text(text: str, **where: str | None) -> CertRecord:
    text = text.replace("\r\n", "\n")
    fields = _fields(text)
    missing = [f for f in ("Serial Number", "Issuer Name", "Subject Name", "Validity From", "To") if f not in fields]
    if missing:
        raise CertificateError(f"not a 'show cert' output: no PEM block and no {', '.join(missing)} line")
    subject, issuer = fields["Subject Name"], fields["Issuer Name"]
    key_type, key_size = _text_key(text, fields.get("Key", "unknown"))
    return CertRecord(
        node=where["node"],
        purpose=where["purpose"],
        store=where["store"] or "own",
        filename=where["filename"],
        subject=subject,
        issuer=issuer,
        common_name=_cn_from_rfc4514(subject),
        serial=_parse_serial(fields["Serial Number"]),
        sans=_text_sans(text),
        not_before=_parse_date(fields["Validity From"]),
        not_after=_parse_date(fields["To"]),
        key_type=key_type,
        key_size=key_size,
        fingerprint_sha256="",
        self_signed=subject == issuer,
        pem="",
    )
