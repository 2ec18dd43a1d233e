"""Certificate Management REST and SSO over real TLS, verified by FQDN against the lab CA bundle."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest
import requests

from cucmkit.catalogue import MESSAGES
from cucmkit.lab import LabCluster, Topology, pki
from cucmkit.lab.testing import https_session, wait_until

BASE = "/platformcom/api/v1/certmgr/config"


@pytest.fixture(scope="module")
def rest_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    """This module's own lab: its tests install certificates, which the session lab must not see."""
    with LabCluster(tmp_path_factory.mktemp("rest") / "state", topology=Topology(phones=4),
                    ports="ephemeral", speed=0.02, ssh=False) as cluster:
        yield cluster


def served_certificate(lab: LabCluster, node: str) -> str:
    ep = lab.endpoint(node)
    ctx = ssl.create_default_context(cafile=str(lab.ca_bundle))
    with socket.create_connection((ep.address, ep.https_port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=ep.fqdn) as tls:
            return ssl.DER_cert_to_PEM_cert(tls.getpeercert(binary_form=True))


def test_snapshot_shape(lab: LabCluster) -> None:
    session, base = https_session(lab, "cucm-pub")
    data = session.get(base + BASE + "/snapshot/server").json()
    assert data["server"] == "cucm-pub.lab.example" and data["revokedCertificates"] == []
    services = {i["service"]: i for i in data["identities"]}
    assert {"tomcat", "CallManager", "TVS", "CAPF", "ipsec", "ITLRecovery", "tomcat-ECDSA"} <= set(services)
    assert services["tomcat"]["filename"] == "tomcat.pem" and services["tomcat"]["certificate"].startswith("-----BEGIN")
    trusts = {t["service"]: t for t in data["trusts"]}
    files = {c["filename"] for c in trusts["tomcat-trust"]["certificate_data"]}
    assert {"Lab_Old_Root_CA.pem", "Expired_Partner_CA.pem"} <= files


def test_served_certificate_names_fqdn_not_address(lab: LabCluster) -> None:
    ep = lab.endpoint("cucm-sub2")
    ctx = ssl.create_default_context(cafile=str(lab.ca_bundle))
    with socket.create_connection((ep.address, ep.https_port), timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    pem = served_certificate(lab, "cucm-sub2")
    assert pki.fingerprint(pem) == pki.fingerprint(lab.state.node("cucm-sub2").own()["tomcat"].active_pem)


@pytest.mark.parametrize("auth", [None, ("admin", "wrong"), ("ccmadmin", "x")])
def test_bad_credentials_get_401(lab: LabCluster, auth) -> None:
    session, base = https_session(lab, "cucm-pub", auth=auth)
    resp = session.get(base + BASE + "/snapshot/server")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="CMPlatform"'
    assert resp.json() == {"message": "Unauthorized"}


def test_unknown_path_is_404(lab: LabCluster) -> None:
    session, base = https_session(lab, "cucm-pub")
    assert session.get(base + "/nothing/here").status_code == 404
    sub, sub_base = https_session(lab, "cucm-sub1")
    assert sub.post(sub_base + "/axl/", data="<x/>").status_code == 404  # AXL on the publisher only


def test_sso_status_unauthenticated(lab: LabCluster) -> None:
    session, base = https_session(lab, "cucm-sub1", auth=None)
    resp = session.get(base + "/ssosp/ws/public/singleSignOn")
    assert resp.status_code == 200
    assert resp.text == '<Response><SingleSignOn version="1.0"><Status enabled="false"/></SingleSignOn></Response>'
    lab.state.set_sso(True)
    try:
        assert 'enabled="true"' in session.get(base + "/ssosp/ws/public/singleSignOn").text
    finally:
        lab.state.set_sso(False)


def test_csr_get_without_pending_is_404(rest_lab: LabCluster) -> None:
    session, base = https_session(rest_lab, "cucm-sub2")
    resp = session.get(base + BASE + "/csr", params={"service": "ipsec"})
    assert resp.status_code == 404
    assert resp.json()["message"] == "The file /usr/local/platform/.security/ipsec/keys/ipsec.csr does not exist"


def test_multi_server_ip_alt_name_is_400(rest_lab: LabCluster) -> None:
    session, base = https_session(rest_lab, "cucm-pub")
    resp = session.post(base + BASE + "/csr", json={"service": "tomcat", "distribution": "multi-server",
                                                    "altNames": ["192.0.2.1"]})
    assert resp.status_code == 400 and "192.0.2.1" in resp.json()["message"]


def test_full_tomcat_renewal_over_rest(rest_lab: LabCluster) -> None:
    lab, node = rest_lab, "cucm-sub1"
    session, base = https_session(lab, node)
    before = served_certificate(lab, node)
    resp = session.post(base + BASE + "/csr", json={"service": "tomcat", "distribution": "this-server",
                                                    "commonName": "cucm-sub1.lab.example", "keyType": "rsa",
                                                    "keyLength": 2048, "hashAlgorithm": "sha256"})
    assert resp.status_code == 200 and resp.json()["service"] == "tomcat"
    csr = resp.json()["csr"]
    assert session.get(base + BASE + "/csr", params={"service": "tomcat"}).json()["csr"] == csr
    leaf, chain = lab.ca.issue(csr, "tomcat")
    # identity before the chain is trusted: CUCM's message, status 400
    resp = session.post(base + BASE + "/identity/certificates", json={"service": "tomcat", "certificates": [leaf]})
    assert (resp.status_code, resp.json()["message"]) == (400, MESSAGES.ca_not_in_trust)
    resp = session.post(base + BASE + "/trust/certificates",
                        json={"service": ["tomcat"], "certificates": chain[::-1], "description": "lab CA"})
    assert resp.status_code == 200
    assert resp.json()["message"] == "Successfully imported certificate for tomcat-trust."
    assert [r["stored"] for r in resp.json()["results"]] == [True, True]
    listed = session.get(base + BASE + "/trust/certificate", params={"service": "tomcat"}).json()["certificates"]
    assert {"Lab_Root_CA.pem", "Lab_Issuing_CA.pem"} <= {c["filename"] for c in listed}
    resp = session.post(base + BASE + "/identity/certificates",
                        json={"service": "tomcat", "certificates": [leaf, *chain]})
    assert resp.status_code == 200
    assert resp.json() == {"message": MESSAGES.import_ok.format(unit="tomcat"),
                           "restart": MESSAGES.restart_hint.format(unit="tomcat")}
    assert session.get(base + BASE + "/csr", params={"service": "tomcat"}).status_code == 404
    assert served_certificate(lab, node) == before  # installed, not yet served
    lab.state.node(node).restart("Cisco Tomcat")
    wait_until(lambda: lab.state.node(node).service("Cisco Tomcat").status == "Started", timeout=10)
    assert pki.fingerprint(served_certificate(lab, node)) == pki.fingerprint(leaf)
    # the new chain verifies by FQDN with requests too
    assert session.get(base + BASE + "/snapshot/server").status_code == 200


def test_trust_upload_expired_and_older(rest_lab: LabCluster) -> None:
    session, base = https_session(rest_lab, "cucm-pub")
    expired = rest_lab.state.node("cucm-pub").trust("tomcat")["Expired_Partner_CA.pem"]
    resp = session.post(base + BASE + "/trust/certificates", json={"service": ["tomcat"], "certificates": [expired]})
    assert (resp.status_code, resp.json()["message"]) == (400, MESSAGES.expired)
    import datetime as dt

    key = pki.new_key("ec", 256)
    now = pki.utcnow()
    newer = pki.self_signed(cn="Rest Partner", key=key, not_before=now - dt.timedelta(days=1), is_ca=True)
    older = pki.self_signed(cn="Rest Partner", key=key, not_before=now - dt.timedelta(days=5), is_ca=True)
    for pem, stored in ((newer, True), (older, False)):
        resp = session.post(base + BASE + "/trust/certificates", json={"service": ["CallManager"], "certificates": [pem]})
        assert resp.status_code == 200 and resp.json()["results"][0]["stored"] is stored
    assert resp.json()["results"][0]["reason"] == MESSAGES.not_replaced_older
    resp = session.delete(base + BASE + "/trust/certificate", params={"service": "CallManager", "filename": "Rest_Partner.pem"})
    assert resp.status_code == 200
    resp = session.delete(base + BASE + "/trust/certificate", params={"service": "CallManager", "filename": "Rest_Partner.pem"})
    assert resp.status_code == 404


def test_bad_requests_are_400_json(rest_lab: LabCluster) -> None:
    session, base = https_session(rest_lab, "cucm-pub")
    resp = session.post(base + BASE + "/identity/certificates", data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["message"]
    resp = session.post(base + BASE + "/identity/certificates", json={"service": "tomcat", "certificates": ["garbage"]})
    assert (resp.status_code, resp.json()["message"]) == (400, MESSAGES.bad_format)
    resp = session.post(base + BASE + "/csr", json={"service": "cup"})
    assert resp.status_code == 400


def test_chunked_body_and_clean_repr(rest_lab: LabCluster) -> None:
    session, base = https_session(rest_lab, "imp-pub")

    def body():
        yield b'{"service": "cup-xmpp",'
        yield b' "distribution": "this-server"}'

    resp = session.post(base + BASE + "/csr", data=body(), headers={"Content-Type": "application/json"})
    assert resp.status_code == 200 and resp.json()["service"] == "cup-xmpp"
    from cucmkit.lab.http import LabRequest

    req = LabRequest(method="GET", path="/x", query={}, headers={}, body=b"secret-body",
                     auth=("admin", "pw-123"), node=None, state=None)
    assert "pw-123" not in repr(req) and "secret-body" not in repr(req)


def test_https_is_down_while_tomcat_restarts(rest_lab: LabCluster) -> None:
    node = rest_lab.state.node("cucm-sub2")
    session, base = https_session(rest_lab, "cucm-sub2", auth=None)
    rest_lab.state.knobs.set("tomcat_restart_seconds", 50)  # 1 s at speed 0.02
    try:
        node.restart("Cisco Tomcat")
        with pytest.raises(requests.ConnectionError):
            session.get(base + "/ssosp/ws/public/singleSignOn", timeout=5)
        wait_until(lambda: node.service("Cisco Tomcat").status == "Started", timeout=10)
    finally:
        rest_lab.state.knobs.set("tomcat_restart_seconds", 20)
    assert session.get(base + "/ssosp/ws/public/singleSignOn", timeout=5).status_code == 200


def test_trust_upload_of_a_bundle_in_one_entry_is_refused(rest_lab: LabCluster) -> None:
    """One list entry holding two certificates: refused whole (never the first stored and success reported)."""
    session, base = https_session(rest_lab, "cucm-pub")
    before = rest_lab.state.node("cucm-pub").trust("CAPF")
    bundle = rest_lab.ca.root_pem + rest_lab.ca.intermediate_pem
    resp = session.post(base + BASE + "/trust/certificates", json={"service": ["CAPF"], "certificates": [bundle]})
    assert resp.status_code == 400 and "2 certificates" in resp.json()["message"]
    assert rest_lab.state.node("cucm-pub").trust("CAPF") == before
    resp = session.post(base + BASE + "/trust/certificates",  # one certificate per entry: both stored
                        json={"service": ["CAPF"], "certificates": [rest_lab.ca.root_pem, rest_lab.ca.intermediate_pem]})
    assert resp.status_code == 200 and [r["stored"] for r in resp.json()["results"]] == [True, True]


def test_the_rest_api_answers_on_a_second_https_port(rest_lab: LabCluster) -> None:
    """CUCM serves the certmgr REST API on 443 as well as 8443; the lab's second port stands for 443."""
    import json

    from cucmkit.lab.control import lab_status
    from cucmkit.lab.testing import FqdnAdapter

    ep = rest_lab.endpoint("cucm-sub1")
    assert ep.rest_port and ep.rest_port != ep.https_port
    base = f"https://{ep.address}:{ep.rest_port}"
    session = requests.Session()
    session.trust_env = False
    session.mount(base, FqdnAdapter(ep.fqdn))
    session.verify = str(rest_lab.ca_bundle)
    session.auth = ("admin", rest_lab.state.secret("os_admin"))
    data = session.get(base + BASE + "/snapshot/server", timeout=10).json()
    assert data["server"] == ep.fqdn
    assert session.get(base + BASE + "/snapshot/server", auth=("admin", "wrong"), timeout=10).status_code == 401
    nodes = {n["name"]: n for n in json.loads((rest_lab.state_dir / "lab.json").read_text())["nodes"]}
    assert nodes["cucm-sub1"]["rest_port"] == ep.rest_port
    status = lab_status(rest_lab.state, [vars(e) for e in rest_lab.endpoints()], running=True)
    assert {n["name"]: n["rest_port"] for n in status["nodes"]}["cucm-sub1"] == ep.rest_port


def test_fixed_second_ports_count_from_8543() -> None:
    topology = Topology()
    assert [topology.rest_port(i, s) for i, s in enumerate(topology.nodes)] == [8543, 8544, 8545, 8546]
    assert "rest_port" not in topology.to_dict()["nodes"][0]  # saved states stay as they were


def test_wildcard_alt_name_is_400_outside_cup_xmpp_s2s(rest_lab: LabCluster) -> None:
    session, base = https_session(rest_lab, "cucm-pub")
    resp = session.post(base + BASE + "/csr", json={"service": "tomcat", "distribution": "this-server",
                                                    "altNames": ["*.lab.example"]})
    assert resp.status_code == 400 and "wildcard" in resp.json()["message"]
    session, base = https_session(rest_lab, "imp-pub")
    resp = session.post(base + BASE + "/csr", json={"service": "cup-xmpp-s2s", "distribution": "multi-server",
                                                    "altNames": ["*.chat.lab.example"]})
    assert resp.status_code == 200
    from cryptography import x509

    csr = x509.load_pem_x509_csr(resp.json()["csr"].encode())
    assert "DNS:*.chat.lab.example" in pki.san_strings(csr)


def test_certmgr_down_answers_tomcats_404(rest_lab: LabCluster) -> None:
    session, base = https_session(rest_lab, "cucm-sub2")
    rest_lab.state.faults.set("cucm-sub2", "certmgr_down")
    try:
        resp = session.get(base + BASE + "/snapshot/server")
        assert resp.status_code == 404 and "text/html" in resp.headers["Content-Type"]
    finally:
        rest_lab.state.faults.clear("cucm-sub2", "certmgr_down")
    assert session.get(base + BASE + "/snapshot/server").status_code == 200
