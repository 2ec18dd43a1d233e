"""The lab's event log: what is recorded, by which door, persisted, bounded, and how it is read."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cucmkit.lab import LabCluster, pki
from cucmkit.lab import state as lab_state
from cucmkit.lab import store as lab_store
from cucmkit.lab.control import apply_action
from cucmkit.lab.state import LabState
from cucmkit.lab.testing import wait_until
from cucmkit.lab.topology import Topology

try:
    from . import soap_support as S
    from .test_ssh import Session
except ImportError:  # tests/lab is not a package
    import soap_support as S
    from test_ssh import Session

from cucmkit.lab.controlcenter import PATH

BINDING = "{http://schemas.cisco.com/ast/soap}ControlCenterServicesBinding"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> LabState:
    state = LabState.open(tmp_path_factory.mktemp("events") / "state", topology=Topology(phones=4), speed=0.01)
    return state


def _restarted(state: LabState, node: str, service: str, since: float) -> list[str]:
    return [e.kind for e in state.events(since=since) if e.node == node and e.get("service") == service]


def test_a_new_lab_starts_with_an_empty_log(tmp_path: Path) -> None:
    state = LabState.open(tmp_path / "state", topology=Topology(phones=2), speed=0.01)
    assert state.events() == []          # building the starting state is not an operation on a node
    assert not state.events_path.exists()


def test_restart_is_requested_then_completed_at_its_end(small: LabState) -> None:
    node = small.node("cucm-sub1")
    t0 = time.time()
    node.restart("Cisco Tftp")
    wait_until(lambda: node.service("Cisco Tftp").status == "Started")
    events = [e for e in small.events(since=t0) if e.get("service") == "Cisco Tftp"]
    assert [e.kind for e in events] == ["restart_requested", "restart_completed"]
    req, done = events
    assert req.node == done.node == node.fqdn and req.get("door") == done.get("door") == "api"
    assert done.time == pytest.approx(node.service("Cisco Tftp").started_at)
    assert done.time > req.time and done.seq > req.seq


def test_a_failing_restart_is_recorded_as_failed(small: LabState) -> None:
    node = small.node("cucm-sub1")
    small.faults.set(node.name, "service_fail", "Cisco Tftp")
    try:
        t0 = time.time()
        node.restart("Cisco Tftp")
        wait_until(lambda: node.service("Cisco Tftp").status == "Stopped")
        assert _restarted(small, node.fqdn, "Cisco Tftp", t0) == ["restart_requested", "restart_failed"]
    finally:
        small.faults.clear(node.name)
        node.start("Cisco Tftp")
        wait_until(lambda: node.service("Cisco Tftp").status == "Started")


def test_csr_uploads_and_regeneration_carry_fingerprints(small: LabState, tmp_path: Path) -> None:
    from cucmkit.lab.pki import LabCA
    from cucmkit.lab.starting import ensure_cas

    node = small.node("cucm-pub")
    t0 = time.time()
    csr = node.generate_csr("tomcat")
    old, current = ensure_cas(small.state_dir)
    ca = LabCA(pair=current, old=old, directory=small.state_dir / "ca", knobs=small.knobs)
    leaf, chain = ca.issue(csr, "tomcat")
    for pem in chain:
        node.upload_trust("tomcat", pem)
    node.upload_identity("tomcat", leaf)
    node.regenerate("tomcat")
    kinds = [e.kind for e in small.events(since=t0) if e.node == node.fqdn]
    assert kinds[0] == "csr_generated" and kinds[-2:] == ["identity_uploaded", "regenerated"]
    assert set(kinds[1:-2]) == {"trust_uploaded"}
    upload = small.events(since=t0, kind="identity_uploaded")[-1]
    assert upload.get("purpose") == "tomcat" and upload.get("fingerprint") == pki.fingerprint(leaf)
    assert upload.get("targets") == [node.fqdn]
    regen = small.events(since=t0, kind="regenerated")[-1]
    assert regen.get("fingerprint") == pki.fingerprint(node.own()["tomcat"].pem)
    trust = small.events(since=t0, kind="trust_uploaded")
    assert {e.get("fingerprint") for e in trust} == {pki.fingerprint(p) for p in chain}


def test_ctl_update_and_device_resets_are_recorded(small: LabState) -> None:
    t0 = time.time()
    small.set_security_mode(1)
    try:
        small.ctl_update()
    finally:
        small.set_security_mode(0)
    small.reset_all_devices()
    [ctl] = small.events(since=t0, kind="ctl_updated")
    assert ctl.get("version") == small.ctl.version and ctl.node == small.publisher.fqdn
    [reset] = small.events(since=t0, kind="devices_reset")
    assert reset.get("scope") == "all" and reset.get("count") == 4


def test_filters_since_iso_and_kind(small: LabState) -> None:
    node = small.node("cucm-pub")
    node.regenerate("CAPF")  # its own events: the test does not rely on an earlier test in the same worker
    node.generate_csr("CAPF")
    last = small.events()[-1]
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(last.time - 1)) + "Z"
    assert last in small.events(since=iso)
    assert small.events(since=last.time + 1) == []
    assert {e.kind for e in small.events(kind="csr_generated")} == {"csr_generated"}
    both = small.events(kind=("csr_generated", "regenerated"))
    assert {e.kind for e in both} <= {"csr_generated", "regenerated"} and len(both) >= 2


def test_the_log_survives_a_reload_and_sequence_continues(tmp_path: Path) -> None:
    state = LabState.open(tmp_path / "state", topology=Topology(phones=2), speed=0.01)
    state.node("cucm-pub").generate_csr("tomcat")
    state.reset_device_pool(sorted(state.phones.pools())[0])
    before = state.events()
    again = LabState.load(state.state_dir)  # what a lab restart does (the first instance is done)
    assert [e.to_dict() for e in again.events()] == [e.to_dict() for e in before] and len(before) == 2
    again.node("cucm-pub").generate_csr("ipsec")
    assert again.events()[-1].seq == before[-1].seq + 1


def test_the_log_is_bounded_and_the_file_compacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab_store, "EVENT_LIMIT", 5)  # the event log lives in lab/store.py
    state = LabState.open(tmp_path / "state", topology=Topology(phones=2), speed=0.01)
    for _ in range(13):
        state.record("devices_reset", scope="all", count=0)
    assert [e.seq for e in state.events()] == [9, 10, 11, 12, 13]
    lines = (state.state_dir / "events.jsonl").read_text().splitlines()
    assert len(lines) <= 2 * 5 + 1
    assert [e.seq for e in LabState.load(state.state_dir).events()] == [9, 10, 11, 12, 13]
    with pytest.raises(ValueError):
        state.record("made_up")


def test_the_door_is_named_by_the_calling_listener(lab: LabCluster) -> None:
    """SSH ``utils service restart`` is the CLI; ``soapDoControlServices`` is Control Center."""
    state, node = lab.state, lab.state.node("cucm-sub1")
    t0 = time.time()
    with Session(lab, "cucm-sub1") as ssh:
        ssh.run("utils service restart Cisco DRF Local", timeout=20)
    wait_until(lambda: node.service("Cisco DRF Local").status == "Started")
    svc = S.zeep_service(lab, "cucm-sub1", S.wsdl("12.5", "ControlCenterServices.wsdl"), BINDING, PATH)
    svc.soapDoControlServices(ControlServiceRequest={
        "NodeName": node.fqdn, "ControlType": "Restart", "ServiceList": {"item": ["Cisco Tftp"]}})
    wait_until(lambda: node.service("Cisco Tftp").status == "Started")
    rows = [(e.get("service"), e.kind, e.get("door")) for e in state.events(since=t0) if e.node == node.fqdn]
    assert ("Cisco DRF Local", "restart_requested", "cli") in rows
    assert ("Cisco DRF Local", "restart_completed", "cli") in rows
    assert ("Cisco Tftp", "restart_requested", "controlcenter") in rows
    assert ("Cisco Tftp", "restart_completed", "controlcenter") in rows
    with LabState.door("cli"):
        assert lab_state.current_door() == "cli"
    assert lab_state.current_door() == "api"


def test_control_action_and_offline_command(small: LabState) -> None:
    small.node("cucm-sub1").generate_csr("tomcat")
    rows = apply_action(small, "events", {"kind": "csr_generated"}, running=False)
    assert rows and {r["kind"] for r in rows} == {"csr_generated"} and all("seq" in r for r in rows)
    out = subprocess.run([sys.executable, "-m", "cucmkit.lab.command", "events", "--json", "--state-dir",
                          str(small.state_dir), "--kind", "csr_generated"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert [r["seq"] for r in json.loads(out.stdout)] == [r["seq"] for r in rows]
    text = subprocess.run([sys.executable, "-m", "cucmkit.lab.command", "events", "--state-dir",
                           str(small.state_dir), "--since", "2999-01-01T00:00:00Z"], capture_output=True,
                          text=True, timeout=60)
    assert text.returncode == 0 and text.stdout == ""


def test_rest_changes_are_the_https_door(lab: LabCluster) -> None:
    from cucmkit.lab.testing import https_session

    session, base = https_session(lab, "cucm-sub2")
    node = lab.state.node("cucm-sub2")
    assert node.pending_csr("ipsec") is None
    t0 = time.time()
    try:
        answer = session.post(f"{base}/platformcom/api/v1/certmgr/config/csr", json={"service": "ipsec"}, timeout=10)
        assert answer.status_code == 200, answer.text
    finally:
        with lab.state.lock:  # leave the session lab as found: no pending CSR (no door removes one)
            node.certs.csrs.pop("ipsec", None)
            lab.state.changed()
    [event] = lab.state.events(since=t0, kind="csr_generated")
    assert event.node == node.fqdn and event.get("door") == "https"
    assert event.get("purpose") == "ipsec"


def test_the_running_labs_control_endpoint_serves_events(lab: LabCluster) -> None:
    from urllib import request as urlrequest

    from cucmkit.lab.control import ControlServer

    lab.state.record("devices_reset", scope="probe", count=0)
    server = ControlServer(cluster=lab, on_stop=lambda: None)
    try:
        req = urlrequest.Request(f"http://127.0.0.1:{server.port}/events", method="POST",
                                 data=json.dumps({"kind": "devices_reset"}).encode(),
                                 headers={"X-Lab-Token": server.token})
        with urlrequest.build_opener(urlrequest.ProxyHandler({})).open(req, timeout=10) as resp:
            rows = json.loads(resp.read())["result"]
    finally:
        server.close()
    assert rows[-1]["scope"] == "probe" and {r["kind"] for r in rows} == {"devices_reset"}
