"""Pre-upload validation: every reason CUCM would refuse the material, at once, before CUCM does.

Pure: the clock (``now``, timezone-aware) is passed in, only ``not_valid_*_utc``
is read, and nothing is fetched. The checks are explicit requirements taken
from the catalogue and PROCEDURE.md, not the WebPKI policy (which rejects
ordinary enterprise and trustme chains: failure-modes §4).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtensionOID

from cucmkit import catalogue
from cucmkit.catalogue import MESSAGES, Purpose
from cucmkit.certs.budgets import BUDGETS, shorten
from cucmkit.certs.chain import Chain, ChainCert, build_chain, is_ca, issued_by, self_issued
from cucmkit.certs.der import DerError, rsa_numbers
from cucmkit.certs.intake import LoadedCert, Material, load_bytes, load_csr, load_material
from cucmkit.certs.records import CertRecord, common_name, key_description
from cucmkit.certs.report import FAIL, PASS, SKIPPED, WARN, ChainEntry, Check, Report, UploadStep
from cucmkit.errors import CertificateError
from cucmkit.sans import ExpectedNames, san_set

__all__ = ["validate", "NO_PENDING_CSR", "NoPendingCsr", "MAX_RSA_BITS"]

MAX_RSA_BITS = 4096
MIN_RSA_BITS = 2048


class NoPendingCsr:
    """Sentinel for ``csr=``: the node is known to hold no pending CSR for the purpose."""

    def __repr__(self) -> str:
        return "NO_PENDING_CSR"


NO_PENDING_CSR = NoPendingCsr()

CsrInput = x509.CertificateSigningRequest | str | bytes | NoPendingCsr | None

_KU_NAMES = {
    "digital_signature": "Digital Signature",
    "content_commitment": "Non Repudiation",
    "key_encipherment": "Key Encipherment",
    "data_encipherment": "Data Encipherment",
    "key_agreement": "Key Agreement",
    "key_cert_sign": "Certificate Sign",
    "crl_sign": "CRL Sign",
}
_EKU_NAMES = {
    "1.3.6.1.5.5.7.3.1": "serverAuth",
    "1.3.6.1.5.5.7.3.2": "clientAuth",
    catalogue.IPSEC_END_SYSTEM_OID: "IPsec End System",
}
_WEAK_HASHES = {"sha1": "SHA-1"}                                  # warned: legacy roots still sign with it
_REFUSED_HASHES = {"md5": "MD5", "md2": "MD2", "md4": "MD4"}      # refused: signatures that can be forged
# Extensions a verifier acts on, so they may be critical (OpenSSL's X509_supported_extension list,
# crypto/x509/v3_purp.c); any other critical extension makes OpenSSL refuse the certificate.
_SUPPORTED_CRITICAL = frozenset({
    "2.16.840.1.113730.1.1", ExtensionOID.KEY_USAGE.dotted_string, ExtensionOID.SUBJECT_ALTERNATIVE_NAME.dotted_string,
    ExtensionOID.BASIC_CONSTRAINTS.dotted_string, ExtensionOID.CERTIFICATE_POLICIES.dotted_string,
    ExtensionOID.CRL_DISTRIBUTION_POINTS.dotted_string, ExtensionOID.EXTENDED_KEY_USAGE.dotted_string,
    "1.3.6.1.5.5.7.1.7", "1.3.6.1.5.5.7.1.8", ExtensionOID.OCSP_NO_CHECK.dotted_string,
    ExtensionOID.POLICY_CONSTRAINTS.dotted_string, "1.3.6.1.5.5.7.1.14", ExtensionOID.NAME_CONSTRAINTS.dotted_string,
    ExtensionOID.POLICY_MAPPINGS.dotted_string, ExtensionOID.INHIBIT_ANY_POLICY.dotted_string,
})
# EC curves by key type (derived from the catalogue's key_type; the catalogue could carry them per purpose).
_EC_CURVES = {"ec": ("secp256r1", "secp384r1")}
_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}

_REMEDY_CHAIN = ("Upload the root and intermediate certificates as {trust} first (root, then intermediates), "
                 "then the leaf as {purpose}.")
_REMEDY_KEY = (
    "Upload the right certificate (this one may be another node's), or have the CA re-issue it from the "
    "current CSR (a CSR generated after the request replaced the one it was issued from)."
)
_REMEDY_SAN = (
    "Have the CA re-issue with exactly the CSR's SANs, or generate a CSR shaped to the CA's rules "
    "(drop the default domain; drop -ms from a multi-SAN CN)."
)
_REMEDY_NO_CSR = "Generate a CSR for {purpose} on this node and have the certificate issued from it."
_REMEDY_BAD_KEY = "Have the CA re-issue it from a CSR generated on the node (a sound key)."
_REMEDY_DUP_CN = "Never upload expired certificates; delete the unwanted one from {trust}, then upload."


@dataclass(frozen=True)
class _Context:
    purpose: Purpose
    now: datetime
    chain: Chain
    material: Material
    store: tuple[LoadedCert, ...] | None
    csr: x509.CertificateSigningRequest | NoPendingCsr | None
    warning_days: int
    version: str | None = None     # the node's CUCM release (rules that changed by release, e.g. CAPF CA:TRUE)
    expected: ExpectedNames | None = None   # the names the CA must return, recorded with the CSR


# --- helpers -----------------------------------------------------------------------------------


def _name(name: x509.Name) -> str:
    """RFC 4514 text of a name, shortened for messages (a CA can put megabytes into a name)."""
    try:
        return shorten(name.rfc4514_string())
    except ValueError:
        return shorten(repr(name))


def _about(cert: ChainCert | LoadedCert) -> dict[str, Any]:
    c = cert.certificate
    return {"subject": _name(c.subject), "serial": c.serial_number, "fingerprint": cert.fingerprint}


def _check(name: str, status: str, message: str, cert: ChainCert | LoadedCert | None = None, **kw: Any) -> Check:
    text = shorten(message, BUDGETS.check_chars)
    return Check(name=name, status=status, message=text, **(_about(cert) if cert else {}), **kw)


def _ext(cert: x509.Certificate | x509.CertificateSigningRequest, cls: type) -> Any:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:  # duplicate or undecodable extensions
        return None


def _spki(obj: x509.Certificate | x509.CertificateSigningRequest) -> bytes | None:
    try:
        return obj.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, UnsupportedAlgorithm):
        return None


def _key(cert: x509.Certificate) -> tuple[str, int]:
    try:
        return key_description(cert.public_key())
    except (ValueError, UnsupportedAlgorithm):
        return "unknown", 0


def _key_fault(cert: x509.Certificate) -> str | None:
    """What is wrong with a public key itself (None when it is sound); the RSA numbers read by hand if needed."""
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        return _unloadable_key(cert, exc)
    if isinstance(key, rsa.RSAPublicKey):
        return _exponent_fault(key.public_numbers().e)
    return None


def _unloadable_key(cert: x509.Certificate, exc: Exception) -> str:
    try:
        numbers = rsa_numbers(cert.tbs_certificate_bytes)
    except (DerError, IndexError, ValueError):
        numbers = None
    if numbers is not None:
        return _exponent_fault(numbers[1]) or f"RSA {numbers[0]}-bit key cannot be used ({shorten(exc)})"
    return f"public key cannot be read ({shorten(exc)})"


def _exponent_fault(e: int) -> str | None:
    if e >= 3 and e % 2 == 1:
        return None
    shown = str(e) if e.bit_length() <= 64 else f"a {e.bit_length()}-bit number"
    return f"RSA public exponent {shown} is not allowed (it must be odd and at least 3; 65537 is usual)"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _leaf(ctx: _Context) -> ChainCert:
    assert ctx.chain.leaf is not None
    return ctx.chain.leaf


def _uploaded(ctx: _Context) -> tuple[ChainCert, ...]:
    """The chain certificates that come from the material (the ones the plan uploads)."""
    return tuple(c for c in ctx.chain.members() if not c.from_trust_store)


# --- structure ---------------------------------------------------------------------------------


def _check_intake(ctx: _Context) -> list[Check]:
    m = ctx.material
    sources = ", ".join(m.sources) or "<memory>"
    message = f"{len(m.certificates)} certificate(s) read from {sources}"
    if any("PKCS#7" in note for note in m.notes):
        message += "; PKCS#7 unpacked: upload the plan's single PEMs, never the .p7b itself"
        return [_check("intake", PASS, message, cucm_message=MESSAGES.bad_format,
                       remedy="Upload each certificate of the upload plan on its own.")]
    return [_check("intake", PASS, message)]


def _check_leaf(ctx: _Context) -> list[Check]:
    leaf = _leaf(ctx)
    label = common_name(leaf.certificate.subject) or _name(leaf.certificate.subject)
    checks = [_check("leaf", PASS, f"leaf certificate: {shorten(label)}", leaf)]
    if ctx.chain.root is not None and ctx.chain.root.fingerprint == leaf.fingerprint:
        checks.append(_check(
            "leaf_ca_signed", FAIL,
            "the leaf is self-signed; this procedure uploads a CA-signed certificate",
            leaf, remedy=f"Submit the {ctx.purpose.name} CSR to the CA and check the certificate it returns.",
        ))
    return checks


def _check_chain(ctx: _Context) -> list[Check]:
    chain, p = ctx.chain, ctx.purpose
    remedy = _REMEDY_CHAIN.format(trust=p.trust_store, purpose=p.name)
    if chain.complete:
        return [_check("chain_complete", PASS, _chain_text(chain), chain.root)]
    below = chain.missing_below
    if below is not None and chain.reason in _NO_ROOT:
        message, why = _NO_ROOT[chain.reason](ctx, below)
        return [_check("chain_complete", FAIL, message, below, cucm_message=MESSAGES.ca_not_in_trust, remedy=why)]
    what = {"intermediate": "intermediate CA", "root": "root CA"}.get(chain.missing_kind or "",
                                                                      "issuing CA (intermediate or root)")
    where = "" if ctx.store is not None else f" (no {p.trust_store} contents given to look in)"
    missing = shorten(chain.missing_issuer or "")
    message = (f"missing {what} {missing!r}, issuer of {_name(below.certificate.subject)!r}{where}"
               if below else "no chain")
    return [_check(
        "chain_complete", FAIL, message, below, cucm_message=MESSAGES.ca_not_in_trust,
        remedy=f"Get {missing!r} from the CA. " + remedy,
    )]


def _cycle_text(ctx: _Context, below: ChainCert) -> tuple[str, str]:
    ring = ctx.chain.cycle or (below,)
    names = " -> ".join(_short_name(c.certificate.subject) for c in (*ring, ring[0]))
    return (f"no root CA: the CA certificates issue each other in a cycle ({names}); none is self-signed",
            "Get the CA's real chain, ending in its self-signed root certificate.")


def _depth_text(ctx: _Context, below: ChainCert) -> tuple[str, str]:
    return (f"no root CA within {BUDGETS.chain_depth} certificates: the chain is longer than "
            f"{BUDGETS.chain_depth} (or loops through CAs of the same name)",
            "Give only the leaf, its issuing CAs and the root; a real chain is two to four certificates long.")


def _algorithm_text(ctx: _Context, below: ChainCert) -> tuple[str, str]:
    return (f"the signature of {_short_name(below.certificate.subject)!r} uses {_algorithm_name(below.certificate)}, "
            f"which is refused: its issuer {_short_name(below.certificate.issuer)!r} cannot vouch for it",
            "Have the CA re-issue the certificate with SHA-256 (or stronger) signatures.")


def _signature_text(ctx: _Context, below: ChainCert) -> tuple[str, str]:
    return (f"issuer {_short_name(below.certificate.issuer)!r} of {_short_name(below.certificate.subject)!r} is present, "
            "but its key does not verify the signature (see chain_signatures)",
            "Get the CA certificate that actually issued it (the CA may have renewed its key).")


def _candidates_text(ctx: _Context, below: ChainCert) -> tuple[str, str]:
    return (f"more than {BUDGETS.issuer_candidates} certificates are named {_short_name(below.certificate.issuer)!r}; "
            f"the first {BUDGETS.issuer_candidates} do not verify {_short_name(below.certificate.subject)!r}",
            "Remove the duplicate CA certificates; give one copy of each CA.")


def _budget_text(ctx: _Context, below: ChainCert) -> tuple[str, str]:
    return (f"the chain search stopped after {BUDGETS.signature_checks} signature checks without reaching a root",
            "Give only the leaf, its issuing CAs and the root.")


_NO_ROOT = {"cycle": _cycle_text, "depth": _depth_text, "algorithm": _algorithm_text, "signature": _signature_text,
            "candidates": _candidates_text,
            "budget": _budget_text}


def _short_name(name: x509.Name) -> str:
    return shorten(_name(name))


def _algorithm_name(cert: x509.Certificate) -> str:
    name = _hash_name(cert)
    if name in _REFUSED_HASHES:
        return _REFUSED_HASHES[name]
    try:
        dotted = cert.signature_algorithm_oid.dotted_string
    except ValueError:
        return "an unreadable signature algorithm"
    return f"an unknown signature algorithm (OID {dotted})" if name == "unknown" else f"signature algorithm {dotted}"


def _chain_text(chain: Chain) -> str:
    parts = []
    for c in chain.members():
        label = shorten(common_name(c.certificate.subject)) or _name(c.certificate.subject)
        parts.append(label + (" (already in the trust store)" if c.from_trust_store else ""))
    return "chain complete: " + " <- ".join(parts)


def _check_signatures(ctx: _Context) -> list[Check]:
    if ctx.chain.reason == "algorithm" and ctx.chain.missing_below is not None:
        below = ctx.chain.missing_below
        return [_check(
            "chain_signatures", FAIL,
            f"the signature of {_short_name(below.certificate.subject)!r} uses {_algorithm_name(below.certificate)}: "
            "not verified, because that algorithm is refused", below, cucm_message=MESSAGES.ca_not_in_trust,
            remedy="Have the CA re-issue the certificate with SHA-256 (or stronger) signatures.",
        )]
    if not ctx.chain.bad_signatures:
        return [_check("chain_signatures", PASS, "every signature in the chain verifies with its issuer's key")]
    return [
        _check(
            "chain_signatures", FAIL,
            f"the signature of {_name(bad.child.certificate.subject)!r} does not verify with the key of "
            f"{_name(bad.issuer.certificate.subject)!r} (same name, different CA key)",
            bad.child, cucm_message=MESSAGES.ca_not_in_trust,
            remedy="Get the CA certificate that actually issued it (the CA may have renewed its key).",
        )
        for bad in ctx.chain.bad_signatures
    ]


def _check_strays(ctx: _Context) -> list[Check]:
    strays = ctx.chain.strays
    if not strays:
        return [_check("strays", PASS, "every certificate given belongs to the leaf's chain")]
    return [_stray(ctx, stray) for stray in strays]


def _stray(ctx: _Context, stray: ChainCert) -> Check:
    cert = stray.certificate
    chain = ctx.chain
    if chain.reason == "missing" and chain.missing_kind == "intermediate" and self_issued(cert) and is_ca(cert):
        return _check("strays", WARN, "root CA not connected to the leaf: an intermediate between them is missing",
                      stray, remedy="Add the missing intermediate (see chain_complete).")
    if any(stray.fingerprint == o.fingerprint for o in ctx.chain.other_leaves) and not is_ca(cert):
        text = "another end-entity certificate; it belongs to no chain of the chosen leaf and will not be uploaded"
    else:
        text = "belongs to no chain of the leaf; it will not be uploaded"
    return _check("strays", WARN, text, stray, remedy="Leave it out, or check that the right leaf was picked.")


# --- time --------------------------------------------------------------------------------------


def _check_validity(ctx: _Context) -> list[Check]:
    return [_validity_of(ctx, c) for c in ctx.chain.members()]


def _validity_of(ctx: _Context, c: ChainCert) -> Check:
    cert, now = c.certificate, ctx.now
    role = _role(ctx, c)
    if now > cert.not_valid_after_utc:
        where = f" (the copy in {ctx.purpose.trust_store})" if c.from_trust_store else ""
        return _check(
            "validity", FAIL, f"{role} expired on {_when(cert.not_valid_after_utc)}{where}", c,
            cucm_message=MESSAGES.expired,
            remedy="Never upload expired certificates; get a current one from the CA.",
        )
    if now < cert.not_valid_before_utc:
        return _check(
            "validity", FAIL, f"{role} is not valid before {_when(cert.not_valid_before_utc)}", c,
            remedy="Wait until it becomes valid, or have the CA re-issue it (check the CA's and CUCM's clocks).",
        )
    return _check("validity", PASS, f"{role} valid until {_when(cert.not_valid_after_utc)}", c)


def _role(ctx: _Context, c: ChainCert) -> str:
    if ctx.chain.leaf and c.fingerprint == ctx.chain.leaf.fingerprint:
        return "leaf"
    if ctx.chain.root and c.fingerprint == ctx.chain.root.fingerprint:
        return "root CA"
    return "intermediate CA"


def _check_leaf_expiry(ctx: _Context) -> list[Check]:
    leaf = _leaf(ctx)
    after = leaf.certificate.not_valid_after_utc
    if ctx.now > after or ctx.now < leaf.certificate.not_valid_before_utc:
        return [_check("leaf_expiry", SKIPPED, "leaf not valid now (see validity)", leaf)]
    days = (after - ctx.now) / timedelta(days=1)
    if days < ctx.warning_days:
        return [_check(
            "leaf_expiry", WARN, f"leaf expires in {days:.1f} days (threshold {ctx.warning_days})", leaf,
            remedy="Ask the CA for a longer validity, or plan the next renewal now.",
        )]
    return [_check("leaf_expiry", PASS, f"leaf expires in {days:.0f} days", leaf)]


# --- names and keys ----------------------------------------------------------------------------


def _dns_names(cert: x509.Certificate) -> list[str]:
    san = _ext(cert, x509.SubjectAlternativeName)
    return [str(n) for n in san.get_values_for_type(x509.DNSName)] if san else []


def _wildcard_purposes() -> str:
    allowed = [p.name for p in catalogue.PURPOSES.values() if p.wildcard_san]
    return f" (only {', '.join(allowed)} may carry them)" if allowed else ""


def _check_wildcard(ctx: _Context) -> list[Check]:
    leaf = _leaf(ctx)
    names = [common_name(leaf.certificate.subject), *_dns_names(leaf.certificate)]
    wild = [n for n in names if "*" in n]
    if not wild:
        return [_check("wildcard", PASS, "no wildcard names", leaf)]
    if ctx.purpose.wildcard_san:
        return [_check("wildcard", PASS, f"wildcard name(s) {', '.join(sorted(set(wild)))}: allowed for "
                       f"{ctx.purpose.name}", leaf)]
    return [_check(
        "wildcard", FAIL, f"wildcard name(s) {', '.join(sorted(set(wild)))}", leaf, cucm_message=MESSAGES.wildcard,
        remedy=f"CUCM does not support wildcard certificates for {ctx.purpose.name}{_wildcard_purposes()}: have the "
               "certificate issued for the node FQDN(s) in the CSR.",
    )]


def _check_key_type(ctx: _Context) -> list[Check]:
    leaf = _leaf(ctx)
    kind, size = _key(leaf.certificate)
    wanted = {"rsa": "RSA", "ec": "EC"}.get(ctx.purpose.key_type, ctx.purpose.key_type.upper())
    curve_fault = _curve_fault(ctx, leaf.certificate) if kind == wanted else None
    if kind == wanted and curve_fault is None:
        return [_check("key_type", PASS, f"{kind} {size}-bit key, as {ctx.purpose.name} requires", leaf)]
    fault = _key_fault(leaf.certificate)
    have = curve_fault or (f"the leaf's {fault}" if fault else f"the leaf has {kind} {size}")
    return [_check(
        "key_type", FAIL, f"{ctx.purpose.name} needs {_wanted_key(ctx, wanted) if curve_fault else f'an {wanted} key'}; {have}",
        leaf,
        remedy=_REMEDY_BAD_KEY if fault else
        f"Generate the CSR for the right purpose ({ctx.purpose.name}) and have the certificate issued from it.",
    )]


def _wanted_key(ctx: _Context, wanted: str) -> str:
    curves = _EC_CURVES.get(ctx.purpose.key_type)
    if curves:
        return f"an {wanted} key on {' or '.join(_CURVE_NAMES.get(c, c) for c in curves)}"
    return f"an {wanted} key"


def _curve_fault(ctx: _Context, cert: x509.Certificate) -> str | None:
    allowed = _EC_CURVES.get(ctx.purpose.key_type)
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return None
    if not allowed or not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name in allowed:
        return None
    return f"the leaf's key is on curve {key.curve.name} ({_CURVE_NAMES.get(key.curve.name, 'not a NIST curve CUCM offers')})"


def _check_public_keys(ctx: _Context) -> list[Check]:
    checks = []
    for c in ctx.chain.members():
        fault = _key_fault(c.certificate)
        if fault:
            checks.append(_check("public_key", FAIL, f"{_role(ctx, c)}: {fault}", c,
                                 remedy=_REMEDY_BAD_KEY))
    return checks or [_check("public_key", PASS, "every public key in the chain is well formed")]


def _check_critical_extensions(ctx: _Context) -> list[Check]:
    checks = []
    for c in ctx.chain.members():
        unknown = _unknown_critical(c.certificate)
        if unknown:
            checks.append(_check(
                "critical_extensions", FAIL,
                f"{_role(ctx, c)} has critical extension(s) no verifier handles: {shorten(', '.join(unknown))}", c,
                remedy="Have the CA issue without these extensions, or mark them non-critical; "
                       "TLS clients and CUCM refuse certificates with unknown critical extensions.",
            ))
    return checks or [_check("critical_extensions", PASS, "no unknown critical extension")]


def _unknown_critical(cert: x509.Certificate) -> list[str]:
    try:
        return sorted(e.oid.dotted_string for e in cert.extensions
                      if e.critical and e.oid.dotted_string not in _SUPPORTED_CRITICAL)
    except ValueError:  # undecodable extensions: intake's probe names them for files; objects given directly
        return ["(extensions that cannot be decoded)"]


def _check_leaf_names(ctx: _Context) -> list[Check]:
    leaf = _leaf(ctx)
    if len(leaf.certificate.subject) or _dns_names(leaf.certificate) or _ext(leaf.certificate, x509.SubjectAlternativeName):
        return [_check("leaf_names", PASS, "the leaf names its host (subject or SAN)", leaf)]
    return [_check(
        "leaf_names", FAIL, "the leaf has no name: an empty subject and no Subject Alternative Name", leaf,
        remedy="Have the CA issue from the node's CSR, keeping its subject and SANs.",
    )]


def _check_private_keys(ctx: _Context) -> list[Check]:
    where = ctx.material.private_keys
    if not where:
        return [_check("private_key", PASS, "no private key in the material")]
    places = shorten(", ".join(dict.fromkeys(where)))
    return [_check(
        "private_key", WARN,
        f"PRIVATE KEY found in {places}: ignored, never read, checked or copied into the plan; "
        "whoever has these files has the key, so treat it as exposed",
        remedy="Delete the files holding the key and ask who put it there; CUCM's key never leaves the node "
               "(the CSR carries only the public key).",
    )]


def _check_key_size(ctx: _Context) -> list[Check]:
    checks = []
    for c in _uploaded(ctx):
        kind, size = _key(c.certificate)
        if kind == "RSA" and size > MAX_RSA_BITS:
            checks.append(_check(
                "key_size", FAIL, f"RSA {size}-bit key is over CUCM's maximum of {MAX_RSA_BITS}", c,
                cucm_message=MESSAGES.key_too_large, remedy="Use RSA keys of at most 4096 bits (2048 is CUCM's default).",
            ))
        elif kind == "RSA" and size < MIN_RSA_BITS:
            checks.append(_check("key_size", WARN, f"RSA {size}-bit key is weak (below {MIN_RSA_BITS})", c,
                                 remedy="Use 2048-bit RSA keys or larger."))
    return checks or [_check("key_size", PASS, f"every key within CUCM's limit ({MAX_RSA_BITS} bits)")]


def _check_signature_algorithms(ctx: _Context) -> list[Check]:
    checks = []
    for c in ctx.chain.members():
        name = _hash_name(c.certificate)
        if name in _REFUSED_HASHES or name == "unknown":
            checks.append(_check(
                "signature_algorithm", FAIL, f"signed with {_algorithm_name(c.certificate)} ({_role(ctx, c)}): refused", c,
                remedy="Have the CA sign with SHA-256 or stronger (RSA PKCS#1 v1.5, RSA-PSS or ECDSA).",
            ))
        elif name in _WEAK_HASHES:
            checks.append(_check(
                "signature_algorithm", WARN, f"signed with {_WEAK_HASHES[name]} ({_role(ctx, c)})", c,
                remedy="Ask the CA for SHA-256 signatures; SHA-1 is being retired from trust stores and clients.",
            ))
    return checks or [_check("signature_algorithm", PASS, "no SHA-1 or weaker signatures")]


def _hash_name(cert: x509.Certificate) -> str | None:
    try:
        algorithm = cert.signature_hash_algorithm
    except (UnsupportedAlgorithm, ValueError):
        return "unknown"
    return algorithm.name if isinstance(algorithm, hashes.HashAlgorithm) else None


# --- extensions --------------------------------------------------------------------------------


def _check_key_usage(ctx: _Context) -> list[Check]:
    """Required usages missing: refused; only recommended ones (catalogue.RECOMMENDED_KEY_USAGES) missing: a warning."""
    leaf, requested = _leaf(ctx), ctx.purpose.key_usage
    required = requested - catalogue.RECOMMENDED_KEY_USAGES
    ku = _ext(leaf.certificate, x509.KeyUsage)
    if ku is None:
        return [_check("key_usage", FAIL, f"no Key Usage extension; {ctx.purpose.name} needs {_ku_list(requested)}",
                       leaf, remedy=_ku_remedy(ctx))]
    missing = frozenset(k for k in requested if not _ku_bit(ku, k))
    if not missing:
        return [_check("key_usage", PASS, f"Key Usage has {_ku_list(requested)}", leaf)]
    if missing & required:
        text = f"Key Usage lacks {_ku_list(missing & required)} (required: {_ku_list(required)})"
        if missing - required:
            text += f"; also lacks {_ku_list(missing - required)} (recommended)"
        return [_check("key_usage", FAIL, text, leaf, remedy=_ku_remedy(ctx))]
    text = (f"Key Usage lacks {_ku_list(missing)}, which Cisco's guide recommends for {ctx.purpose.name} "
            f"(the CA dropped {'it' if len(missing) == 1 else 'them'}; CUCM accepts the certificate with {_ku_list(required)})")
    return [_check("key_usage", WARN, text, leaf, remedy=_ku_advice(missing))]


def _ku_list(names: frozenset[str]) -> str:
    return ", ".join(_KU_NAMES.get(k, k) for k in sorted(names))


def _ku_bit(ku: x509.KeyUsage, name: str) -> bool:
    try:
        return bool(getattr(ku, name))
    except ValueError:  # encipher_only/decipher_only without key_agreement
        return False


def _ku_remedy(ctx: _Context) -> str:
    return (f"Have the CA issue from a template that keeps the CSR's key usages for {ctx.purpose.name} "
            "(Cisco's security guide table); never let it drop Data Encipherment.")


def _ku_advice(missing: frozenset[str]) -> str:
    return (f"Cisco's security guide asks that the CA keep {_ku_list(missing)}: where the CA allows it, issue "
            "from a template that keeps the CSR's key usages (public ACME CAs do not).")


def _check_eku(ctx: _Context) -> list[Check]:
    leaf, required = _leaf(ctx), ctx.purpose.extended_key_usage
    eku = _ext(leaf.certificate, x509.ExtendedKeyUsage)
    wanted = ", ".join(_EKU_NAMES.get(o, o) for o in sorted(required))
    present = {o.dotted_string for o in eku} if eku is not None else set()
    missing = sorted(required - present)
    if eku is not None and not missing:
        return [_check("extended_key_usage", PASS, f"Extended Key Usage has {wanted}", leaf)]
    text = (f"Extended Key Usage lacks {', '.join(_EKU_NAMES.get(o, o) for o in missing)}" if eku is not None
            else "no Extended Key Usage extension") + f" (required: {wanted})"
    return [_check("extended_key_usage", FAIL, text, leaf, remedy=_ku_remedy(ctx))]


def _check_basic_constraints(ctx: _Context) -> list[Check]:
    leaf, p = _leaf(ctx), ctx.purpose
    bc = _ext(leaf.certificate, x509.BasicConstraints)
    if p.ca_required and not p.requires_ca(ctx.version):
        since = p.ca_required_since or ""
        return [_check("basic_constraints", PASS,
                       f"{p.name} on {ctx.version}: CA:TRUE, pathlen:{p.path_length} is required only from {since} "
                       f"(the leaf has {'CA:TRUE' if bc is not None and bc.ca else 'CA:FALSE'})", leaf)]
    if p.ca_required:
        if bc is not None and bc.ca and bc.path_length == p.path_length:
            return [_check("basic_constraints", PASS, f"CA:TRUE, pathlen:{p.path_length} as {p.name} requires", leaf)]
        have = "absent" if bc is None else f"CA:{str(bc.ca).upper()}, pathlen:{bc.path_length}"
        return [_check(
            "basic_constraints", FAIL, f"{p.name} needs Basic Constraints CA:TRUE, pathlen:{p.path_length}; the leaf has {have}",
            leaf, remedy=f"Have the CA issue {p.name} from a subordinate-CA template (CA:TRUE, pathlen 0, "
                         f"Certificate Sign); {_since_text(p, ctx.version)}otherwise TLS fails.",
        )]
    if bc is not None and bc.ca:
        return [_check("basic_constraints", WARN, f"the leaf is a CA certificate (CA:TRUE), unusual for {p.name}", leaf,
                       remedy="Check the CA template used.")]
    return [_check("basic_constraints", PASS, "leaf is an end-entity certificate", leaf)]


def _since_text(p: Purpose, version: str | None) -> str:
    if p.ca_required_since is None:
        return ""
    if version is None:
        return f"the node's release is unknown, so the {p.ca_required_since} rule is applied; "
    return f"{version} is {p.ca_required_since} or later; "


def _check_ca_constraints(ctx: _Context) -> list[Check]:
    checks: list[Check] = []
    issuers = ctx.chain.issuers()
    for depth, c in enumerate(issuers):
        below = sum(not self_issued(x.certificate) for x in issuers[:depth])  # RFC 5280 6.1.4 (l)
        checks.extend(_ca_problems(ctx, c, below))
    return checks or [_check("ca_constraints", PASS if issuers else SKIPPED,
                             "every CA has CA:TRUE and room in its path length" if issuers else "no CA certificate to check")]


def _ca_problems(ctx: _Context, c: ChainCert, below: int) -> list[Check]:
    cert, role = c.certificate, _role(ctx, c)
    bc = _ext(cert, x509.BasicConstraints)
    if bc is None and cert.version == x509.Version.v1 and role == "root CA":
        return [_check("ca_constraints", WARN, "legacy v1 root without Basic Constraints", c)]
    if bc is None or not bc.ca:
        return [_check("ca_constraints", FAIL, f"{role} lacks Basic Constraints CA:TRUE, yet issues certificates", c,
                       remedy="Get the proper CA certificate from the CA.")]
    problems = []
    if bc.path_length is not None and bc.path_length < below:
        problems.append(_check("ca_constraints", FAIL, f"{role} allows pathlen {bc.path_length} but {below} CA(s) follow it", c,
                               remedy="Get the CA's current chain; this path violates its path length constraint."))
    ku = _ext(cert, x509.KeyUsage)
    if ku is not None and not ku.key_cert_sign:
        problems.append(_check("ca_constraints", FAIL, f"{role}'s Key Usage lacks Certificate Sign", c,
                               remedy="Get the proper CA certificate from the CA."))
    return problems


# --- CSR -----------------------------------------------------------------------------------------


def _csr_checks(ctx: _Context) -> list[Check]:
    if isinstance(ctx.csr, NoPendingCsr):
        p = ctx.purpose
        return [_check(
            "csr_pending", FAIL, f"no pending {p.name} CSR on the node: CUCM compares the certificate with it",
            cucm_message=MESSAGES.no_csr.format(csr_path=p.csr_path),
            remedy=_REMEDY_NO_CSR.format(purpose=p.name),
        )]
    if ctx.csr is None:
        why = "no CSR given: {} not compared"
        return [
            _check("csr_key", SKIPPED, why.format("public key")),
            _check("csr_san", SKIPPED, why.format("subject alternative names")),
            _check("csr_subject", SKIPPED, why.format("subject")),
        ]
    return [*_check_csr_signature(ctx.csr), *_check_csr_key(ctx, ctx.csr), *_check_csr_san(ctx, ctx.csr),
            *_check_csr_subject(ctx, ctx.csr)]


def _check_csr_signature(csr: x509.CertificateSigningRequest) -> list[Check]:
    try:
        valid = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm):
        valid = False
    if valid:
        return []
    return [_check("csr_signature", WARN, "the CSR's own signature does not verify (damaged or edited CSR)",
                   remedy="Download the CSR from the node again.")]


def _check_csr_key(ctx: _Context, csr: x509.CertificateSigningRequest) -> list[Check]:
    leaf = _leaf(ctx)
    if _spki(leaf.certificate) is not None and _spki(leaf.certificate) == _spki(csr):
        return [_check("csr_key", PASS, "the leaf's public key is the CSR's", leaf)]
    return [_check(
        "csr_key", FAIL, "the leaf's public key differs from the CSR's", leaf,
        cucm_message=MESSAGES.key_mismatch, remedy=_REMEDY_KEY,
    )]


def _check_csr_san(ctx: _Context, csr: x509.CertificateSigningRequest) -> list[Check]:
    leaf = _leaf(ctx)
    want, have = san_set(csr), san_set(leaf.certificate)
    if want == have:
        return [_check("csr_san", PASS, f"SANs equal the CSR's ({len(want)} name(s))", leaf)]
    parts = []
    if have - want:
        parts.append("added by the CA: " + ", ".join(sorted(have - want)))
    if want - have:
        parts.append("dropped by the CA: " + ", ".join(sorted(want - have)))
    return [_check("csr_san", FAIL, "SANs differ from the CSR's; " + "; ".join(parts), leaf,
                   cucm_message=MESSAGES.san_mismatch, remedy=_REMEDY_SAN)]


def _check_csr_subject(ctx: _Context, csr: x509.CertificateSigningRequest) -> list[Check]:
    leaf = _leaf(ctx)
    want, have = shorten(common_name(csr.subject)), shorten(common_name(leaf.certificate.subject))
    if want.lower() == have.lower():
        return [_check("csr_subject", PASS, f"subject CN {have!r} as requested", leaf)]
    return [_check(
        "csr_subject", WARN, f"subject CN {have!r} differs from the CSR's {want!r} (CUCM compares key and SANs, not the CN)",
        leaf, remedy="Check that this is the certificate for this node; some CAs rewrite the CN (e.g. drop -ms).",
    )]


def _expected_checks(ctx: _Context) -> list[Check]:
    """The SAN set and common name recorded with the CSR (before the CA signed) against the certificate."""
    if ctx.expected is None:
        return []
    leaf, want = _leaf(ctx), ctx.expected
    have = san_set(leaf.certificate)
    return [_san_missing(ctx, leaf, sorted(want.sans - have)), _san_added(leaf, sorted(have - want.sans)),
            _expected_cn(leaf, want.common_name)]


def _san_missing(ctx: _Context, leaf: ChainCert, missing: list[str]) -> Check:
    if not missing:
        return _check("san_missing", PASS, "every SAN entry the CSR asked for is in the certificate", leaf)
    extras = [m for m in missing if ctx.expected is not None and m in ctx.expected.extras]
    why = (f" ({', '.join(extras)} from the parameter file's extra_sans: the CA template must take SANs from the "
           "request)") if extras else ""
    return _check("san_missing", FAIL, f"the CA dropped SAN entries the CSR asked for: {', '.join(missing)}{why}",
                  leaf, cucm_message=MESSAGES.san_mismatch, remedy=_REMEDY_SAN)


def _san_added(leaf: ChainCert, added: list[str]) -> Check:
    if not added:
        return _check("san_added", PASS, "the CA added no SAN entry", leaf)
    return _check("san_added", FAIL, f"the CA added SAN entries the CSR did not ask for: {', '.join(added)} "
                  "(e.g. the CN or an IP address)", leaf, cucm_message=MESSAGES.san_mismatch, remedy=_REMEDY_SAN)


def _expected_cn(leaf: ChainCert, want: str) -> Check:
    have = common_name(leaf.certificate.subject)
    if not want or have.lower() == want.lower():
        return _check("expected_cn", PASS, f"common name {shorten(have)!r} as requested", leaf)
    return _check("expected_cn", WARN, f"common name {shorten(have)!r}, not the {shorten(want)!r} the CSR asked for "
                  "(CUCM compares key and SANs, not the CN)", leaf,
                  remedy="Check that this is the certificate for this CSR; a CA that refuses the -ms common name "
                         "is declared with ca.refuses_ms_common_name: true (the CSR then asks for the holder's FQDN).")


# --- trust store -------------------------------------------------------------------------------


def _trust_checks(ctx: _Context) -> list[Check]:
    cas = [c for c in ctx.chain.issuers() if not c.from_trust_store]
    if ctx.store is None:
        return [_check("trust_store", SKIPPED, f"no {ctx.purpose.trust_store} contents given: duplicate-CN rule not checked")]
    if not cas:
        return [_check("trust_store", PASS, f"nothing to add to {ctx.purpose.trust_store}")]
    return [_trust_check(ctx, c) for c in cas]


def _trust_check(ctx: _Context, c: ChainCert) -> Check:
    store_name, cert = ctx.purpose.trust_store, c.certificate
    assert ctx.store is not None
    if any(s.fingerprint == c.fingerprint for s in ctx.store):
        return _check("trust_store", PASS, f"already in {store_name}", c)
    cn = common_name(cert.subject)
    same_cn = [s for s in ctx.store if common_name(s.certificate.subject) == cn]
    newer = [s for s in same_cn if s.certificate.not_valid_before_utc > cert.not_valid_before_utc]
    if not newer:
        verb = "replaces the older copy in" if same_cn else "new to"
        return _check("trust_store", PASS, f"CN {cn!r} {verb} {store_name}", c)
    return _newer_copy(ctx, c, newer[0])


def _newer_copy(ctx: _Context, c: ChainCert, kept: LoadedCert) -> Check:
    store_name = ctx.purpose.trust_store
    since = _when(kept.certificate.not_valid_before_utc)
    child = _child_of(ctx.chain, c)
    if child is not None and issued_by(child.certificate, kept.certificate):
        return _check("trust_store", WARN, f"{store_name} keeps its copy valid from {since}; it also verifies the chain", c)
    return _check(
        "trust_store", FAIL,
        f"{store_name} already holds CN {common_name(c.certificate.subject)!r} valid from {since} (newer): "
        "CUCM would silently keep that one and not store this", c,
        cucm_message=MESSAGES.not_replaced_older, remedy=_REMEDY_DUP_CN.format(trust=store_name),
    )


def _child_of(chain: Chain, c: ChainCert) -> ChainCert | None:
    members = chain.members()
    for index, member in enumerate(members[1:], start=1):
        if member.fingerprint == c.fingerprint:
            return members[index - 1]
    return None


# --- plan and entry point ----------------------------------------------------------------------


def _plan(ctx: _Context) -> tuple[UploadStep, ...]:
    chain, p = ctx.chain, ctx.purpose
    store_prints = {s.fingerprint for s in ctx.store or ()}
    ordered = [c for c in reversed(chain.issuers()) if not c.from_trust_store]
    steps = []
    for c in ordered:
        kind = "root" if chain.root is not None and c.fingerprint == chain.root.fingerprint else "intermediate"
        steps.append((p.trust_store, kind, c))
    steps.append((p.name, "leaf", _leaf(ctx)))
    return tuple(
        UploadStep(order=i, store=store, kind=kind, pem=c.loaded.pem, already_present=c.fingerprint in store_prints,
                   **_about(c))
        for i, (store, kind, c) in enumerate(steps, start=1)
    )


_CHECKS = (
    _check_intake, _check_private_keys, _check_leaf, _check_leaf_names, _check_chain, _check_signatures, _check_strays,
    _check_validity, _check_leaf_expiry, _check_wildcard, _check_key_type, _check_public_keys, _check_key_size,
    _check_signature_algorithms, _check_critical_extensions, _check_key_usage, _check_eku, _check_basic_constraints,
    _check_ca_constraints, _csr_checks, _expected_checks, _trust_checks,
)


def _as_material(material: Any) -> Material:
    if isinstance(material, Material):
        return material
    if isinstance(material, (bytes, bytearray)):
        return load_bytes(bytes(material))
    if isinstance(material, x509.Certificate):
        return Material.of([material])
    if isinstance(material, str) and "-----BEGIN" in material:
        return load_bytes(material.encode("utf-8"), name="<text>")
    if isinstance(material, (str,)):
        return load_material([material])
    return load_material(material)


def _as_store(store: Any) -> tuple[LoadedCert, ...] | None:
    if store is None:
        return None
    if isinstance(store, Material):
        return store.certificates
    certs = []
    for item in store:
        if isinstance(item, CertRecord):
            if item.pem:
                certs.append(item.certificate())
        elif isinstance(item, LoadedCert):
            certs.append(item.certificate)
        elif isinstance(item, x509.Certificate):
            certs.append(item)
        elif isinstance(item, (str, bytes)):
            data = item if isinstance(item, bytes) else item.encode()
            certs.extend(c.certificate for c in load_bytes(data, name="<trust store>").certificates)
        else:
            raise TypeError(f"cannot use {type(item).__name__} as a trust store entry")
    return Material.of(certs, source="<trust store>").certificates


def _as_csr(csr: CsrInput) -> x509.CertificateSigningRequest | NoPendingCsr | None:
    if csr is None or isinstance(csr, (NoPendingCsr, x509.CertificateSigningRequest)):
        return csr
    if isinstance(csr, (str, bytes)):
        return load_csr(csr)
    raise TypeError(f"cannot use {type(csr).__name__} as a CSR")


def validate(
    material: Material | Iterable[Any] | bytes | str | x509.Certificate,
    *,
    purpose: str | Purpose,
    now: datetime,
    csr: CsrInput = None,
    trust_store: Material | Iterable[Any] | None = None,
    expiry_warning_days: int = 30,
    version: str | None = None,
    expected: ExpectedNames | None = None,
) -> Report:
    """Every check of the material for ``purpose`` at ``now``; CertificateError only for unusable input.

    ``version``: the node's CUCM release; rules that changed by release apply by it (CAPF's CA:TRUE,
    pathlen:0 from 14SU2); None (unknown) applies the newest rule. ``expected``: the SAN set and common name
    recorded with the CSR before the CA signed (``cucmkit.sans``): entries missing and entries added are each a
    named failure (``san_missing``, ``san_added``), another common name a warning (``expected_cn``).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    p = purpose if isinstance(purpose, Purpose) else catalogue.get(purpose)
    loaded, store, the_csr = _as_material(material), _as_store(trust_store), _as_csr(csr)
    if not loaded.certificates:
        raise CertificateError("no certificates to check", purpose=p.name)
    _within_budgets(loaded, store, p)
    leaf_key = _spki(the_csr) if isinstance(the_csr, x509.CertificateSigningRequest) else None
    chain = build_chain(loaded.certificates, trust_store=store or (), leaf_key=leaf_key, leaf_usages=p.key_usage)
    ctx = _Context(p, now, chain, loaded, store, the_csr, expiry_warning_days, version, expected)
    checks = tuple(check for step in _CHECKS for check in step(ctx))
    report = Report(purpose=p.name, checks=checks, notes=loaded.notes, chain=_entries(ctx))
    return replace(report, upload_plan=_plan(ctx)) if report.ok else report


def _within_budgets(material: Material, store: tuple[LoadedCert, ...] | None, p: Purpose) -> None:
    """The same budgets as the command line, for material handed in from Python."""
    if len(material) > BUDGETS.certificates:
        raise CertificateError(f"{len(material)} certificates to check; at most {BUDGETS.certificates} are checked "
                               "at once (give only the leaf and its CAs)", purpose=p.name)
    if store is not None and len(store) > BUDGETS.trust_store_certificates:
        raise CertificateError(f"a trust store of {len(store)} certificates; at most "
                               f"{BUDGETS.trust_store_certificates} are read", purpose=p.name)


def _entries(ctx: _Context) -> tuple[ChainEntry, ...]:
    return tuple(
        ChainEntry(role=_role(ctx, c).removesuffix(" CA"), issuer=_name(c.certificate.issuer),
                   not_before=c.certificate.not_valid_before_utc, not_after=c.certificate.not_valid_after_utc,
                   from_trust_store=c.from_trust_store, **_about(c))
        for c in ctx.chain.members()
    )
