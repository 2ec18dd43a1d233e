"""Intake: every shape a CA returns, and a named, clean error for everything else."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization

from cucmkit.certs.intake import load_bytes, load_csr, load_files, load_material, load_trust_store
from cucmkit.errors import CertificateError

from .factory import crlf, csr_pem, der, good, p7b_der, p7b_pem, pem, with_bom, zip_of


@pytest.fixture(scope="module")
def bundle():
    return good("tomcat")


def prints(material):
    return sorted(c.fingerprint for c in material.certificates)


def expected(bundle):
    from cucmkit.fingerprints import cert_sha256 as fingerprint

    return sorted(fingerprint(c) for c in bundle.certs())


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda b: pem(*b.certs()), id="pem-many"),
        pytest.param(lambda b: crlf(pem(*b.certs())), id="pem-crlf"),
        pytest.param(lambda b: with_bom(pem(*b.certs())), id="pem-bom"),
        pytest.param(lambda b: b"Certificate chain from our CA\nSubject: x\n\n" + pem(*b.certs()) + b"\n-- end --\n",
                     id="pem-text-around"),
        pytest.param(lambda b: p7b_pem(*b.certs()), id="p7b-pem"),
        pytest.param(lambda b: p7b_der(*b.certs()), id="p7b-der"),
        pytest.param(lambda b: zip_of({"leaf.cer": der(b.leaf), "chain.p7b": p7b_der(*b.intermediates, b.root)}),
                     id="zip-der-p7b"),
        pytest.param(lambda b: zip_of({"inner.zip": zip_of({"all.pem": pem(*b.certs())})}), id="zip-nested"),
        pytest.param(lambda b: crlf(pem(*b.certs())).decode().encode("utf-16"), id="utf16-bom"),
    ],
)
def test_every_shape_yields_the_same_three_certificates(bundle, encode):
    material = load_bytes(encode(bundle), name="ca-answer")
    assert prints(material) == expected(bundle)


def test_der_single_and_bare_base64(bundle):
    assert load_bytes(der(bundle.leaf)).certificates[0].certificate == bundle.leaf
    bare = base64.encodebytes(der(bundle.leaf))
    assert load_bytes(bare, name="certnew.cer").certificates[0].certificate == bundle.leaf


def test_p7b_adds_a_note_that_cucm_wants_single_files(bundle):
    material = load_bytes(p7b_pem(*bundle.certs()), name="certnew.p7b")
    assert material.notes == ("certnew.p7b: PKCS#7 bundle unpacked; CUCM takes single PEM/DER certificates, never the .p7b",)


def test_many_files_merge_and_deduplicate(tmp_path, bundle):
    (tmp_path / "leaf.pem").write_bytes(pem(bundle.leaf))
    (tmp_path / "chain.p7b").write_bytes(p7b_der(*bundle.certs()))  # leaf again inside
    material = load_files([tmp_path / "leaf.pem", tmp_path / "chain.p7b"])
    assert prints(material) == expected(bundle)
    assert material.certificates[0].source == f"{tmp_path / 'leaf.pem'}#1"


def test_private_key_block_is_ignored_with_a_note(bundle):
    key = bundle.leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
    material = load_bytes(key + pem(bundle.leaf), name="combined.pem")
    assert len(material) == 1
    assert "private key block was ignored" in material.notes[0]


def test_zip_skips_readme_but_not_a_broken_certificate_member(bundle):
    ok = load_bytes(zip_of({"README.txt": b"Install these", "leaf.crt": pem(bundle.leaf)}), name="ca.zip")
    assert len(ok) == 1 and ok.notes[0].startswith("ca.zip!README.txt: skipped")
    with pytest.raises(CertificateError) as err:
        load_bytes(zip_of({"leaf.crt": b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}), name="ca.zip")
    assert str(err.value).startswith("ca.zip: member leaf.crt PEM block 1 (CERTIFICATE) is not a valid X.509 certificate")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "answer.cer: is empty"),
        (b"   \r\n", "answer.cer: is empty"),
        (b"hello, this is not a certificate", "answer.cer: is not a certificate (expected PEM, DER, PKCS#7 or ZIP)"),
        (b"-----BEGIN CERTIFICATE-----\nMIIB\n",
         "answer.cer: has a '-----BEGIN' line but no complete PEM block (missing END line?)"),
        (b"-----BEGIN CERTIFICATE-----\nM!!B\n-----END CERTIFICATE-----\n", "answer.cer: bad base64 inside the PEM block"),
        (b"-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n",
         "answer.cer: has no certificate in it (PEM blocks found: PUBLIC KEY)"),
        (b"0\x82\x01\x00garbage", "answer.cer: is not a certificate (PEM, DER, PKCS#7 or ZIP)"),
        (b"PK\x03\x04broken zip", "answer.cer: is a damaged or unsupported ZIP archive"),
    ],
)
def test_unreadable_input_names_the_file_and_the_problem(data, message):
    with pytest.raises(CertificateError) as err:
        load_bytes(data, name="answer.cer")
    assert str(err.value).startswith(message)
    assert "Traceback" not in str(err.value)


def test_a_csr_given_as_certificate_says_so(bundle):
    for data in (csr_pem(bundle.csr), bundle.csr.public_bytes(serialization.Encoding.DER)):
        with pytest.raises(CertificateError) as err:
            load_bytes(data, name="tomcat.csr")
        assert str(err.value) == "tomcat.csr: holds a certificate request (CSR), not a certificate; pass it as the CSR (--csr)"


def test_pkcs7_that_is_not_a_certificate_bundle_is_refused():
    import os

    import cryptography_vectors

    path = os.path.join(os.path.dirname(cryptography_vectors.__file__), "pkcs7", "enveloped.pem")
    with open(path, "rb") as handle:
        data = handle.read()
    with pytest.raises(CertificateError) as err:
        load_bytes(data, name="enveloped.p7")
    assert str(err.value).startswith("enveloped.p7: PEM block 1 (PKCS7) is not a readable PKCS#7 certificate bundle (")


def test_all_bad_files_are_named_in_one_error(tmp_path, bundle):
    (tmp_path / "a.pem").write_bytes(b"nope")
    (tmp_path / "b.pem").write_bytes(pem(bundle.leaf))
    with pytest.raises(CertificateError) as err:
        load_files([tmp_path / "a.pem", tmp_path / "b.pem", tmp_path / "missing.pem"])
    text = str(err.value)
    assert text.startswith("2 inputs could not be read: ")
    assert f"{tmp_path / 'a.pem'}: is not a certificate" in text
    assert f"{tmp_path / 'missing.pem'}: cannot be read (No such file or directory)" in text


def test_csr_loading_shapes_and_errors(tmp_path, bundle):
    text = b"Here is your CSR:\r\n" + crlf(csr_pem(bundle.csr))
    (tmp_path / "t.csr").write_bytes(with_bom(text))
    assert load_csr(tmp_path / "t.csr") == bundle.csr
    assert load_csr(bundle.csr.public_bytes(serialization.Encoding.DER)) == bundle.csr
    assert load_csr(csr_pem(bundle.csr).decode()) == bundle.csr
    (tmp_path / "bad.csr").write_bytes(pem(bundle.leaf))
    with pytest.raises(CertificateError) as err:
        load_csr(tmp_path / "bad.csr")
    assert str(err.value) == f"{tmp_path / 'bad.csr'}: has no CERTIFICATE REQUEST PEM block"


def test_trust_store_directory_and_mixed_inputs(tmp_path, bundle):
    store = tmp_path / "tomcat-trust"
    store.mkdir()
    (store / "Lab_Root_CA.pem").write_bytes(pem(bundle.root))
    (store / "Lab_Issuing_CA.der").write_bytes(der(bundle.intermediates[0]))
    assert len(load_trust_store(store)) == 2
    mixed = load_material([bundle.leaf, pem(bundle.root), store / "Lab_Issuing_CA.der"])
    assert prints(mixed) == expected(bundle)


def test_records_are_accepted_as_material(bundle):
    from cucmkit.certs.records import record_from_pem

    records = [record_from_pem(pem(c), filename=f"{i}.pem") for i, c in enumerate(bundle.certs())]
    assert prints(load_material(records)) == expected(bundle)
