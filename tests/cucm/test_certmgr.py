"""CertMgrClient (certificate REST) against the lab: records, CSRs, uploads, CUCM's messages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cucmkit.catalogue import MESSAGES
from cucmkit.cucm import Cluster
from cucmkit.cucm._http import HttpTransport
from cucmkit.cucm.certmgr import CertMgrClient
from cucmkit.errors import CucmError, HttpStatusError
from cucmkit.fingerprints import cert_sha256
from cucmkit.lab import LabCluster, Topology
from cucmkit.params import ClusterParams, load_parameters
from cucmkit.secrets import Secret

NOW = dt.datetime.now(dt.UTC)


def _ca_cert(cn: str, *, not_before: dt.datetime, not_after: dt.datetime) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def own_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    with LabCluster(tmp_path_factory.mktemp("certmgrlab") / "state", topology=Topology(phones=4),
                    ports="ephemeral", speed=0.02) as lab:
        yield lab


@pytest.fixture(scope="module")
def params(own_lab: LabCluster, tmp_path_factory: pytest.TempPathFactory) -> ClusterParams:
    return load_parameters(own_lab.write_parameters(tmp_path_factory.mktemp("p") / "lab.yaml"))


def _client(lab: LabCluster, node: str = "cucm-pub", password: Secret | None = None) -> CertMgrClient:
    ep = lab.endpoint(node)
    secret = password or Secret(lab.state.secret("os_admin"), source="lab:os_admin")
    transport = HttpTransport(node=ep.fqdn, address=ep.address, port=ep.https_port, interface="certmgr",
                              ca_bundle=(lab.ca_bundle,), username="admin", password=secret,
                              connect_timeout=2, read_timeout=5)
    return CertMgrClient(transport=transport)


def test_snapshot_records(own_lab: LabCluster) -> None:
    with _client(own_lab) as client:
        snap = client.snapshot()
    assert snap.server == "cucm-pub.lab.example"
    purposes = {r.purpose for r in snap.identities}
    assert {"tomcat", "CallManager", "ipsec", "CAPF", "TVS"} <= purposes
    assert all(r.store == "own" and r.node == "cucm-pub.lab.example" for r in snap.identities)
    tomcat = next(r for r in snap.identities if r.purpose == "tomcat")
    assert tomcat.filename == "tomcat.pem" and tomcat.fingerprint_sha256 == cert_sha256(tomcat.pem)
    lab_pem = own_lab.state.node("cucm-pub").own()["tomcat"].pem
    assert tomcat.fingerprint_sha256 == cert_sha256(lab_pem)
    assert all(r.store.endswith("-trust") and r.purpose == r.store[:-6] for r in snap.trusts)


def test_trust_store_matches_snapshot(own_lab: LabCluster) -> None:
    with _client(own_lab) as client:
        listed = {r.fingerprint_sha256 for r in client.trust_store("tomcat")}
        from_snapshot = {r.fingerprint_sha256 for r in client.trust_certificates("tomcat-trust")}
    assert listed and listed == from_snapshot


def test_csr_lifecycle_and_missing_csr(own_lab: LabCluster) -> None:
    with _client(own_lab, "cucm-sub2") as client:
        assert client.get_csr("ipsec") is None
        csr = client.generate_csr("ipsec", alt_names=["cucm-sub2.lab.example"])
        parsed = x509.load_pem_x509_csr(csr.encode())
        assert parsed.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "cucm-sub2.lab.example"
        assert client.get_csr("ipsec") == csr
        assert {p for p, _ in client.snapshot().pending_csrs} >= {"ipsec"}


def test_ec_csr(own_lab: LabCluster) -> None:
    with _client(own_lab, "cucm-sub1") as client:
        csr = client.generate_csr("tomcat-ECDSA", key_type="ec", key_size=384)
    assert x509.load_pem_x509_csr(csr.encode()).public_key().key_size == 384  # type: ignore[union-attr]


def test_upload_without_csr_refused_with_cucm_message(own_lab: LabCluster) -> None:
    with _client(own_lab, "cucm-sub1") as client:
        assert client.get_csr("CallManager") is None
        leaf = own_lab.state.node("cucm-sub1").own()["CallManager"].pem
        with pytest.raises(HttpStatusError) as info:
            client.upload_identity("CallManager", [leaf])
    err = info.value
    assert err.status == 400 and err.purpose == "CallManager" and err.operation == "upload identity"
    assert "does not exist" in err.message or "could not be uploaded" in err.message


def test_expired_trust_refused(own_lab: LabCluster) -> None:
    expired = _ca_cert("cucmkit expired test CA", not_before=NOW - dt.timedelta(days=30),
                       not_after=NOW - dt.timedelta(days=1))
    with _client(own_lab) as client, pytest.raises(HttpStatusError) as info:
        client.upload_trust("tomcat", [expired])
    assert info.value.status == 400 and info.value.message == MESSAGES.expired


def test_trust_upload_and_delete(own_lab: LabCluster) -> None:
    pem = _ca_cert("cucmkit test CA one", not_before=NOW - dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=90))
    with _client(own_lab) as client:
        results = client.upload_trust("tomcat", [pem], description="test")
        assert [(r.filename, r.stored) for r in results] == [("cucmkit_test_CA_one.pem", True)]
        assert cert_sha256(pem) in {r.fingerprint_sha256 for r in client.trust_store("tomcat")}
        client.delete_trust("tomcat", "cucmkit_test_CA_one.pem")
        assert cert_sha256(pem) not in {r.fingerprint_sha256 for r in client.trust_store("tomcat")}
        with pytest.raises(HttpStatusError) as info:
            client.delete_trust("tomcat", "cucmkit_test_CA_one.pem")
    assert info.value.status == 404


def test_older_same_cn_silently_kept_is_caught_by_facade(own_lab: LabCluster, params: ClusterParams) -> None:
    cn = "cucmkit same-CN CA"
    newer = _ca_cert(cn, not_before=NOW - dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=900))
    older = _ca_cert(cn, not_before=NOW - dt.timedelta(days=10), not_after=NOW + dt.timedelta(days=800))
    with _client(own_lab) as client:
        client.upload_trust("tomcat", [newer])
        results = client.upload_trust("tomcat", [older])
    assert results[0].stored is False and results[0].reason == MESSAGES.not_replaced_older
    with Cluster.from_parameters(params) as cluster:
        with pytest.raises(CucmError, match="not stored") as info:
            cluster.publisher.upload_trust("tomcat", older)
        assert info.value.purpose == "tomcat" and info.value.remedy
        cluster.publisher.upload_trust("tomcat", newer)  # already there: verified by fingerprint, no error


def test_wrong_password_401(own_lab: LabCluster) -> None:
    with _client(own_lab, password=Secret("not-the-password", source="test")) as client:
        with pytest.raises(HttpStatusError) as info:
            client.snapshot()
    assert info.value.status == 401 and "authentication failed for admin" in str(info.value)
    assert "not-the-password" not in str(info.value)
