"""Intake: read whatever a CA returns into certificates, naming the file on any problem.

Accepted shapes, in any mix, across any number of files: PEM with one or many
blocks (LF or CRLF, a UTF-8/UTF-16 BOM, text around the blocks), DER, PKCS#7
(.p7b/.p7c) in PEM or DER, bare base64 DER, and ZIP archives holding any of
these. The only I/O is reading the files handed in.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from cucmkit.certs.budgets import BUDGETS, Budgets, shorten
from cucmkit.errors import CertificateError
from cucmkit.fingerprints import cert_sha256

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

_CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der", ".p7b", ".p7c", ".p7", ".spc", ".zip", ".key", ".csr", ".req")
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
    private_keys: tuple[str, ...] = ()  # where a private key was found (and not read): never its content

    def __len__(self) -> int:
        return len(self.certificates)

    def merged(self, other: Material) -> Material:
        seen = {c.fingerprint for c in self.certificates}
        extra = tuple(c for c in other.certificates if c.fingerprint not in seen)
        return Material(self.certificates + extra, self.sources + other.sources, self.notes + other.notes,
                        self.private_keys + other.private_keys)

    @classmethod
    def of(cls, certificates: Iterable[x509.Certificate], *, source: str = "<memory>") -> Material:
        material = cls(sources=(source,))
        for index, cert in enumerate(certificates, start=1):
            material = material.merged(Material((_loaded(cert, f"{source}#{index}"),)))
        return material


def _loaded(cert: x509.Certificate, source: str) -> LoadedCert:
    return LoadedCert(certificate=cert, source=source, fingerprint=cert_sha256(cert))


class _Unreadable(Exception):
    """Internal: what is wrong with one input; turned into CertificateError with its name."""


class _OverBudget(_Unreadable):
    """Internal: the input exceeds one of the budgets (never skipped as an odd archive member)."""


# What cryptography raises on a structure it parsed lazily and cannot understand.
PARSE_ERRORS = (
    ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion,
    x509.UnsupportedGeneralNameType, x509.DuplicateExtension,
)


def _touch(*parts: object) -> None:
    """Nothing: its arguments were evaluated, which is the point (lazy parsing fails here, or never)."""


def _probe(cert: x509.Certificate, what: str) -> x509.Certificate:
    """Touch every lazily parsed part the checks read, so a broken one fails here, with a name."""
    try:
        _touch(cert.version, cert.serial_number, cert.not_valid_before_utc, cert.not_valid_after_utc,
               cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(), *(e.value for e in cert.extensions))
    except PARSE_ERRORS as exc:
        raise _Unreadable(f"{what} cannot be parsed: {_short(exc)}") from exc
    return cert


def _probe_csr(csr: x509.CertificateSigningRequest) -> x509.CertificateSigningRequest:
    try:
        _touch(csr.subject.rfc4514_string(), *(e.value for e in csr.extensions), csr.public_key())
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


def _der_pkcs7(der: bytes, what: str, limit: int) -> list[x509.Certificate]:
    try:
        certs = _pkcs7_certificates(der)
    except PARSE_ERRORS as exc:
        raise _Unreadable(f"{what} is not a readable PKCS#7 certificate bundle ({_short(exc)})") from exc
    if not certs:
        raise _Unreadable(f"{what} is a PKCS#7 bundle with no certificates in it")
    _within(certs, limit)
    return [_probe(c, f"{what} certificate {n}") for n, c in enumerate(certs, start=1)]


def _pkcs7_certificates(der: bytes) -> list[x509.Certificate]:
    """PKCS#7 certificates; cryptography's BER-fallback warning is not news for the engineer (many CAs emit BER)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PKCS#7 certificates could not be parsed as DER")
        return pkcs7.load_der_pkcs7_certificates(der)


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return shorten(text, 200)


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


class _Reader:
    """One input's decoding under the budgets: counts certificates, ZIP bytes and private keys as it goes."""

    def __init__(self, name: str, budgets: Budgets = BUDGETS) -> None:
        self.name = name
        self.budgets = budgets
        self.notes: list[str] = []
        self.private_keys: list[str] = []
        self.certificates = 0
        self.expanded = 0

    def count(self, certs: list[x509.Certificate]) -> list[x509.Certificate]:
        self.certificates += len(certs)
        if self.certificates > self.budgets.certificates:
            raise _OverBudget(f"holds more than {self.budgets.certificates} certificates; a CA answer holds a few "
                              "(split the file, or give only the leaf and its CAs)")
        return certs

    def private_key(self, where: str, what: str) -> None:
        self.private_keys.append(where)
        self.notes.append(f"{where}: a {what} was ignored (keep private keys out of CA bundles)")

    def decode(self, data: bytes, name: str, depth: int) -> list[tuple[x509.Certificate, str]]:
        if len(data) > self.budgets.input_bytes:
            raise _OverBudget(f"is larger than {_mib(self.budgets.input_bytes)}; not a certificate bundle")
        if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
            return self.zip(data, name, depth)
        data = _strip_bom(data)
        if not data.strip():
            raise _Unreadable("is empty")
        if b"-----BEGIN" in data:
            return [(c, name) for c in self.pem(data, name)]
        if _BASE64_ONLY.match(data) and data.strip()[:2] == b"MI":
            return [(c, name) for c in self.der(_b64(data), name)]
        if data[:1] == b"0":
            return [(c, name) for c in self.der(data, name)]
        raise _Unreadable("is not a certificate (expected PEM, DER, PKCS#7 or ZIP)")

    def pem(self, data: bytes, name: str) -> list[x509.Certificate]:
        certs: list[x509.Certificate] = []
        labels: list[str] = []
        for number, (label, body) in enumerate(_pem_blocks(data, self.budgets.certificates * 2), start=1):
            labels.append(label.decode("ascii"))
            what = f"PEM block {number} ({label.decode('ascii')})"
            if b"PRIVATE KEY" in label:
                self.private_key(name, "private key block")
                continue
            if label not in _CERT_LABELS | _P7_LABELS:
                continue
            der = _b64(body)
            if label == b"TRUSTED CERTIFICATE":
                certs.extend(self.count([_trusted_certificate(der)]))
            elif label in _CERT_LABELS:
                certs.extend(self.count([_der_certificate(der, what)]))
            else:
                certs.extend(self.count(_der_pkcs7(der, what, self.budgets.certificates)))
                self.notes.append(f"{name}: PKCS#7 bundle unpacked; CUCM takes single PEM/DER certificates, never the .p7b")
        if not labels:
            raise _Unreadable("has a '-----BEGIN' line but no complete PEM block (missing END line?)")
        if not certs:
            raise _Unreadable(_no_cert_message(labels))
        return certs

    def der(self, data: bytes, name: str) -> list[x509.Certificate]:
        if _looks_like_private_key(data):
            self.private_key(name, "private key")
            raise _Unreadable("holds a private key, not a certificate; it was not read (keep private keys out of "
                              "CA bundles, and treat this one as exposed)")
        return self.count(_from_der(data, self.notes, name, self.budgets.certificates))

    def zip(self, data: bytes, name: str, depth: int) -> list[tuple[x509.Certificate, str]]:
        if depth >= self.budgets.zip_depth:
            raise _OverBudget(f"holds ZIP archives nested too deep (more than {self.budgets.zip_depth} levels)")
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            infos = archive.infolist()
            if len(infos) > self.budgets.zip_members:
                raise _OverBudget(f"is a ZIP archive of {len(infos)} entries (at most {self.budgets.zip_members})")
            members = [info for info in infos if not info.is_dir()]
            return self.zip_members(archive, members, name, depth)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError, OSError,
                ValueError, zlib.error) as exc:
            raise _Unreadable(f"is a damaged or unsupported ZIP archive ({_short(exc)})") from exc

    def zip_members(self, archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], name: str,
                    depth: int) -> list[tuple[x509.Certificate, str]]:
        found: list[tuple[x509.Certificate, str]] = []
        for info in members:
            member = f"{name}!{shorten(info.filename)}"
            if info.filename.lower().endswith(_KEY_SUFFIXES):
                self.private_key(member, "private key or PKCS#12 file")
                continue
            try:
                found.extend(self.decode(self.unpack(archive, info), member, depth + 1))
            except _Unreadable as exc:
                if info.filename.lower().endswith(_CERT_SUFFIXES) or isinstance(exc, _OverBudget):
                    raise type(exc)(f"member {shorten(info.filename)} {exc}") from exc
                self.notes.append(f"{member}: skipped ({exc})")
        if not found:
            raise _Unreadable("is a ZIP archive with no certificate in it")
        return found

    def unpack(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
        """The member's bytes, counted as they are inflated (the sizes a ZIP declares may lie)."""
        limit = self.budgets.input_bytes
        if info.file_size > limit:
            raise _OverBudget(f"is larger than {_mib(limit)}")
        with archive.open(info) as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise _OverBudget(f"is larger than {_mib(limit)}")
        self.expanded += len(data)
        if self.expanded > self.budgets.expanded_bytes:
            raise _OverBudget(f"expands to more than {_mib(self.budgets.expanded_bytes)} in all")
        return data


_KEY_SUFFIXES = (".key", ".pfx", ".p12")


def _mib(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB"


_MARKER = re.compile(rb"-----(BEGIN|END) ([A-Z0-9 ]{1,64})-----")


def _pem_blocks(data: bytes, limit: int) -> Iterator[tuple[bytes, bytes]]:
    """(label, body) of every complete PEM block, found in one linear pass over the markers."""
    open_label, open_end, count = None, 0, 0
    for marker in _MARKER.finditer(data):
        kind, label = marker.group(1), marker.group(2)
        if kind == b"BEGIN":
            open_label, open_end = label, marker.end()
        elif open_label == label:
            count += 1
            if count > limit:
                raise _OverBudget(f"holds more than {limit} PEM blocks")
            yield label, data[open_end:marker.start()]
            open_label = None


def _looks_like_private_key(data: bytes) -> bool:
    """PKCS#8, PKCS#1 RSA and SEC 1 EC private keys start with a SEQUENCE whose first item is INTEGER 0 or 1."""
    if len(data) < 8 or data[0] != 0x30:
        return False
    first = data[1]
    start = 2 if first < 0x80 else 2 + (first & 0x7F)
    return data[start:start + 3] in (b"\x02\x01\x00", b"\x02\x01\x01")


def _no_cert_message(labels: list[str]) -> str:
    if any(label.encode() in _CSR_LABELS for label in labels):
        return "holds a certificate request (CSR), not a certificate; pass it as the CSR (--csr)"
    return f"has no certificate in it (PEM blocks found: {shorten(', '.join(sorted(set(labels))))})"


def _from_der(data: bytes, notes: list[str], name: str, limit: int) -> list[x509.Certificate]:
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
            _within(certs, limit)
            notes.append(f"{name}: PKCS#7 bundle unpacked; CUCM takes single PEM/DER certificates, never the .p7b")
            return [_probe(c, f"PKCS#7 certificate {n}") for n, c in enumerate(certs, start=1)]
        if _is_der_csr(data):
            raise _Unreadable("holds a certificate request (CSR), not a certificate; pass it as the CSR (--csr)") from None
        raise _Unreadable(f"is not a certificate (PEM, DER, PKCS#7 or ZIP): {_short(cert_exc)}") from None
    return [_probe(cert, "the certificate")]


def _within(certs: list[x509.Certificate], limit: int) -> None:
    if len(certs) > limit:
        raise _OverBudget(f"is a PKCS#7 bundle of {len(certs)} certificates (at most {limit})")


_PKCS7_OID_PREFIX = bytes.fromhex("06092a864886f70d0107")  # 1.2.840.113549.1.7.*


def _looks_like_pkcs7(data: bytes) -> bool:
    return _PKCS7_OID_PREFIX in data[:32]


def _is_der_csr(data: bytes) -> bool:
    try:
        x509.load_der_x509_csr(data)
    except PARSE_ERRORS:
        return False
    return True


# --- public API --------------------------------------------------------------------------------


def _material(pairs: list[tuple[x509.Certificate, str]], name: str, reader: _Reader) -> Material:
    certs: list[LoadedCert] = []
    seen: set[str] = set()
    counts: dict[str, int] = {}
    for cert, origin in pairs:
        counts[origin] = counts.get(origin, 0) + 1
        loaded = _loaded(cert, f"{origin}#{counts[origin]}")
        if loaded.fingerprint not in seen:
            seen.add(loaded.fingerprint)
            certs.append(loaded)
    return Material(tuple(certs), (name,), tuple(reader.notes), tuple(reader.private_keys))


def load_bytes(data: bytes, *, name: str = "<input>", budgets: Budgets = BUDGETS) -> Material:
    """Certificates from one input's bytes; CertificateError names ``name`` and the problem."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    reader = _Reader(name, budgets)
    try:
        pairs = reader.decode(bytes(data), name, 0)
    except _Unreadable as exc:
        raise CertificateError(f"{name}: {exc}", source=name) from None
    except RecursionError:  # a structure nested deeper than any parser should follow
        raise CertificateError(f"{name}: is nested too deeply to be a certificate", source=name) from None
    return _material(pairs, name, reader)


def _read(path: Path, limit: int = BUDGETS.input_bytes) -> bytes:
    """At most ``limit`` bytes, counted as they are read (a device or a pipe reports no true size).

    Opened without blocking, so a named pipe nobody writes to reads as empty instead of hanging.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(limit + 1)
    except IsADirectoryError:
        raise CertificateError(f"{path}: is a directory, not a file", source=str(path)) from None
    except OSError as exc:
        raise CertificateError(f"{path}: cannot be read ({exc.strerror or exc})", source=str(path)) from None
    if len(data) > limit:
        raise CertificateError(f"{path}: is larger than {_mib(limit)}; not a certificate bundle", source=str(path))
    return data


def load_files(paths: Sequence[str | Path], *, max_certificates: int = BUDGETS.certificates,
               max_files: int = BUDGETS.files) -> Material:
    """Certificates from many files; every unreadable file is named in one CertificateError."""
    if not paths:
        raise CertificateError("no certificate files given")
    if len(paths) > max_files:
        raise CertificateError(f"{len(paths)} files given; at most {max_files} are read at once")
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
    if len(material) > max_certificates:
        raise CertificateError(f"the files hold {len(material)} different certificates together; at most "
                               f"{max_certificates} are checked at once (give only the leaf and its CAs)")
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
    limit = BUDGETS.trust_store_certificates
    if isinstance(location, (str, Path)) and Path(location).is_dir():
        files = _directory_files(Path(location), limit)
        return load_files(files, max_certificates=limit, max_files=limit) if files else Material(sources=(str(location),))
    paths = [location] if isinstance(location, (str, Path)) else list(location)
    return load_files(paths, max_certificates=limit, max_files=limit)


def _directory_files(directory: Path, limit: int) -> list[Path]:
    files: list[Path] = []
    try:
        for entry in directory.iterdir():
            if entry.is_file() and not entry.name.startswith("."):
                files.append(entry)
                if len(files) > limit:
                    raise CertificateError(f"{directory}: holds more than {limit} files; a trust store export holds "
                                           "one file per certificate", source=str(directory))
    except OSError as exc:
        raise CertificateError(f"{directory}: cannot be listed ({exc.strerror or exc})", source=str(directory)) from None
    return sorted(files)


def load_csr_bytes(data: bytes, *, name: str = "<csr>") -> x509.CertificateSigningRequest:
    """A CSR from PEM (text around allowed, BOM, CRLF) or DER; CertificateError names ``name``."""
    try:
        return _csr(_strip_bom(bytes(data)))
    except _Unreadable as exc:
        raise CertificateError(f"{name}: {exc}", source=name) from None


def _csr(data: bytes) -> x509.CertificateSigningRequest:
    if not data.strip():
        raise _Unreadable("is empty")
    blocks = [body for label, body in _pem_blocks(data, BUDGETS.certificates * 2) if label in _CSR_LABELS]
    if blocks:
        der = _b64(blocks[0])
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
