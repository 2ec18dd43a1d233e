"""``?wsdl`` on every SOAP door: the lab's own WSDL, with Cisco's names, from which zeep builds a working client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lxml import etree
from zeep import Client, Settings
from zeep.transports import Transport

try:
    from . import soap_support as S
except ImportError:  # tests/lab is not a package
    import soap_support as S

from cucmkit.lab import LabCluster, Topology

WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
DOORS = {  # path -> (node, service, port, binding, target namespace)
    "/controlcenterservice2/services/ControlCenterServices":
        ("cucm-sub1", "ControlCenterServices", "ControlCenterServicesPort", "ControlCenterServicesBinding",
         "http://schemas.cisco.com/ast/soap"),
    "/realtimeservice2/services/RISService70":
        ("cucm-sub1", "RISService70", "RisPort70", "RisBinding", "http://schemas.cisco.com/ast/soap"),
    "/axl/": ("cucm-pub", "AXLAPIService", "AXLPort", "AXLAPIBinding", "http://www.cisco.com/AXLAPIService/"),
}


@pytest.fixture(scope="module")
def wsdl_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    with LabCluster(tmp_path_factory.mktemp("wsdl") / "state", topology=Topology(phones=6),
                    ports="ephemeral", speed=0.02, ssh=False) as lab:
        yield lab


def client(lab: LabCluster, path: str) -> Any:
    node = DOORS[path][0]
    session = S.session(lab, node)
    return Client(S.url(lab, node, path) + "?wsdl", transport=Transport(session=session),
                  settings=Settings(strict=True)).service


@pytest.mark.parametrize("path", sorted(DOORS))
def test_wsdl_carries_ciscos_names(wsdl_lab: LabCluster, path: str) -> None:
    node, service, port, binding, target = DOORS[path]
    answer = S.session(wsdl_lab, node).get(S.url(wsdl_lab, node, path) + "?wsdl", timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/xml")
    root = etree.fromstring(answer.content)
    assert root.tag == f"{{{WSDL_NS}}}definitions" and root.get("targetNamespace") == target
    [svc] = root.findall(f"{{{WSDL_NS}}}service")
    [prt] = svc.findall(f"{{{WSDL_NS}}}port")
    assert (svc.get("name"), prt.get("name"), prt.get("binding").split(":")[-1]) == (service, port, binding)
    address = prt[0].get("location")
    assert address.startswith("https://") and address.endswith(path)
    assert "Hi there" not in answer.text
    unauthenticated = S.session(wsdl_lab, node, auth=("ccmadmin", "wrong")).get(
        S.url(wsdl_lab, node, path) + "?WSDL", timeout=10)
    assert unauthenticated.status_code == 401


def test_control_center_client_from_the_labs_wsdl(wsdl_lab: LabCluster) -> None:
    service = client(wsdl_lab, "/controlcenterservice2/services/ControlCenterServices")
    answer = service.soapGetServiceStatus(ServiceStatus=["Cisco CallManager"])
    [item] = answer.ServiceInfoList.item
    assert (item.ServiceName, item.ServiceStatus, item.ReasonCode) == ("Cisco CallManager", "Started", -1)
    products = service.getProductInformationList(ServiceInfo="")
    assert products.PrimaryNode == "cucm-sub1.lab.example"


def test_risport_client_from_the_labs_wsdl_pages_with_state_info(wsdl_lab: LabCluster) -> None:
    service = client(wsdl_lab, "/realtimeservice2/services/RISService70")
    seen: list[str] = []
    state_info = ""
    for _ in range(10):
        answer = service.selectCmDeviceExt(StateInfo=state_info, CmSelectionCriteria={
            "MaxReturnedDevices": 4, "Status": "Any", "SelectBy": "Name", "SelectItems": {"item": [{"Item": "SEP*"}]}})
        for node in answer.SelectCmDeviceResult.CmNodes.item:
            seen += [device.Name for device in (node.CmDevices.item if node.CmDevices else [])]
        state_info = answer.StateInfo or ""
        if not state_info:
            break
    assert sorted(seen) == sorted(wsdl_lab.state.phones.names())
    cti = service.selectCtiItem(StateInfo="", CtiSelectionCriteria={"CtiMgrClass": "Provider"})
    assert cti.SelectCtiItemResult.TotalItemsFound == 0


def test_axl_client_from_the_labs_wsdl(wsdl_lab: LabCluster) -> None:
    service = client(wsdl_lab, "/axl/")
    # the answers have the shape Cisco's WSDL gives them (answer["return"][...]), so client code works on both
    assert service.getCCMVersion()["return"].componentVersion.version.startswith("14.0")
    name = wsdl_lab.state.phones.names()[2]
    phone = service.getPhone(name=name)["return"].phone
    assert phone.name == name and phone["class"] == "Phone" and phone.uuid.startswith("{")
    listed = service.listPhone(searchCriteria={"name": "SEP%"}, returnedTags={"name": ""}, first=3)["return"].phone
    assert [p.name for p in listed] == wsdl_lab.state.phones.names()[:3]
    rows = service.executeSQLQuery(sql="select name from device")["return"].row
    assert sorted(column.text for row in rows for column in row) == wsdl_lab.state.phones.names()


def test_get_without_wsdl_still_answers_the_service_page(wsdl_lab: LabCluster) -> None:
    answer = S.session(wsdl_lab, "cucm-sub1").get(
        S.url(wsdl_lab, "cucm-sub1", "/realtimeservice2/services/RISService70"), timeout=10)
    assert answer.status_code == 200 and "AXIS service" in answer.text


CISCO = {  # path -> (Cisco's WSDL from collabconnector, binding)
    "/controlcenterservice2/services/ControlCenterServices":
        (S.wsdl("12.5", "ControlCenterServices.wsdl"), "{http://schemas.cisco.com/ast/soap}ControlCenterServicesBinding"),
    "/realtimeservice2/services/RISService70":
        (S.wsdl("12.5", "RISService70.wsdl"), "{http://schemas.cisco.com/ast/soap}RisBinding"),
    "/axl/": (S.wsdl("14.0", "AXLAPI.wsdl"), "{http://www.cisco.com/AXLAPIService/}AXLAPIBinding"),
}


def both(lab: LabCluster, path: str) -> dict[str, Any]:
    """The same door through a client built from the lab's ?wsdl and one built from Cisco's WSDL."""
    node = DOORS[path][0]
    wsdl_file, binding = CISCO[path]
    return {"lab": client(lab, path), "cisco": S.zeep_service(lab, node, wsdl_file, binding, path)}


def test_both_wsdls_read_the_same_control_center_answers_and_restart_without_node_name(
        wsdl_lab: LabCluster) -> None:
    clients = both(wsdl_lab, "/controlcenterservice2/services/ControlCenterServices")
    read = {name: {i.ServiceName: i.ServiceStatus for i in svc.soapGetServiceStatus(
        ServiceStatus=[""]).ServiceInfoList.item} for name, svc in clients.items()}
    assert read["lab"] == read["cisco"] and read["lab"]["Cisco CallManager"] == "Started"
    for name, svc in clients.items():  # no NodeName: the local node (cucm-sub1) restarts, whichever WSDL
        answer = svc.soapDoControlServices(ControlServiceRequest={
            "ControlType": "Restart", "ServiceList": {"item": ["Cisco CallManager"]}})
        [item] = answer.ServiceInfoList.item
        assert item.ServiceName == "Cisco CallManager", name
        S.wait_until(lambda: wsdl_lab.state.node("cucm-sub1").service("Cisco CallManager").status == "Started",
                     timeout=30)
    S.wait_until(lambda: S.all_registered(wsdl_lab), timeout=60)   # leave the module's lab as found


def test_both_wsdls_page_risport_and_read_axl_alike(wsdl_lab: LabCluster) -> None:
    S.wait_until(lambda: S.all_registered(wsdl_lab), timeout=60)   # the two reads must see the same phones
    seen = {}
    for name, svc in both(wsdl_lab, "/realtimeservice2/services/RISService70").items():
        answer = svc.selectCmDeviceExt(StateInfo="", CmSelectionCriteria={
            "MaxReturnedDevices": 100, "Status": "Any", "SelectBy": "Name", "SelectItems": {"item": [{"Item": "SEP*"}]}})
        seen[name] = sorted((d.Name, d.Status, d.StatusReason) for node in answer.SelectCmDeviceResult.CmNodes.item
                            for d in (node.CmDevices.item if node.CmDevices else []))
    assert seen["lab"] == seen["cisco"] and len(seen["lab"]) == len(wsdl_lab.state.phones.names())
    rows = {}
    for name, svc in both(wsdl_lab, "/axl/").items():
        rows[name] = sorted((r[0].text, r[1].text) for r in svc.executeSQLQuery(
            sql="select name,tkssomode from processnode")["return"].row)
    assert rows["lab"] == rows["cisco"] and ("cucm-pub.lab.example", "0") in rows["lab"]
