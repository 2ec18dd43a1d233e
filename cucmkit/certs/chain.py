"""Chain building: leaf, intermediates and root by subject/issuer AND signature, never by order.

The material may be accompanied by the node's trust store: a chain may run
through certificates already there (a CA that returns only the leaf). Every
choice is made from the certificates' content (fingerprint as the final tie
break), so the result does not depend on the order or files they came in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from cucmkit.certs.intake import LoadedCert

__all__ = ["ChainCert", "Chain", "BadSignature", "build_chain", "issued_by", "verify_signature", "name_matches", "is_ca"]


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
    """leaf -> intermediates (leaf side first) -> root; what is missing; what belongs to no chain."""

    leaf: ChainCert | None
    intermediates: tuple[ChainCert, ...] = ()
    root: ChainCert | None = None
    missing_issuer: str | None = None        # RFC 4514 name of the first issuer not found
    missing_kind: str | None = None          # "intermediate", "root" or "issuer" (cannot tell)
    missing_below: ChainCert | None = None   # the certificate whose issuer is missing
    strays: tuple[ChainCert, ...] = ()       # material certificates outside the leaf's chain
    other_leaves: tuple[ChainCert, ...] = () # further leaf candidates (also among strays)
    bad_signatures: tuple[BadSignature, ...] = ()

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


def _name_string(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()
    except ValueError:
        return repr(name)


def name_matches(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        return child.issuer == parent.subject
    except ValueError:
        return False


def issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """True when ``parent``'s subject is ``child``'s issuer and ``parent``'s key verifies ``child``'s signature."""
    if not name_matches(child, parent):
        return False
    try:
        child.verify_directly_issued_by(parent)
    except InvalidSignature:
        return False
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return verify_signature(child, parent)  # e.g. SHA-1, which cryptography's helper no longer verifies
    return True


def verify_signature(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """The signature check alone, done by hand for algorithms the helper refuses (legacy SHA-1 roots)."""
    try:
        key, sig, tbs = parent.public_key(), child.signature, child.tbs_certificate_bytes
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, tbs, child.signature_algorithm_parameters, child.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, tbs, child.signature_algorithm_parameters)
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(sig, tbs)
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(sig, tbs, child.signature_hash_algorithm)
        else:
            return False
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return False


def _self_signed(cert: x509.Certificate) -> bool:
    return issued_by(cert, cert)


_MAX_DEPTH = 12


class _Pool:
    """All candidate certificates with cached issuer relations."""

    def __init__(self, material: Sequence[LoadedCert], trust_store: Sequence[LoadedCert]) -> None:
        own = {c.fingerprint: ChainCert(c) for c in material}
        store = {c.fingerprint: ChainCert(c, True) for c in trust_store if c.fingerprint not in own}
        self.material = sorted(own.values(), key=lambda c: c.fingerprint)
        self.all = sorted([*own.values(), *store.values()], key=lambda c: (c.from_trust_store, c.fingerprint))
        self._parents: dict[str, list[ChainCert]] = {}
        self.bad: dict[tuple[str, str], BadSignature] = {}

    def parents(self, child: ChainCert) -> list[ChainCert]:
        if child.fingerprint not in self._parents:
            self._parents[child.fingerprint] = self._find_parents(child)
        return self._parents[child.fingerprint]

    def _find_parents(self, child: ChainCert) -> list[ChainCert]:
        found = []
        for cand in self.all:
            if cand.fingerprint == child.fingerprint or not name_matches(child.certificate, cand.certificate):
                continue
            if issued_by(child.certificate, cand.certificate):
                found.append(cand)
            else:
                self.bad[(child.fingerprint, cand.fingerprint)] = BadSignature(child, cand)
        return found

    def is_parent_of_any(self, cand: ChainCert) -> bool:
        return any(
            cand.fingerprint != other.fingerprint and cand.fingerprint in {p.fingerprint for p in self.parents(other)}
            for other in self.material
        )


def _path(pool: _Pool, leaf: ChainCert) -> tuple[list[ChainCert], bool]:
    """The best path upward from ``leaf``; True when it ends in a self-signed root."""
    best: tuple[list[ChainCert], bool] = ([leaf], _self_signed(leaf.certificate))

    def walk(path: list[ChainCert]) -> None:
        nonlocal best
        top = path[-1]
        if _self_signed(top.certificate):
            _keep(path, True)
            return
        parents = [p for p in pool.parents(top) if all(p.fingerprint != q.fingerprint for q in path)]
        if len(path) >= _MAX_DEPTH:
            parents = []
        if not parents:
            _keep(path, False)
        for parent in parents:
            walk([*path, parent])

    def _keep(path: list[ChainCert], rooted: bool) -> None:
        nonlocal best
        if _path_rank(path, rooted) > _path_rank(*best):
            best = (list(path), rooted)

    walk([leaf])
    return best


def _path_rank(path: list[ChainCert], rooted: bool) -> tuple[int, int, int]:
    from_material = sum(not c.from_trust_store for c in path)
    return (int(rooted), from_material, -len(path))


def _leaf_rank(pool: _Pool, cand: ChainCert, leaf_key: bytes | None) -> tuple:
    path, rooted = _path(pool, cand)
    cert = cand.certificate
    key_match = leaf_key is not None and _spki(cert) == leaf_key
    return (key_match, not is_ca(cert), not _self_signed(cert), rooted, len(path), cand.fingerprint)


def _spki(cert: x509.Certificate) -> bytes | None:
    from cryptography.hazmat.primitives import serialization

    try:
        return cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (ValueError, UnsupportedAlgorithm):
        return None


def _missing(pool: _Pool, path: list[ChainCert], rooted: bool) -> tuple[str | None, str | None, ChainCert | None]:
    if rooted:
        return None, None, None
    top = path[-1]
    issuer = top.certificate.issuer
    unattached_root = any(
        _self_signed(c.certificate) and all(c.fingerprint != p.fingerprint for p in path) and c.certificate.subject != issuer
        for c in pool.all
    )
    if unattached_root:
        kind = "intermediate"
    elif len(path) > 1 or is_ca(top.certificate):
        kind = "root"
    else:
        kind = "issuer"
    return _name_string(issuer), kind, top


def build_chain(
    material: Sequence[LoadedCert],
    *,
    trust_store: Sequence[LoadedCert] = (),
    leaf_key: bytes | None = None,
) -> Chain:
    """Find the leaf (preferring the one whose SubjectPublicKeyInfo DER equals ``leaf_key``) and its chain."""
    pool = _Pool(material, trust_store)
    if not pool.material:
        return Chain(leaf=None)
    candidates = [c for c in pool.material if not pool.is_parent_of_any(c)] or list(pool.material)
    ranked = sorted(candidates, key=lambda c: _leaf_rank(pool, c, leaf_key), reverse=True)
    leaf = ranked[0]
    path, rooted = _path(pool, leaf)
    in_chain = {c.fingerprint for c in path}
    missing_issuer, kind, below = _missing(pool, path, rooted)
    return Chain(
        leaf=leaf,
        intermediates=tuple(path[1:-1]) if rooted else tuple(path[1:]),
        root=path[-1] if rooted else None,
        missing_issuer=missing_issuer,
        missing_kind=kind,
        missing_below=below,
        strays=tuple(c for c in pool.material if c.fingerprint not in in_chain),
        other_leaves=tuple(ranked[1:]),
        bad_signatures=_bad_in_chain(pool, path),
    )


def _bad_in_chain(pool: _Pool, path: list[ChainCert]) -> tuple[BadSignature, ...]:
    """Bad signatures along the chain: a certificate whose named issuer is present but does not verify it."""
    orphans = {c.fingerprint for c in path if not pool.parents(c) and not _self_signed(c.certificate)}
    found = [bad for (child, _), bad in sorted(pool.bad.items()) if child in orphans]
    if path:
        top = path[-1].certificate
        if top.subject == top.issuer and not _self_signed(top):
            found.append(BadSignature(path[-1], path[-1]))
    return tuple(found)
