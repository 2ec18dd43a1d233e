"""ControlCenterClient against the lab's Control Center door, over real HTTPS."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cucmkit.cucm._http import HttpTransport
from cucmkit.cucm.controlcenter import ControlCenterClient
from cucmkit.cucm.models import SERVICE_STATUSES
from cucmkit.errors import ConnectError, HttpStatusError, SoapFaultError, TransportError
from cucmkit.secrets import Secret


def _endpoint(lab, name: str):
    return next(e for e in lab.endpoints() if e.name == name or e.fqdn == name)


def _transport(lab, name: str, *, password: str | None = None, read_timeout: float = 10.0) -> HttpTransport:
    ep = _endpoint(lab, name)
    state = Path(lab.state_dir)
    secret = password if password is not None else (state / "secrets" / "app_user").read_text().strip()
    return HttpTransport(node=ep.fqdn, address=ep.address, port=ep.https_port, interface="controlcenter",
                         ca_bundle=(state / "ca-bundle.pem",), username="ccmadmin",
                         password=Secret(secret, source="test"), connect_timeout=3, read_timeout=read_timeout)


def _client(lab, name: str = "cucm-pub", **kw) -> ControlCenterClient:
    return ControlCenterClient(transport=_transport(lab, name, **kw), node_name=_endpoint(lab, name).fqdn)


def wait_started(client: ControlCenterClient, service: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = client.service_status([service])[service].status
        if status == "Started" or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def test_status_of_all_and_named_services(lab) -> None:
    with _client(lab) as client:
        everything = client.service_status()
        assert "Cisco Tomcat" in everything and "Cisco CallManager" in everything
        assert all(s.status in SERVICE_STATUSES for s in everything.values())
        named = client.service_status(["Cisco Tomcat"])
    assert list(named) == ["Cisco Tomcat"] and named["Cisco Tomcat"].activated


def test_restart_is_asynchronous_and_reaches_started(lab) -> None:
    with _client(lab, "cucm-sub1") as client:
        answer = client.control("Restart", ["Cisco Tftp"])
        assert answer["Cisco Tftp"].status in ("Starting", "Stopping", "Started")
        assert wait_started(client, "Cisco Tftp", timeout=20) == "Started"


def test_slow_restart_is_waited_on(lab) -> None:
    lab.state.faults.set("cucm-sub2", "slow_restart", 4)
    try:
        with _client(lab, "cucm-sub2") as client:
            started = time.monotonic()
            client.control("Restart", ["Cisco Tftp"])
            assert client.service_status(["Cisco Tftp"])["Cisco Tftp"].status != "Started"
            assert wait_started(client, "Cisco Tftp", timeout=30) == "Started"
            assert time.monotonic() - started > 0.05
    finally:
        lab.state.faults.clear("cucm-sub2", "slow_restart")


def test_tomcat_cannot_be_controlled_here(lab) -> None:
    with _client(lab) as client, pytest.raises(SoapFaultError) as caught:
        client.control("Restart", ["Cisco Tomcat"])
    error = caught.value
    assert "utils service restart Cisco Tomcat" in error.message
    assert (error.node, error.interface) == (_endpoint(lab, "cucm-pub").fqdn, "controlcenter")
    assert error.operation.startswith("soapDoControlServices")


def test_other_nodes_name_is_refused(lab) -> None:
    transport = _transport(lab, "cucm-pub")
    client = ControlCenterClient(transport=transport, node_name=_endpoint(lab, "cucm-sub1").fqdn)
    with client, pytest.raises(SoapFaultError) as caught:
        client.control("Restart", ["Cisco Tftp"])
    assert "not the local node" in str(caught.value)


def test_wrong_password_is_401_without_the_password(lab) -> None:
    sentinel = "Sentinel-Pw-0xC0FFEE"
    with _client(lab, password=sentinel) as client, pytest.raises(HttpStatusError) as caught:
        client.service_status()
    assert caught.value.status == 401 and caught.value.interface == "controlcenter"
    assert sentinel not in str(caught.value) and sentinel not in repr(caught.value) and sentinel not in repr(client)


def test_unreachable_node_fails_fast_naming_it(lab) -> None:
    lab.state.faults.set("cucm-sub2", "unreachable")
    try:
        started = time.monotonic()
        with _client(lab, "cucm-sub2", read_timeout=3) as client, pytest.raises(TransportError) as caught:
            client.service_status()
        assert time.monotonic() - started < 10
    finally:
        lab.state.faults.clear("cucm-sub2", "unreachable")
    error = caught.value
    assert isinstance(error, (ConnectError, TransportError))
    assert error.node == _endpoint(lab, "cucm-sub2").fqdn and error.interface == "controlcenter"
    assert error.operation == "soapGetServiceStatus"
