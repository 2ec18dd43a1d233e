"""The lab's AXL door, read by zeep built from Cisco's own AXLAPI.wsdl (12.5, 14.0, 15.0)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import zeep.exceptions
from lxml import etree

try:
    from . import soap_support as S
except ImportError:  # tests/lab is not a package
    import soap_support as S

from cucmkit.lab import LabCluster, Topology
from cucmkit.lab.axl import parse_select

BINDING = "{http://www.cisco.com/AXLAPIService/}AXLAPIBinding"
VERSIONS = ("12.5", "14.0", "15.0")
PHONES = 24


@pytest.fixture(scope="module")
def axl_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    """A lab of our own: these tests reset phones and flip the security mode."""
    with LabCluster(tmp_path_factory.mktemp("axl") / "state", topology=Topology(phones=PHONES),
                    ports="ephemeral", speed=0.02, ssh=False) as lab:
        lab.state.knobs.reregister_seconds = 5  # x speed 0.02: phones are back ~0.1 s after a reset
        yield lab


def axl(lab: Any, version: str = "14.0", node: str = "cucm-pub") -> Any:
    return S.zeep_service(lab, node, S.wsdl(version, "AXLAPI.wsdl"), BINDING, "/axl/")


def rows(answer: Any) -> list[dict[str, str]]:
    """executeSQLQuery rows (zeep hands ``xsd:anyType`` rows over as lists of elements)."""
    found = answer["return"]["row"] if answer["return"] else []
    return [{col.tag: (col.text or "") for col in row} for row in found]


def sql(lab: Any, query: str, version: str = "14.0") -> list[dict[str, str]]:
    return rows(axl(lab, version).executeSQLQuery(sql=query))


def raw(lab: Any, operation_xml: str, version: str = "14.0", node: str = "cucm-pub", **kw: Any) -> Any:
    ns = f"http://www.cisco.com/AXL/API/{version}"
    return S.post(lab, node, "/axl/", S.envelope(operation_xml, ns=ns), **kw)


def axl_error(fault: zeep.exceptions.Fault) -> tuple[int, str]:
    error = fault.detail.find("axlError")
    return int(error.findtext("axlcode")), error.findtext("axlmessage")


@pytest.mark.parametrize("version", VERSIONS)
def test_read_operations_with_each_versions_wsdl(axl_lab: LabCluster, version: str) -> None:
    service = axl(axl_lab, version)
    assert service.getCCMVersion()["return"].componentVersion.version == "14.0.1.13900-155"
    nodes = rows(service.executeSQLQuery(sql="select name, tknodeusage, tkprocessnoderole from processnode"))
    assert {r["name"] for r in nodes} == {"EnterpriseWideData"} | {n.fqdn for n in axl_lab.state.nodes.values()}
    listed = service.listProcessNode(searchCriteria={"name": "%"},
                                     returnedTags={"name": "", "nodeUsage": "", "processNodeRole": ""})
    assert len(listed["return"].processNode) == len(axl_lab.state.nodes) + 1
    answer = raw(axl_lab, "<ns:getCCMVersion/>", version, headers={"SOAPAction": f'"CUCM:DB ver={version} getCCMVersion"'})
    assert answer.status_code == 200
    body = etree.fromstring(answer.content).find(f"{{{S.SOAP_ENV}}}Body")[0]
    assert body.tag == f"{{http://www.cisco.com/AXL/API/{version}}}getCCMVersionResponse"  # namespace echoed
    assert body.find("return/componentVersion/version") is not None  # children unqualified, as in the XSD


def test_processnode_rows(axl_lab: LabCluster) -> None:
    found = {r["name"]: r for r in sql(axl_lab, "select * from processnode")}
    ewd = found["EnterpriseWideData"]
    assert (ewd["nodeid"], ewd["systemnode"]) == ("1", "t")
    assert (found["cucm-pub.lab.example"]["tknodeusage"], found["cucm-pub.lab.example"]["tkprocessnoderole"]) == ("0", "1")
    assert found["cucm-sub1.lab.example"]["tknodeusage"] == "1"
    assert found["imp-pub.lab.example"]["tkprocessnoderole"] == "2"
    assert len({r["pkid"] for r in found.values()}) == len(found)
    assert set(ewd) >= {"pkid", "name", "mac", "systemnode", "description", "isactive", "nodeid", "tknodeusage",
                        "ipv6name", "fklbmhubgroup", "tkprocessnoderole", "tkssomode"}


def test_where_clauses(axl_lab: LabCluster) -> None:
    imp = sql(axl_lab, "SELECT name FROM processnode WHERE tkprocessnoderole = '2'")
    assert imp == [{"name": "imp-pub.lab.example"}]
    pub = sql(axl_lab, "select name from processnode where tknodeusage='0' and tkprocessnoderole='1';")
    assert pub == [{"name": "cucm-pub.lab.example"}]
    assert sql(axl_lab, "select name from processnode where nodeid=1") == [{"name": "EnterpriseWideData"}]
    assert sql(axl_lab, "select name from processnode where name='no-such-node'") == []


def test_cluster_security_mode_follows_the_state(axl_lab: LabCluster) -> None:
    query = "select paramname,paramvalue from processconfig where paramname='ClusterSecurityMode'"
    assert sql(axl_lab, query) == [{"paramname": "ClusterSecurityMode", "paramvalue": "0"}]
    axl_lab.state.set_security_mode(1)
    try:
        assert sql(axl_lab, query, "15.0") == [{"paramname": "ClusterSecurityMode", "paramvalue": "1"}]
    finally:
        axl_lab.state.set_security_mode(0)


@pytest.mark.parametrize(("query", "code"), [
    ("select * from numplan", -206),  # a table the lab does not have (device is known since issue 13)
    ("select name, secret from processnode", -217),
    ("select name from processnode where bogus='1'", -217),
    ("select name from processnode order by name", -201),
    ("select p.name from processnode p, processconfig c where p.pkid = c.fkprocessnode", -201),
    ("update processconfig set paramvalue='1' where paramname='ClusterSecurityMode'", -201),
    ("select name from processnode where name like 'cucm%'", -201),
    ("delete from processnode", -201),
])
def test_anything_else_is_a_fault_never_an_empty_success(axl_lab: LabCluster, query: str, code: int) -> None:
    with pytest.raises(zeep.exceptions.Fault) as caught:
        sql(axl_lab, query)
    assert axl_error(caught.value)[0] == code
    assert caught.value.message == axl_error(caught.value)[1]
    assert axl_lab.state.security_mode == 0


def test_empty_sql_is_a_fault(axl_lab: LabCluster) -> None:
    code, text = S.fault_of(raw(axl_lab, "<ns:executeSQLQuery><sql></sql></ns:executeSQLQuery>"))
    assert code == "soapenv:Client" and "sql" in text


def test_parse_select_shapes() -> None:
    parsed = parse_select("select name , nodeid from ProcessNode where name='it''s' and nodeid=2")
    assert parsed.columns == ("name", "nodeid") and parsed.table == "processnode"
    assert parsed.where == (("name", "it's"), ("nodeid", "2"))
    assert parse_select("select * from processconfig").columns == ()
    assert parse_select("select name from processnode where name='a and b'").where == (("name", "a and b"),)


def test_list_process_node_search_and_paging(axl_lab: LabCluster) -> None:
    service = axl(axl_lab)
    tags = {"name": "", "nodeUsage": "", "processNodeRole": ""}
    subs = service.listProcessNode(searchCriteria={"name": "cucm-sub%"}, returnedTags=tags)["return"].processNode
    assert sorted(n.name for n in subs) == ["cucm-sub1.lab.example", "cucm-sub2.lab.example"]
    assert {n.nodeUsage for n in subs} == {"Subscriber"}
    imp = service.listProcessNode(searchCriteria={"processNodeRole": "CUCM IM and Presence"}, returnedTags=tags)
    assert [(n.name, n.nodeUsage) for n in imp["return"].processNode] == [("imp-pub.lab.example", "Publisher")]
    page = service.listProcessNode(searchCriteria={"name": "%"}, returnedTags={"name": ""}, skip=1, first=2)
    nodes = page["return"].processNode
    assert [n.name for n in nodes] == ["cucm-pub.lab.example", "cucm-sub1.lab.example"]
    assert nodes[0].nodeUsage is None and nodes[0].uuid.startswith("{")  # only the asked-for tags


@pytest.fixture
def slow_reregister(axl_lab: LabCluster) -> Iterator[None]:
    axl_lab.state.knobs.reregister_seconds = 50  # x speed 0.02: back after ~1 s, time to look
    try:
        yield
    finally:
        axl_lab.state.knobs.reregister_seconds = 5


def test_reset_enterprise_parameters_resets_every_phone(axl_lab: LabCluster, slow_reregister: None) -> None:
    assert axl(axl_lab).resetEnterpriseParameters()["return"] == "true"
    views = axl_lab.state.phone_views()
    # StatusReason 9: CISCO-CCM-MIB's callManagerReset
    assert len(views) == PHONES and {(v.status, v.reason) for v in views} == {("UnRegistered", 9)}
    S.wait_until(lambda: S.all_registered(axl_lab))


def test_reset_device_pool_and_one_device(axl_lab: LabCluster, slow_reregister: None) -> None:
    pool = "DP-CUCM-SUB2"
    members = set(axl_lab.state.phones.by_pool(pool))
    answer = axl(axl_lab).resetDevicePool(name=pool)
    assert answer["return"].startswith("{")
    down = {v.name for v in axl_lab.state.phone_views() if v.status == "UnRegistered"}
    assert down == members and members
    S.wait_until(lambda: S.all_registered(axl_lab))
    name = axl_lab.state.phones.names()[0]
    axl(axl_lab, "12.5").doDeviceReset(deviceName=name, isHardReset=True)
    assert [v.name for v in axl_lab.state.phone_views() if v.status == "UnRegistered"] == [name]
    S.wait_until(lambda: S.all_registered(axl_lab))


def test_unknown_pool_or_device_is_a_fault(axl_lab: LabCluster) -> None:
    with pytest.raises(zeep.exceptions.Fault) as caught:
        axl(axl_lab).resetDevicePool(name="DP-NOWHERE")
    assert axl_error(caught.value)[0] == 5007
    with pytest.raises(zeep.exceptions.Fault) as caught:
        axl(axl_lab).doDeviceReset(deviceName="SEPFFFFFFFFFFFF", isHardReset=False)
    assert axl_error(caught.value)[0] == 5007
    assert S.all_registered(axl_lab)


def test_axl_503_fault_throttles_writes_not_reads(axl_lab: LabCluster) -> None:
    axl_lab.state.faults.set("cucm-pub", "axl_503")
    try:
        for operation in ("<ns:resetEnterpriseParameters/>", "<ns:resetDevicePool><name>DP-CUCM-SUB1</name></ns:resetDevicePool>",
                          "<ns:doDeviceReset><deviceName>SEP0A1B2C000000</deviceName><isHardReset>false</isHardReset></ns:doDeviceReset>"):
            answer = raw(axl_lab, operation)
            assert answer.status_code == 503 and "Service Unavailable" in answer.text
        with pytest.raises(zeep.exceptions.TransportError) as caught:
            axl(axl_lab).resetEnterpriseParameters()
        assert caught.value.status_code == 503
        assert S.all_registered(axl_lab)  # nothing was reset
        assert axl(axl_lab).getCCMVersion()["return"].componentVersion.version
    finally:
        axl_lab.state.faults.clear("cucm-pub", "axl_503")
    axl_lab.state.knobs.axl_write_503 = True
    try:
        assert raw(axl_lab, "<ns:resetEnterpriseParameters/>").status_code == 503
    finally:
        axl_lab.state.knobs.axl_write_503 = False


@pytest.mark.parametrize("node", ["cucm-sub1", "imp-pub"])
def test_axl_lives_on_the_publisher_only(axl_lab: LabCluster, node: str) -> None:
    answer = raw(axl_lab, "<ns:getCCMVersion/>", node=node)
    assert answer.status_code == 404 and "Fault" not in answer.text
    with pytest.raises((zeep.exceptions.TransportError, zeep.exceptions.Fault)):  # zeep reads a 404 page so
        axl(axl_lab, node=node).getCCMVersion()


def test_unknown_operation_and_unknown_version(axl_lab: LabCluster) -> None:
    with pytest.raises(zeep.exceptions.Fault) as caught:
        axl(axl_lab).getUser(userid="labuser1000")  # an operation the lab does not implement
    assert axl_error(caught.value) == (5000, "Unknown or unsupported operation getUser")
    code, text = S.fault_of(raw(axl_lab, "<ns:getCCMVersion/>", version="99.0"))
    assert code == "soapenv:Client" and "getCCMVersion" in text


@pytest.mark.parametrize("name", sorted(S.MALFORMED))
def test_malformed_envelope_gets_a_soap_fault(axl_lab: LabCluster, name: str) -> None:
    code, text = S.fault_of(S.post(axl_lab, "cucm-pub", "/axl/", S.MALFORMED[name]))
    assert code in S.FAULT_CODES and "boom" not in text


def test_bad_credentials_are_401(axl_lab: LabCluster) -> None:
    answer = raw(axl_lab, "<ns:getCCMVersion/>", auth=("ccmadmin", "nope"))
    assert answer.status_code == 401 and "HTTP Status 401" in answer.text
    assert "WWW-Authenticate" in answer.headers


@pytest.mark.parametrize("inner", [
    "<ns:getCCMVersion/>",
    "<ns:executeSQLQuery><sql>select * from processnode</sql></ns:executeSQLQuery>",
    "<ns:listProcessNode><searchCriteria><name>%</name></searchCriteria><returnedTags><name/><nodeUsage/>"
    "<processNodeRole/><description/><mac/></returnedTags></ns:listProcessNode>",
    "<ns:doDeviceReset><deviceName>SEP0A1B2C000001</deviceName><isHardReset>false</isHardReset></ns:doDeviceReset>",
])
@pytest.mark.parametrize("version", ["12.5", "14.0"])
def test_answers_validate_against_ciscos_xsd(axl_lab: LabCluster, inner: str, version: str) -> None:
    answer = S.body_element(raw(axl_lab, inner, version))
    S.assert_valid(S.axl_schema(version), answer)
    S.wait_until(lambda: S.all_registered(axl_lab))


def test_bad_paging_value_is_a_fault(axl_lab: LabCluster) -> None:
    code, text = S.fault_of(raw(axl_lab, "<ns:listProcessNode><searchCriteria><name>%</name></searchCriteria>"
                                         "<returnedTags><name/></returnedTags><skip>-1</skip></ns:listProcessNode>"))
    assert code == "soapenv:Client" and text == "Invalid value for skip: -1"


# --------------------------------------------------------------------------- phones and users (issue 13)


def test_get_phone_knows_the_labs_phones(axl_lab: LabCluster) -> None:
    view = axl_lab.state.phone_views()[3]
    phone = axl(axl_lab).getPhone(name=view.name)["return"]["phone"]
    assert (phone.name, phone.product, phone["class"], phone.protocol) == (view.name, view.model, "Phone", "SIP")
    assert phone.devicePoolName._value_1 == view.device_pool and phone.ownerUserName._value_1 == f"labuser{view.dn}"
    again = axl(axl_lab).getPhone(uuid=phone.uuid)["return"]["phone"]
    assert again.name == view.name
    with pytest.raises(zeep.exceptions.Fault) as caught:
        axl(axl_lab).getPhone(name="SEPFFFFFFFFFFFF")
    assert axl_error(caught.value) == (5007, "Item not valid: The specified Phone was not found")


def test_list_phone_and_list_user_page_through_every_phone(axl_lab: LabCluster) -> None:
    views = axl_lab.state.phone_views()
    answer = axl(axl_lab).listPhone(searchCriteria={"name": "SEP%"}, returnedTags={"name": "", "devicePoolName": ""})
    phones = answer["return"]["phone"]
    assert [p.name for p in phones] == [v.name for v in views] and phones[0].description is None
    pool = views[0].device_pool
    in_pool = axl(axl_lab).listPhone(searchCriteria={"devicePoolName": pool}, returnedTags={"name": ""})
    assert {p.name for p in in_pool["return"]["phone"]} == {v.name for v in views if v.device_pool == pool}
    page = axl(axl_lab).listPhone(searchCriteria={"name": "%"}, returnedTags={"name": ""}, skip=5, first=3)
    assert [p.name for p in page["return"]["phone"]] == [v.name for v in views[5:8]]
    users = axl(axl_lab).listUser(searchCriteria={"userid": "labuser%"},
                                  returnedTags={"userid": "", "telephoneNumber": ""})["return"]["user"]
    assert sorted(u.telephoneNumber for u in users) == sorted(v.dn for v in views)
    assert axl(axl_lab).listUser(searchCriteria={"userid": "nobody%"}, returnedTags={"userid": ""})["return"] is None


def test_sql_on_device_counts_the_labs_phones(axl_lab: LabCluster) -> None:
    found = sql(axl_lab, "select name, tkclass, fkdevicepool from device where tkclass = 1")
    assert sorted(r["name"] for r in found) == sorted(v.name for v in axl_lab.state.phone_views())
    pools = {r["pkid"]: r["name"] for r in sql(axl_lab, "select pkid, name from devicepool")}
    assert {pools[r["fkdevicepool"]] for r in found} == {v.device_pool for v in axl_lab.state.phone_views()}
    one = axl_lab.state.phone_views()[0]
    [user] = sql(axl_lab, f"select userid, telephonenumber from enduser where telephonenumber = '{one.dn}'")
    assert user == {"userid": f"labuser{one.dn}", "telephonenumber": one.dn}


@pytest.mark.parametrize("inner", [
    "<ns:getPhone><name>SEP0A1B2C000002</name></ns:getPhone>",
    "<ns:listPhone><searchCriteria><name>SEP%</name></searchCriteria><returnedTags><name/><model/>"
    "<devicePoolName/><ownerUserName/></returnedTags><first>4</first></ns:listPhone>",
    "<ns:listUser><searchCriteria><lastName>%</lastName></searchCriteria><returnedTags><firstName/><lastName/>"
    "<userid/><telephoneNumber/></returnedTags></ns:listUser>",
    "<ns:executeSQLQuery><sql>select * from device</sql></ns:executeSQLQuery>",
])
def test_phone_and_user_answers_validate_against_ciscos_xsd(axl_lab: LabCluster, inner: str) -> None:
    S.assert_valid(S.axl_schema("14.0"), S.body_element(raw(axl_lab, inner)))
