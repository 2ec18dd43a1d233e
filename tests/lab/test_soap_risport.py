"""The lab's RisPort70 door, read by zeep built from Cisco's own WSDL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zeep.exceptions

try:
    from . import soap_support as S
except ImportError:  # tests/lab is not a package
    import soap_support as S

from cucmkit.lab import LabCluster, Topology
from cucmkit.lab.risport import PATH, THROTTLE_TEXT, _RateWindow

BINDING = "{http://schemas.cisco.com/ast/soap}RisBinding"
WSDL = S.wsdl("12.5", "RISService70.wsdl")
PHONES = 40


@pytest.fixture(scope="module")
def ris_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    """A lab of our own: these tests send many requests, so the rate knob is raised here."""
    with LabCluster(tmp_path_factory.mktemp("ris") / "state", topology=Topology(phones=PHONES),
                    ports="ephemeral", speed=0.02, ssh=False) as lab:
        lab.state.knobs.risport_rate = 100000
        yield lab


@pytest.fixture
def cap(ris_lab: LabCluster) -> Iterator[Any]:
    def set_cap(value: int) -> None:
        ris_lab.state.knobs.risport_cap = value

    yield set_cap
    ris_lab.state.knobs.risport_cap = 1000


def ris(lab: Any, node: str = "cucm-sub1") -> Any:
    return S.zeep_service(lab, node, WSDL, BINDING, PATH)


def criteria(*items: str, max_devices: int = 1000, status: str = "Any", node_name: str = "",
             select_by: str = "Name") -> dict[str, Any]:
    return {"MaxReturnedDevices": max_devices, "DeviceClass": "Phone", "Model": 255, "Status": status,
            "NodeName": node_name, "SelectBy": select_by, "SelectItems": {"item": [{"Item": i} for i in items]},
            "Protocol": "Any", "DownloadStatus": "Any"}


def select(lab: Any, *items: str, op: str = "selectCmDevice", state_info: str = "", node: str = "cucm-sub1",
           **kw: Any) -> Any:
    return getattr(ris(lab, node), op)(StateInfo=state_info, CmSelectionCriteria=criteria(*items, **kw))


def devices(answer: Any) -> list[tuple[str, Any]]:
    """(CmNode name, device) for every device of an answer."""
    nodes = answer.SelectCmDeviceResult.CmNodes
    return [(n.Name, d) for n in (nodes.item if nodes else []) for d in (n.CmDevices.item if n.CmDevices else [])]


def test_every_phone_once_grouped_per_callmanager_node(ris_lab: LabCluster) -> None:
    answer = select(ris_lab, "*")
    found = devices(answer)
    views = {v.name: v for v in ris_lab.state.phone_views()}
    assert sorted(d.Name for _, d in found) == sorted(views) and len(found) == PHONES
    assert answer.SelectCmDeviceResult.TotalDevicesFound == PHONES
    assert answer.StateInfo in (None, "")
    for node_name, device in found:
        assert node_name == ris_lab.state.node(views[device.Name].node).fqdn
        assert device.Status == "Registered" and device.StatusReason == 0
        assert device.IPAddress.item[0].IP == views[device.Name].ip
    nodes = {n.Name: n.ReturnCode for n in answer.SelectCmDeviceResult.CmNodes.item}
    cucm = {n.fqdn for n in ris_lab.state.nodes.values() if n.kind == "CUCM"}
    assert set(nodes) == cucm  # IM&P has no CallManager
    assert {fqdn for fqdn, code in nodes.items() if code == "Ok"} == {n for n, _ in found}
    assert set(nodes.values()) <= {"Ok", "NotFound"}


def test_ext_with_explicit_names(ris_lab: LabCluster) -> None:
    names = ris_lab.state.phones.names()[3:6]
    answer = select(ris_lab, *names, op="selectCmDeviceExt")
    assert sorted(d.Name for _, d in devices(answer)) == names


def test_star_wildcard_and_case(ris_lab: LabCluster) -> None:
    expected = [n for n in ris_lab.state.phones.names() if n.startswith("SEP0A1B2C00000")]
    assert len(expected) == 16
    assert sorted(d.Name for _, d in devices(select(ris_lab, "sep0a1b2c00000*"))) == expected
    assert devices(select(ris_lab, "SEP0A1B2C00000?")) == []  # only * is a wildcard


def test_select_by_dir_number(ris_lab: LabCluster) -> None:
    found = devices(select(ris_lab, "100*", select_by="DirNumber"))
    assert sorted(d.LinesStatus.item[0].DirectoryNumber for _, d in found) == [str(1000 + i) for i in range(10)]


def test_node_name_filter(ris_lab: LabCluster) -> None:
    expected = sorted(v.name for v in ris_lab.state.phone_views() if v.node == "cucm-sub2")
    for name in ("cucm-sub2.lab.example", "cucm-sub2"):
        answer = select(ris_lab, "*", node_name=name, node="cucm-pub")
        found = devices(answer)
        assert sorted(d.Name for _, d in found) == expected
        assert {n for n, _ in found} == {"cucm-sub2.lab.example"}


def test_cap_and_state_info_return_every_phone_exactly_once(ris_lab: LabCluster, cap: Any) -> None:
    cap(7)
    seen: list[str] = []
    pages: list[list[str]] = []
    state_info, requests = "", 0
    while True:
        answer = select(ris_lab, "*", max_devices=2000, state_info=state_info)  # 2000 clipped to the cap
        requests += 1
        page = [d.Name for _, d in devices(answer)]
        assert len(page) <= 7
        seen.extend(page)
        pages.append(page)
        state_info = answer.StateInfo or ""
        if not state_info:
            break
        assert "<StateInfo" in state_info and len(page) == 7
    assert requests == -(-PHONES // 7)
    assert Counter(seen) == Counter(ris_lab.state.phones.names())
    assert all(max(a) < min(b) for a, b in zip(pages, pages[1:], strict=False))  # pages follow the name order


def test_max_returned_devices_below_the_cap_pages_too(ris_lab: LabCluster) -> None:
    first = select(ris_lab, "*", max_devices=25)
    assert len(devices(first)) == 25 and first.StateInfo
    second = select(ris_lab, "*", max_devices=25, state_info=first.StateInfo)
    assert len(devices(second)) == PHONES - 25 and not second.StateInfo
    names = [d.Name for _, d in devices(first) + devices(second)]
    assert len(set(names)) == PHONES


def test_status_filter_after_a_device_pool_reset(ris_lab: LabCluster) -> None:
    pool = "DP-CUCM-SUB1"
    dropped = set(ris_lab.state.phones.by_pool(pool))
    original = ris_lab.state.knobs.reregister_seconds
    ris_lab.state.knobs.reregister_seconds = 1000
    try:
        ris_lab.state.reset_device_pool(pool)
        down = devices(select(ris_lab, "*", status="UnRegistered"))
        assert {d.Name for _, d in down} == dropped
        assert {(d.Status, d.StatusReason) for _, d in down} == {("UnRegistered", 9)}  # CISCO-CCM-MIB callManagerReset
        up = devices(select(ris_lab, "*", status="Registered"))
        assert len(up) == PHONES - len(dropped) and not dropped & {d.Name for _, d in up}
    finally:
        ris_lab.state.knobs.reregister_seconds = original
        ris_lab.state.reset_device_pool(pool)
        S.wait_until(lambda: S.all_registered(ris_lab))


def test_any_cucm_node_answers_for_the_cluster(ris_lab: LabCluster) -> None:
    for node in ("cucm-pub", "cucm-sub1", "cucm-sub2"):
        assert len(devices(select(ris_lab, "*", node=node))) == PHONES


def test_throttle_after_15_requests_with_ciscos_text(fresh_lab: LabCluster) -> None:
    service = ris(fresh_lab, "cucm-pub")
    nodes = ["cucm-pub", "cucm-sub1", "cucm-sub2"]
    for i in range(15):  # cluster-wide: spread over the nodes
        ris(fresh_lab, nodes[i % 3]).selectCmDevice(StateInfo="", CmSelectionCriteria=criteria("SEP*"))
    with pytest.raises(zeep.exceptions.Fault) as caught:
        service.selectCmDevice(StateInfo="", CmSelectionCriteria=criteria("SEP*"))
    assert caught.value.message == (
        "AxisFault: Exceeded allowed rate for Reatime information. "
        "Current allowed rate for realtime information is 15 requests per minute.")
    with pytest.raises(zeep.exceptions.Fault):
        ris(fresh_lab, "cucm-sub2").selectCmDeviceExt(StateInfo="", CmSelectionCriteria=criteria("SEP0A1B2C000001"))


def test_rate_knob_changes_limit_and_text(ris_lab: LabCluster) -> None:
    body = S.envelope("<ns:selectCmDevice><ns:StateInfo/><ns:CmSelectionCriteria><ns:SelectBy>Name</ns:SelectBy>"
                      "</ns:CmSelectionCriteria></ns:selectCmDevice>")
    rate = ris_lab.state.knobs.risport_rate
    ris_lab.state.knobs.risport_rate = 2
    try:
        answers = [S.post(ris_lab, "cucm-sub2", PATH, body) for _ in range(3)]
    finally:
        ris_lab.state.knobs.risport_rate = rate
    assert answers[-1].status_code == 500
    assert S.fault_of(answers[-1])[1] == THROTTLE_TEXT.format(rate=2)
    assert S.fault_of(answers[-1])[1].endswith("is 2 requests per minute.")
    assert S.post(ris_lab, "cucm-sub2", PATH, body).status_code == 200


def test_throttle_fault_switch(ris_lab: LabCluster) -> None:
    ris_lab.state.faults.set("cucm-sub1", "risport_throttle")
    try:
        with pytest.raises(zeep.exceptions.Fault) as caught:
            select(ris_lab, "*", node="cucm-sub1")
        assert caught.value.message.startswith("AxisFault: Exceeded allowed rate for Reatime information.")
        assert len(devices(select(ris_lab, "*", node="cucm-pub"))) == PHONES  # a per-node switch
    finally:
        ris_lab.state.faults.clear("cucm-sub1", "risport_throttle")
    assert len(devices(select(ris_lab, "*", node="cucm-sub1"))) == PHONES


def test_rate_window_slides() -> None:
    window = _RateWindow()
    assert all(window.admit(3, 60.0, now) for now in (0.0, 10.0, 20.0))
    assert not window.admit(3, 60.0, 59.0)
    assert window.admit(3, 60.0, 60.5)           # the request at 0.0 left the window
    assert not window.admit(3, 60.0, 61.0)
    assert window.admit(3, 60.0, 80.0)


def test_bad_state_info_and_bad_criteria_are_faults(ris_lab: LabCluster) -> None:
    with pytest.raises(zeep.exceptions.Fault) as caught:
        select(ris_lab, "*", state_info="garbage")
    assert caught.value.message == "Invalid StateInfo"
    body = S.envelope("<ns:selectCmDevice><ns:StateInfo/><ns:CmSelectionCriteria><ns:Status>Sleeping</ns:Status>"
                      "</ns:CmSelectionCriteria></ns:selectCmDevice>")
    assert "Sleeping" in S.fault_of(S.post(ris_lab, "cucm-pub", PATH, body))[1]
    body = S.envelope("<ns:selectCmDevice><ns:StateInfo/></ns:selectCmDevice>")
    assert "CmSelectionCriteria" in S.fault_of(S.post(ris_lab, "cucm-pub", PATH, body))[1]


@pytest.mark.parametrize("name", sorted(S.MALFORMED))
def test_malformed_envelope_gets_a_soap_fault(ris_lab: LabCluster, name: str) -> None:
    code, text = S.fault_of(S.post(ris_lab, "cucm-sub1", PATH, S.MALFORMED[name]))
    assert code in S.FAULT_CODES and "boom" not in text


def test_unauthenticated_is_401_html(ris_lab: LabCluster) -> None:
    answer = S.post(ris_lab, "cucm-sub1", PATH, S.envelope("<ns:selectCmDevice/>"), auth=("ccmadmin", ""))
    assert answer.status_code == 401 and "<html" in answer.text and "Fault" not in answer.text


def test_only_callmanager_nodes_serve_risport(ris_lab: LabCluster) -> None:
    with pytest.raises(zeep.exceptions.Fault):
        select(ris_lab, "*", node="imp-pub")


def test_wsdl_is_the_installed_ciscos_file() -> None:
    assert Path(WSDL).read_text().count("selectCmDeviceExt") >= 2


def test_broken_itl_phones_show_status_reason_unknown(fresh_lab: LabCluster) -> None:
    """CallManager and TVS both replaced on a node: its phones stay UnRegistered, reason 1 (unknown)."""
    node = fresh_lab.state.node("cucm-sub1")
    victims = sorted(v.name for v in fresh_lab.state.phone_views() if v.node == "cucm-sub1")
    for purpose, svc in (("TVS", "Cisco Trust Verification Service"), ("CallManager", "Cisco CallManager")):
        node.regenerate(purpose)
        node.restart(svc)
        S.wait_until(lambda svc=svc: node.service(svc).status == "Started")
    S.wait_until(lambda: all(v.reason == 1 for v in fresh_lab.state.phone_views() if v.node == "cucm-sub1"))
    down = devices(select(fresh_lab, "*", status="UnRegistered", node="cucm-pub"))
    assert sorted(d.Name for _, d in down) == victims
    assert {(n, d.StatusReason) for n, d in down} == {("cucm-sub1.lab.example", 1)}


def test_class_model_protocol_and_download_filters(ris_lab: LabCluster) -> None:
    def count(**changes: Any) -> int:
        wanted = {**criteria("*"), **changes}
        return len(devices(ris(ris_lab).selectCmDevice(StateInfo="", CmSelectionCriteria=wanted)))

    assert count(DeviceClass="Any") == count(DeviceClass="Phone") == PHONES
    assert count(DeviceClass="Gateway") == 0
    assert count(Model=36224) == PHONES and count(Model=7) == 0
    assert count(Protocol="SIP") == PHONES and count(Protocol="SCCP") == 0
    assert count(DownloadStatus="Unknown") == PHONES and count(DownloadStatus="Failed") == 0


@pytest.mark.parametrize("operation", ["selectCmDevice", "selectCmDeviceExt"])
def test_answers_validate_against_ciscos_schema(ris_lab: LabCluster, operation: str, cap: Any) -> None:
    cap(5)  # a page with a StateInfo
    inner = (f"<ns:{operation}><ns:StateInfo/><ns:CmSelectionCriteria><ns:MaxReturnedDevices>1000</ns:MaxReturnedDevices>"
             "<ns:DeviceClass>Phone</ns:DeviceClass><ns:Model>255</ns:Model><ns:Status>Any</ns:Status><ns:NodeName/>"
             "<ns:SelectBy>Name</ns:SelectBy><ns:SelectItems><ns:item><ns:Item>SEP*</ns:Item></ns:item></ns:SelectItems>"
             f"<ns:Protocol>Any</ns:Protocol><ns:DownloadStatus>Any</ns:DownloadStatus></ns:CmSelectionCriteria></ns:{operation}>")
    answer = S.body_element(S.post(ris_lab, "cucm-sub1", PATH, S.envelope(inner)))
    assert answer.tag == "{http://schemas.cisco.com/ast/soap}selectCmDeviceResponse"  # the WSDL's output for both
    S.assert_valid(S.wsdl_schema("12.5", "RISService70.wsdl"), answer)


@pytest.mark.parametrize("state_info", [
    '<StateInfo ClusterWide="1"><Node Name="cucm-sub1.lab.example" NextDevice=""/></StateInfo>',
    '<StateInfo><Node Name="cucm-sub1.lab.example" SubsystemStartTime="1" StateId="7" TotalItemsFound="9" '
    'TotalItemsReturned="7"/></StateInfo>',
    'NextDevice="SEP0A1B2C000003"',
    "<StateInfo",
])
def test_a_state_info_the_lab_cannot_read_is_a_fault_never_page_one(ris_lab: LabCluster, state_info: str) -> None:
    with pytest.raises(zeep.exceptions.Fault) as caught:
        select(ris_lab, "*", state_info=state_info)
    assert caught.value.message == "Invalid StateInfo"


def test_select_cti_item_answers_per_callmanager_node(ris_lab: LabCluster) -> None:
    answer = ris(ris_lab).selectCtiItem(StateInfo="", CtiSelectionCriteria={
        "MaxReturnedItems": 100, "CtiMgrClass": "Provider", "Status": "Any", "NodeName": "",
        "SelectAppBy": "AppId", "AppItems": {"item": [{"AppItem": "*"}]}})
    result = answer.SelectCtiItemResult
    assert result.TotalItemsFound == 0 and not answer.StateInfo
    cucm = sorted(n.fqdn for n in ris_lab.state.nodes.values() if n.kind == "CUCM")
    assert sorted(item.Name for item in result.CtiNodes.item) == cucm
    assert {item.ReturnCode for item in result.CtiNodes.item} == {"NotFound"}
    body = S.envelope("<ns:selectCtiItem><ns:StateInfo/><ns:CtiSelectionCriteria><ns:CtiMgrClass>Line</ns:CtiMgrClass>"
                      "</ns:CtiSelectionCriteria></ns:selectCtiItem>")
    S.assert_valid(S.wsdl_schema("12.5", "RISService70.wsdl"), S.body_element(S.post(ris_lab, "cucm-pub", PATH, body)))
    body = S.envelope("<ns:selectCtiItem><ns:StateInfo/><ns:CtiSelectionCriteria><ns:CtiMgrClass>Phone</ns:CtiMgrClass>"
                      "</ns:CtiSelectionCriteria></ns:selectCtiItem>")
    assert "Phone" in S.fault_of(S.post(ris_lab, "cucm-pub", PATH, body))[1]
