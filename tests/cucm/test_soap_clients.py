"""The SOAP requests cucmkit sends validate against Cisco's own XSD/WSDL (from collabconnector),
and the clients read Cisco-shaped answers and faults. Offline: a recording fake transport."""

from __future__ import annotations

import copy
import os
from functools import cache

import pytest
import requests
from lxml import etree

from cucmkit.cucm import soap
from cucmkit.cucm.axl import AxlClient
from cucmkit.cucm.controlcenter import ControlCenterClient
from cucmkit.cucm.risport import RateBudget, RisPortClient
from cucmkit.errors import CucmError, HttpStatusError, SoapFaultError, ThrottledError

XSD_NS = "http://www.w3.org/2001/XMLSchema"
NODE = "cucm-pub.lab.example"


def _schema_dir() -> str:
    collab = pytest.importorskip("CollabConnector")
    return os.path.join(os.path.dirname(collab.__file__), "CUCM", "AXL", "schema")


@cache
def wsdl_schema(name: str) -> etree.XMLSchema:
    """The <schema> inside a WSDL's <types>, with the WSDL's namespace prefixes in scope."""
    wsdl = etree.parse(os.path.join(_schema_dir(), "12.5", name))
    inner = wsdl.find(f".//{{{XSD_NS}}}schema")
    nsmap = {k: v for k, v in {**wsdl.getroot().nsmap, **inner.nsmap}.items() if k}
    root = etree.Element(inner.tag, attrib=dict(inner.attrib), nsmap={**nsmap, None: XSD_NS})
    for element in inner:
        root.append(copy.deepcopy(element))
    return etree.XMLSchema(etree.fromstring(etree.tostring(root)))


@cache
def axl_schema(version: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(os.path.join(_schema_dir(), version, "AXLSoap.xsd")))


@cache
def axl_target_namespace(version: str) -> str:
    """collabconnector's 15.0 folder ships the 12.5 schema (targetNamespace .../12.5); validate against it."""
    return etree.parse(os.path.join(_schema_dir(), version, "AXLSoap.xsd")).getroot().get("targetNamespace")


def _in_namespace(element: etree._Element, namespace: str) -> etree._Element:
    copied = etree.Element(f"{{{namespace}}}{etree.QName(element).localname}", nsmap={"ns": namespace})
    for item in element:
        copied.append(copy.deepcopy(item))
    return copied


class RecordingTransport:
    """A fake HttpTransport: records each request and answers from a queue of (status, body)."""

    def __init__(self, answers: list[tuple[int, bytes]], node: str = NODE) -> None:
        self.node = node
        self.answers = list(answers)
        self.sent: list[dict] = []
        self.closed = False

    def request(self, method: str, path: str, *, operation: str, expect=(200,), **kw) -> requests.Response:
        self.sent.append({"method": method, "path": path, "operation": operation, **kw})
        status, body = self.answers.pop(0)
        if status not in tuple(expect):
            raise HttpStatusError(f"HTTP {status}", status=status, node=self.node, interface="x", operation=operation)
        response = requests.Response()
        response.status_code = status
        response._content = body
        return response

    def close(self) -> None:
        self.closed = True

    def body(self, index: int = -1) -> etree._Element:
        root = soap.parse_xml(self.sent[index]["data"])
        assert etree.QName(root).namespace == soap.SOAP_ENV
        return soap.body_child(root)


def _answer(inner: str, ns: str = soap.AST_NS) -> bytes:
    return (f'<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="{soap.SOAP_ENV}" xmlns:ns="{ns}">'
            f"<soapenv:Body>{inner}</soapenv:Body></soapenv:Envelope>").encode()


def _fault(text: str, code: str = "soapenv:Server", detail: str = "") -> bytes:
    return _answer(f"<soapenv:Fault><faultcode>{code}</faultcode><faultstring>{text}</faultstring>"
                   f"<detail>{detail}</detail></soapenv:Fault>")


SERVICE_STATUS = """<ns:soapGetServiceStatusResponse><ns:soapGetServiceStatusReturn>
<ns:ReturnCode>0</ns:ReturnCode><ns:ReasonCode>-1</ns:ReasonCode><ns:ReasonString/>
<ns:ServiceInfoList>
 <ns:item><ns:ServiceName>Cisco TFTP</ns:ServiceName><ns:ServiceStatus>Started</ns:ServiceStatus>
  <ns:ReasonCode>-1</ns:ReasonCode><ns:ReasonCodeString> </ns:ReasonCodeString>
  <ns:StartTime>x</ns:StartTime><ns:UpTime>5</ns:UpTime></ns:item>
 <ns:item><ns:ServiceName>Cisco CAR Web Service</ns:ServiceName><ns:ServiceStatus>Stopped</ns:ServiceStatus>
  <ns:ReasonCode>-1068</ns:ReasonCode><ns:ReasonCodeString>Service Not Activated</ns:ReasonCodeString>
  <ns:StartTime/><ns:UpTime>-1</ns:UpTime></ns:item>
</ns:ServiceInfoList></ns:soapGetServiceStatusReturn></ns:soapGetServiceStatusResponse>"""


# ---------------------------------------------------------------- Control Center


def test_service_status_request_validates_and_answer_is_read() -> None:
    transport = RecordingTransport([(200, _answer(SERVICE_STATUS))])
    states = ControlCenterClient(transport=transport, node_name=NODE).service_status(["Cisco TFTP", "Cisco CAR Web Service"])
    body = transport.body()
    wsdl_schema("ControlCenterServices.wsdl").assertValid(body)
    assert [e.text for e in body] == ["Cisco TFTP", "Cisco CAR Web Service"]
    assert transport.sent[0]["path"] == "/controlcenterservice2/services/ControlCenterServices"
    assert transport.sent[0]["headers"]["SOAPAction"] == '"soapGetServiceStatus"'
    assert states["Cisco TFTP"].started and states["Cisco TFTP"].activated
    car = states["Cisco CAR Web Service"]
    assert (car.status, car.activated, car.reason_code, car.reason) == ("Stopped", False, -1068, "Service Not Activated")


def test_all_services_request_validates() -> None:
    transport = RecordingTransport([(200, _answer(SERVICE_STATUS))])
    ControlCenterClient(transport=transport, node_name=NODE).service_status()
    body = transport.body()
    wsdl_schema("ControlCenterServices.wsdl").assertValid(body)
    assert len(body) == 1 and not (body[0].text or "")


def test_control_request_validates_and_names_the_node() -> None:
    answer = SERVICE_STATUS.replace("soapGetServiceStatus", "soapDoControlServices")
    transport = RecordingTransport([(200, _answer(answer))])
    ControlCenterClient(transport=transport, node_name=NODE).control("Restart", ["Cisco TFTP"])
    body = transport.body()
    wsdl_schema("ControlCenterServices.wsdl").assertValid(body)
    assert soap.child_text(soap.child(body, "ControlServiceRequest"), "NodeName") == NODE
    with pytest.raises(ValueError):
        ControlCenterClient(transport=transport, node_name=NODE).control("Reboot", ["Cisco TFTP"])


def test_control_fault_names_node_interface_operation() -> None:
    text = "Cisco Tomcat cannot be controlled through Control Center; use 'utils service restart Cisco Tomcat' from the CLI"
    transport = RecordingTransport([(500, _fault(text))])
    with pytest.raises(SoapFaultError) as caught:
        ControlCenterClient(transport=transport, node_name=NODE).control("Restart", ["Cisco Tomcat"])
    error = caught.value
    assert not isinstance(error, ThrottledError)
    assert (error.node, error.interface) == (NODE, "controlcenter")
    assert "soapDoControlServices" in error.operation and text in str(error)


# ---------------------------------------------------------------- RisPort


def _ris_answer(nodes: dict[str, list[tuple[str, str, int, int]]], state: str = "") -> bytes:
    items = []
    for node, devices in nodes.items():
        devs = "".join(
            f"<ns:item><ns:Name>{n}</ns:Name><ns:Status>{s}</ns:Status><ns:StatusReason>{r}</ns:StatusReason>"
            f"<ns:TimeStamp>{t}</ns:TimeStamp><ns:IPAddress><ns:item><ns:IP>10.0.0.1</ns:IP>"
            f"<ns:IPAddrType>ipv4</ns:IPAddrType></ns:item></ns:IPAddress></ns:item>"
            for n, s, r, t in devices)
        items.append(f"<ns:item><ns:ReturnCode>Ok</ns:ReturnCode><ns:Name>{node}</ns:Name>"
                     f"<ns:NoChange>false</ns:NoChange><ns:CmDevices>{devs}</ns:CmDevices></ns:item>")
    total = sum(len(v) for v in nodes.values())
    return _answer(f"<ns:selectCmDeviceResponse><ns:selectCmDeviceReturn><ns:SelectCmDeviceResult>"
                   f"<ns:TotalDevicesFound>{total}</ns:TotalDevicesFound><ns:CmNodes>{''.join(items)}</ns:CmNodes>"
                   f"</ns:SelectCmDeviceResult><ns:StateInfo>{state}</ns:StateInfo></ns:selectCmDeviceReturn>"
                   f"</ns:selectCmDeviceResponse>")


def test_risport_requests_validate_and_page_with_stateinfo() -> None:
    page1 = _ris_answer({"cucm-sub1": [("SEP000000000001", "Registered", 0, 10)]}, state="&lt;StateInfo next=&quot;2&quot;/&gt;")
    page2 = _ris_answer({"cucm-sub2": [("SEP000000000002", "UnRegistered", 1, 20)]})
    transport = RecordingTransport([(200, page1), (200, page2)])
    client = RisPortClient(transport=transport, budget=RateBudget(rate=10, window=60))
    summary = client.registration()
    for index in (0, 1):
        wsdl_schema("RISService70.wsdl").assertValid(transport.body(index))
    assert soap.child_text(transport.body(0), "StateInfo") == ""
    assert soap.child(transport.body(1), "StateInfo").text == '<StateInfo next="2"/>'
    assert (summary.total, summary.registered, summary.unregistered) == (2, 1, 1)
    assert summary.unregistered_names == ("SEP000000000002",)
    assert dict(summary.by_reason) == {"Unknown (unknown)": 1}
    assert dict(summary.by_node) == {"cucm-sub1": 1}
    frame = summary.to_frame()
    assert list(frame["name"]) == ["SEP000000000001", "SEP000000000002"]


def test_risport_dedupes_by_latest_timestamp_and_batches_names() -> None:
    names = [f"SEP{i:012X}" for i in range(5)]
    first = _ris_answer({"cucm-pub": [(names[0], "UnRegistered", 1, 100), (names[1], "Registered", 0, 5)],
                         "cucm-sub1": [(names[0], "Registered", 0, 200)]})
    second = _ris_answer({"cucm-sub1": [(names[2], "Registered", 0, 5)]})
    third = _ris_answer({})
    transport = RecordingTransport([(200, first), (200, second), (200, third)])
    client = RisPortClient(transport=transport, budget=RateBudget(rate=10, window=60), cap=2)
    summary = client.registration(names + [names[0]])
    assert len(transport.sent) == 3
    for index in range(3):
        body = transport.body(index)
        wsdl_schema("RISService70.wsdl").assertValid(body)
        assert etree.QName(body).localname == "selectCmDeviceExt"
        items = body.findall(f".//{{{soap.AST_NS}}}Item")
        assert 1 <= len(items) <= 2
    assert summary.total == 5 and summary.registered == 3
    by_name = {d.name: d for d in summary.devices}
    assert by_name[names[0]].registered and by_name[names[0]].node == "cucm-sub1"
    assert set(summary.unregistered_names) == {names[3], names[4]}
    assert dict(summary.by_reason) == {"Not reported by RisPort": 2}


def test_risport_throttle_fault_is_retried_after_backoff() -> None:
    text = ("AxisFault: Exceeded allowed rate for Reatime information. Current allowed rate for realtime "
            "information is 15 requests per minute.")
    ok = _ris_answer({"cucm-pub": [("SEP000000000001", "Registered", 0, 1)]})
    transport = RecordingTransport([(500, _fault(text)), (200, ok)])
    client = RisPortClient(transport=transport, budget=RateBudget(rate=10, window=60), backoff=0.05)
    assert client.registration().registered == 1
    assert len(transport.sent) == 2


def test_risport_throttle_that_persists_raises_throttled_error() -> None:
    text = "AxisFault: Exceeded allowed rate for Reatime information."
    transport = RecordingTransport([(500, _fault(text))] * 3)
    client = RisPortClient(transport=transport, budget=RateBudget(rate=10, window=60), backoff=0.01, attempts=3)
    with pytest.raises(ThrottledError) as caught:
        client.registration()
    assert (caught.value.node, caught.value.interface, caught.value.operation) == (NODE, "risport", "selectCmDevice")
    assert "Exceeded allowed rate" in str(caught.value)


# ---------------------------------------------------------------- AXL


@pytest.mark.parametrize("version", ["12.5", "14.0", "15.0"])
def test_axl_requests_validate_against_axlsoap_xsd(version: str) -> None:
    ok = _answer('<ns:x><return>true</return></ns:x>', ns=f"http://www.cisco.com/AXL/API/{version}")
    transport = RecordingTransport([(200, ok)] * 4)
    client = AxlClient(transport=transport, version=version)
    client.reset_all_devices()
    client.reset_device_pool("Default")
    client.reset_device("SEP000000000001")
    client.sql("select name from processnode")
    schema, target = axl_schema(version), axl_target_namespace(version)
    for index in range(4):
        body = transport.body(index)
        assert etree.QName(body).namespace == f"http://www.cisco.com/AXL/API/{version}"
        schema.assertValid(_in_namespace(body, target))
    assert transport.sent[0]["headers"]["SOAPAction"] == f'"CUCM:DB ver={version} resetEnterpriseParameters"'


def test_axl_getccmversion_and_listprocessnode_validate() -> None:
    ns = "http://www.cisco.com/AXL/API/14.0"
    version = _answer("<ns:getCCMVersionResponse><return><componentVersion><version>14.0.1.13900-155</version>"
                      "</componentVersion></return></ns:getCCMVersionResponse>", ns=ns)
    nodes = _answer("<ns:listProcessNodeResponse><return>"
                    "<processNode><name>EnterpriseWideData</name><nodeUsage>Publisher</nodeUsage>"
                    "<processNodeRole>CUCM Voice/Video</processNodeRole></processNode>"
                    "<processNode><name>cucm-pub.lab.example</name><description>pub</description>"
                    "<nodeUsage>Publisher</nodeUsage><processNodeRole>CUCM Voice/Video</processNodeRole></processNode>"
                    "<processNode><name>imp-pub.lab.example</name><nodeUsage>Publisher</nodeUsage>"
                    "<processNodeRole>CUCM IM and Presence</processNodeRole></processNode>"
                    "</return></ns:listProcessNodeResponse>", ns=ns)
    transport = RecordingTransport([(200, version), (200, nodes)])
    client = AxlClient(transport=transport)
    assert client.ccm_version() == "14.0.1.13900-155"
    listed = client.list_process_nodes()
    for index in range(2):
        axl_schema("14.0").assertValid(transport.body(index))
    assert [(n.name, n.role, n.kind) for n in listed] == [
        ("cucm-pub.lab.example", "publisher", "CUCM"), ("imp-pub.lab.example", "publisher", "IM&P")]


def test_axl_sql_rows_security_mode_and_process_nodes() -> None:
    ns = "http://www.cisco.com/AXL/API/14.0"
    mode = _answer("<ns:executeSQLQueryResponse><return><row><paramname>ClusterSecurityMode</paramname>"
                   "<paramvalue>1</paramvalue></row></return></ns:executeSQLQueryResponse>", ns=ns)
    rows = "".join(
        f"<row><name>{n}</name><description/><nodeid>{i}</nodeid><tknodeusage>{u}</tknodeusage>"
        f"<tkprocessnoderole>{r}</tkprocessnoderole></row>"
        for n, i, u, r in [("EnterpriseWideData", 1, 0, 1), ("cucm-pub.lab.example", 2, 0, 1),
                           ("cucm-sub1.lab.example", 3, 1, 1), ("imp-pub.lab.example", 4, 0, 2)])
    nodes = _answer(f"<ns:executeSQLQueryResponse><return>{rows}</return></ns:executeSQLQueryResponse>", ns=ns)
    transport = RecordingTransport([(200, mode), (200, nodes)])
    client = AxlClient(transport=transport)
    assert client.security_mode() == 1
    found = client.process_nodes()
    assert [(n.name, n.role, n.kind, n.node_id) for n in found] == [
        ("cucm-pub.lab.example", "publisher", "CUCM", 2),
        ("cucm-sub1.lab.example", "subscriber", "CUCM", 3),
        ("imp-pub.lab.example", "publisher", "IM&P", 4)]


def test_axl_503_retried_then_throttled_error() -> None:
    transport = RecordingTransport([(503, b"busy")] * 3)
    slept: list[float] = []
    client = AxlClient(transport=transport, retries=2, backoff=1.0, sleep=slept.append)
    with pytest.raises(ThrottledError) as caught:
        client.reset_all_devices()
    assert len(transport.sent) == 3 and len(slept) == 2
    assert slept[1] > 0 and all(0 < s <= 2.0 for s in slept)
    assert (caught.value.node, caught.value.interface, caught.value.operation) == (NODE, "axl", "resetEnterpriseParameters")


def test_axl_503_then_success_recovers() -> None:
    ok = _answer("<ns:resetDevicePoolResponse><return>true</return></ns:resetDevicePoolResponse>")
    transport = RecordingTransport([(503, b""), (200, ok)])
    AxlClient(transport=transport, retries=2, sleep=lambda s: None).reset_device_pool("Default")
    assert len(transport.sent) == 2


def test_axl_query_too_large_fault_is_clear_and_does_not_echo_the_request() -> None:
    secret_sql = "select * from device where name='S3CRET'"
    detail = ("<axlError><axlcode>-1</axlcode><axlmessage>Query request too large. Total rows matched: 90000 rows. "
              f"Suggestive Row Fetch: less than 5000 rows</axlmessage><request>{secret_sql}</request></axlError>")
    transport = RecordingTransport([(500, _fault("Query request too large. Total rows matched: 90000 rows.", detail=detail))])
    with pytest.raises(SoapFaultError) as caught:
        AxlClient(transport=transport).sql(secret_sql)
    text = str(caught.value)
    assert "Query request too large" in text and "Suggestive Row Fetch" in text
    assert "S3CRET" not in text and caught.value.remedy


# ---------------------------------------------------------------- parser hardening


def test_doctype_and_entities_are_refused() -> None:
    evil = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>&e;</soapenv:Body></soapenv:Envelope>')
    transport = RecordingTransport([(200, evil)])
    with pytest.raises(CucmError) as caught:
        ControlCenterClient(transport=transport, node_name=NODE).service_status()
    assert "root:" not in str(caught.value) and caught.value.node == NODE


def test_html_500_page_becomes_http_status_error() -> None:
    transport = RecordingTransport([(500, b"<html><body>boom</body></html>")])
    with pytest.raises(HttpStatusError) as caught:
        ControlCenterClient(transport=transport, node_name=NODE).service_status()
    assert caught.value.status == 500 and caught.value.interface == "controlcenter"


def test_axl_backoff_follows_the_retries_parameters() -> None:
    """retries.axl: attempts, backoff_seconds doubled per try, capped at max_backoff_seconds; jitter in [0.5, 1]."""
    transport = RecordingTransport([(503, b"busy")] * 5)
    slept: list[float] = []
    client = AxlClient(transport=transport, retries=4, backoff=1.0, backoff_max=3.0, sleep=slept.append)
    with pytest.raises(ThrottledError, match="5 times"):
        client.reset_all_devices()
    assert len(transport.sent) == 5 and len(slept) == 4
    for step, delay in zip((1.0, 2.0, 3.0, 3.0), slept, strict=True):
        assert step * 0.5 <= delay <= step


def test_retry_policy_bounds() -> None:
    from cucmkit.cucm.retrying import retrying

    slept: list[float] = []
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ThrottledError("busy")
        return "ok"

    policy = retrying(attempts=3, first=0.2, cap=0.3, retry_on=lambda e: isinstance(e, ThrottledError),
                      sleep=slept.append)
    assert policy(flaky) == "ok" and len(calls) == 3
    assert 0.1 <= slept[0] <= 0.2 and 0.15 <= slept[1] <= 0.3
    with pytest.raises(ValueError):
        retrying(attempts=0, first=1, cap=1, retry_on=lambda e: True)
    never = retrying(attempts=5, first=0, cap=0, retry_on=lambda e: False, sleep=slept.append)
    with pytest.raises(KeyError):
        never(lambda: {}["x"])            # not retried: raised as it is, at once
    assert len(slept) == 2


def test_risport_backoff_blocks_the_shared_budget() -> None:
    """RisPort's retry wait is a block on the cluster budget: every caller in the process holds back."""
    text = "AxisFault: Exceeded allowed rate for Reatime information."
    ok = _ris_answer({"cucm-pub": [("SEP000000000001", "Registered", 0, 1)]})
    budget = RateBudget(rate=10, window=60)
    blocked: list[float] = []
    original = budget.block

    def block(seconds: float) -> None:
        blocked.append(seconds)
        original(seconds)

    budget.block = block  # type: ignore[method-assign]
    client = RisPortClient(transport=RecordingTransport([(500, _fault(text)), (200, ok)]), budget=budget,
                           backoff=0.2, backoff_max=0.2)
    assert client.registration().registered == 1
    assert len(blocked) == 1 and 0.1 <= blocked[0] <= 0.2 and client.throttled == 1
