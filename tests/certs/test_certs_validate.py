"""The corpus: every PROCEDURE.md error-table row, every item of failure-modes §4's matrix.

Each case asserts the exact verdict and the exact message of the check that decides it.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from cucmkit import catalogue
from cucmkit.catalogue import MESSAGES
from cucmkit.certs import NO_PENDING_CSR, Material, load_bytes, validate
from cucmkit.fingerprints import cert_sha256 as fingerprint

from .factory import (
    FQDN,
    NOW,
    Pki,
    crlf,
    csr_for,
    der,
    ec_key,
    fresh_rsa_key,
    good,
    p7b_der,
    p7b_pem,
    pem,
    rsa_key,
    sha1_resigned,
    with_bom,
    zip_of,
)

ROOT = "CN=Lab Root CA,O=Lab,C=JP"
ISSUING = "CN=Lab Issuing CA,O=Lab,C=JP"
LEAF = f"CN={FQDN},O=Lab,C=JP"


def run(bundle, certs=None, *, purpose="tomcat", csr="bundle", now=NOW, **kw):
    material = Material.of(certs if certs is not None else bundle.certs(), source="ca.pem")
    return validate(material, purpose=purpose, now=now, csr=bundle.csr if csr == "bundle" else csr, **kw)


def only(report, name):
    found = report.by_name(name)
    assert len(found) == 1, found
    return found[0]


def non_passing(report):
    return [(c.name, c.status) for c in report.checks if c.status not in ("pass", "skipped")]


@pytest.fixture(scope="module")
def tomcat():
    return good("tomcat")


# --- good material, every purpose --------------------------------------------------------------


@pytest.mark.parametrize("purpose", catalogue.names())
def test_good_bundle_is_uploadable_with_the_ordered_plan(purpose):
    bundle = good(purpose)
    report = run(bundle, purpose=purpose, trust_store=[])
    assert report.ok and non_passing(report) == []
    p = catalogue.get(purpose)
    assert [(s.order, s.store, s.kind, s.target) for s in report.upload_plan] == [
        (1, p.trust_store, "root", "trust"),
        (2, p.trust_store, "intermediate", "trust"),
        (3, p.name, "leaf", "identity"),
    ]
    assert [s.fingerprint for s in report.upload_plan] == [
        fingerprint(bundle.root), fingerprint(bundle.intermediates[0]), fingerprint(bundle.leaf)]
    assert all(s.pem.count("BEGIN CERTIFICATE") == 1 for s in report.upload_plan)


# --- PROCEDURE.md error table ------------------------------------------------------------------


def test_row1_ca_not_in_trust_store_leaf_alone(tomcat):
    report = run(tomcat, [tomcat.leaf])
    check = only(report, "chain_complete")
    assert not report.ok and report.upload_plan == ()
    assert check.status == "fail"
    assert check.message == (f"missing issuing CA (intermediate or root) {ISSUING!r}, issuer of {LEAF!r} "
                             "(no tomcat-trust contents given to look in)")
    assert check.cucm_message == MESSAGES.ca_not_in_trust
    assert check.remedy == (f"Get {ISSUING!r} from the CA. Upload the root and intermediate certificates as "
                            "tomcat-trust first (root, then intermediates), then the leaf as tomcat.")


def test_row1_leaf_alone_is_fine_when_the_chain_is_already_in_the_trust_store(tomcat):
    report = run(tomcat, [tomcat.leaf], trust_store=[tomcat.root, tomcat.intermediates[0]])
    assert report.ok
    assert only(report, "chain_complete").message == (
        "chain complete: cucm-pub.lab.example <- Lab Issuing CA (already in the trust store) <- "
        "Lab Root CA (already in the trust store)")
    assert [(s.store, s.kind) for s in report.upload_plan] == [("tomcat", "leaf")]


def test_row2_no_pending_csr(tomcat):
    report = run(tomcat, csr=NO_PENDING_CSR, purpose="tomcat")
    check = only(report, "csr_pending")
    assert not report.ok and check.status == "fail"
    assert check.cucm_message == "The file /usr/local/platform/.security/tomcat/keys/tomcat.csr does not exist"
    assert check.remedy == "Generate a CSR for tomcat on this node and have the certificate issued from it."


def test_row2_no_pending_csr_names_the_purpose_path():
    bundle = good("CallManager")
    check = only(run(bundle, purpose="CallManager", csr=NO_PENDING_CSR), "csr_pending")
    assert check.cucm_message == "The file /usr/local/platform/.security/callmanager/keys/callmanager.csr does not exist"


def test_row3_certificate_from_another_node(tomcat):
    other = csr_for(rsa_key(2048, 7), cn=FQDN)
    report = run(tomcat, csr=other)
    check = only(report, "csr_key")
    assert not report.ok
    assert (check.status, check.message, check.cucm_message) == (
        "fail", "the leaf's public key differs from the CSR's", MESSAGES.key_mismatch)
    assert check.subject == LEAF and check.fingerprint == fingerprint(tomcat.leaf)


def test_row3_csr_regenerated_after_the_request(tomcat):
    regenerated = csr_for(fresh_rsa_key(), cn=FQDN)  # same node, same names, new key: the old CSR was replaced
    report = run(tomcat, csr=regenerated)
    assert only(report, "csr_key").cucm_message == MESSAGES.key_mismatch
    assert only(report, "csr_san").status == "pass"
    assert non_passing(report) == [("csr_key", "fail")]


def test_row4_ca_added_an_ip_address_to_the_san():
    bundle = good("tomcat", san=(f"DNS:{FQDN}", "IP:10.0.0.10"), csr_san=(f"DNS:{FQDN}",))
    check = only(run(bundle), "csr_san")
    assert (check.status, check.cucm_message) == ("fail", MESSAGES.san_mismatch)
    assert check.message == "SANs differ from the CSR's; added by the CA: IP:10.0.0.10"
    assert check.remedy.startswith("Have the CA re-issue with exactly the CSR's SANs")


def test_row4_ca_added_the_cn_to_a_multi_san_certificate():
    cn = "cucm-pub-ms.lab.example"
    csr_names = ("DNS:cucm-pub.lab.example", "DNS:cucm-sub1.lab.example")
    bundle = good("tomcat", cn=cn, san=(*csr_names, f"DNS:{cn}"), csr_san=csr_names)
    check = only(run(bundle), "csr_san")
    assert check.message == f"SANs differ from the CSR's; added by the CA: DNS:{cn}"


def test_row4_ca_dropped_a_san():
    names = (f"DNS:{FQDN}", "DNS:cucm-sub1.lab.example")
    bundle = good("tomcat", san=(f"DNS:{FQDN}",), csr_san=names)
    check = only(run(bundle), "csr_san")
    assert check.message == "SANs differ from the CSR's; dropped by the CA: DNS:cucm-sub1.lab.example"


def test_row4_san_order_and_case_do_not_matter():
    bundle = good("tomcat", san=("DNS:B.lab.example", f"DNS:{FQDN}", "IP:10.0.0.1"),
                  csr_san=("IP:10.0.0.1", f"DNS:{FQDN}", "DNS:b.lab.example"))
    check = only(run(bundle), "csr_san")
    assert (check.status, check.message) == ("pass", "SANs equal the CSR's (3 name(s))")


def test_row5_trust_store_has_same_cn_with_newer_not_before(tomcat):
    newer_root = Pki().root(key=rsa_key(2048, 5), days_before=10)  # same CN, other key, newer "valid from"
    report = run(tomcat, trust_store=[newer_root])
    check = [c for c in report.by_name("trust_store") if c.status == "fail"][0]
    assert not report.ok
    since = (NOW - timedelta(days=10)).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert check.message == (f"tomcat-trust already holds CN 'Lab Root CA' valid from {since} (newer): "
                             "CUCM would silently keep that one and not store this")
    assert check.cucm_message == MESSAGES.not_replaced_older
    assert check.remedy == "Never upload expired certificates; delete the unwanted one from tomcat-trust, then upload."
    assert check.fingerprint == fingerprint(tomcat.root)


def test_row5_newer_copy_with_the_same_key_still_verifies_the_chain(tomcat):
    reissued = Pki().root(key=tomcat.root_key, days_before=10)  # same CA key re-issued later
    report = run(tomcat, trust_store=[reissued])
    assert report.ok
    warn = [c for c in report.by_name("trust_store") if c.status == "warn"][0]
    assert warn.message.startswith("tomcat-trust keeps its copy valid from ") and warn.message.endswith(
        "; it also verifies the chain")


def test_row5_older_copy_is_replaced_and_identical_copy_is_already_present(tomcat):
    older_root = Pki().root(key=rsa_key(2048, 5), days_before=5000)
    report = run(tomcat, trust_store=[older_root, tomcat.intermediates[0]])
    checks = {c.fingerprint: c for c in report.by_name("trust_store")}
    assert report.ok
    assert checks[fingerprint(tomcat.root)].message == "CN 'Lab Root CA' replaces the older copy in tomcat-trust"
    assert checks[fingerprint(tomcat.intermediates[0])].message == "already in tomcat-trust"
    assert [s.already_present for s in report.upload_plan] == [False, True, False]


def test_row5_expired_ca_would_be_refused():
    pki = Pki()
    root_key, int_key = rsa_key(2048, 1), rsa_key(2048, 2)
    root = pki.root(key=root_key, days_before=4000, days_after=-1)
    bundle = good("tomcat").with_(root=root)
    inter = pki.intermediate(root, root_key, key=int_key)
    leaf = pki.leaf(inter, int_key, bundle.leaf_key.public_key(), ku=("digital_signature", "key_encipherment",
                    "data_encipherment"), eku=("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"))
    report = run(bundle, [leaf, inter, root])
    bad = [c for c in report.by_name("validity") if c.status == "fail"]
    assert [(c.subject, c.cucm_message) for c in bad] == [(ROOT, MESSAGES.expired)]
    assert bad[0].message == f"root CA expired on {(NOW - timedelta(days=1)):%Y-%m-%d %H:%M:%S} UTC"


# --- failure-modes §4 matrix -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encode", "unpacked"),
    [
        pytest.param(lambda b: [pem(*b.certs())], False, id="pem"),
        pytest.param(lambda b: [der(c) for c in b.certs()], False, id="der-files"),
        pytest.param(lambda b: [p7b_pem(*b.certs())], True, id="p7b-pem"),
        pytest.param(lambda b: [p7b_der(*b.certs())], True, id="p7b-der"),
        pytest.param(lambda b: [crlf(pem(*b.certs()))], False, id="crlf"),
        pytest.param(lambda b: [with_bom(pem(*b.certs())) + b"\ntrailing junk\n"], False, id="bom-and-junk"),
        pytest.param(lambda b: [zip_of({"leaf.cer": der(b.leaf), "chain.p7b": p7b_der(b.root, *b.intermediates)})], True,
                     id="zip"),
    ],
)
def test_every_encoding_gives_the_same_verdict_and_plan(tomcat, encode, unpacked):
    material = Material()
    for number, data in enumerate(encode(tomcat)):
        material = material.merged(load_bytes(data, name=f"f{number}"))
    report = validate(material, purpose="tomcat", now=NOW, csr=tomcat.csr)
    assert report.ok and non_passing(report) == []
    assert only(report, "chain_complete").message == (
        "chain complete: cucm-pub.lab.example <- Lab Issuing CA <- Lab Root CA")
    assert [s.fingerprint for s in report.upload_plan] == [
        fingerprint(tomcat.root), fingerprint(tomcat.intermediates[0]), fingerprint(tomcat.leaf)]
    assert only(report, "intake").cucm_message == (MESSAGES.bad_format if unpacked else None)


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0), (2, 0, 1)],
                         ids=["leaf-first", "root-first", "shuffled", "shuffled2"])
def test_order_of_the_chain_does_not_matter(tomcat, order):
    certs = [tomcat.leaf, tomcat.intermediates[0], tomcat.root]
    report = run(tomcat, [certs[i] for i in order])
    assert report.ok
    assert [s.kind for s in report.upload_plan] == ["root", "intermediate", "leaf"]


def test_extra_unrelated_certificate_is_a_stray_not_uploaded(tomcat):
    other = good("tomcat", pki=Pki(), leaf_key=rsa_key(2048, 9), cn="other.lab.example").leaf
    report = run(tomcat, [*tomcat.certs(), other])
    stray = only(report, "strays")
    assert report.ok and stray.status == "warn"
    assert stray.message == "another end-entity certificate; it belongs to no chain of the chosen leaf and will not be uploaded"
    assert stray.fingerprint == fingerprint(other)
    assert fingerprint(other) not in [s.fingerprint for s in report.upload_plan]


def test_missing_intermediate_names_it(tomcat):
    report = run(tomcat, [tomcat.leaf, tomcat.root])
    assert only(report, "chain_complete").message == (
        f"missing intermediate CA {ISSUING!r}, issuer of {LEAF!r} (no tomcat-trust contents given to look in)")
    assert only(report, "strays").message == "root CA not connected to the leaf: an intermediate between them is missing"


def test_missing_root_names_it(tomcat):
    report = run(tomcat, [tomcat.leaf, tomcat.intermediates[0]], trust_store=[])
    assert only(report, "chain_complete").message == f"missing root CA {ROOT!r}, issuer of {ISSUING!r}"


def _leaf_with(bundle, *, public_key=None, **kw):
    p = catalogue.get("tomcat")
    args = {"ku": tuple(p.key_usage), "eku": tuple(p.extended_key_usage), **kw}
    return Pki().leaf(bundle.intermediates[0], bundle.int_key, public_key or bundle.leaf_key.public_key(), **args)


@pytest.mark.parametrize(
    ("days_before", "days_after", "expected"),
    [
        (400, -1, "leaf expired on {after}"),
        (-1, 365, "leaf is not valid before {before}"),
    ],
    ids=["expired-leaf", "not-yet-valid-leaf"],
)
def test_leaf_validity(tomcat, days_before, days_after, expected):
    leaf = _leaf_with(tomcat, days_before=days_before, days_after=days_after)
    report = run(tomcat, [leaf, tomcat.intermediates[0], tomcat.root])
    check = [c for c in report.by_name("validity") if c.subject == LEAF][0]
    fmt = "%Y-%m-%d %H:%M:%S UTC"
    assert not report.ok and check.status == "fail"
    assert check.message == expected.format(after=leaf.not_valid_after_utc.strftime(fmt),
                                            before=leaf.not_valid_before_utc.strftime(fmt))


def test_expired_intermediate(tomcat):
    inter = Pki().intermediate(tomcat.root, tomcat.root_key, key=tomcat.int_key, days_before=800, days_after=-2)
    report = run(tomcat, [tomcat.leaf, inter, tomcat.root])
    bad = [c for c in report.by_name("validity") if c.status == "fail"]
    assert [(c.subject, c.cucm_message) for c in bad] == [(ISSUING, MESSAGES.expired)]
    assert bad[0].message.startswith("intermediate CA expired on ")


@pytest.mark.parametrize(
    ("edge", "offset", "status"),
    [("after", -1, "pass"), ("after", 0, "pass"), ("after", +1, "fail"),
     ("before", -1, "fail"), ("before", 0, "pass"), ("before", +1, "pass")],
)
def test_expiry_one_second_either_side(tomcat, edge, offset, status):
    leaf = tomcat.leaf
    moment = leaf.not_valid_after_utc if edge == "after" else leaf.not_valid_before_utc
    report = run(tomcat, now=moment + timedelta(seconds=offset), expiry_warning_days=0)
    check = [c for c in report.by_name("validity") if c.subject == LEAF][0]
    assert check.status == status
    assert report.ok is (status == "pass")


def test_leaf_expiring_soon_is_a_warning_only(tomcat):
    report = run(tomcat, now=tomcat.leaf.not_valid_after_utc - timedelta(days=10))
    check = only(report, "leaf_expiry")
    assert report.ok and (check.status, check.message) == ("warn", "leaf expires in 10.0 days (threshold 30)")


@pytest.mark.parametrize(
    ("cn", "san", "wild"),
    [("*.lab.example", ("DNS:*.lab.example",), "*.lab.example"),
     (FQDN, (f"DNS:{FQDN}", "DNS:*.lab.example"), "*.lab.example")],
    ids=["wildcard-cn", "wildcard-san"],
)
def test_wildcard_is_refused(cn, san, wild):
    bundle = good("tomcat", cn=cn, san=san)
    check = only(run(bundle), "wildcard")
    assert (check.status, check.message, check.cucm_message) == ("fail", f"wildcard name(s) {wild}", MESSAGES.wildcard)


@pytest.mark.parametrize("purpose", ["cup-xmpp-s2s", "cup-xmpp-s2s-ECDSA"])
def test_wildcard_is_allowed_for_xmpp_federation_only(purpose):
    allowed = only(run(good(purpose, cn=FQDN, san=(f"DNS:{FQDN}", "DNS:*.lab.example")), purpose=purpose), "wildcard")
    assert allowed.status == "pass" and allowed.message == f"wildcard name(s) *.lab.example: allowed for {purpose}"
    for other in ("cup-xmpp", "cup", "tomcat"):
        refused = only(run(good(other, cn=FQDN, san=(f"DNS:{FQDN}", "DNS:*.lab.example")), purpose=other), "wildcard")
        assert refused.status == "fail" and "only cup-xmpp-s2s, cup-xmpp-s2s-ECDSA may carry them" in refused.remedy


def test_rsa_4096_is_accepted():
    bundle = good("tomcat", leaf_key=rsa_key(4096, 0))
    report = run(bundle)
    assert report.ok and only(report, "key_type").message == "RSA 4096-bit key, as tomcat requires"


def test_rsa_8192_is_refused(tomcat):
    # An 8192-bit public key without generating its private key (seconds on a loaded CI box):
    # CUCM judges the key size from the certificate alone, and the CA signs with its own key.
    import secrets

    from cryptography.hazmat.primitives.asymmetric import rsa

    modulus = secrets.randbits(8192) | (1 << 8191) | 1
    big = rsa.RSAPublicNumbers(65537, modulus).public_key()
    leaf = _leaf_with(tomcat, public_key=big)
    report = run(tomcat, [leaf, tomcat.intermediates[0], tomcat.root], csr=None)
    check = only(report, "key_size")
    assert (check.status, check.message, check.cucm_message) == (
        "fail", "RSA 8192-bit key is over CUCM's maximum of 4096", MESSAGES.key_too_large)
    assert check.fingerprint == fingerprint(leaf) and not report.ok


@pytest.mark.parametrize("curve", ["secp256r1", "secp384r1"])
def test_ecdsa_p256_and_p384_for_tomcat_ecdsa(curve):
    bundle = good("tomcat-ECDSA", leaf_key=ec_key(curve))
    report = run(bundle, purpose="tomcat-ECDSA")
    bits = {"secp256r1": 256, "secp384r1": 384}[curve]
    assert report.ok and only(report, "key_type").message == f"EC {bits}-bit key, as tomcat-ECDSA requires"


def test_rsa_leaf_for_an_ecdsa_purpose_is_refused(tomcat):
    check = only(run(tomcat, purpose="tomcat-ECDSA"), "key_type")
    assert (check.status, check.message) == ("fail", "tomcat-ECDSA needs an EC key; the leaf has RSA 2048")


def test_data_encipherment_dropped_by_the_ca_is_a_warning_naming_the_guides_advice():
    bundle = good("tomcat", ku=("digital_signature", "key_encipherment"))
    report = run(bundle)
    check = only(report, "key_usage")
    assert (check.status, check.message) == (
        "warn", "Key Usage lacks Data Encipherment, which Cisco's guide recommends for tomcat "
                "(the CA dropped it; CUCM accepts the certificate with Digital Signature, Key Encipherment)")
    assert check.remedy is not None and "Cisco's security guide asks that the CA keep Data Encipherment" in check.remedy
    assert report.ok and check in report.warnings


def test_callmanager_without_data_encipherment_and_key_agreement_is_a_warning():
    bundle = good("CallManager", ku=("digital_signature", "key_encipherment"))
    report = run(bundle, purpose="CallManager")
    check = only(report, "key_usage")
    assert check.status == "warn" and report.ok
    assert check.message.startswith("Key Usage lacks Data Encipherment, Key Agreement, which Cisco's guide recommends")
    assert "the CA dropped them" in check.message


def test_a_required_key_usage_missing_is_refused_and_names_the_recommended_ones_too():
    bundle = good("tomcat", ku=("digital_signature",))
    report = run(bundle)
    check = only(report, "key_usage")
    assert (check.status, check.message) == (
        "fail", "Key Usage lacks Key Encipherment (required: Digital Signature, Key Encipherment); "
                "also lacks Data Encipherment (recommended)")
    assert not report.ok


def test_recommended_key_usages_are_a_catalogue_fact_requested_by_the_purposes():
    assert catalogue.RECOMMENDED_KEY_USAGES == frozenset({"data_encipherment", "key_agreement"})
    assert catalogue.RECOMMENDED_KEY_USAGES <= catalogue.get("CallManager").key_usage


def test_key_usage_extension_missing():
    bundle = good("CallManager", ku=None)
    check = only(run(bundle, purpose="CallManager"), "key_usage")
    assert check.message == ("no Key Usage extension; CallManager needs Data Encipherment, Digital Signature, "
                             "Key Agreement, Key Encipherment")


def test_ipsec_without_ipsec_end_system_eku():
    bundle = good("ipsec", eku=("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"))
    check = only(run(bundle, purpose="ipsec"), "extended_key_usage")
    assert (check.status, check.message) == (
        "fail", "Extended Key Usage lacks IPsec End System (required: serverAuth, clientAuth, IPsec End System)")


def test_client_auth_missing_and_eku_absent():
    only_server = good("tomcat", eku=("1.3.6.1.5.5.7.3.1",))
    assert only(run(only_server), "extended_key_usage").message == (
        "Extended Key Usage lacks clientAuth (required: serverAuth, clientAuth)")
    no_eku = good("tomcat", eku=None)
    assert only(run(no_eku), "extended_key_usage").message == (
        "no Extended Key Usage extension (required: serverAuth, clientAuth)")


def test_capf_needs_ca_true_pathlen_zero():
    bundle = good("CAPF", bc=None)
    check = only(run(bundle, purpose="CAPF"), "basic_constraints")
    assert (check.status, check.message) == (
        "fail", "CAPF needs Basic Constraints CA:TRUE, pathlen:0; the leaf has absent")
    wrong = good("CAPF", bc=(True, 1))
    assert only(run(wrong, purpose="CAPF"), "basic_constraints").message == (
        "CAPF needs Basic Constraints CA:TRUE, pathlen:0; the leaf has CA:TRUE, pathlen:1")


def test_capf_needs_certificate_sign():
    bundle = good("CAPF", ku=("digital_signature",))
    check = only(run(bundle, purpose="CAPF"), "key_usage")
    assert check.message == "Key Usage lacks Certificate Sign (required: Digital Signature, Certificate Sign)"


def test_sha1_signed_legacy_root_is_a_warning():
    pki, root_key, int_key = Pki(), rsa_key(2048, 1), rsa_key(2048, 2)
    root = sha1_resigned(pki.root(key=root_key), root_key)
    inter = pki.intermediate(root, root_key, key=int_key)
    bundle = good("tomcat")
    leaf = pki.leaf(inter, int_key, bundle.leaf_key.public_key(), ku=tuple(catalogue.get("tomcat").key_usage),
                    eku=tuple(catalogue.get("tomcat").extended_key_usage))
    report = run(bundle, [leaf, inter, root])
    check = only(report, "signature_algorithm")
    assert report.ok and (check.status, check.message, check.subject) == ("warn", "signed with SHA-1 (root CA)", ROOT)


def test_trustme_quirks_critical_san_and_eku_are_not_rejected():
    bundle = good("tomcat", san_critical=True, eku_critical=True)
    report = run(bundle)
    assert report.ok and non_passing(report) == []


def test_self_signed_leaf_is_refused():
    key = rsa_key(2048, 0)
    pki = Pki()
    leaf = pki.leaf(pki.root(cn=FQDN, key=key), key, key.public_key(), cn=FQDN,
                    ku=("digital_signature", "key_encipherment", "data_encipherment"),
                    eku=("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"))
    # a self-signed certificate: subject == issuer, signed by its own key
    bundle = good("tomcat")
    report = run(bundle, [leaf])
    check = only(report, "leaf_ca_signed")
    assert (check.status, check.message) == ("fail", "the leaf is self-signed; this procedure uploads a CA-signed certificate")


def test_bad_signature_same_issuer_name_other_key(tomcat):
    impostor = Pki().intermediate(tomcat.root, tomcat.root_key, key=rsa_key(2048, 6))  # same name, other key
    report = run(tomcat, [tomcat.leaf, impostor, tomcat.root])
    check = only(report, "chain_signatures")
    assert check.status == "fail"
    assert check.message == (f"the signature of {LEAF!r} does not verify with the key of {ISSUING!r} "
                             "(same name, different CA key)")
    assert only(report, "chain_complete").status == "fail"


def test_intermediate_without_ca_flag():
    pki = Pki()
    bundle = good("tomcat")
    inter = pki.intermediate(bundle.root, bundle.root_key, key=bundle.int_key, bc=False)
    leaf = pki.leaf(inter, bundle.int_key, bundle.leaf_key.public_key(), ku=tuple(catalogue.get("tomcat").key_usage),
                    eku=tuple(catalogue.get("tomcat").extended_key_usage))
    check = only(run(bundle, [leaf, inter, bundle.root]), "ca_constraints")
    assert (check.status, check.message) == ("fail", "intermediate CA lacks Basic Constraints CA:TRUE, yet issues certificates")


def test_path_length_violation():
    pki, root_key, int_key = Pki(), rsa_key(2048, 1), rsa_key(2048, 2)
    root = pki.root(key=root_key, path_length=0)
    inter = pki.intermediate(root, root_key, key=int_key)
    bundle = good("tomcat")
    leaf = pki.leaf(inter, int_key, bundle.leaf_key.public_key(), ku=tuple(catalogue.get("tomcat").key_usage),
                    eku=tuple(catalogue.get("tomcat").extended_key_usage))
    check = only(run(bundle, [leaf, inter, root]), "ca_constraints")
    assert check.message == "root CA allows pathlen 0 but 1 CA(s) follow it"


def test_subject_cn_differs_from_the_csr_is_a_warning():
    bundle = good("tomcat", cn="cucm-pub-ms.lab.example", san=(f"DNS:{FQDN}",), csr_cn="cucm-pub.lab.example",
                  csr_san=(f"DNS:{FQDN}",))
    check = only(run(bundle), "csr_subject")
    assert check.status == "warn"
    assert check.message == ("subject CN 'cucm-pub-ms.lab.example' differs from the CSR's 'cucm-pub.lab.example' "
                             "(CUCM compares key and SANs, not the CN)")


def test_without_csr_the_csr_checks_are_skipped_and_say_so(tomcat):
    report = run(tomcat, csr=None)
    assert report.ok
    assert [(c.name, c.status, c.message) for c in report.checks if c.name.startswith("csr_")] == [
        ("csr_key", "skipped", "no CSR given: public key not compared"),
        ("csr_san", "skipped", "no CSR given: subject alternative names not compared"),
        ("csr_subject", "skipped", "no CSR given: subject not compared"),
    ]


def test_two_leaves_the_csr_picks_the_right_one(tomcat):
    second = _leaf_with(tomcat, public_key=rsa_key(2048, 8).public_key())  # same CA, another key
    report = run(tomcat, [second, *tomcat.certs()])
    assert report.ok
    assert report.upload_plan[-1].fingerprint == fingerprint(tomcat.leaf)
    assert only(report, "strays").fingerprint == fingerprint(second)


# --- report views ------------------------------------------------------------------------------


def test_report_views(tomcat):
    bundle = good("tomcat", san=(f"DNS:{FQDN}", "IP:10.0.0.10"), csr_san=(f"DNS:{FQDN}",))
    report = validate(load_bytes(p7b_pem(*bundle.certs()), name="certnew.p7b"), purpose="tomcat", now=NOW, csr=bundle.csr)
    data = json.loads(report.to_json())
    assert data["ok"] is False and data["verdict"] == "not uploadable" and data["upload_plan"] == []
    assert {"name": "csr_san", "status": "fail"}.items() <= [c for c in data["checks"] if c["name"] == "csr_san"][0].items()
    frame = report.to_frame()
    assert list(frame.columns) == ["name", "status", "message", "cucm_message", "remedy", "subject", "serial", "fingerprint"]
    assert frame.loc[frame.name == "csr_san", "cucm_message"].item() == MESSAGES.san_mismatch
    text = report.to_text()
    assert text.startswith("purpose tomcat: NOT UPLOADABLE (1 failed, 0 warnings, ")
    assert f"CUCM would say: {MESSAGES.san_mismatch}" in text
    assert "note: certnew.p7b: PKCS#7 bundle unpacked" in text
    html = report._repr_html_()
    assert "<table" in html and "csr_san" in html and "NOT UPLOADABLE" in html
    ok = run(tomcat)
    assert "Upload plan (each step a single PEM, in this order):\n  1. tomcat-trust" in ok.to_text()
    assert json.loads(ok.to_json())["upload_plan"][2]["target"] == "identity"


def test_usage_mistakes_stay_value_errors(tomcat):
    with pytest.raises(ValueError, match="timezone-aware"):
        run(tomcat, now=NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="unknown certificate purpose 'nope'"):
        run(tomcat, purpose="nope")


def test_first_refusal_follows_cucms_rule_order(tomcat):
    bundle = good("tomcat", san=(f"DNS:{FQDN}", "IP:10.0.0.10"), csr_san=(f"DNS:{FQDN}",))
    leaf_only = run(bundle, [bundle.leaf])
    assert [c.name for c in leaf_only.failed] == ["chain_complete", "csr_san"]
    assert leaf_only.first_refusal.cucm_message == MESSAGES.ca_not_in_trust
    san_only = run(bundle)
    assert san_only.first_refusal.cucm_message == MESSAGES.san_mismatch
    assert run(tomcat).first_refusal is None


def test_capf_ca_true_rule_applies_by_release_from_14su2():
    """CAPF14: CA:TRUE, pathlen:0 for a CA-signed CAPF from 14SU2; before it an end-entity CAPF leaf is fine."""
    end_entity = good("CAPF", bc=None)
    before = only(run(end_entity, purpose="CAPF", version="14.0.1.11900-132"), "basic_constraints")
    assert before.status == "pass" and "only from 14SU2" in before.message
    on_su2 = only(run(end_entity, purpose="CAPF", version="14.0.1.12900-161"), "basic_constraints")
    assert on_su2.status == "fail" and "14.0.1.12900-161 is 14SU2 or later" in on_su2.remedy
    unknown = only(run(end_entity, purpose="CAPF"), "basic_constraints")
    assert unknown.status == "fail" and "release is unknown" in unknown.remedy
    assert only(run(good("CAPF"), purpose="CAPF", version="15.0.1.11900-23"), "basic_constraints").status == "pass"
