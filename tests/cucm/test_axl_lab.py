"""AxlClient against the lab's AXL door (publisher), over real HTTPS."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cucmkit.cucm._http import HttpTransport
from cucmkit.cucm.axl import AxlClient
from cucmkit.errors import HttpStatusError, SoapFaultError, ThrottledError
from cucmkit.secrets import Secret


def _endpoint(lab, name: str):
    return next(e for e in lab.endpoints() if e.name == name or e.fqdn == name)


def _axl(lab, name: str = "cucm-pub", **kw) -> AxlClient:
    ep = _endpoint(lab, name)
    state = Path(lab.state_dir)
    transport = HttpTransport(node=ep.fqdn, address=ep.address, port=ep.https_port, interface="axl",
                              ca_bundle=(state / "ca-bundle.pem",), username="ccmadmin",
                              password=Secret((state / "secrets" / "app_user").read_text().strip(), source="test"),
                              connect_timeout=3, read_timeout=10)
    return AxlClient(transport=transport, **kw)


@pytest.mark.parametrize("version", ["12.5", "14.0", "15.0"])
def test_version_in_every_schema_namespace(lab, version: str) -> None:
    with _axl(lab, version=version) as axl:
        assert axl.ccm_version() == "14.0.1.13900-155"


def test_security_mode_matches_the_lab(lab) -> None:
    with _axl(lab) as axl:
        assert axl.security_mode() == int(lab.state.security_mode)


def test_process_nodes_by_sql_and_thick_axl_agree(lab) -> None:
    with _axl(lab) as axl:
        by_sql = axl.process_nodes()
        by_list = axl.list_process_nodes()
    assert "EnterpriseWideData" not in {n.name for n in by_sql}
    assert {(n.name, n.role, n.kind) for n in by_sql} == {(n.name, n.role, n.kind) for n in by_list}
    cucm_publishers = [n for n in by_sql if n.role == "publisher" and n.kind == "CUCM"]
    assert len(cucm_publishers) == 1
    assert cucm_publishers[0].name.split(".")[0] == "cucm-pub"
    assert {"CUCM", "IM&P"} <= {n.kind for n in by_sql}
    assert len(by_sql) == len(lab.endpoints())


def test_unsupported_sql_is_a_fault_naming_the_operation(lab) -> None:
    with _axl(lab) as axl, pytest.raises(SoapFaultError) as caught:
        axl.sql("select * from secretstuff")
    assert caught.value.interface == "axl" and caught.value.operation == "executeSQLQuery"
    assert caught.value.node == _endpoint(lab, "cucm-pub").fqdn


def test_axl_only_on_the_publisher(lab) -> None:
    with _axl(lab, "cucm-sub1") as axl, pytest.raises(HttpStatusError) as caught:
        axl.ccm_version()
    assert caught.value.status == 404


def _pool(lab) -> str:
    return sorted(lab.state.phones.pools())[0]


def test_resets_are_accepted(lab) -> None:
    with _axl(lab) as axl:
        axl.reset_device_pool(_pool(lab))
        axl.reset_all_devices()
        with pytest.raises(SoapFaultError) as caught:
            axl.reset_device_pool("No-Such-Pool")
    assert "Device Pool was not found" in caught.value.message and caught.value.operation == "resetDevicePool"


def test_503_is_retried_a_bounded_number_of_times_then_throttled(lab) -> None:
    lab.state.faults.set("cucm-pub", "axl_503")
    try:
        with _axl(lab, retries=3, backoff=0.05) as axl:
            started = time.monotonic()
            with pytest.raises(ThrottledError) as caught:
                axl.reset_all_devices()
            assert time.monotonic() - started < 5
    finally:
        lab.state.faults.clear("cucm-pub", "axl_503")
    error = caught.value
    assert "4 times" in error.message
    assert (error.node, error.interface, error.operation) == (
        _endpoint(lab, "cucm-pub").fqdn, "axl", "resetEnterpriseParameters")


def test_503_that_clears_recovers(lab) -> None:
    import threading

    lab.state.faults.set("cucm-pub", "axl_503")
    timer = threading.Timer(0.3, lambda: lab.state.faults.clear("cucm-pub", "axl_503"))
    timer.start()
    try:
        with _axl(lab, retries=6, backoff=0.1, backoff_max=0.4) as axl:
            axl.reset_device_pool(_pool(lab))
    finally:
        timer.join()
        lab.state.faults.clear("cucm-pub", "axl_503")
