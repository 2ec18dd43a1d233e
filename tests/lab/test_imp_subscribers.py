"""IM&P subscribers in the lab (``Topology.with_imp_subscribers``, ``cucmkit lab start --imp-subscribers``): the
default lab is unchanged, the new nodes get fixed ports of their own, and every door works on them (REST, Control
Center SOAP, the SSH CLI) with their own services and Jabber sessions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cucmkit.lab import LabCluster, NodeSpec, Topology
from cucmkit.lab.services import XCP_ROUTER
from cucmkit.lab.testing import https_session, wait_until
from cucmkit.lab.topology import CA_PORT, MAX_IMP_SUBSCRIBERS

try:
    from . import soap_support as S
    from .test_ssh import Session
except ImportError:  # tests/lab is not a package
    import soap_support as S
    from test_ssh import Session

from cucmkit.lab.controlcenter import PATH

CC_WSDL = S.wsdl("12.5", "ControlCenterServices.wsdl")
CC_BINDING = "{http://schemas.cisco.com/ast/soap}ControlCenterServicesBinding"
REST = "/platformcom/api/v1/certmgr/config"


def test_the_default_lab_is_unchanged() -> None:
    assert [(n.name, n.role, n.kind) for n in Topology().nodes] == [
        ("cucm-pub", "publisher", "CUCM"), ("cucm-sub1", "subscriber", "CUCM"), ("cucm-sub2", "subscriber", "CUCM"),
        ("imp-pub", "publisher", "IM&P")]
    assert Topology.with_imp_subscribers(0, phones=200) == Topology()


def test_imp_subscribers_get_fixed_ports_of_their_own() -> None:
    topo = Topology.with_imp_subscribers(MAX_IMP_SUBSCRIBERS)
    names = [n.name for n in topo.nodes]
    assert names[4:] == [f"imp-sub{i}" for i in range(1, MAX_IMP_SUBSCRIBERS + 1)]
    assert all(n.kind == "IM&P" and n.role == "subscriber" for n in topo.nodes[4:])
    assert topo.imp_publisher is not None and topo.imp_publisher.name == "imp-pub"
    ports = [(*topo.ports(i, n), topo.rest_port(i, n)) for i, n in enumerate(topo.nodes)]
    assert ports[:4] == [(8443, 2222, 8543), (8444, 2223, 8544), (8445, 2224, 8545), (8446, 2225, 8546)]
    assert ports[4] == (8447, 2226, 8547)
    every = [p for triple in ports for p in triple] + [CA_PORT]
    assert len(every) == len(set(every)), "two listeners share a fixed port"
    assert Topology.from_dict(topo.to_dict()) == topo


@pytest.mark.parametrize("count", [-1, MAX_IMP_SUBSCRIBERS + 1])
def test_imp_subscriber_count_is_bounded(count: int) -> None:
    with pytest.raises(ValueError, match="IM&P subscribers"):
        Topology.with_imp_subscribers(count)


def test_imp_subscribers_need_an_imp_publisher() -> None:
    nodes = (NodeSpec("cucm-pub", "publisher", "CUCM"), NodeSpec("imp-sub1", "subscriber", "IM&P"))
    with pytest.raises(ValueError, match="IM&P \\(database\\) publisher"):
        Topology(nodes=nodes)
    with pytest.raises(ValueError, match="IM&P \\(database\\) publisher"):
        Topology(nodes=(*nodes, NodeSpec("imp-pub", "publisher", "IM&P"), NodeSpec("imp-pub2", "publisher", "IM&P")))


@pytest.fixture(scope="module")
def sub_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    with LabCluster(tmp_path_factory.mktemp("impsub") / "state", topology=Topology.with_imp_subscribers(1, phones=2),
                    ports="ephemeral", speed=0.02) as lab:
        yield lab


def _control_center(lab: LabCluster, node: str) -> Any:
    return S.zeep_service(lab, node, CC_WSDL, CC_BINDING, PATH)


def test_rest_snapshot_on_the_imp_subscriber(sub_lab: LabCluster) -> None:
    session, base = https_session(sub_lab, "imp-sub1")
    snap = session.get(base + REST + "/snapshot/server", timeout=10).json()
    assert snap["server"] == "imp-sub1.lab.example"
    assert {"cup", "cup-xmpp", "cup-xmpp-s2s", "tomcat"} <= {i["service"] for i in snap["identities"]}
    assert "cup-xmpp-trust" in {t["service"] for t in snap["trusts"]}
    assert sub_lab.endpoint("imp-sub1").rest_port not in (None, sub_lab.endpoint("imp-pub").rest_port)


def test_xcp_router_restart_on_the_subscriber_drops_its_own_jabber_sessions(sub_lab: LabCluster) -> None:
    """Control Center SOAP on imp-sub1 restarts its XCP Router: imp-sub1's sessions drop and come back,
    imp-pub's stay."""
    sessions = sub_lab.state.knobs.jabber_sessions
    service = _control_center(sub_lab, "imp-sub1")
    answer = service.soapGetServiceStatus(ServiceStatus=[XCP_ROUTER])
    assert answer.ServiceInfoList.item[0].ServiceStatus == "Started"
    sub_lab.state.faults.set("imp-sub1", "slow_restart", 500)     # hold the restart (minutes) while we look
    try:
        service.soapDoControlServices(ControlServiceRequest={
            "NodeName": "imp-sub1.lab.example", "ControlType": "Restart", "ServiceList": {"item": [XCP_ROUTER]}})
        assert sub_lab.state.node("imp-sub1").xmpp_sessions() == 0
        assert sub_lab.state.node("imp-pub").xmpp_sessions() == sessions
    finally:
        sub_lab.state.faults.clear("imp-sub1", "slow_restart")
    sub_lab.state.node("imp-sub1").restart(XCP_ROUTER)             # a normal-length restart to finish it
    wait_until(lambda: sub_lab.state.node("imp-sub1").xmpp_sessions() == sessions, timeout=60)
    events = sub_lab.state.events(kind=("xmpp_sessions_dropped", "xmpp_sessions_restored"))
    assert {e.node for e in events} == {"imp-sub1.lab.example"}


def test_ssh_cli_on_the_imp_subscriber(sub_lab: LabCluster) -> None:
    with Session(sub_lab, "imp-sub1") as cli:
        listed = cli.run("utils service list")
        assert f"{XCP_ROUTER}[STARTED]" in listed and "Cisco Intercluster Sync Agent[STARTED]" in listed
        cli.run("set cli pagination off")
        own = "\n".join(cli.run("show cert own cup-xmpp"))
        assert "imp-sub1.lab.example" in own and "BEGIN CERTIFICATE" in own


def test_parameters_list_the_imp_subscriber(sub_lab: LabCluster, tmp_path: Path) -> None:
    import yaml

    from cucmkit.params import load_parameters

    path = sub_lab.write_parameters(tmp_path / "lab.yaml")
    nodes = {n["fqdn"]: n for n in yaml.safe_load(path.read_text())["nodes"]}
    assert list(nodes) == [n.fqdn for n in sub_lab.state.nodes.values()]
    assert (nodes["imp-sub1.lab.example"]["kind"], nodes["imp-sub1.lab.example"]["role"]) == ("IM&P", "subscriber")
    params = load_parameters(path)
    assert params.node("imp-sub1").kind == "IM&P" and params.publisher.fqdn == "cucm-pub.lab.example"
