"""Chain building: leaf, intermediates and root by subject/issuer AND signature, never by order.

The material may be accompanied by the node's trust store: a chain may run
through certificates already there (a CA that returns only the leaf). Every
choice is made from the certificates' content (fingerprint as the final tie
break), so the result does not depend on the order or files they came in.

Names match as RFC 5280 section 7.1 says (attribute values compared case-
insensitively, with insignificant whitespace folded), not byte for byte. The
search is bounded (``cucmkit.certs.budgets``): each certificate is expanded
once, at most ``issuer_candidates`` certificates of one name are tried as an
issuer, signature checks are cached by issuer key and counted, and the chain is
at most ``chain_depth`` long. When no path to a root exists the chain says why:
the issuer is absent, present but its signature does not verify, signed with
an algorithm that cannot be verified, certificates issue each other in a cycle,
the chain is too deep, or too many certificates share the issuer's name.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa

from cucmkit.certs.budgets import BUDGETS, Budgets
from cucmkit.certs.intake import LoadedCert

__all__ = [
    "ChainCert", "Chain", "BadSignature", "build_chain", "issued_by", "verify_signature", "name_matches",
    "names_equal", "name_key", "is_ca", "self_issued", "REASONS",
]

# Why a chain ends without a root (``Chain.reason``).
REASONS = ("missing", "signature", "algorithm", "cycle", "depth", "candidates", "budget")

_MAX_RSA_EXPONENT_BITS = 64  # OpenSSL's own limit for large moduli; a larger exponent only costs time


@dataclass(frozen=True)
class ChainCert:
    """A certificate in a chain, and whether it came from the node's trust store rather than the material."""

    loaded: LoadedCert
    from_trust_store: bool = False

    @property
    def certificate(self) -> x509.Certificate:
        return self.loaded.certificate

    @property
    def fingerprint(self) -> str:
        return self.loaded.fingerprint


@dataclass(frozen=True)
class BadSignature:
    """A certificate names an issuer that is present, but the issuer's key does not verify its signature."""

    child: ChainCert
    issuer: ChainCert


@dataclass(frozen=True)
class Chain:
    """leaf -> intermediates (leaf side first) -> root; what is missing and why; what belongs to no chain."""

    leaf: ChainCert | None
    intermediates: tuple[ChainCert, ...] = ()
    root: ChainCert | None = None
    missing_issuer: str | None = None        # RFC 4514 name of the first issuer not found
    missing_kind: str | None = None          # "intermediate", "root" or "issuer" (cannot tell)
    missing_below: ChainCert | None = None   # the certificate whose issuer is missing
    strays: tuple[ChainCert, ...] = ()       # material certificates outside the leaf's chain
    other_leaves: tuple[ChainCert, ...] = () # further leaf candidates (also among strays)
    bad_signatures: tuple[BadSignature, ...] = ()
    reason: str | None = None                # one of REASONS when there is no root
    cycle: tuple[ChainCert, ...] = ()        # the certificates that issue each other (reason "cycle")

    @property
    def complete(self) -> bool:
        return self.leaf is not None and self.root is not None

    def members(self) -> tuple[ChainCert, ...]:
        """leaf, intermediates, root (whatever is present)."""
        ordered = (self.leaf, *self.intermediates, self.root)
        unique: list[ChainCert] = []
        for item in ordered:
            if item is not None and all(item.fingerprint != u.fingerprint for u in unique):
                unique.append(item)
        return tuple(unique)

    def issuers(self) -> tuple[ChainCert, ...]:
        """intermediates then root (the certificates that go to the trust store), leaf excluded."""
        return tuple(c for c in self.members()[1:])


# --- names -------------------------------------------------------------------------------------

NameKey = tuple[tuple[tuple[str, str], ...], ...]


def _name_string(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()
    except ValueError:
        return repr(name)


def _fold(value: str | bytes) -> str:
    """RFC 4518 in short: case folded, leading/trailing space dropped, inner runs of space made one."""
    if isinstance(value, bytes):
        return "#" + value.hex()
    return " ".join(value.casefold().split())


def name_key(name: x509.Name) -> NameKey:
    """The form two names are compared in (RFC 5280 7.1): RDNs in order, each a set of (type, folded value)."""
    try:
        return tuple(
            tuple(sorted((attr.oid.dotted_string, _fold(attr.value)) for attr in rdn)) for rdn in name.rdns
        )
    except ValueError:
        return ((("der", _raw_name(name)),),)


def _raw_name(name: x509.Name) -> str:
    try:
        return name.public_bytes().hex()
    except ValueError:
        return repr(name)


def names_equal(a: x509.Name, b: x509.Name) -> bool:
    return name_key(a) == name_key(b)


def name_matches(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """``parent``'s subject is ``child``'s issuer, compared as RFC 5280 7.1 says."""
    return names_equal(child.issuer, parent.subject)


def self_issued(cert: x509.Certificate) -> bool:
    """Subject and issuer are the same name (a root, or a CA's key-rollover certificate)."""
    return names_equal(cert.subject, cert.issuer)


# --- signatures --------------------------------------------------------------------------------


def issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """True when ``parent``'s subject is ``child``'s issuer and ``parent``'s key verifies ``child``'s signature."""
    return name_matches(child, parent) and verify_signature(child, parent)


def verify_signature(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """The signature check alone, by hand, so legacy algorithms (SHA-1) verify and sane limits apply.

    MD2/MD4/MD5 signatures are never verified: they can be forged, so they vouch for nothing.
    """
    if not _verifiable(child):
        return False
    try:
        key, sig, tbs = parent.public_key(), child.signature, child.tbs_certificate_bytes
        if isinstance(key, rsa.RSAPublicKey):
            if key.public_numbers().e.bit_length() > _MAX_RSA_EXPONENT_BITS:
                return False
            pad = child.signature_algorithm_parameters
            key.verify(sig, tbs, pad if isinstance(pad, (padding.PSS, padding.PKCS1v15)) else padding.PKCS1v15(),
                       _hash_of(child))
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, tbs, ec.ECDSA(_hash_of(child)))
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(sig, tbs)
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(sig, tbs, _hash_of(child))
        else:
            return False
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _hash_of(cert: x509.Certificate) -> hashes.HashAlgorithm:
    algorithm = cert.signature_hash_algorithm
    if algorithm is None:
        raise UnsupportedAlgorithm("no hash algorithm for this signature")
    return algorithm


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return False


def _key_digest(cert: x509.Certificate) -> str:
    try:
        spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, UnsupportedAlgorithm):
        return "unreadable:" + hashlib.sha256(cert.tbs_certificate_bytes).hexdigest()
    return hashlib.sha256(spki).hexdigest()


def _key_identifier(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> bytes | None:
    try:
        value: x509.ExtensionType = cert.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    if isinstance(value, x509.SubjectKeyIdentifier):
        return value.digest
    return value.key_identifier if isinstance(value, x509.AuthorityKeyIdentifier) else None


# --- the pool ------------------------------------------------------------------------------------


class _Pool:
    """All candidate certificates, indexed by subject name, with cached and counted signature checks."""

    def __init__(self, material: Sequence[LoadedCert], trust_store: Sequence[LoadedCert], budgets: Budgets) -> None:
        own = {c.fingerprint: ChainCert(c) for c in material}
        store = {c.fingerprint: ChainCert(c, True) for c in trust_store if c.fingerprint not in own}
        self.budgets = budgets
        self.material = sorted(own.values(), key=lambda c: c.fingerprint)
        self.all = sorted([*own.values(), *store.values()], key=lambda c: (c.from_trust_store, c.fingerprint))
        self.by_subject: dict[NameKey, list[ChainCert]] = {}
        for cand in self.all:
            self.by_subject.setdefault(name_key(cand.certificate.subject), []).append(cand)
        self._issuer_key: dict[str, NameKey] = {c.fingerprint: name_key(c.certificate.issuer) for c in self.all}
        self._key_of: dict[str, str] = {}
        self._verified: dict[tuple[str, str], bool] = {}
        self._parents: dict[str, list[ChainCert]] = {}
        self._self_signed: dict[str, bool] = {}
        self.failed: dict[str, list[ChainCert]] = {}   # child -> tried candidates whose key did not verify it
        self.overflow: set[str] = set()                 # children with more candidates than the budget
        self.checks = 0
        self.exhausted = False

    def key_of(self, c: ChainCert) -> str:
        if c.fingerprint not in self._key_of:
            self._key_of[c.fingerprint] = _key_digest(c.certificate)
        return self._key_of[c.fingerprint]

    def verifies(self, child: ChainCert, parent: ChainCert) -> bool:
        slot = (child.fingerprint, self.key_of(parent))
        if slot not in self._verified:
            if self.checks >= self.budgets.signature_checks:
                self.exhausted = True
                return False
            self.checks += 1
            self._verified[slot] = verify_signature(child.certificate, parent.certificate)
        return self._verified[slot]

    def self_signed(self, c: ChainCert) -> bool:
        if c.fingerprint not in self._self_signed:
            self._self_signed[c.fingerprint] = self_issued(c.certificate) and self.verifies(c, c)
        return self._self_signed[c.fingerprint]

    def named_issuers(self, child: ChainCert) -> list[ChainCert]:
        """The certificates whose subject is ``child``'s issuer, key-identifier matches first."""
        found = [c for c in self.by_subject.get(self._issuer_key[child.fingerprint], []) if c.fingerprint != child.fingerprint]
        aki = _key_identifier(child.certificate, x509.AuthorityKeyIdentifier)
        if aki is not None and len(found) > 1:
            found.sort(key=lambda c: _key_identifier(c.certificate, x509.SubjectKeyIdentifier) != aki)
        return found

    def parents(self, child: ChainCert) -> list[ChainCert]:
        if child.fingerprint not in self._parents:
            named = self.named_issuers(child)
            if len(named) > self.budgets.issuer_candidates:
                self.overflow.add(child.fingerprint)
                named = named[: self.budgets.issuer_candidates]
            good = [c for c in named if self.verifies(child, c)]
            self.failed[child.fingerprint] = [c for c in named if all(c.fingerprint != g.fingerprint for g in good)]
            self._parents[child.fingerprint] = good
        return self._parents[child.fingerprint]

    def issuers_of_material(self) -> set[str]:
        """Fingerprints of the certificates that verifiably issue another certificate of the material."""
        found: set[str] = set()
        for child in self.material:
            found.update(p.fingerprint for p in self.parents(child) if p.fingerprint != child.fingerprint)
        return found


# --- the search ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    path: tuple[ChainCert, ...]
    rooted: bool
    reason: str | None = None
    cycle: tuple[ChainCert, ...] = ()


def _search(pool: _Pool, leaf: ChainCert) -> _Found:
    """Best-first search upward from ``leaf``; each certificate expanded once; the best path to a root."""
    cost: dict[str, tuple[int, int]] = {leaf.fingerprint: (0, 1)}
    back: dict[str, ChainCert | None] = {leaf.fingerprint: None}
    heap: list[tuple[tuple[int, int], str, ChainCert]] = [((0, 1), leaf.fingerprint, leaf)]
    settled: set[str] = set()
    ends: list[_Found] = []
    while heap:
        here, _, node = heapq.heappop(heap)
        if node.fingerprint in settled:
            continue
        settled.add(node.fingerprint)
        path = _path_to(back, node)
        if pool.self_signed(node):
            ends.append(_Found(path, True))
            continue
        if here[1] >= pool.budgets.chain_depth:
            ends.append(_Found(path, False, "depth"))
            continue
        parents = pool.parents(node)
        on_path = [p for p in parents if any(p.fingerprint == q.fingerprint for q in path)]
        fresh = [p for p in parents if p.fingerprint not in settled]
        for parent in fresh:
            step = (here[0] + int(parent.from_trust_store), here[1] + 1)
            if step < cost.get(parent.fingerprint, (1 << 30, 0)):
                cost[parent.fingerprint], back[parent.fingerprint] = step, node
                heapq.heappush(heap, (step, parent.fingerprint, parent))
        if not parents:
            ends.append(_Found(path, False, _why_no_parent(pool, node)))
        elif on_path and not fresh:
            ends.append(_Found(path, False, "cycle", _cycle(path, on_path)))
    return _best(ends, leaf)


def _path_to(back: dict[str, ChainCert | None], node: ChainCert) -> tuple[ChainCert, ...]:
    path: list[ChainCert] = []
    cursor: ChainCert | None = node
    while cursor is not None:
        path.append(cursor)
        cursor = back[cursor.fingerprint]
    return tuple(reversed(path))


def _cycle(path: tuple[ChainCert, ...], on_path: list[ChainCert]) -> tuple[ChainCert, ...]:
    start = min(i for i, c in enumerate(path) if any(c.fingerprint == p.fingerprint for p in on_path))
    return path[start:]


def _why_no_parent(pool: _Pool, node: ChainCert) -> str:
    if pool.exhausted:
        return "budget"
    if self_issued(node.certificate) and not pool.failed.get(node.fingerprint):
        return "signature"  # a root whose own key does not verify its signature
    if not pool.failed.get(node.fingerprint):
        return "missing"
    if node.fingerprint in pool.overflow:
        return "candidates"
    return "algorithm" if not _verifiable(node.certificate) else "signature"


def _verifiable(cert: x509.Certificate) -> bool:
    """The signature algorithm is one the check can verify at all."""
    try:
        algorithm = cert.signature_hash_algorithm
    except (UnsupportedAlgorithm, ValueError):
        return False
    if algorithm is None:
        return cert.signature_algorithm_oid.dotted_string in ("1.3.101.112", "1.3.101.113")  # Ed25519, Ed448
    return not isinstance(algorithm, hashes.MD5)


def _best(ends: list[_Found], leaf: ChainCert) -> _Found:
    if not ends:  # every branch merged into another that ended elsewhere: cannot happen, but stay total
        return _Found((leaf,), False, "missing")

    def rank(found: _Found) -> tuple[int, int, int, tuple[str, ...]]:
        material = sum(not c.from_trust_store for c in found.path)
        return (int(found.rooted), material, -len(found.path), tuple(c.fingerprint for c in found.path))

    rooted = [f for f in ends if f.rooted]
    if rooted:
        return max(rooted, key=lambda f: (-sum(c.from_trust_store for c in f.path), -len(f.path),
                                          tuple(c.fingerprint for c in f.path)))
    return max(ends, key=rank)


# --- the leaf ------------------------------------------------------------------------------------


def _spki(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (ValueError, UnsupportedAlgorithm):
        return None


def _has_usages(cert: x509.Certificate, usages: frozenset[str]) -> bool:
    if not usages:
        return False
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        return all(bool(getattr(ku, name)) for name in usages)
    except (x509.ExtensionNotFound, ValueError):
        return False


def _leaf_rank(pool: _Pool, cand: ChainCert, leaf_key: bytes | None,
               usages: frozenset[str]) -> tuple[bool, bool, bool, bool]:
    """What makes a certificate the leaf, before its path is searched (cheap)."""
    cert = cand.certificate
    key_match = leaf_key is not None and _spki(cert) == leaf_key
    return (key_match, not is_ca(cert), _has_usages(cert, usages), not pool.self_signed(cand))


def _missing(pool: _Pool, found: _Found) -> tuple[str | None, str | None, ChainCert | None]:
    if found.rooted:
        return None, None, None
    path, top = found.path, found.path[-1]
    issuer = name_key(top.certificate.issuer)
    unattached_root = any(
        pool.self_signed(c) and all(c.fingerprint != p.fingerprint for p in path)
        and name_key(c.certificate.subject) != issuer
        for c in pool.all
    )
    if unattached_root:
        kind = "intermediate"
    elif len(path) > 1 or is_ca(top.certificate):
        kind = "root"
    else:
        kind = "issuer"
    return _name_string(top.certificate.issuer), kind, top


def build_chain(
    material: Sequence[LoadedCert],
    *,
    trust_store: Sequence[LoadedCert] = (),
    leaf_key: bytes | None = None,
    leaf_usages: frozenset[str] = frozenset(),
    budgets: Budgets = BUDGETS,
) -> Chain:
    """Find the leaf and its chain.

    The leaf is the certificate whose SubjectPublicKeyInfo DER equals ``leaf_key``, else an end-entity
    certificate with every Key Usage in ``leaf_usages`` (cryptography attribute names), else any
    certificate that issues no other; the fingerprint breaks the last tie.
    """
    pool = _Pool(material, trust_store, budgets)
    if not pool.material:
        return Chain(leaf=None)
    issuers = pool.issuers_of_material()
    candidates = [c for c in pool.material if c.fingerprint not in issuers] or list(pool.material)
    cheap = {c.fingerprint: _leaf_rank(pool, c, leaf_key, leaf_usages) for c in candidates}
    top = max(cheap.values())
    searched = {c.fingerprint: _search(pool, c) for c in candidates if cheap[c.fingerprint] == top}

    def rank(c: ChainCert) -> tuple[tuple[bool, bool, bool, bool], bool, int, str]:
        found = searched.get(c.fingerprint)
        return (cheap[c.fingerprint], bool(found and found.rooted), len(found.path) if found else 0, c.fingerprint)

    ranked = sorted(candidates, key=rank, reverse=True)
    leaf = ranked[0]
    found = searched[leaf.fingerprint]
    path = found.path
    in_chain = {c.fingerprint for c in path}
    missing_issuer, kind, below = _missing(pool, found)
    return Chain(
        leaf=leaf,
        intermediates=tuple(path[1:-1]) if found.rooted else tuple(path[1:]),
        root=path[-1] if found.rooted else None,
        missing_issuer=missing_issuer,
        missing_kind=kind,
        missing_below=below,
        strays=tuple(c for c in pool.material if c.fingerprint not in in_chain),
        other_leaves=tuple(ranked[1:]),
        bad_signatures=_bad_in_chain(pool, found),
        reason=found.reason,
        cycle=found.cycle,
    )


def _bad_in_chain(pool: _Pool, found: _Found) -> tuple[BadSignature, ...]:
    """Bad signatures along the chain: a certificate whose named issuer is present but does not verify it."""
    if found.rooted or found.reason not in ("signature", "algorithm"):
        return ()
    top = found.path[-1]
    bad = [BadSignature(top, cand) for cand in sorted(pool.failed.get(top.fingerprint, []), key=lambda c: c.fingerprint)]
    if self_issued(top.certificate) and not pool.self_signed(top):
        bad.append(BadSignature(top, top))
    return tuple(bad)
