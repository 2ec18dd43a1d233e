"""Certificate rules of one lab node: identities, trust stores, CSRs, and CUCM's messages.

``NodeCertificates`` holds a node's installed and active identities, its trust
stores and pending CSRs, and enforces CUCM's rules with CUCM's text
(``catalogue.MESSAGES``): CSR generation (this-server / multi-server names),
identity upload (format -> wildcard -> key size -> pending CSR -> chain in
``<unit>-trust`` -> key match -> SAN set), trust upload (one certificate per
upload, expired refused, older not replacing newer), trust delete (on every
node, as CUCM 11.0+ does), regeneration, web-security. An installed identity becomes *active* when the
service that uses it restarts (``services.NodeServices`` calls ``activate``).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cucmkit import catalogue
from cucmkit.catalogue import MESSAGES
from cucmkit.fingerprints import cert_sha256
from cucmkit.lab import pki
from cucmkit.lab.doors import LabRefusal, current_door
from cucmkit.lab.store import LabContext

__all__ = [
    "OwnCert",
    "TrustResult",
    "NodeCertificates",
    "trust_filename",
    "issuer_chain",
]

PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
# [INF] lab wording: no public source shows CUCM's answer to a trust upload holding several certificates
TRUST_BUNDLE = ("The upload holds {count} certificates; a trust store takes one certificate at a time. "
                "Import each certificate separately.")


@dataclass(frozen=True)
class OwnCert:
    """An identity: the installed certificate and what the service uses now (active)."""

    purpose: str
    pem: str
    key_pem: str
    active_pem: str
    active_key_pem: str

    def __repr__(self) -> str:  # keep private keys out of reprs
        return f"OwnCert(purpose={self.purpose!r}, fingerprint={cert_sha256(self.pem)[:16]}...)"


@dataclass(frozen=True)
class TrustResult:
    filename: str
    stored: bool
    reason: str = ""


def trust_filename(cert: x509.Certificate) -> str:
    cn = pki.common_name(cert) or cert.subject.rfc4514_string()
    return f"{cn.replace(' ', '_')}.pem"


def unit_key_type(unit: str) -> str:
    return catalogue.get(unit).key_type


class NodeCertificates:
    """One node's identities, trust stores and pending CSRs, and the rules that change them.

    ``peers()`` gives every node's ``NodeCertificates`` (multi-server installs,
    cluster-wide trust deletes); ``activated(service)`` says whether a service is
    activated on this node (an identity whose service does not run is active at once).
    """

    def __init__(self, *, ctx: LabContext, name: str, fqdn: str, kind: str,
                 peers: Callable[[], Iterable[NodeCertificates]], activated: Callable[[str], bool]) -> None:
        self._ctx = ctx
        self.name, self.fqdn, self.kind = name, fqdn, kind
        self._peers = peers
        self._activated = activated
        self.own_certs: dict[str, OwnCert] = {}
        self.stores: dict[str, dict[str, str]] = {}
        self.csrs: dict[str, dict[str, str]] = {}
        self.web_security: dict[str, str] = {"orgunit": "UC", "orgname": "Lab Example", "locality": "Tokyo",
                                             "state": "Tokyo", "country": "JP", "alternatehostname": ""}

    @property
    def units(self) -> tuple[str, ...]:
        return catalogue.units_for(self.kind)      # every unit the catalogue puts on this kind of node

    def unit(self, purpose: str) -> str:
        """CUCM's spelling of a unit on this node (case-insensitive); LabRefusal if the node has none."""
        for unit in self.units:
            if unit.lower() == str(purpose).lower():
                return unit
        raise LabRefusal(f"Invalid certificate type {purpose} for this server", 400)

    def store(self, purpose_or_store: str) -> str:
        """The trust store name for a purpose or store name (``tomcat`` -> ``tomcat-trust``)."""
        name = str(purpose_or_store)
        if name.lower().endswith("-trust"):
            return f"{self.unit(name[: -len('-trust')])}-trust"
        return catalogue.get(self.unit(name)).trust_store     # cup-xmpp-s2s -> cup-xmpp-trust (IMP10)

    # ------------------------------------------------------------ reads

    def own(self) -> dict[str, OwnCert]:
        with self._ctx.lock:
            self._ctx.settle()
            return dict(self.own_certs)

    def trust(self, store: str) -> dict[str, str]:
        with self._ctx.lock:
            return dict(self.stores.get(self.store(store), {}))

    def trust_stores(self) -> dict[str, dict[str, str]]:
        with self._ctx.lock:
            return {k: dict(v) for k, v in self.stores.items()}

    def pending_csr(self, purpose: str) -> str | None:
        with self._ctx.lock:
            entry = self.csrs.get(self.unit(purpose))
            return entry["csr_pem"] if entry else None

    def pending_distribution(self, purpose: str) -> str | None:
        """``this-server`` or ``multi-server`` for the pending CSR of ``purpose``; None without one."""
        with self._ctx.lock:
            entry = self.csrs.get(self.unit(purpose))
            return entry.get("distribution", "this-server") if entry else None

    def csr_missing_message(self, purpose: str) -> str:
        unit = self.unit(purpose)
        try:
            return MESSAGES.no_csr.format(csr_path=catalogue.get(unit).csr_path)
        except ValueError:
            low = unit.lower()
            return MESSAGES.no_csr.format(csr_path=f"/usr/local/platform/.security/{low}/keys/{low}.csr")

    def active_fingerprint(self, unit: str) -> str:
        own = self.own_certs.get(unit)
        return cert_sha256(own.active_pem) if own else ""

    def installed_fingerprint(self, unit: str) -> str:
        """The installed certificate's fingerprint (what becomes active when its service restarts)."""
        own = self.own_certs.get(unit)
        return cert_sha256(own.pem) if own else ""

    def tls_chain(self) -> tuple[str, str, list[str]]:
        """(cert PEM, key PEM, issuer chain PEMs) that the HTTPS listener serves now: the ACTIVE tomcat."""
        with self._ctx.lock:
            self._ctx.settle()
            own = self.own_certs["tomcat"]
            chain = issuer_chain(pki.load_cert(own.active_pem), self.stores.get("tomcat-trust", {}).values())
            return own.active_pem, own.active_key_pem, chain

    # ------------------------------------------------------------ CSR

    def generate_csr(self, purpose: str, *, common_name: str | None = None, alt_names: Iterable[str] = (),
                     key_type: str = "rsa", key_length: int = 2048, distribution: str = "this-server",
                     include_ou: bool = True) -> str:
        unit = self.unit(purpose)
        key_type = unit_key_type(unit)
        if key_type == "ec" and key_length not in (256, 384, 521):
            key_length = 384
        if key_type == "rsa" and key_length not in (1024, 2048, 3072, 4096):
            raise LabRefusal(f"Invalid key length {key_length}", 400)
        cn, sans = self._csr_names(unit, common_name, list(alt_names), distribution)
        key = pki.new_key(key_type, key_length)
        ws = self.web_security
        csr_pem = pki.make_csr(key=key, cn=cn, sans=tuple(sans), ou=ws["orgunit"] if include_ou else None,
                               o=ws["orgname"], l=ws["locality"], st=ws["state"], c=ws["country"] or None)
        with self._ctx.lock:
            self.csrs[unit] = {"csr_pem": csr_pem, "key_pem": pki.key_to_pem(key), "distribution": distribution}
            self._ctx.record("csr_generated", self.fqdn, purpose=unit, distribution=distribution,
                             door=current_door())
            self._ctx.changed()
        return csr_pem

    def _csr_names(self, unit: str, cn: str | None, alt: list[str], distribution: str) -> tuple[str, list[str]]:
        wild = next((a for a in alt if a.startswith("*")), None)
        if wild is not None and not catalogue.get(unit).wildcard_san:   # wildcards: cup-xmpp-s2s only (IMP125)
            raise LabRefusal(f"Invalid alternate name {wild}: wildcard names are not supported for {unit}", 400)
        if distribution == "multi-server":
            return self._multi_server_names(unit, cn, alt)
        if distribution != "this-server":
            raise LabRefusal(f"Invalid distribution {distribution}", 400)
        names = [f"DNS:{self.fqdn}"]
        if unit.startswith("tomcat"):  # the domain and the alternate host name name the web server only
            names.append(f"DNS:{self._ctx.topology.domain}")
            if self.web_security.get("alternatehostname"):
                names.append(f"DNS:{self.web_security['alternatehostname']}")
        names += [f"IP:{a}" if _is_ip(a) else f"DNS:{a}" for a in alt]
        return cn or self.fqdn, list(dict.fromkeys(names))

    def _multi_server_names(self, unit: str, cn: str | None, alt: list[str]) -> tuple[str, list[str]]:
        topo = self._ctx.topology
        if not catalogue.get(unit).multi_server:
            raise LabRefusal(f"Multi-server distribution is not supported for {unit}", 400)
        for name in alt:
            if _is_ip(name):
                raise LabRefusal(f"Invalid alternate name {name}: multi-server certificates accept only FQDNs", 400)
        scope = [n for n in self._peers() if unit.startswith("tomcat") or n.kind == self.kind]
        names = [f"DNS:{n.fqdn}" for n in scope] + [f"DNS:{a}" for a in alt]
        return cn or f"{self._ms_host(unit)}-ms.{topo.domain}", list(dict.fromkeys(names))

    def _ms_host(self, unit: str) -> str:
        """The host in CUCM's ``<host>-ms`` common name: the CUCM publisher, or for an IM&P-only purpose
        (cup-xmpp, cup-xmpp-s2s) the IM&P database publisher, where that CSR is generated [INF]."""
        topo = self._ctx.topology
        if unit.startswith("tomcat") or self.kind != "IM&P":
            return topo.publisher.name
        imp = next((n for n in topo.nodes if n.kind == "IM&P" and n.role == "publisher"), None)
        return imp.name if imp is not None else self.name

    # ------------------------------------------------------------ identity

    def upload_identity(self, purpose: str, pem_or_der: bytes | str) -> str:
        """Install a CA-signed identity per the upload rule order; CUCM's message on refusal."""
        unit = self.unit(purpose)
        cert = _parse_cert(pem_or_der)
        _check_identity_shape(cert, wildcard_ok=catalogue.get(unit).wildcard_san)
        with self._ctx.lock:
            entry = self.csrs.get(unit)
            if entry is None:
                raise LabRefusal(self.csr_missing_message(unit))
            self._check_against_csr(unit, cert, entry)
            pem = pki.cert_to_pem(cert)
            targets = self._multi_targets(unit) if entry.get("distribution") == "multi-server" else [self]
            chain = issuer_chain(cert, self.stores.get(self.store(unit), {}).values())
            for node in targets:
                node.install(unit, pem, entry["key_pem"])
                if node is not self:
                    node.receive_chain(node.store(unit), chain)
            del self.csrs[unit]
            self._ctx.record("identity_uploaded", self.fqdn, purpose=unit, fingerprint=cert_sha256(pem),
                             targets=[n.fqdn for n in targets], door=current_door())
            self._phone_interaction(unit)
            self._ctx.changed()
        return MESSAGES.import_ok.format(unit=unit)

    def _check_against_csr(self, unit: str, cert: x509.Certificate, entry: dict[str, str]) -> None:
        if not _chain_in(cert, self.stores.get(self.store(unit), {}).values()):
            raise LabRefusal(MESSAGES.ca_not_in_trust)
        csr = x509.load_pem_x509_csr(entry["csr_pem"].encode())
        if not _same_key(csr.public_key(), cert.public_key()):
            raise LabRefusal(MESSAGES.key_mismatch)
        if pki.san_strings(csr) != pki.san_strings(cert):
            raise LabRefusal(MESSAGES.san_mismatch)

    def _multi_targets(self, unit: str) -> list[NodeCertificates]:
        return [n for n in self._peers() if unit in n.units and (unit.startswith("tomcat") or n.kind == self.kind)]

    def install(self, unit: str, pem: str, key_pem: str) -> None:
        """Install an identity; it stays inactive until its service restarts (if that service runs)."""
        old = self.own_certs.get(unit)
        active = (old.active_pem, old.active_key_pem) if old else (pem, key_pem)
        if not self._activated(catalogue.activated_by(unit)):
            active = (pem, key_pem)  # nothing runs that would hold the old one
        self.own_certs[unit] = OwnCert(unit, pem, key_pem, active[0], active[1])

    def installed_for(self, service: str) -> dict[str, list[str]]:
        """unit -> [pem, key_pem] of what ``service`` will make active when it (re)starts."""
        return {u: [o.pem, o.key_pem] for u, o in self.own_certs.items()
                if catalogue.activated_by(u) and catalogue.same_service(catalogue.activated_by(u), service)}

    def activate(self, unit: str, pem: str, key_pem: str) -> None:
        own = self.own_certs.get(unit)
        if own is not None:
            self.own_certs[unit] = replace(own, active_pem=pem, active_key_pem=key_pem)

    def activate_all(self) -> None:
        """Every identity active as installed (the starting state)."""
        for unit, own in list(self.own_certs.items()):
            self.own_certs[unit] = replace(own, active_pem=own.pem, active_key_pem=own.key_pem)

    @staticmethod
    def restart_hint(purpose: str) -> str:
        return MESSAGES.restart_hint.format(unit=purpose)

    def regenerate(self, purpose: str) -> str:
        """Self-signed replacement (overwrites a CA-signed one); active after the service restarts."""
        unit = self.unit(purpose)
        key = pki.new_key(unit_key_type(unit), 384 if unit_key_type(unit) == "ec" else 2048)
        cn = f"{unit}-{self.name}" if unit.startswith(("CAPF", "ITLRecovery", "TVS")) else self.fqdn
        pem = pki.self_signed(cn=cn, key=key, unit=unit, sans=(f"DNS:{self.fqdn}",), days=1825,
                              ou=self.web_security.get("orgunit"))
        with self._ctx.lock:
            self.install(unit, pem, pki.key_to_pem(key))
            self.csrs.pop(unit, None)
            self._ctx.record("regenerated", self.fqdn, purpose=unit, fingerprint=cert_sha256(pem),
                             door=current_door())
            self._phone_interaction(unit)
            self._ctx.changed()
        return f"Successfully Regenerated Certificate for {unit}."

    def _phone_interaction(self, unit: str) -> None:
        """14+ "Phone Interaction on Certificate Update" (on by default, SG14): a TVS, CAPF or TFTP
        certificate change resets every phone; they re-register after the usual delay."""
        purpose = catalogue.PURPOSES.get(unit)
        knobs = self._ctx.knobs
        if purpose is None or not purpose.auto_phone_reset or not knobs.phone_interaction:
            return
        fleet = self._ctx.phones
        dropped = fleet.drop(fleet.names(), now=time.time(), delay=knobs.delay(knobs.reregister_seconds))
        self._ctx.record("phones_auto_reset", self.fqdn, purpose=unit, phones=dropped)

    def set_web_security(self, *, orgunit: str, orgname: str, locality: str, state: str,
                         country: str = "", alternatehostname: str = "") -> str:
        with self._ctx.lock:
            self.web_security.update(orgunit=orgunit, orgname=orgname, locality=locality, state=state,
                                     country=country, alternatehostname=alternatehostname)
            self._ctx.changed()
        self.regenerate("tomcat")
        return "Successfully updated web-security parameters and regenerated the tomcat certificate."

    # ------------------------------------------------------------ trust

    def upload_trust(self, purpose_or_store: str, pem_or_der: bytes | str) -> TrustResult:
        store = self.store(purpose_or_store)
        cert = _parse_single_cert(pem_or_der)
        if cert.not_valid_after_utc <= pki.utcnow():
            raise LabRefusal(MESSAGES.expired)
        filename = trust_filename(cert)
        with self._ctx.lock:
            bucket = self.stores.setdefault(store, {})
            existing = bucket.get(filename)
            if existing is not None:
                if pki.load_cert(existing).not_valid_before_utc > cert.not_valid_before_utc:
                    return TrustResult(filename, False, MESSAGES.not_replaced_older)
            bucket[filename] = pki.cert_to_pem(cert)
            self._ctx.record("trust_uploaded", self.fqdn, store=store, filename=filename,
                             fingerprint=cert_sha256(bucket[filename]), door=current_door())
            self._ctx.changed()
        return TrustResult(filename, True, "")

    def receive_chain(self, store: str, chain: Iterable[str]) -> None:
        """A multi-server upload's signing chain, distributed to this node with the certificate (IM&P
        configuration guide 12.5(1)SU2, "Multi-Server Certificates"); CUCM's same-CN rule holds: a stored
        certificate with the same name that starts later stays. No event: the upload's ``identity_uploaded``
        names the targets."""
        bucket = self.stores.setdefault(store, {})
        for pem in chain:
            filename = trust_filename(pki.load_cert(pem))
            existing = bucket.get(filename)
            if existing is None or pki.load_cert(existing).not_valid_before_utc <= pki.load_cert(pem).not_valid_before_utc:
                bucket[filename] = pem

    def seed_trust(self, store: str, pem: str) -> None:
        """Put a certificate in a trust store without rules or events (the starting state)."""
        self.stores.setdefault(store, {})[trust_filename(pki.load_cert(pem))] = pem

    def delete_trust(self, store: str, filename: str) -> None:
        """Delete a trust certificate on every node that holds it (CUCM 11.0+, TAC 211300)."""
        name = self.store(store)
        with self._ctx.lock:
            if filename not in self.stores.get(name, {}):
                raise LabRefusal(f"Certificate {filename} does not exist in {name}", 404)
            for peer in self._peers():
                if peer.stores.get(name, {}).pop(filename, None) is not None:
                    self._ctx.record("trust_deleted", peer.fqdn, store=name, filename=filename,
                                     door=current_door())
            self._ctx.changed()

    # ------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        return {
            "own": {u: {"pem": o.pem, "key_pem": o.key_pem, "active_pem": o.active_pem,
                        "active_key_pem": o.active_key_pem} for u, o in self.own_certs.items()},
            "trust": self.stores,
            "csr": self.csrs,
            "web_security": self.web_security,
        }

    def load_dict(self, data: dict[str, Any]) -> None:
        self.own_certs = {u: OwnCert(u, **o) for u, o in data["own"].items()}
        self.stores = {k: dict(v) for k, v in data["trust"].items()}
        self.csrs = {k: dict(v) for k, v in data["csr"].items()}
        self.web_security = dict(data["web_security"])

    def pem_files(self, base: Path) -> dict[Path, str]:
        """The files ``nodes/<node>/`` mirrors: own/, active/, trust/<store>/, csr/."""
        files: dict[Path, str] = {}
        for unit, own in self.own_certs.items():
            files[base / "own" / f"{unit}.pem"] = own.pem
            files[base / "own" / f"{unit}.key"] = own.key_pem
            files[base / "active" / f"{unit}.pem"] = own.active_pem
        for store, certs in self.stores.items():
            for filename, pem in certs.items():
                files[base / "trust" / store / filename] = pem
        for unit, entry in self.csrs.items():
            files[base / "csr" / f"{unit}.csr"] = entry["csr_pem"]
        return files


# ---------------------------------------------------------------- helpers


def _check_identity_shape(cert: x509.Certificate, *, wildcard_ok: bool = False) -> None:
    wild = pki.common_name(cert).startswith("*") or any(n.startswith("DNS:*") for n in pki.san_strings(cert))
    if wild and not wildcard_ok:              # wildcard SANs: cup-xmpp-s2s only (IMP125)
        raise LabRefusal(MESSAGES.wildcard)
    pub = cert.public_key()
    if isinstance(pub, rsa.RSAPublicKey) and pub.key_size > 4096:
        raise LabRefusal(MESSAGES.key_too_large)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.removeprefix("IP:"))
        return True
    except ValueError:
        return False


def _parse_cert(data: bytes | str) -> x509.Certificate:
    try:
        return pki.load_cert(data)
    except (ValueError, TypeError) as exc:
        raise LabRefusal(MESSAGES.bad_format) from exc


def _parse_single_cert(data: bytes | str) -> x509.Certificate:
    """A trust upload's one certificate; several in one upload are refused whole (never only the first kept)."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    count = text.count(PEM_BEGIN)
    if count > 1:
        raise LabRefusal(TRUST_BUNDLE.format(count=count), 400)
    return _parse_cert(data)


def _same_key(a: Any, b: Any) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return bool(a.public_bytes(*fmt) == b.public_bytes(*fmt))


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except Exception:  # noqa: BLE001 - any verification failure means "not this issuer"
        return False


def issuer_chain(cert: x509.Certificate, store: Iterable[str]) -> list[str]:
    """Issuers of ``cert`` found in ``store`` up to a self-signed root (may be partial)."""
    pool = [pki.load_cert(p) for p in store]
    chain: list[str] = []
    current = cert
    for _ in range(6):
        if _issued_by(current, current):
            break
        parent = next((c for c in pool if _issued_by(current, c)), None)
        if parent is None:
            break
        chain.append(pki.cert_to_pem(parent))
        current = parent
    return chain


def _chain_in(cert: x509.Certificate, store: Iterable[str]) -> bool:
    """Every CA above ``cert`` up to a self-signed root is in ``store``."""
    pool = [pki.load_cert(p) for p in store]
    current = cert
    for _ in range(6):
        parent = next((c for c in pool if _issued_by(current, c)), None)
        if parent is None:
            return False
        if _issued_by(parent, parent):
            return True
        current = parent
    return False
