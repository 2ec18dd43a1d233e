"""Records (CONTRACTS §3): from PEM/DER, and from CUCM's `show cert own` text (the PEM at the end wins)."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from cucmkit.certs.records import CertRecord, record_from_pem, record_from_show_cert
from cucmkit.errors import CertificateError

from .factory import FQDN, NOW, crlf, der, ec_key, good, pem


def show_cert(cert, *, pem_block: bool = True, serial=None) -> str:
    fmt = "%a %b %d %H:%M:%S UTC %Y"
    lines = [
        "[",
        "  Version: V3",
        f"  Serial Number: {cert.serial_number if serial is None else serial}",
        "  SignatureAlgorithm: SHA256withRSA (1.2.840.113549.1.1.11)",
        f"  Issuer Name: {cert.issuer.rfc4514_string()}",
        f"  Validity From: {cert.not_valid_before_utc.strftime(fmt)}",
        f"           To:   {cert.not_valid_after_utc.strftime(fmt)}",
        f"  Subject Name: {cert.subject.rfc4514_string()}",
        "  Key: RSA (1.2.840.113549.1.1.1)",
        "    Key value:",
        "3082010a0282010100",
        "]",
    ]
    text = "\r\n".join(lines) + "\r\n"
    return text + (crlf(pem(cert)).decode() if pem_block else "")


@pytest.fixture(scope="module")
def bundle():
    return good("tomcat", san=(f"DNS:{FQDN}", "IP:10.0.0.10"))


def test_record_from_pem_fields(bundle):
    record = record_from_pem(pem(bundle.leaf), node="cucm-pub", purpose="tomcat", filename="tomcat.pem")
    assert isinstance(record, CertRecord)
    assert (record.node, record.purpose, record.store, record.filename) == ("cucm-pub", "tomcat", "own", "tomcat.pem")
    assert record.subject == f"CN={FQDN},O=Lab,C=JP" and record.issuer == "CN=Lab Issuing CA,O=Lab,C=JP"
    assert record.common_name == FQDN and record.serial == bundle.leaf.serial_number
    assert record.sans == (f"DNS:{FQDN}", "IP:10.0.0.10")
    assert record.not_after == bundle.leaf.not_valid_after_utc and record.not_after.tzinfo == UTC
    assert (record.key_type, record.key_size, record.self_signed) == ("RSA", 2048, False)
    assert len(record.fingerprint_sha256) == 64 and record.fingerprint_sha256 == record.fingerprint_sha256.lower()
    assert record.days_left(NOW) == pytest.approx(365.0)
    assert record.days_left(record.not_after + timedelta(days=2)) == pytest.approx(-2.0)
    assert record.certificate() == bundle.leaf


def test_record_from_der_text_around_and_root(bundle):
    assert record_from_pem(der(bundle.leaf)) == record_from_pem(b"junk\r\n" + crlf(pem(bundle.leaf)))
    root = record_from_pem(pem(bundle.root), store="tomcat-trust", filename="Lab_Root_CA.pem")
    assert root.self_signed and root.store == "tomcat-trust"


def test_record_from_ec_certificate():
    ec_bundle = good("tomcat-ECDSA", leaf_key=ec_key("secp384r1"))
    record = record_from_pem(pem(ec_bundle.leaf))
    assert (record.key_type, record.key_size) == ("EC", 384)


def test_show_cert_uses_the_pem_at_the_end(bundle):
    text = show_cert(bundle.leaf, serial=1)  # text lines disagree: the PEM wins
    record = record_from_show_cert(text, node="cucm-pub", purpose="tomcat", filename="tomcat.pem")
    assert record == record_from_pem(pem(bundle.leaf), node="cucm-pub", purpose="tomcat", filename="tomcat.pem")


def test_show_cert_text_fallback_reads_the_lab_dump_without_its_pem(bundle):
    from cucmkit.lab.shell import show_cert_text

    lines = show_cert_text(pem(bundle.leaf).decode())
    text = "\r\n".join(lines[: lines.index("-----BEGIN CERTIFICATE-----")])
    record = record_from_show_cert(text)
    full = record_from_pem(pem(bundle.leaf))
    assert (record.subject, record.issuer, record.serial, record.sans, record.key_type, record.key_size) == (
        full.subject, full.issuer, full.serial, full.sans, "RSA", 2048)
    assert record.not_after == full.not_after and record.pem == ""


def test_show_cert_text_fallback_without_pem(bundle):
    record = record_from_show_cert(show_cert(bundle.leaf, pem_block=False), store="tomcat-trust")
    assert record.subject == bundle.leaf.subject.rfc4514_string() and record.common_name == FQDN
    assert record.serial == bundle.leaf.serial_number
    assert record.not_before == bundle.leaf.not_valid_before_utc.replace(microsecond=0)
    assert record.not_after == bundle.leaf.not_valid_after_utc
    assert (record.pem, record.fingerprint_sha256, record.key_type) == ("", "", "RSA")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Executed command unsuccessfully\r\n", "not a 'show cert' output: no PEM block and no Serial Number"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "cannot read the certificate"),
    ],
)
def test_show_cert_errors_are_certificate_errors(text, message):
    with pytest.raises(CertificateError) as err:
        record_from_show_cert(text)
    assert str(err.value).startswith(message)


def test_days_left_needs_an_aware_clock(bundle):
    with pytest.raises(ValueError):
        record_from_pem(pem(bundle.leaf)).days_left(NOW.replace(tzinfo=None))
