"""The lab CA: AD CS web enrolment over HTTPS, and the Python API for good and bad certificates."""

from __future__ import annotations

import re

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID

from cucmkit.lab import LabCluster, pki
from cucmkit.lab.testing import FqdnAdapter


def ca_session(lab: LabCluster, *, auth: tuple[str, str] | None = None) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.mount(lab.ca_url, FqdnAdapter("ca.lab.example"))
    session.verify = str(lab.ca_bundle)
    session.auth = auth or ("causer", lab.state.secret("ca_user"))
    return session


def _csr(cn: str = "cucm-pub.lab.example", sans=("DNS:cucm-pub.lab.example",)) -> str:
    return pki.make_csr(key=pki.pooled_key("rsa", 2048, 777), cn=cn, sans=tuple(sans))


def _submit(session: requests.Session, lab: LabCluster, template: str, csr: str) -> str:
    resp = session.post(lab.ca_url + "certfnsh.asp", data={
        "Mode": "newreq", "CertRequest": csr, "CertAttrib": f"CertificateTemplate:{template}",
        "TargetStoreFlags": "0", "SaveCert": "yes"})
    assert resp.status_code == 200
    return resp.text


def test_requires_basic_auth(lab: LabCluster) -> None:
    resp = ca_session(lab, auth=("causer", "wrong")).get(lab.ca_url)
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Basic")


def test_issue_fetch_cer_and_p7b(lab: LabCluster) -> None:
    session = ca_session(lab)
    page = _submit(session, lab, "CUCM-tomcat", _csr())
    req_id = re.search(r"certnew\.cer\?ReqID=(\d+)&amp;Enc=b64", page).group(1)
    pem = session.get(lab.ca_url + "certnew.cer", params={"ReqID": req_id, "Enc": "b64"}).text
    leaf = pki.load_cert(pem)
    assert pki.common_name(leaf) == "cucm-pub.lab.example" and pki.common_name(leaf.issuer) == "Lab Issuing CA"
    assert pki.san_strings(leaf) == {"DNS:cucm-pub.lab.example"}
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment and ku.data_encipherment
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    der = session.get(lab.ca_url + "certnew.cer", params={"ReqID": req_id, "Enc": "bin"}).content
    assert pki.load_cert(der) == leaf
    p7 = session.get(lab.ca_url + "certnew.p7b", params={"ReqID": req_id, "Enc": "b64"}).content
    names = [pki.common_name(c) for c in pkcs7.load_pem_pkcs7_certificates(p7)]
    assert sorted(names) == ["Lab Issuing CA", "Lab Root CA", "cucm-pub.lab.example"]  # a SET: no order
    root = session.get(lab.ca_url + "certcarc.asp").text
    assert pki.fingerprint(root) == pki.fingerprint(lab.ca.root_pem)


def test_capf_template_gives_a_ca_leaf(lab: LabCluster) -> None:
    session = ca_session(lab)
    page = _submit(session, lab, "CUCM-CAPF", _csr("CAPF-cucm-pub", ()))
    req_id = re.search(r"ReqID=(\d+)", page).group(1)
    leaf = pki.load_cert(session.get(lab.ca_url + "certnew.cer", params={"ReqID": req_id, "Enc": "b64"}).text)
    bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca and bc.path_length == 0


def test_pending_then_approved_or_denied(lab: LabCluster) -> None:
    session = ca_session(lab)
    page = _submit(session, lab, "CUCM-tomcat-Pending", _csr())
    assert "Your certificate request has been received" in page
    req_id = int(re.search(r"Your Request Id is (\d+)", page).group(1))
    resp = session.get(lab.ca_url + "certnew.cer", params={"ReqID": req_id, "Enc": "b64"})
    assert "Your certificate request is still pending" in resp.text
    assert req_id in [r.req_id for r in lab.ca.pending()]
    lab.ca.approve(req_id)
    pem = session.get(lab.ca_url + "certnew.cer", params={"ReqID": req_id, "Enc": "b64"}).text
    assert pki.common_name(pki.load_cert(pem)) == "cucm-pub.lab.example"
    page = _submit(session, lab, "CUCM-ipsec-Pending", _csr())
    denied = int(re.search(r"Your Request Id is (\d+)", page).group(1))
    lab.ca.deny(denied)
    assert "denied" in session.get(lab.ca_url + "certnew.cer", params={"ReqID": denied, "Enc": "b64"}).text
    with pytest.raises(ValueError):
        lab.ca.approve(denied)


def test_manual_approval_knob(lab: LabCluster) -> None:
    session = ca_session(lab)
    lab.state.knobs.set("ca_approval", "manual")
    try:
        page = _submit(session, lab, "CUCM-tomcat", _csr())
    finally:
        lab.state.knobs.set("ca_approval", "auto")
    assert "Your Request Id is" in page


def test_missing_template_is_denied(lab: LabCluster) -> None:
    session = ca_session(lab)
    resp = session.post(lab.ca_url + "certfnsh.asp", data={"Mode": "newreq", "CertRequest": _csr(), "CertAttrib": ""})
    assert "no certificate template" in resp.text


@pytest.mark.parametrize(
    ("override", "check"),
    [
        ({"extra_sans": ["IP:10.0.0.5"]}, lambda c: "IP:10.0.0.5" in pki.san_strings(c)),
        ({"no_san": True}, lambda c: pki.san_strings(c) == frozenset()),
        ({"wrong_key": True},
         lambda c: c.public_key().public_numbers() != pki.pooled_key("rsa", 2048, 777).public_key().public_numbers()),
        ({"expired": True}, lambda c: c.not_valid_after_utc < pki.utcnow()),
        ({"not_yet_valid": True}, lambda c: c.not_valid_before_utc > pki.utcnow()),
        ({"no_data_encipherment": True},
         lambda c: not c.extensions.get_extension_for_class(x509.KeyUsage).value.data_encipherment),
        ({"wildcard": True}, lambda c: pki.common_name(c) == "*.lab.example"),
        ({"hash": "sha384"}, lambda c: c.signature_hash_algorithm.name == "sha384"),
        ({"signer": "old"}, lambda c: pki.common_name(c.issuer) == "Lab Old Issuing CA"),
        ({"signer": "self"}, lambda c: c.issuer == c.subject),
    ],
)
def test_bad_certificate_overrides(lab: LabCluster, override: dict, check) -> None:
    leaf, chain = lab.ca.issue(_csr(), "tomcat", **override)
    assert check(pki.load_cert(leaf))


def test_sha1_is_refused_clearly(lab: LabCluster) -> None:
    with pytest.raises(ValueError, match="sha1"):
        lab.ca.issue(_csr(), "tomcat", hash="sha1")
