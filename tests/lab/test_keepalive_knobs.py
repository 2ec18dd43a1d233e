"""HTTP/1.1 keep-alive on the lab's HTTPS doors, the http_latency and risport_window knobs, parameter files."""

from __future__ import annotations

import http.client
import ssl
import time
from collections.abc import Iterator

import pytest

from cucmkit.lab import LabCluster, Topology, parameters_dict
from cucmkit.lab.testing import USERS, https_session, wait_until

SNAPSHOT = "/platformcom/api/v1/certmgr/config/snapshot/server"


@pytest.fixture(scope="module")
def ka_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    with LabCluster(tmp_path_factory.mktemp("keepalive") / "state", topology=Topology(phones=2),
                    ports="ephemeral", speed=0.02, ssh=False) as cluster:
        yield cluster


def _connection(lab: LabCluster, node: str) -> http.client.HTTPSConnection:
    ep = lab.endpoint(node)
    ctx = ssl.create_default_context(cafile=str(lab.ca_bundle))
    ctx.check_hostname = False  # the address is 127.0.0.1; the chain is still verified
    conn = http.client.HTTPSConnection(ep.address, ep.https_port, context=ctx, timeout=5)
    return conn


def _get(conn: http.client.HTTPSConnection, lab: LabCluster) -> http.client.HTTPResponse:
    import base64

    token = base64.b64encode(f"{USERS['os_admin']}:{lab.state.secret('os_admin')}".encode()).decode()
    conn.request("GET", SNAPSHOT, headers={"Authorization": f"Basic {token}"})
    response = conn.getresponse()
    response.read()
    return response


def test_one_connection_serves_many_requests(ka_lab: LabCluster) -> None:
    conn = _connection(ka_lab, "cucm-pub")
    try:
        first = _get(conn, ka_lab)
        sock = conn.sock
        second = _get(conn, ka_lab)
        assert first.version == 11 and not first.will_close and first.getheader("Content-Length")
        assert second.status == 200 and conn.sock is sock      # the same TLS connection
    finally:
        conn.close()


def test_tomcat_restart_ends_kept_alive_connections(ka_lab: LabCluster) -> None:
    conn = _connection(ka_lab, "cucm-sub1")
    try:
        assert _get(conn, ka_lab).status == 200
        node = ka_lab.state.node("cucm-sub1")
        node.restart("Cisco Tomcat")
        sock = conn.sock
        assert sock is not None
        sock.settimeout(5)
        with pytest.raises((ConnectionError, ssl.SSLError, OSError)):
            data = sock.recv(1)       # the lab resets the idle connection while Tomcat is down
            if data == b"":
                raise ConnectionError("closed")
    finally:
        conn.close()
    wait_until(lambda: node.service("Cisco Tomcat").status == "Started", timeout=10)
    session, base = https_session(ka_lab, "cucm-sub1")
    assert session.get(base + SNAPSHOT, timeout=5).status_code == 200


def test_http_latency_knob_delays_every_request(ka_lab: LabCluster) -> None:
    session, base = https_session(ka_lab, "cucm-pub")
    session.get(base + SNAPSHOT, timeout=5)
    ka_lab.state.knobs.set("http_latency", 1.5)
    try:
        began = time.monotonic()
        assert session.get(base + SNAPSHOT, timeout=10).status_code == 200
        assert time.monotonic() - began >= 1.5
    finally:
        ka_lab.state.knobs.set("http_latency", 0.0)
    began = time.monotonic()
    session.get(base + SNAPSHOT, timeout=10)
    assert time.monotonic() - began < 1.5          # the knob is gone (a loaded machine still answers in well under)


def test_risport_window_knob_is_read_by_the_throttle(ka_lab: LabCluster) -> None:
    from cucmkit.lab import risport
    from cucmkit.lab.http import LabRequest
    from cucmkit.lab.soap import SoapFault

    request = LabRequest(method="POST", path="/realtimeservice2/services/RISService70", query={}, headers={},
                         body=b"", auth=None, node=ka_lab.state.node("cucm-pub"), state=ka_lab.state)
    knobs = ka_lab.state.knobs
    knobs.set("risport_rate", 2)
    knobs.set("risport_window", 0.4)
    try:
        time.sleep(0.4)
        risport._throttle(request)  # noqa: SLF001 - the knob's reader
        risport._throttle(request)  # noqa: SLF001
        with pytest.raises(SoapFault):
            risport._throttle(request)  # noqa: SLF001 - a third request inside 0.4 s
        time.sleep(0.45)
        risport._throttle(request)  # noqa: SLF001 - the 0.4 s window has moved on
    finally:
        knobs.set("risport_rate", 15)
        knobs.set("risport_window", 60.0)


def test_parameters_leave_out_ssh_port_without_ssh(ka_lab: LabCluster) -> None:
    data = parameters_dict(ka_lab.endpoints(), state_dir=ka_lab.state_dir, ca_url=ka_lab.ca_url,
                           ca_fqdn=ka_lab.state.topology.ca_fqdn)
    assert data["nodes"] and all("ssh_port" not in node for node in data["nodes"])
    assert all(node["https_port"] > 0 for node in data["nodes"])
