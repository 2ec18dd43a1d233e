"""Faults per node, at start and at runtime, seen on the wire."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator

import pytest
import requests

from cucmkit.lab import LabCluster, Topology
from cucmkit.lab.faults import FAULTS, Faults
from cucmkit.lab.testing import https_session, wait_until

SNAPSHOT = "/platformcom/api/v1/certmgr/config/snapshot/server"


@pytest.fixture(scope="module")
def flab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    with LabCluster(tmp_path_factory.mktemp("faults") / "state", topology=Topology(phones=4), ports="ephemeral",
                    speed=0.02, ssh=False, faults={"cucm-sub2": {"unreachable": True}}) as cluster:
        yield cluster


def test_fault_at_start_makes_node_unreachable(flab: LabCluster) -> None:
    session, base = https_session(flab, "cucm-sub2")
    with pytest.raises(requests.ConnectionError):
        session.get(base + SNAPSHOT, timeout=5)
    flab.state.faults.clear("cucm-sub2", "unreachable")
    assert session.get(base + SNAPSHOT, timeout=5).status_code == 200


def _talk(address: str, port: int) -> bytes:
    with socket.create_connection((address, port), timeout=5) as raw:
        raw.sendall(b"\x16\x03\x01\x00\x05hello")
        return raw.recv(1024)


def test_unreachable_resets_the_connection(flab: LabCluster) -> None:
    ep = flab.endpoint("cucm-sub1")
    flab.state.faults.set("cucm-sub1", "unreachable")
    try:
        try:
            answer = _talk(ep.address, ep.https_port)
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            answer = b""
        assert answer == b""  # reset or closed: never a TLS ServerHello
    finally:
        flab.state.faults.clear("cucm-sub1", "unreachable")
    assert _talk(ep.address, ep.https_port)[:1] == b"\x15"  # alive again: TLS answers (an alert to our junk)


def test_tls_fail_aborts_the_handshake(flab: LabCluster) -> None:
    ep = flab.endpoint("cucm-pub")
    flab.state.faults.set("cucm-pub", "tls_fail")
    try:
        ctx = ssl.create_default_context(cafile=str(flab.ca_bundle))
        with socket.create_connection((ep.address, ep.https_port), timeout=5) as raw:
            with pytest.raises(ssl.SSLError, match="HANDSHAKE_FAILURE|handshake failure"):
                ctx.wrap_socket(raw, server_hostname=ep.fqdn)
        session, base = https_session(flab, "cucm-pub")
        with pytest.raises(requests.exceptions.SSLError):
            session.get(base + SNAPSHOT, timeout=5)
    finally:
        flab.state.faults.clear("cucm-pub", "tls_fail")
    session, base = https_session(flab, "cucm-pub")
    assert session.get(base + SNAPSHOT, timeout=5).status_code == 200


def test_service_fail_leaves_service_stopped(flab: LabCluster) -> None:
    node = flab.state.node("cucm-sub1")
    flab.state.faults.set("cucm-sub1", "service_fail", "Cisco Tftp")
    try:
        node.restart("Cisco Tftp")
        status = wait_until(lambda: (s := node.service("Cisco Tftp")).status in ("Stopped", "Started") and s, timeout=5)
        assert (status.status, status.reason) == ("Stopped", -1019)
        node.restart("Cisco CTIManager")  # other services are unaffected
        wait_until(lambda: node.service("Cisco CTIManager").status == "Started", timeout=5)
    finally:
        flab.state.faults.clear("cucm-sub1", "service_fail")
    node.start("Cisco Tftp")
    wait_until(lambda: node.service("Cisco Tftp").status == "Started", timeout=5)


def test_slow_restart_takes_longer(flab: LabCluster) -> None:
    """Status is computed from timestamps, so these checks hold on a loaded machine too."""
    node = flab.state.node("cucm-pub")
    node.restart("Cisco Tftp")           # 10 s x speed 0.02 = 0.2 s
    time.sleep(0.6)
    assert node.service("Cisco Tftp").status == "Started"
    flab.state.faults.set("cucm-pub", "slow_restart", 10)
    try:
        node.restart("Cisco Tftp")       # now 2 s
        time.sleep(0.6)
        assert node.service("Cisco Tftp").status in ("Stopping", "Starting")
        wait_until(lambda: node.service("Cisco Tftp").status == "Started", timeout=10)
    finally:
        flab.state.faults.clear("cucm-pub", "slow_restart")


def test_faults_registry() -> None:
    faults = Faults()
    with pytest.raises(ValueError):
        faults.set("cucm-pub", "gremlins")
    faults.set("*", "axl_503")
    assert faults.active("any-node", "axl_503") and not faults.active("any-node", "tls_fail")
    faults.clear("*")
    assert faults.list() == {}
    assert {"unreachable", "tls_fail", "hang_ssh", "service_fail", "slow_restart", "risport_throttle", "axl_503",
            "certmgr_down"} == set(FAULTS)
