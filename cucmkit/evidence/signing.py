"""The team's detached CMS (PKCS#7) signature over an evidence folder's ``manifest.json``.

The parameter file names the team's signing key (a secret reference) and certificate::

    evidence:
      signing_key: {file: ~/.secrets/evidence-signing-key.pem}   # {env: VAR} / {keyring: ..} hold the PEM itself
      signing_cert: keys/evidence-signing.pem                    # the team's certificate (path)
      signing_ca: keys/team-ca.pem                               # optional: what `evidence verify` trusts

``sign_manifest`` writes ``manifest.json.p7s`` (PEM, detached, binary content,
SHA-256). A reviewer checks it without cucmkit::

    openssl cms -verify -binary -content manifest.json -in manifest.json.p7s -inform PEM -CAfile team-ca.pem

The section is ``cucmkit.params.EvidenceParams`` (``evidence_section(file)`` reads it alone).
``check_signature`` does the same in Python (asn1crypto parses the CMS
structure, cryptography checks the digest and the signature) and says exactly
what is wrong. A folder without a signature is ``unsigned``, said plainly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from cucmkit.errors import ParameterError
from cucmkit.params import EvidenceParams, SecretRef, evidence_section

__all__ = ["SIGNATURE", "EvidenceParams", "Signer", "SignatureCheck", "load_signer", "sign_manifest",
           "check_signature", "evidence_section"]

SIGNATURE = "manifest.json.p7s"
_MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Signer:
    """The team's key and certificate, read for one signature. ``repr`` never shows the key."""

    certificate: x509.Certificate
    key: Any = field(repr=False)
    reference: str = ""   # where the key came from, e.g. file:/path

    def __repr__(self) -> str:
        return f"Signer({self.certificate.subject.rfc4514_string()}, key from {self.reference})"


def _key_pem(ref: SecretRef) -> bytes:
    """The key PEM: a ``{file:}`` reference is the whole file; ``{env:}``/``{keyring:}`` hold the PEM text."""
    if ref.kind == "file":
        try:
            return Path(ref.target).expanduser().read_bytes()
        except OSError as exc:
            raise ParameterError(f"evidence.signing_key: cannot read {ref.kind}:{ref.target} ({type(exc).__name__})",
                                 remedy="fix the path or the file's permissions") from None
    return ref.resolve().reveal().encode()


def load_signer(settings: EvidenceParams) -> Signer | None:
    """The signer the settings name (None: unsigned); a ParameterError says which part is wrong, never a value."""
    if settings.signing_key is None or settings.signing_cert is None:
        return None
    reference = f"{settings.signing_key.kind}:{settings.signing_key.target}"
    try:
        key = serialization.load_pem_private_key(_key_pem(settings.signing_key), password=None)
    except (ValueError, TypeError):
        raise ParameterError(f"evidence.signing_key ({reference}) is not an unencrypted PEM private key",
                             remedy="point it at the team's signing key (PEM)") from None
    try:
        cert = x509.load_pem_x509_certificate(settings.signing_cert.read_bytes())
    except (OSError, ValueError):
        raise ParameterError(f"evidence.signing_cert: cannot read a PEM certificate from {settings.signing_cert}",
                             remedy="point it at the team's signing certificate (PEM)") from None
    if cert.public_key().public_numbers() != key.public_key().public_numbers():  # type: ignore[union-attr]
        raise ParameterError("evidence.signing_cert does not belong to evidence.signing_key",
                             remedy="give the certificate issued for that key")
    return Signer(certificate=cert, key=key, reference=reference)


def sign_manifest(folder: Path, signer: Signer) -> Path:
    """Write ``manifest.json.p7s``: a detached CMS signature (PEM) over ``manifest.json`` as it is on disk."""
    data = (folder / _MANIFEST).read_bytes()
    body = (pkcs7.PKCS7SignatureBuilder().set_data(data)
            .add_signer(signer.certificate, signer.key, hashes.SHA256())
            .sign(serialization.Encoding.PEM, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]))
    path = folder / SIGNATURE
    path.write_bytes(body)
    return path


@dataclass(frozen=True)
class SignatureCheck:
    """What the signature of a folder says: ``state`` is signed, unsigned or bad; ``lines`` say exactly why."""

    state: str
    lines: tuple[str, ...]
    signer: str = ""

    @property
    def ok(self) -> bool:
        return self.state != "bad"


def _bad(*lines: str) -> SignatureCheck:
    return SignatureCheck("bad", tuple(f"signature: {line}" for line in lines))


def check_signature(folder: Path, *, trusted: x509.Certificate | None = None, expected: bool = False
                    ) -> SignatureCheck:
    """Check ``manifest.json.p7s`` against ``manifest.json`` (and the signer against ``trusted``, the team CA).

    ``expected``: the manifest says the folder was signed, so a missing signature is tampering, not "unsigned".
    """
    path = folder / SIGNATURE
    if not path.is_file():
        if expected:
            return _bad(f"{SIGNATURE} missing, but manifest.json says the folder was signed")
        return SignatureCheck("unsigned", ("signature: unsigned (no signing key in the parameter file)",))
    try:
        parsed = _parse(path.read_bytes())
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return _bad(f"{SIGNATURE} is not a CMS signature ({type(exc).__name__})")
    return _check(parsed, (folder / _MANIFEST).read_bytes() if (folder / _MANIFEST).is_file() else b"", trusted)


@dataclass(frozen=True)
class _Parsed:
    certificate: x509.Certificate
    digest: bytes            # the signed messageDigest attribute
    signed_attrs: bytes      # DER of the signed attributes as a SET (what was signed)
    signature: bytes
    hash_name: str


def _parse(pem: bytes) -> _Parsed:
    from asn1crypto import cms
    from asn1crypto import pem as asn1_pem

    _, _, der = asn1_pem.unarmor(pem)
    signed = cms.ContentInfo.load(der)["content"]
    info = signed["signer_infos"][0]
    serial = info["sid"].chosen["serial_number"].native
    cert_der = next(c.chosen.dump() for c in signed["certificates"] if c.chosen.serial_number == serial)
    attrs = info["signed_attrs"]
    digest = next(a["values"][0].native for a in attrs if a["type"].native == "message_digest")
    return _Parsed(certificate=x509.load_der_x509_certificate(cert_der), digest=digest,
                   signed_attrs=b"\x31" + attrs.dump()[1:], signature=info["signature"].native,
                   hash_name=info["digest_algorithm"]["algorithm"].native)


def _check(parsed: _Parsed, manifest: bytes, trusted: x509.Certificate | None) -> SignatureCheck:
    subject = parsed.certificate.subject.rfc4514_string()
    if parsed.hash_name != "sha256":
        return _bad(f"digest {parsed.hash_name} (expected sha256)")
    if hashlib.sha256(manifest).digest() != parsed.digest:
        return _bad("manifest.json is not the manifest that was signed (its SHA-256 differs from the signed one)")
    try:
        _verify_raw(parsed.certificate.public_key(), parsed.signature, parsed.signed_attrs)
    except (InvalidSignature, TypeError):
        return _bad(f"the signature does not verify with the certificate it carries ({subject})")
    fingerprint = parsed.certificate.fingerprint(hashes.SHA256()).hex()
    lines = [f"signature: OK, manifest.json signed by {subject} (certificate sha256 {fingerprint})"]
    if trusted is None:
        lines.append("signature: signer not checked against a team CA (give --ca team-ca.pem, or evidence.signing_ca)")
    else:
        try:
            parsed.certificate.verify_directly_issued_by(trusted)
        except (ValueError, TypeError, InvalidSignature):
            return _bad(f"signed by {subject}, which {trusted.subject.rfc4514_string()} did not issue")
        lines.append(f"signature: signer issued by the team CA {trusted.subject.rfc4514_string()}")
    return SignatureCheck("signed", tuple(lines), signer=subject)


def _verify_raw(public_key: Any, signature: bytes, data: bytes) -> None:
    if isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    else:
        raise TypeError(f"unsupported signer key {type(public_key).__name__}")
