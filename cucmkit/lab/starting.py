"""The realistic starting state of a new lab (issue 2 section 5).

A mix of self-signed and old-CA-signed identities, some expiring within the
60-day threshold of ``parameters/lab.yaml`` (publisher tomcat 20 days,
CallManager 25 days, TVS 40 days, CAPF 50 days; subscriber CAPF 15 days),
while ipsec is not due (200+ days), so the demo also shows "nothing due"; the old CA's root and
intermediate in the trust stores, one expired certificate in tomcat-trust.
Also creates the old and current lab CAs and ``<state>/ca-bundle.pem``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from cucmkit import catalogue
from cucmkit.lab import pki
from cucmkit.lab.certrules import NodeCertificates
from cucmkit.lab.services import CUCM_SERVICES, IMP_SERVICES, NodeServices

__all__ = ["build_starting_state", "ensure_cas", "OLD_LABEL", "CURRENT_LABEL", "EXPIRED_CN"]

OLD_LABEL = "Lab Old"
CURRENT_LABEL = "Lab"
EXPIRED_CN = "Expired Partner CA"

# (unit, signer "old"|"self", days left) per node role
_PUB = {"tomcat": ("old", 20), "CallManager": ("old", 25), "ipsec": ("old", 200), "CAPF": ("self", 50),
        "TVS": ("self", 40), "ITLRecovery": ("self", 3000), "tomcat-ECDSA": ("self", 600),
        "CallManager-ECDSA": ("self", 600)}
_SUB = {"tomcat": ("old", 28), "CallManager": ("old", 25), "ipsec": ("self", 400), "CAPF": ("self", 15),
        "TVS": ("self", 700), "ITLRecovery": ("self", 3000), "tomcat-ECDSA": ("self", 600),
        "CallManager-ECDSA": ("self", 600)}
_IMP = {"tomcat": ("old", 90), "ipsec": ("self", 400), "cup": ("self", 500), "cup-xmpp": ("old", 60),
        "tomcat-ECDSA": ("self", 600), "cup-ECDSA": ("self", 600), "cup-xmpp-ECDSA": ("self", 600)}


class StartingNode(Protocol):
    """What the starting state needs of a node (``state.LabNodeState`` is one)."""

    name: str
    fqdn: str
    role: str
    kind: str
    certs: NodeCertificates
    svc: NodeServices


_OLD_TRUSTED = ("tomcat-trust", "CallManager-trust", "ipsec-trust", "CAPF-trust", "cup-trust", "cup-xmpp-trust")


def ensure_cas(state_dir: Path) -> tuple[pki.CaPair, pki.CaPair]:
    """(old, current) CA pairs under ``<state>/ca/``; created once. Also writes ca-bundle.pem."""
    base = Path(state_dir) / "ca"
    pairs = []
    for sub, label, slot, age in (("old", OLD_LABEL, 0, 1500), ("current", CURRENT_LABEL, 2, 60)):
        directory = base / sub
        if (directory / "label").exists():
            pairs.append(pki.CaPair.load(directory))
            continue
        pair = pki.make_ca(label, not_before=pki.utcnow() - dt.timedelta(days=age), slot=slot)
        pair.save(directory)
        pairs.append(pair)
    old, current = pairs
    (Path(state_dir) / "ca-bundle.pem").write_text(pki.bundle_roots(base))   # current, old, retired roots
    return old, current


_DEFAULT = ("self", 1800)   # a unit the tables above do not list (added to the catalogue later): self-signed


def _units_for(node: StartingNode) -> dict[str, tuple[str, int]]:
    table = _IMP if node.kind == "IM&P" else _PUB if node.role == "publisher" else _SUB
    return {**table, **{unit: _DEFAULT for unit in node.certs.units if unit not in table}}


def _identity(node: StartingNode, unit: str, signer: str, days: int, slot: int,
              old: pki.CaPair) -> tuple[str, str]:
    ec = unit.endswith("-ECDSA")
    key = pki.pooled_key("ec" if ec else "rsa", 384 if ec else 2048, slot)
    sans = (f"DNS:{node.fqdn}",)
    cn = node.fqdn if unit.startswith(("tomcat", "CallManager", "ipsec", "cup")) else f"{unit}-{node.name}"
    if signer == "self":
        pem = pki.self_signed(cn=cn, key=key, unit=unit, sans=sans, days=days,
                              not_before=pki.utcnow() - dt.timedelta(days=max(1, 1825 - days)))
    else:
        nb = pki.utcnow() - dt.timedelta(days=730 - days)
        pem = pki.sign_with(old, subject=pki.subject_name(cn, ou="UC"), public_key=key.public_key(), unit=unit,
                            sans=sans, not_before=nb, not_after=pki.utcnow() + dt.timedelta(days=days))
    return pem, pki.key_to_pem(key)


def _expired_trust() -> str:
    key = pki.pooled_key("rsa", 2048, 900)
    return pki.self_signed(cn=EXPIRED_CN, key=key, days=-30,
                           not_before=pki.utcnow() - dt.timedelta(days=800), is_ca=True)


def build_starting_state(state_dir: Path, nodes: Iterable[StartingNode]) -> None:
    """Identities, trust stores and services of every node (no events, nothing persisted here)."""
    nodes = list(nodes)
    old, _current = ensure_cas(state_dir)
    expired = _expired_trust()
    started = pki.utcnow().timestamp() - 86400 * 3
    for index, node in enumerate(nodes):
        for u_index, (unit, (signer, days)) in enumerate(_units_for(node).items()):
            pem, key_pem = _identity(node, unit, signer, days, index * 20 + u_index, old)
            node.certs.install(unit, pem, key_pem)
        _seed_trust(node.certs, old, expired)
        node.svc.seed(IMP_SERVICES if node.kind == "IM&P" else CUCM_SERVICES,
                      publisher=node.role == "publisher", started=started)
    for node in nodes:  # every node's own certificates: active = installed at the start
        node.certs.activate_all()


def _seed_trust(certs: NodeCertificates, old: pki.CaPair, expired: str) -> None:
    for unit in certs.units:
        if unit in catalogue.PURPOSES and not catalogue.PURPOSES[unit].trust_store:
            continue        # no trust store for this unit (ITLRecovery: SG14)
        store = certs.store(unit)
        certs.stores.setdefault(store, {})
        if store in _OLD_TRUSTED:
            for ca_pem in (old.root_pem, old.inter_pem):
                certs.seed_trust(store, ca_pem)
    certs.seed_trust("tomcat-trust", expired)
