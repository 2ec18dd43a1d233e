"""Chain building by subject/issuer AND signature, never by order."""

from __future__ import annotations

import itertools

from cryptography.hazmat.primitives import serialization

from cucmkit.certs.chain import build_chain
from cucmkit.certs.intake import Material
from cucmkit.fingerprints import cert_sha256 as fingerprint

from .factory import Pki, good, rsa_key


def loaded(*certs):
    return Material.of(certs).certificates


def spki(cert) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def roles(chain):
    return (
        fingerprint(chain.leaf.certificate) if chain.leaf else None,
        tuple(fingerprint(c.certificate) for c in chain.intermediates),
        fingerprint(chain.root.certificate) if chain.root else None,
    )


def test_every_order_gives_the_same_chain():
    b = good("tomcat")
    expected = (fingerprint(b.leaf), (fingerprint(b.intermediates[0]),), fingerprint(b.root))
    for order in itertools.permutations(b.certs()):
        chain = build_chain(loaded(*order))
        assert roles(chain) == expected and chain.complete and chain.strays == ()


def test_two_intermediates_are_ordered_leaf_side_first():
    pki, b = Pki(), good("tomcat")
    policy = pki.intermediate(b.root, b.root_key, cn="Lab Policy CA", key=rsa_key(2048, 3), path_length=1)
    issuing = pki.intermediate(policy, rsa_key(2048, 3), cn="Lab Issuing CA 2", key=rsa_key(2048, 4))
    leaf = pki.leaf(issuing, rsa_key(2048, 4), b.leaf_key.public_key())
    chain = build_chain(loaded(b.root, leaf, policy, issuing))
    assert [c.certificate.subject.rfc4514_string() for c in chain.intermediates] == [
        "CN=Lab Issuing CA 2,O=Lab,C=JP", "CN=Lab Policy CA,O=Lab,C=JP"]


def test_missing_pieces_are_named_with_their_kind():
    b = good("tomcat")
    alone = build_chain(loaded(b.leaf))
    assert (alone.missing_issuer, alone.missing_kind) == ("CN=Lab Issuing CA,O=Lab,C=JP", "issuer")
    no_root = build_chain(loaded(b.leaf, b.intermediates[0]))
    assert (no_root.missing_issuer, no_root.missing_kind) == ("CN=Lab Root CA,O=Lab,C=JP", "root")
    no_int = build_chain(loaded(b.leaf, b.root))
    assert (no_int.missing_issuer, no_int.missing_kind) == ("CN=Lab Issuing CA,O=Lab,C=JP", "intermediate")
    assert [fingerprint(s.certificate) for s in no_int.strays] == [fingerprint(b.root)]


def test_trust_store_completes_the_chain_and_is_marked():
    b = good("tomcat")
    chain = build_chain(loaded(b.leaf), trust_store=loaded(b.intermediates[0], b.root))
    assert chain.complete and [c.from_trust_store for c in chain.members()] == [False, True, True]


def test_material_copy_is_preferred_over_the_trust_store_copy():
    b = good("tomcat")
    chain = build_chain(loaded(*b.certs()), trust_store=loaded(b.root))
    assert [c.from_trust_store for c in chain.members()] == [False, False, False]


def test_name_match_without_signature_is_not_a_parent():
    b = good("tomcat")
    impostor = Pki().intermediate(b.root, b.root_key, key=rsa_key(2048, 6))
    chain = build_chain(loaded(b.leaf, impostor, b.root))
    assert chain.root is None and chain.missing_issuer == "CN=Lab Issuing CA,O=Lab,C=JP"
    assert [fingerprint(x.issuer.certificate) for x in chain.bad_signatures] == [fingerprint(impostor)]


def test_leaf_key_hint_picks_among_leaves():
    b = good("tomcat")
    other = Pki().leaf(b.intermediates[0], b.int_key, rsa_key(2048, 8).public_key())
    for wanted in (b.leaf, other):
        chain = build_chain(loaded(other, *b.certs()), leaf_key=spki(wanted))
        assert fingerprint(chain.leaf.certificate) == fingerprint(wanted)


def test_empty_material_has_no_leaf():
    assert build_chain(()).leaf is None
