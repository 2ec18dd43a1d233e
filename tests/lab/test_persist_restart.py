"""The lab survives its own restart: certificates, pending CSRs, trust, faults, settings, phones, CA book."""

from __future__ import annotations

import json
from pathlib import Path

from cucmkit.lab import LabCluster, Topology, pki
from cucmkit.lab.testing import https_session, wait_until


def test_state_survives_a_lab_restart(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with LabCluster(state_dir, topology=Topology(phones=6), ports="ephemeral", speed=0.02, ssh=False) as lab:
        node = lab.state.node("cucm-sub1")
        password = lab.state.secret("os_admin")
        for pem in (lab.ca.root_pem, lab.ca.intermediate_pem):
            node.upload_trust("tomcat", pem)
        leaf, _ = lab.ca.issue(node.generate_csr("tomcat"), "tomcat")
        node.upload_identity("tomcat", leaf)           # installed, not active
        pending_csr = node.generate_csr("ipsec")       # a pending CSR
        lab.state.faults.set("cucm-sub2", "axl_503")
        lab.state.set_security_mode(1)
        lab.state.knobs.set("risport_rate", 7)
        lab.state.reset_device_pool("DP-CUCM-SUB2")
        req = lab.ca.submit(pending_csr, "CUCM-ipsec-Pending")
        served_before = node.tls_chain()[0]
    assert json.loads((state_dir / "state.json").read_text())["security_mode"] == 1

    with LabCluster(state_dir, ports="ephemeral", speed=0.02, ssh=False) as lab:
        node = lab.state.node("cucm-sub1")
        assert lab.state.secret("os_admin") == password
        own = node.own()["tomcat"]
        assert pki.fingerprint(own.pem) == pki.fingerprint(leaf) and own.active_pem == served_before
        assert node.pending_csr("ipsec") == pending_csr
        assert "Lab_Issuing_CA.pem" in node.trust("tomcat")
        assert lab.state.faults.active("cucm-sub2", "axl_503")
        assert lab.state.security_mode == 1 and lab.state.knobs.risport_rate == 7
        assert len(lab.state.phone_views()) == 6
        assert [r.req_id for r in lab.ca.pending()] == [req.req_id]
        wait_until(lambda: lab.state.phone_summary()["registered"] == 6, timeout=5)
        session, base = https_session(lab, "cucm-sub1")
        assert session.get(base + "/platformcom/api/v1/certmgr/config/snapshot/server").status_code == 200
        node.restart("Cisco Tomcat")
        wait_until(lambda: node.service("Cisco Tomcat").status == "Started", timeout=5)
    with LabCluster(state_dir, ports="ephemeral", speed=0.02, ssh=False) as lab:
        assert pki.fingerprint(lab.state.node("cucm-sub1").tls_chain()[0]) == pki.fingerprint(leaf)


def test_restart_in_flight_completes_after_reload(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with LabCluster(state_dir, topology=Topology(phones=2), ports="ephemeral", speed=0.05, ssh=False) as lab:
        node = lab.state.node("cucm-pub")
        node.regenerate("ipsec")
        node.restart("Cisco DRF Local")
        new = node.own()["ipsec"].pem
    with LabCluster(state_dir, ports="ephemeral", speed=0.05, ssh=False) as lab:
        node = lab.state.node("cucm-pub")
        wait_until(lambda: node.service("Cisco DRF Local").status == "Started", timeout=5)
        assert node.own()["ipsec"].active_pem == new


def test_parameters_file_points_at_this_lab(lab, lab_params: Path) -> None:
    import yaml

    data = yaml.safe_load(lab_params.read_text())
    assert [n["fqdn"] for n in data["nodes"]] == [e.fqdn for e in lab.endpoints()]
    assert [n["https_port"] for n in data["nodes"]] == [e.https_port for e in lab.endpoints()]
    secret_file = Path(data["credentials"]["os_admin"]["password"]["file"])
    assert secret_file.read_text().strip() == lab.state.secret("os_admin")
    assert Path(data["tls"]["ca_bundle"][0]) == lab.ca_bundle
    assert data["ca"]["url"] == lab.ca_url and data["ca"]["username"] == "causer"
    assert lab.state.secret("os_admin") not in lab_params.read_text()


def test_parameters_pin_a_self_signed_tomcat(fresh_lab, tmp_path: Path) -> None:
    import yaml

    node = fresh_lab.state.node("imp-pub")
    node.regenerate("tomcat")
    node.restart("Cisco Tomcat")
    wait_until(lambda: node.service("Cisco Tomcat").status == "Started", timeout=5)
    data = yaml.safe_load(fresh_lab.write_parameters(tmp_path / "p.yaml").read_text())
    assert data["tls"]["pins"] == {"imp-pub.lab.example": pki.fingerprint(node.own()["tomcat"].active_pem)}
