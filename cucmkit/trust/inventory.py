"""The trust inventory: every trust certificate of the cluster, what chains to it, and why it may be stale.

Pure: ``build_inventory(records, keep=..., now=...)`` takes the cluster's certificate records (own and trust,
every node, as ``Cluster.inventory()`` returns them) and answers one ``TrustEntry`` per distinct trust
certificate (by SHA-256), with every (node, store, file) that holds it. Which identities depend on it comes
from ``cucmkit.certs.chain.build_chain`` (subject/issuer names AND signatures) over the union of the trust
stores, so a cross-signed or same-CN CA is told apart by its key.

Stale reasons (``TrustEntry.stale``):

- ``expired``: notAfter is past;
- ``superseded``: a trust certificate with the same CN (case-insensitive) and a different key, issued later,
  sits in one of the same stores (CUCM keeps one certificate per CN per store, CONTRACTS §9.1);
- ``orphaned``: no identity of the cluster chains to it and ``trust.keep`` does not pin it.

A certificate an identity still chains to is ``in_use`` whatever else is true of it: it is never deletable.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cryptography import x509

from cucmkit.certs.chain import build_chain, is_ca, self_issued
from cucmkit.certs.intake import LoadedCert
from cucmkit.certs.records import CertRecord
from cucmkit.fingerprints import cert_sha256, public_key_sha256

__all__ = ["Location", "Dependent", "TrustEntry", "TrustInventory", "build_inventory", "key_ids", "STALE_REASONS"]

STALE_REASONS = ("expired", "superseded", "orphaned")


@dataclass(frozen=True)
class Location:
    """Where a trust certificate is stored: node, trust store, file name."""

    node: str
    store: str
    filename: str


@dataclass(frozen=True)
class Dependent:
    """An identity certificate whose chain runs through a trust certificate."""

    node: str
    unit: str
    common_name: str
    fingerprint: str
    not_after: dt.datetime


@dataclass(frozen=True)
class TrustEntry:
    """One distinct trust certificate of the cluster."""

    fingerprint: str
    subject: str
    issuer: str
    common_name: str
    serial: str              # hex
    ski: str | None          # subject key identifier, hex
    aki: str | None          # authority key identifier, hex
    key_sha256: str          # SHA-256 of the SubjectPublicKeyInfo: "the same key" across certificates
    not_before: dt.datetime
    not_after: dt.datetime
    ca: bool
    self_signed: bool
    pem: str
    locations: tuple[Location, ...]
    dependents: tuple[Dependent, ...] = ()
    stale: tuple[str, ...] = ()
    superseded_by: str | None = None   # fingerprint of the newer same-CN certificate
    kept: bool = False

    @property
    def in_use(self) -> bool:
        return bool(self.dependents)

    @property
    def stores(self) -> tuple[str, ...]:
        return tuple(sorted({loc.store for loc in self.locations}))

    @property
    def deletable(self) -> bool:
        """Stale, nothing chains to it, not pinned."""
        return bool(self.stale) and not self.in_use and not self.kept

    def days_left(self, now: dt.datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400.0

    def row(self, now: dt.datetime) -> dict[str, Any]:
        """One flat JSON-friendly row (``cucmkit trust list --json``)."""
        return {
            "fingerprint_sha256": self.fingerprint, "common_name": self.common_name, "subject": self.subject,
            "issuer": self.issuer, "serial": self.serial, "ski": self.ski, "aki": self.aki,
            "not_before": self.not_before.isoformat(), "not_after": self.not_after.isoformat(),
            "days_left": round(self.days_left(now), 1), "ca": self.ca, "self_signed": self.self_signed,
            "stores": list(self.stores), "nodes": sorted({loc.node for loc in self.locations}),
            "locations": [vars(loc) for loc in self.locations],
            "dependents": [{"node": d.node, "unit": d.unit, "common_name": d.common_name,
                            "fingerprint_sha256": d.fingerprint, "not_after": d.not_after.isoformat()}
                           for d in self.dependents],
            "stale": list(self.stale), "superseded_by": self.superseded_by, "kept": self.kept,
            "in_use": self.in_use, "deletable": self.deletable,
        }


@dataclass(frozen=True)
class TrustInventory:
    """The cluster's trust certificates at ``taken``, and the identities that were chained."""

    entries: tuple[TrustEntry, ...]
    identities: tuple[CertRecord, ...]
    taken: dt.datetime

    def stale(self) -> tuple[TrustEntry, ...]:
        return tuple(e for e in self.entries if e.stale)

    def deletable(self) -> tuple[TrustEntry, ...]:
        return tuple(e for e in self.entries if e.deletable)

    def get(self, fingerprint: str) -> TrustEntry:
        for entry in self.entries:
            if entry.fingerprint == fingerprint:
                return entry
        raise KeyError(fingerprint)

    def named(self, common_name: str) -> tuple[TrustEntry, ...]:
        return tuple(e for e in self.entries if e.common_name.casefold() == common_name.casefold())

    def rows(self) -> list[dict[str, Any]]:
        return [e.row(self.taken) for e in self.entries]


# -- building ----------------------------------------------------------------------------


def key_ids(cert: x509.Certificate) -> tuple[str | None, str | None]:
    """(SKI, AKI key identifier) as hex, None where the extension is absent or unreadable."""
    return (_ext_hex(cert, x509.SubjectKeyIdentifier), _ext_hex(cert, x509.AuthorityKeyIdentifier))


def _ext_hex(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> str | None:
    try:
        value = cert.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    raw = value.digest if isinstance(value, x509.SubjectKeyIdentifier) else \
        value.key_identifier if isinstance(value, x509.AuthorityKeyIdentifier) else None
    return raw.hex() if raw else None


def build_inventory(records: Iterable[CertRecord], *, keep: Sequence[str] = (), now: dt.datetime) -> TrustInventory:
    """The trust inventory of a cluster from its certificate records (pure; ``now`` timezone-aware)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    records = [r for r in records if r.pem]
    identities = tuple(r for r in records if r.store == "own")
    trusts = [r for r in records if r.store != "own"]
    entries = [_entry(group, set(keep)) for group in _by_fingerprint(trusts).values()]
    dependents = _dependents(identities, entries)
    entries = [_with_dependents(e, dependents.get(e.fingerprint, ())) for e in entries]
    entries = _mark_stale(entries, now)
    entries.sort(key=lambda e: (e.common_name.casefold(), e.not_before, e.fingerprint))
    return TrustInventory(entries=tuple(entries), identities=identities, taken=now)


def _by_fingerprint(trusts: Sequence[CertRecord]) -> dict[str, list[CertRecord]]:
    groups: dict[str, list[CertRecord]] = defaultdict(list)
    for record in trusts:
        groups[record.fingerprint_sha256].append(record)
    return groups


def _entry(group: Sequence[CertRecord], keep: set[str]) -> TrustEntry:
    first = group[0]
    cert = first.certificate()
    ski, aki = key_ids(cert)
    locations = sorted({Location(r.node or "", r.store, r.filename or "") for r in group},
                       key=lambda loc: (loc.node, loc.store, loc.filename))
    return TrustEntry(
        fingerprint=first.fingerprint_sha256, subject=first.subject, issuer=first.issuer,
        common_name=first.common_name, serial=format(first.serial, "x"), ski=ski, aki=aki,
        key_sha256=public_key_sha256(cert), not_before=first.not_before, not_after=first.not_after,
        ca=is_ca(cert), self_signed=self_issued(cert) and first.self_signed, pem=first.pem,
        locations=tuple(locations), kept=first.fingerprint_sha256 in keep)


def _dependents(identities: Sequence[CertRecord], entries: Sequence[TrustEntry]) -> dict[str, list[Dependent]]:
    """Trust fingerprint -> the identities whose chain (by signature) runs through it."""
    pool = [_loaded(e.pem, "trust") for e in entries]
    by_fp = {e.fingerprint for e in entries}
    found: dict[str, list[Dependent]] = defaultdict(list)
    for identity in identities:
        dependent = Dependent(node=identity.node or "", unit=identity.purpose or "", common_name=identity.common_name,
                              fingerprint=identity.fingerprint_sha256, not_after=identity.not_after)
        chain = build_chain([_loaded(identity.pem, "own")], trust_store=pool)
        through = {c.fingerprint for c in chain.issuers()}
        if identity.fingerprint_sha256 in by_fp:         # a self-signed identity's copy in a trust store
            through.add(identity.fingerprint_sha256)
        for fingerprint in through:
            found[fingerprint].append(dependent)
    return found


def _loaded(pem: str, source: str) -> LoadedCert:
    cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    return LoadedCert(certificate=cert, source=source, fingerprint=cert_sha256(cert))


def _with_dependents(entry: TrustEntry, dependents: Sequence[Dependent]) -> TrustEntry:
    ordered = sorted(set(dependents), key=lambda d: (d.node, d.unit, d.fingerprint))
    return replace(entry, dependents=tuple(ordered))


def _mark_stale(entries: list[TrustEntry], now: dt.datetime) -> list[TrustEntry]:
    marked = []
    for entry in entries:
        reasons: list[str] = []
        if entry.not_after <= now:
            reasons.append("expired")
        newer = _newer_same_cn(entry, entries)
        if newer is not None:
            reasons.append("superseded")
        if not entry.in_use and not entry.kept:
            reasons.append("orphaned")
        marked.append(replace(entry, stale=tuple(reasons), superseded_by=newer.fingerprint if newer else None))
    return marked


def _newer_same_cn(entry: TrustEntry, entries: Sequence[TrustEntry]) -> TrustEntry | None:
    """The newest certificate with the same CN, another key and a later notBefore in one of the same stores."""
    stores = set(entry.stores)
    newer = [o for o in entries if o.common_name and o.common_name.casefold() == entry.common_name.casefold()
             and o.key_sha256 != entry.key_sha256 and o.not_before > entry.not_before and stores & set(o.stores)]
    return max(newer, key=lambda o: (o.not_before, o.fingerprint)) if newer else None
