"""The lab's Control Center Services door, read by zeep built from Cisco's own WSDL."""

from __future__ import annotations

from typing import Any

import pytest
import zeep.exceptions

try:
    from . import soap_support as S
except ImportError:  # tests/lab is not a package
    import soap_support as S

from cucmkit.lab.controlcenter import PATH, TOMCAT_REFUSED

BINDING = "{http://schemas.cisco.com/ast/soap}ControlCenterServicesBinding"
WSDL = S.wsdl("12.5", "ControlCenterServices.wsdl")


def service(lab: Any, node: str = "cucm-pub", **kw: Any) -> Any:
    return S.zeep_service(lab, node, WSDL, BINDING, PATH, **kw)


def control(lab: Any, node_name: str, action: str, *names: str, node: str = "cucm-pub") -> list[Any]:
    answer = service(lab, node).soapDoControlServices(ControlServiceRequest={
        "NodeName": node_name, "ControlType": action, "ServiceList": {"item": list(names)}})
    return answer.ServiceInfoList.item


def status(lab: Any, *names: str, node: str = "cucm-pub") -> dict[str, Any]:
    answer = service(lab, node).soapGetServiceStatus(ServiceStatus=list(names) or [""])
    assert answer.ReturnCode._value_1 == "0"
    return {item.ServiceName: item for item in answer.ServiceInfoList.item}


def test_status_of_every_service_reads_with_ciscos_wsdl(lab: Any) -> None:
    items = status(lab)
    expected = lab.state.node("cucm-pub").services()
    assert set(items) == set(expected)
    tomcat = items["Cisco Tomcat"]
    assert tomcat.ServiceStatus == "Started" and tomcat.ReasonCode == -1 and tomcat.UpTime >= 0
    assert tomcat.StartTime and tomcat.StartTime.split()[0] in {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}


def test_deactivated_service_reported_with_1068(lab: Any) -> None:
    items = status(lab, "Cisco Extension Mobility", "Cisco Tomcat")
    mobility = items["Cisco Extension Mobility"]
    assert (mobility.ServiceStatus, mobility.ReasonCode, mobility.ReasonCodeString) == (
        "Stopped", -1068, "Service Not Activated")
    assert mobility.UpTime == -1 and mobility.StartTime is None
    # DRF Master runs on the publisher only: deactivated on a subscriber
    sub = status(lab, "Cisco DRF Master", node="cucm-sub1")["Cisco DRF Master"]
    assert sub.ReasonCode == -1068


def test_unknown_service_is_no_such_service(lab: Any) -> None:
    item = status(lab, "Cisco Nonexistent Service")["Cisco Nonexistent Service"]
    assert (item.ServiceStatus, item.ReasonCode, item.ReasonCodeString) == ("Unknown", -1010, "No such service")


def test_restart_is_asynchronous_and_completes(lab: Any) -> None:
    fqdn = lab.endpoint("cucm-sub1").fqdn
    base = lab.state.knobs.restart_seconds
    lab.state.knobs.restart_seconds = 100  # x speed 0.02: 2 s, time for a second call while pending
    try:
        [item] = control(lab, fqdn, "Restart", "Cisco Tftp", node="cucm-sub1")
        [again] = control(lab, fqdn, "Restart", "Cisco Tftp", node="cucm-sub1")
    finally:
        lab.state.knobs.restart_seconds = base
    assert item.ServiceName == "Cisco Tftp" and item.ReasonCode == -1
    assert item.ServiceStatus in ("Stopping", "Starting")
    assert again.ReasonCode == -1029 and again.ReasonCodeString == "Operation is pending"
    S.wait_until(lambda: status(lab, "Cisco Tftp", node="cucm-sub1")["Cisco Tftp"].ServiceStatus == "Started")


def test_stop_start_and_their_reason_codes(lab: Any) -> None:
    name = "Cisco CTIManager"
    [stopped] = control(lab, "cucm-sub2", "Stop", name, node="cucm-sub2")  # short host name is accepted too
    try:
        assert (stopped.ServiceStatus, stopped.ReasonCode) == ("Stopped", -1)
        assert status(lab, name, node="cucm-sub2")[name].ReasonCode == -1019
        [twice] = control(lab, "cucm-sub2", "Stop", name, node="cucm-sub2")
        assert (twice.ReasonCode, twice.ReasonCodeString) == (-1040, "Service already stopped")
    finally:
        [started] = control(lab, "cucm-sub2", "Start", name, node="cucm-sub2")
    assert started.ReasonCode == -1 and started.ServiceStatus == "Starting"
    S.wait_until(lambda: status(lab, name, node="cucm-sub2")[name].ServiceStatus == "Started")
    [already] = control(lab, "cucm-sub2", "Start", name, node="cucm-sub2")
    assert (already.ReasonCode, already.ReasonCodeString) == (-1039, "Service already started")


def test_control_of_deactivated_and_unknown_services(lab: Any) -> None:
    items = control(lab, "cucm-pub.lab.example", "Start", "Cisco DirSync", "No Such Thing")
    assert [(i.ServiceName, i.ReasonCode) for i in items] == [("Cisco DirSync", -1068), ("No Such Thing", -1010)]
    assert lab.state.node("cucm-pub").service("Cisco DirSync").status == "Stopped"


def test_another_nodes_name_is_refused(lab: Any) -> None:
    before = lab.state.node("cucm-sub1").service("Cisco Tftp")
    with pytest.raises(zeep.exceptions.Fault) as caught:
        control(lab, "cucm-sub1.lab.example", "Restart", "Cisco Tftp", node="cucm-pub")
    assert caught.value.message == "The NodeName cucm-sub1.lab.example is not the local node cucm-pub.lab.example"
    assert caught.value.code.endswith("Server.NodeName")
    assert lab.state.node("cucm-sub1").service("Cisco Tftp").started_at == before.started_at


@pytest.mark.parametrize("node_element", ["", "<ns:NodeName/>", "<ns:NodeName>  </ns:NodeName>"])
def test_a_request_without_node_name_means_the_local_node(lab: Any, node_element: str) -> None:
    node = lab.state.node("cucm-sub2")
    S.wait_until(lambda: node.service("Cisco CTIManager").status == "Started")
    before = node.service("Cisco CTIManager").started_at
    inner = (f"<ns:soapDoControlServices><ns:ControlServiceRequest>{node_element}"
             "<ns:ControlType>Restart</ns:ControlType><ns:ServiceList><ns:item>Cisco CTIManager</ns:item>"
             "</ns:ServiceList></ns:ControlServiceRequest></ns:soapDoControlServices>")
    answer = S.body_element(S.post(lab, "cucm-sub2", PATH, S.envelope(inner)))
    codes = [e.text for e in answer.iter("{http://schemas.cisco.com/ast/soap}ReasonCode") if e.text]
    assert codes == ["-1"]
    S.wait_until(lambda: node.service("Cisco CTIManager").status == "Started")
    assert node.service("Cisco CTIManager").started_at != before


def test_cisco_tomcat_cannot_be_controlled(lab: Any) -> None:
    for action in ("Restart", "Stop", "Start"):
        with pytest.raises(zeep.exceptions.Fault) as caught:
            control(lab, "cucm-pub.lab.example", action, "Cisco Tftp", "Cisco Tomcat")
        assert caught.value.message == TOMCAT_REFUSED
    assert lab.state.node("cucm-pub").service("Cisco Tftp").status == "Started"  # nothing half-done


def test_service_fault_makes_restart_fail(fresh_lab: Any) -> None:
    fresh_lab.state.faults.set("cucm-pub", "service_fail", "Cisco Tftp")
    [item] = control(fresh_lab, "cucm-pub", "Restart", "Cisco Tftp")
    assert item.ReasonCode == -1
    final = S.wait_until(lambda: (s := status(fresh_lab, "Cisco Tftp")["Cisco Tftp"]).ServiceStatus == "Stopped" and s)
    assert final.ReasonCode == -1019 and final.ReasonCodeString == "Component is not running"


def test_product_information_and_static_service_list(lab: Any) -> None:
    info = service(lab).getProductInformationList(ServiceInfo="")
    assert info.ActiveServerVersion == "14.0.1.13900-155"
    assert info.PrimaryNode == "cucm-pub.lab.example"
    assert info.Products.item[0].ProductID == "CallManager"
    deployable = {s.ServiceName: s.Deployable for s in info.Services.item}
    assert deployable["Cisco CallManager"] is True and deployable["Cisco Tomcat"] is False
    static = service(lab, "imp-pub").soapGetStaticServiceList(ServiceInformationResponse="")
    names = {s.ServiceName for s in static.item}
    assert "Cisco XCP Router" in names and "Cisco CallManager" not in names


def test_bad_credentials_get_tomcats_401_page(lab: Any) -> None:
    body = S.envelope("<ns:soapGetServiceStatus><ns:ServiceStatus/></ns:soapGetServiceStatus>")
    for auth in (("ccmadmin", "wrong"), ("admin", S.secret(lab, "os_admin"))):
        answer = S.post(lab, "cucm-pub", PATH, body, auth=auth)
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"].startswith("Basic realm=")
        assert "text/html" in answer.headers["Content-Type"] and "HTTP Status 401" in answer.text
        assert S.secret(lab, "os_admin") not in answer.text
    with pytest.raises(Exception) as caught:
        status_with = service(lab, auth=("ccmadmin", "wrong"))
        status_with.soapGetServiceStatus(ServiceStatus=[""])
    assert "401" in str(caught.value)


@pytest.mark.parametrize("name", sorted(S.MALFORMED))
def test_malformed_envelope_gets_a_soap_fault(lab: Any, name: str) -> None:
    code, text = S.fault_of(S.post(lab, "cucm-pub", PATH, S.MALFORMED[name]))
    assert code in S.FAULT_CODES and text
    assert "boom" not in text and "root:" not in text  # entities are never expanded


def test_unknown_operation_and_missing_request_are_faults(lab: Any) -> None:
    code, text = S.fault_of(S.post(lab, "cucm-pub", PATH, S.envelope("<ns:soapRebootTheServer/>")))
    assert (code, text) == ("soapenv:Client", "No such operation 'soapRebootTheServer'")
    code, text = S.fault_of(S.post(lab, "cucm-pub", PATH, S.envelope("<ns:soapDoControlServices/>")))
    assert code == "soapenv:Client" and "ControlServiceRequest" in text
    wrong_ns = S.envelope("<ns:soapGetServiceStatus><ns:ServiceStatus/></ns:soapGetServiceStatus>", ns="urn:other")
    assert S.fault_of(S.post(lab, "cucm-pub", PATH, wrong_ns))[0] == "soapenv:Client"


def test_bad_control_type_is_a_fault(lab: Any) -> None:
    inner = ("<ns:soapDoControlServices><ns:ControlServiceRequest><ns:NodeName>cucm-pub</ns:NodeName>"
             "<ns:ControlType>Reboot</ns:ControlType><ns:ServiceList><ns:item>Cisco Tftp</ns:item></ns:ServiceList>"
             "</ns:ControlServiceRequest></ns:soapDoControlServices>")
    code, text = S.fault_of(S.post(lab, "cucm-pub", PATH, S.envelope(inner)))
    assert code == "soapenv:Client" and "Reboot" in text


@pytest.mark.parametrize("inner", [
    "<ns:soapGetServiceStatus><ns:ServiceStatus/></ns:soapGetServiceStatus>",
    "<ns:soapGetServiceStatus><ns:ServiceStatus>Cisco DirSync</ns:ServiceStatus>"
    "<ns:ServiceStatus>Nope</ns:ServiceStatus></ns:soapGetServiceStatus>",
    "<ns:soapDoControlServices><ns:ControlServiceRequest><ns:NodeName>cucm-pub.lab.example</ns:NodeName>"
    "<ns:ControlType>Start</ns:ControlType><ns:ServiceList><ns:item>Cisco Tftp</ns:item><ns:item>Cisco DirSync</ns:item>"
    "</ns:ServiceList></ns:ControlServiceRequest></ns:soapDoControlServices>",
    "<ns:getProductInformationList><ns:ServiceInfo/></ns:getProductInformationList>",
    "<ns:soapGetStaticServiceList><ns:ServiceInformationResponse/></ns:soapGetStaticServiceList>",
])
def test_answers_validate_against_ciscos_schema(lab: Any, inner: str) -> None:
    answer = S.body_element(S.post(lab, "cucm-pub", PATH, S.envelope(inner)))
    S.assert_valid(S.wsdl_schema("12.5", "ControlCenterServices.wsdl"), answer)


@pytest.mark.parametrize(("name", "code", "words"), [
    ("soap 1.2", "VersionMismatch", "SOAP 1.2"),
    ("no envelope", "VersionMismatch", "not a SOAP 1.1 Envelope"),
    ("entity", "Client", "DTD"),
    ("external entity", "Client", "DTD"),
    ("must understand", "MustUnderstand", "Security"),
    ("two operations", "Client", "More than one operation"),
    ("empty body", "Client", "No operation"),
    ("not xml", "Client", "SAXParseException"),
])
def test_parse_envelope_refusals(name: str, code: str, words: str) -> None:
    from cucmkit.lab.soap import SoapFault, parse_envelope

    with pytest.raises(SoapFault) as caught:
        parse_envelope(S.MALFORMED[name])
    assert caught.value.code == code and words in caught.value.string and caught.value.status == 500


def test_parse_envelope_returns_the_operation() -> None:
    from cucmkit.lab.soap import parse_envelope

    element = parse_envelope(S.envelope("<ns:soapGetServiceStatus><ns:ServiceStatus/></ns:soapGetServiceStatus>").encode())
    assert element.tag == "{http://schemas.cisco.com/ast/soap}soapGetServiceStatus"
