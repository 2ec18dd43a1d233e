"""Intake: read whatever a CA returns into certificates, naming the file on any problem.

Accepted shapes, in any mix, across any number of files: PEM with one or many
blocks (LF or CRLF, a UTF-8/UTF-16 BOM, text around the blocks), DER, PKCS#7
(.p7b/.p7c) in PEM or DER, bare base64 DER, and ZIP archives holding any of
these. The only I/O is reading the files handed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import warnings
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from cucmkit.errors import CertificateError

__all__ = [
    "LoadedCert",
    "Material",
    "load_bytes",
    "load_files",
    "load_material",
    "load_csr",
    "load_csr_bytes",
    "load_trust_store",
]

_MAX_BYTES = 8 * 1024 * 1024  # one input or one archive member
_MAX_ZIP_DEPTH = 2
_CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der", ".p7b", ".p7c", ".p7", ".spc", ".zip", ".key", ".csr", ".req")
_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----",
    re.DOTALL,
)
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_P7_LABELS = {b"PKCS7", b"PKCS #7 SIGNED DATA", b"CMS"}
_CSR_LABELS = {b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST"}
_BASE64_ONLY = re.compile(rb"^[A-Za-z0-9+/=\s]+$")


@dataclass(frozen=True)
class LoadedCert:
    """One certificate and where it came from (``file`` or ``archive.zip!member``, ``#n`` for the n-th in it)."""

    certificate: x509.Certificate
    source: str
    fingerprint: str

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


@dataclass(frozen=True)
class Material:
    """The certificates of one intake, de-duplicated by fingerprint, in the order first seen."""

    certificates: tuple[LoadedCert, ...] = ()
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # things worth knowing that are not errors (a p7b unpacked, a key ignored)

    def __len__(self) -> int:
        return len(self.certificates)

    def merged(self, other: Material) -> Material:
        seen = {c.fingerprint for c in self.certificates}
        extra = tuple(c for c in other.certificates if c.fingerprint not in seen)
        return Material(self.certificates + extra, self.sources + other.sources, self.notes + other.notes)

    @classmethod
    def of(cls, certificates: Iterable[x509.Certificate], *, source: str = "<memory>") -> Material:
        material = cls(sources=(source,))
        for index, cert in enumerate(certificates, start=1):
            material = material.merged(Material((_loaded(cert, f"{source}#{index}"),)))
        return material


def _fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _loaded(cert: x509.Certificate, source: str) -> LoadedCert:
    return LoadedCert(certificate=cert, source=source, fingerprint=_fingerprint(cert))


class _Unreadable(Exception):
    """Internal: what is wrong with one input; turned into CertificateError with its name."""


# What cryptography raises on a structure it parsed lazily and cannot understand.
PARSE_ERRORS = (
    ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion,
    x509.UnsupportedGeneralNameType, x509.DuplicateExtension,
)


def _probe(cert: x509.Certificate, what: str) -> x509.Certificate:
    """Touch every lazily parsed part the checks read, so a broken one fails here, with a name."""
    try:
        cert.version, cert.serial_number, cert.not_valid_before_utc, cert.not_valid_after_utc
        cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()
        for extension in cert.extensions:
            extension.value
    except PARSE_ERRORS as exc:
        raise _Unreadable(f"{what} cannot be parsed: {_short(exc)}") from exc
    return cert


def _probe_csr(csr: x509.CertificateSigningRequest) -> x509.CertificateSigningRequest:
    try:
        csr.subject.rfc4514_string()
        for extension in csr.extensions:
            extension.value
        csr.public_key()
    except PARSE_ERRORS as exc:
        raise _Unreadable(f"is a certificate request that cannot be parsed: {_short(exc)}") from exc
    return csr


# --- decoding ----------------------------------------------------------------------------------


def _strip_bom(data: bytes) -> bytes:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Unreadable("starts with a UTF-16 byte-order mark but is not UTF-16 text") from exc
    return data


def _b64(body: bytes) -> bytes:
    lines = [line for line in body.splitlines() if b":" not in line]  # drop RFC 1421 headers
    try:
        return base64.b64decode(b"".join(b"".join(lines).split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Unreadable(f"bad base64 inside the PEM block ({exc})") from exc


def _der_certificate(der: bytes, what: str) -> x509.Certificate:
    try:
        return _probe(x509.load_der_x509_certificate(der), what)
    except PARSE_ERRORS as exc:
        raise _Unreadable(f"{what} is not a valid X.509 certificate ({_short(exc)})") from exc


def _der_pkcs7(der: bytes, what: str) -> list[x509.Certificate]:
    try:
        certs = _pkcs7_certificates(der)
    except PARSE_ERRORS as exc:
        raise _Unreadable(f"{what} is not a readable PKCS#7 certificate bundle ({_short(exc)})") from exc
    if not certs:
        raise _Unreadable(f"{what} is a PKCS#7 bundle with no certificates in it")
    return [_probe(c, f"{what} certificate {n}") for n, c in enumerate(certs, start=1)]


def _pkcs7_certificates(der: bytes) -> list[x509.Certificate]:
    """PKCS#7 certificates; cryptography's BER-fallback warning is not news for the engineer (many CAs emit BER)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PKCS#7 certificates could not be parsed as DER")
        return pkcs7.load_der_pkcs7_certificates(der)


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _trusted_certificate(der: bytes) -> x509.Certificate:
    """OpenSSL's TRUSTED CERTIFICATE: a DER certificate followed by trust settings."""
    if len(der) < 4 or der[0] != 0x30:
        raise _Unreadable("TRUSTED CERTIFICATE block is not DER")
    length, start = _der_length(der)
    return _der_certificate(der[: start + length], "TRUSTED CERTIFICATE block")


def _der_length(der: bytes) -> tuple[int, int]:
    first = der[1]
    if first < 0x80:
        return first, 2
    count = first & 0x7F
    if count == 0 or count > 4 or len(der) < 2 + count:
        raise _Unreadable("bad DER length")
    return int.from_bytes(der[2 : 2 + count], "big"), 2 + count


def _from_pem(data: bytes, notes: list[str], name: str) -> list[x509.Certificate]:
    certs: list[x509.Certificate] = []
    labels: list[str] = []
    for number, match in enumerate(_BLOCK.finditer(data), start=1):
        label, der = match.group(1), _b64(match.group(2))
        labels.append(label.decode("ascii"))
        what = f"PEM block {number} ({label.decode('ascii')})"
        if label in _CERT_LABELS - {b"TRUSTED CERTIFICATE"}:
            certs.append(_der_certificate(der, what))
        elif label == b"TRUSTED CERTIFICATE":
            certs.append(_trusted_certificate(der))
        elif label in _P7_LABELS:
            certs.extend(_der_pkcs7(der, what))
            notes.append(f"{name}: PKCS#7 bundle unpacked; CUCM takes single PEM/DER certificates, never the .p7b")
        elif b"PRIVATE KEY" in label:
            notes.append(f"{name}: a private key block was ignored (keep private keys out of CA bundles)")
    if not labels:
        raise _Unreadable("has a '-----BEGIN' line but no complete PEM block (missing END line?)")
    if not certs:
        raise _Unreadable(_no_cert_message(labels))
    return certs


def _no_cert_message(labels: list[str]) -> str:
    if any(label.encode() in _CSR_LABELS for label in labels):
        return "holds a certificate request (CSR), not a certificate; pass it as the CSR (--csr)"
    return f"has no certificate in it (PEM blocks found: {', '.join(sorted(set(labels)))})"


def _from_der(data: bytes, notes: list[str], name: str) -> list[x509.Certificate]:
    try:
        cert = x509.load_der_x509_certificate(data)
    except PARSE_ERRORS as cert_exc:
        try:
            certs = _pkcs7_certificates(data)
        except PARSE_ERRORS as p7_exc:
            certs = None
            if _looks_like_pkcs7(data):
                raise _Unreadable(f"is not a readable PKCS#7 certificate bundle ({_short(p7_exc)})") from None
        if certs:
            notes.append(f"{name}: PKCS#7 bundle unpacked; CUCM takes single PEM/DER certificates, never the .p7b")
            return [_probe(c, f"PKCS#7 certificate {n}") for n, c in enumerate(certs, start=1)]
        if _is_der_csr(data):
            raise _Unreadable("holds a certificate request (CSR), not a certificate; pass it as the CSR (--csr)") from None
        raise _Unreadable(f"is not a certificate (PEM, DER, PKCS#7 or ZIP): {_short(cert_exc)}") from None
    return [_probe(cert, "the certificate")]


_PKCS7_OID_PREFIX = bytes.fromhex("06092a864886f70d0107")  # 1.2.840.113549.1.7.*


def _looks_like_pkcs7(data: bytes) -> bool:
    return _PKCS7_OID_PREFIX in data[:32]


def _is_der_csr(data: bytes) -> bool:
    try:
        x509.load_der_x509_csr(data)
    except PARSE_ERRORS:
        return False
    return True


def _decode(data: bytes, name: str, notes: list[str], depth: int) -> list[tuple[x509.Certificate, str]]:
    if len(data) > _MAX_BYTES:
        raise _Unreadable(f"is larger than {_MAX_BYTES // (1024 * 1024)} MiB; not a certificate bundle")
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return _from_zip(data, name, notes, depth)
    data = _strip_bom(data)
    if not data.strip():
        raise _Unreadable("is empty")
    if b"-----BEGIN" in data:
        return [(c, name) for c in _from_pem(data, notes, name)]
    if _BASE64_ONLY.match(data) and data.strip()[:2] == b"MI":
        return [(c, name) for c in _from_der(_b64(data), notes, name)]
    if data[:1] == b"0":
        return [(c, name) for c in _from_der(data, notes, name)]
    raise _Unreadable("is not a certificate (expected PEM, DER, PKCS#7 or ZIP)")


def _from_zip(data: bytes, name: str, notes: list[str], depth: int) -> list[tuple[x509.Certificate, str]]:
    if depth >= _MAX_ZIP_DEPTH:
        raise _Unreadable("holds ZIP archives nested too deep")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [info for info in archive.infolist() if not info.is_dir()]
        return _zip_members(archive, members, name, notes, depth)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError) as exc:
        raise _Unreadable(f"is a damaged or unsupported ZIP archive ({_short(exc)})") from exc


def _zip_members(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], name: str,
                 notes: list[str], depth: int) -> list[tuple[x509.Certificate, str]]:
    found: list[tuple[x509.Certificate, str]] = []
    for info in members:
        member = f"{name}!{info.filename}"
        if info.file_size > _MAX_BYTES:
            raise _Unreadable(f"member {info.filename} is larger than {_MAX_BYTES // (1024 * 1024)} MiB")
        try:
            found.extend(_decode(archive.read(info), member, notes, depth + 1))
        except _Unreadable as exc:
            if info.filename.lower().endswith(_CERT_SUFFIXES):
                raise _Unreadable(f"member {info.filename} {exc}") from exc
            notes.append(f"{member}: skipped ({exc})")
    if not found:
        raise _Unreadable("is a ZIP archive with no certificate in it")
    return found


# --- public API --------------------------------------------------------------------------------


def _material(pairs: list[tuple[x509.Certificate, str]], name: str, notes: list[str]) -> Material:
    certs: list[LoadedCert] = []
    seen: set[str] = set()
    counts: dict[str, int] = {}
    for cert, origin in pairs:
        counts[origin] = counts.get(origin, 0) + 1
        loaded = _loaded(cert, f"{origin}#{counts[origin]}")
        if loaded.fingerprint not in seen:
            seen.add(loaded.fingerprint)
            certs.append(loaded)
    return Material(tuple(certs), (name,), tuple(notes))


def load_bytes(data: bytes, *, name: str = "<input>") -> Material:
    """Certificates from one input's bytes; CertificateError names ``name`` and the problem."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    notes: list[str] = []
    try:
        pairs = _decode(bytes(data), name, notes, 0)
    except _Unreadable as exc:
        raise CertificateError(f"{name}: {exc}", source=name) from None
    return _material(pairs, name, notes)


def _read(path: Path) -> bytes:
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise CertificateError(f"{path}: is larger than {_MAX_BYTES // (1024 * 1024)} MiB; not a certificate bundle", source=str(path))
        return path.read_bytes()
    except IsADirectoryError:
        raise CertificateError(f"{path}: is a directory, not a file", source=str(path)) from None
    except OSError as exc:
        raise CertificateError(f"{path}: cannot be read ({exc.strerror or exc})", source=str(path)) from None


def load_files(paths: Sequence[str | Path]) -> Material:
    """Certificates from many files; every unreadable file is named in one CertificateError."""
    if not paths:
        raise CertificateError("no certificate files given")
    material = Material()
    problems: list[str] = []
    for raw in paths:
        path = Path(raw)
        try:
            material = material.merged(load_bytes(_read(path), name=str(path)))
        except CertificateError as exc:
            problems.append(exc.message)
    if problems:
        raise _combined(problems)
    return material


def _combined(problems: list[str]) -> CertificateError:
    if len(problems) == 1:
        return CertificateError(problems[0])
    return CertificateError(f"{len(problems)} inputs could not be read: " + "; ".join(problems))


def load_material(items: Iterable[str | Path | bytes | x509.Certificate | Material]) -> Material:
    """Mixed inputs (paths, bytes, parsed certificates, materials) into one Material."""
    material = Material()
    for number, item in enumerate(items, start=1):
        material = material.merged(_one(item, number))
    if not material.certificates:
        raise CertificateError("no certificates given")
    return material


def _one(item: object, number: int) -> Material:
    if isinstance(item, Material):
        return item
    if isinstance(item, x509.Certificate):
        return Material.of([item], source=f"<certificate {number}>")
    pem_text = getattr(item, "pem", None)  # a CertRecord (records imports nothing from here)
    if isinstance(pem_text, str) and pem_text:
        return load_bytes(pem_text.encode("ascii"), name=getattr(item, "filename", None) or f"<record {number}>")
    if isinstance(item, (bytes, bytearray, memoryview)):
        return load_bytes(bytes(item), name=f"<input {number}>")
    if isinstance(item, (str, Path)):
        return load_files([item])
    raise TypeError(f"cannot load {type(item).__name__} as certificate material")


def load_trust_store(location: str | Path | Sequence[str | Path]) -> Material:
    """A node's trust store exported to a directory (every file in it) or given as files."""
    if isinstance(location, (str, Path)) and Path(location).is_dir():
        files = sorted(p for p in Path(location).iterdir() if p.is_file() and not p.name.startswith("."))
        return load_files(files) if files else Material(sources=(str(location),))
    paths = [location] if isinstance(location, (str, Path)) else list(location)
    return load_files(paths)


def load_csr_bytes(data: bytes, *, name: str = "<csr>") -> x509.CertificateSigningRequest:
    """A CSR from PEM (text around allowed, BOM, CRLF) or DER; CertificateError names ``name``."""
    try:
        return _csr(_strip_bom(bytes(data)))
    except _Unreadable as exc:
        raise CertificateError(f"{name}: {exc}", source=name) from None


def _csr(data: bytes) -> x509.CertificateSigningRequest:
    if not data.strip():
        raise _Unreadable("is empty")
    blocks = [m for m in _BLOCK.finditer(data) if m.group(1) in _CSR_LABELS]
    if blocks:
        der = _b64(blocks[0].group(2))
    elif b"-----BEGIN" in data:
        raise _Unreadable("has no CERTIFICATE REQUEST PEM block")
    elif _BASE64_ONLY.match(data) and data.strip()[:2] == b"MI":
        der = _b64(data)
    else:
        der = data
    try:
        return _probe_csr(x509.load_der_x509_csr(der))
    except PARSE_ERRORS as exc:
        raise _Unreadable(f"is not a valid certificate request ({_short(exc)})") from exc


def load_csr(source: str | Path | bytes) -> x509.CertificateSigningRequest:
    """A CSR from a file path, bytes, or PEM text (a str holding '-----BEGIN')."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return load_csr_bytes(bytes(source))
    if isinstance(source, str) and "-----BEGIN" in source:
        return load_csr_bytes(source.encode("utf-8"), name="<csr text>")
    path = Path(source)
    return load_csr_bytes(_read(path), name=str(path))
