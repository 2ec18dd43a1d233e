"""A lab with a second IM&P node (imp-pub, the IM&P database publisher, and imp-sub1): `cucmkit run cup-xmpp
--approve` renews both per node in the safe order, and a multi-server cup-xmpp-s2s (with a wildcard extra SAN) is
one CSR on imp-pub naming both IM&P nodes, one upload, the same certificate active on both."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cucmkit.cli import main
from cucmkit.lab import LabCluster, Topology, pki
from cucmkit.lab.state import LabEvent
from cucmkit.lab.services import XCP_ROUTER

from .conftest import child_env, run_purpose

pytestmark = pytest.mark.notebook

IMP_PUB, IMP_SUB = "imp-pub.lab.example", "imp-sub1.lab.example"
ICSA = "Cisco Intercluster Sync Agent"
FEDERATION = "Cisco XCP XMPP Federation Connection Manager"
CONFIRM = ("--override", "convert_multi_server=CAB-14: one multi-server s2s certificate")
WILDCARD = "*.chat.lab.example"


@pytest.fixture(scope="module")
def imp2_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    """A lab of its own with one IM&P subscriber (small phone count, fast restarts, as make_lab)."""
    topology = Topology.with_imp_subscribers(1, phones=8)
    with LabCluster(tmp_path_factory.mktemp("imp2lab") / "state", topology=topology, ports="ephemeral",
                    speed=0.02) as lab:
        yield lab


def _record(folder: Path) -> dict:
    assert main(["evidence", "verify", str(folder)]) == 0
    record = json.loads((folder / "result.json").read_text())
    assert record["status"] == "done"
    return record


def _restarts(events: list[LabEvent], node: str) -> list[str]:
    return [e.get("service") for e in events if e.kind == "restart_completed" and e.node == node]


def _strictly_before(events: list[LabEvent], first: str, then: str, kinds: tuple[str, ...]) -> None:
    """Every event of ``kinds`` on node ``first`` precedes every such event on node ``then``."""
    a = [e.seq for e in events if e.kind in kinds and e.node == first]
    b = [e.seq for e in events if e.kind in kinds and e.node == then]
    assert a and b and max(a) < min(b), (kinds, a, b)


def test_the_lab_has_an_imp_subscriber(imp2_lab: LabCluster, tmp_path: Path) -> None:
    """imp-sub1 is an IM&P subscriber with its own services, Jabber sessions and certificates, and the kit's
    parameter file lists it."""
    sub = imp2_lab.state.node("imp-sub1")
    assert (sub.role, sub.kind, sub.fqdn) == ("subscriber", "IM&P", IMP_SUB)
    assert {XCP_ROUTER, ICSA, FEDERATION, "Cisco SIP Proxy", "Cisco Presence Engine"} <= set(sub.services())
    assert sub.xmpp_sessions() == imp2_lab.state.knobs.jabber_sessions > 0
    assert {"cup", "cup-xmpp", "cup-xmpp-s2s", "tomcat"} <= set(sub.own())
    params = yaml.safe_load(imp2_lab.write_parameters(tmp_path / "lab.yaml").read_text())
    nodes = {n["fqdn"]: n for n in params["nodes"]}
    assert (nodes[IMP_SUB]["role"], nodes[IMP_SUB]["kind"]) == ("subscriber", "IM&P")
    assert nodes[IMP_SUB]["ssh_port"] == imp2_lab.endpoint("imp-sub1").ssh_port
    assert nodes[IMP_PUB]["role"] == "publisher"


def test_per_node_cup_xmpp_on_two_imp_nodes(imp2_lab: LabCluster, tmp_path: Path) -> None:
    since = time.time()
    folder, run = run_purpose(imp2_lab, tmp_path, "cup-xmpp", "--ca", "lab", "--approve", threshold=2000)
    assert run.returncode == 0, run.stdout + run.stderr
    record = _record(folder)
    renewed = [s["node"] for s in record["steps"] if s["name"] == "identity" and s["outcome"] == "done"]
    assert renewed == [IMP_PUB, IMP_SUB]
    after = {c["node"]: c["fingerprint_sha256"] for c in record["certs_after"]}
    assert after[IMP_PUB] != after[IMP_SUB]                                      # one certificate per node
    for name, fqdn in (("imp-pub", IMP_PUB), ("imp-sub1", IMP_SUB)):
        assert imp2_lab.state.node(name).active_fingerprint("cup-xmpp") == after[fqdn]

    events = imp2_lab.state.events(since)
    _strictly_before(events, IMP_PUB, IMP_SUB, ("identity_uploaded",))
    _strictly_before(events, IMP_PUB, IMP_SUB, ("restart_requested", "restart_completed"))
    assert _restarts(events, IMP_PUB) == [XCP_ROUTER, ICSA]         # the sync agent on the database publisher
    assert _restarts(events, IMP_SUB) == [XCP_ROUTER]               # ... and nowhere else
    assert not [e for e in events if e.get("service") == ICSA and e.node != IMP_PUB]
    sessions = imp2_lab.state.knobs.jabber_sessions
    for fqdn in (IMP_PUB, IMP_SUB):            # each node's own Jabber sessions drop and come back
        jabber = [e for e in events if e.kind.startswith("xmpp_sessions_") and e.node == fqdn]
        assert [e.kind for e in jabber] == ["xmpp_sessions_dropped", "xmpp_sessions_restored"], jabber
        assert all(e.get("sessions") == sessions for e in jabber)
    restored_pub = next(e.seq for e in events if e.kind == "xmpp_sessions_restored" and e.node == IMP_PUB)
    dropped_sub = next(e.seq for e in events if e.kind == "xmpp_sessions_dropped" and e.node == IMP_SUB)
    assert restored_pub < dropped_sub                        # never both IM&P nodes without Jabber at once
    assert all(imp2_lab.state.node(n).xmpp_sessions() == sessions for n in ("imp-pub", "imp-sub1"))


def test_multi_server_s2s_with_a_wildcard(imp2_lab: LabCluster, tmp_path: Path) -> None:
    since = time.time()
    extra = {"multi_server": ["cup-xmpp-s2s"], "extra_sans": {"cup-xmpp-s2s": {"multi_server": [WILDCARD]}}}
    folder, run = run_purpose(imp2_lab, tmp_path, "cup-xmpp-s2s", "--ca", "lab", "--approve", *CONFIRM,
                              threshold=2000, params_extra=extra)
    assert run.returncode == 0, run.stdout + run.stderr
    record = _record(folder)
    assert record["overrides"] == {"convert_multi_server": CONFIRM[1].split("=", 1)[1]}
    events = imp2_lab.state.events(since)

    [csr] = [e for e in events if e.kind == "csr_generated"]                    # one CSR, on the IM&P publisher
    assert (csr.node, csr.get("distribution")) == (IMP_PUB, "multi-server")
    [upload] = [e for e in events if e.kind == "identity_uploaded"]              # one upload, landing on both
    assert upload.node == IMP_PUB and sorted(upload.get("targets")) == [IMP_PUB, IMP_SUB]
    assert [s["node"] for s in record["steps"] if s["name"] == "identity"] == [IMP_PUB]
    assert [s["node"] for s in record["steps"] if s["name"] == "distributed"] == [IMP_SUB]

    pub, sub = (imp2_lab.state.node(n).own()["cup-xmpp-s2s"] for n in ("imp-pub", "imp-sub1"))
    assert pub.pem == sub.pem and pub.active_pem == pub.pem and sub.active_pem == sub.pem    # active on both
    leaf = pki.load_cert(pub.pem)
    assert pki.san_strings(leaf) == {f"DNS:{IMP_PUB}", f"DNS:{IMP_SUB}", f"DNS:{WILDCARD}"}
    assert pki.common_name(leaf) == "imp-pub-ms.lab.example"      # the IM&P database publisher's -ms name
    chain = {pki.common_name(pki.load_cert(p)) for p in imp2_lab.state.node("imp-sub1").trust("cup-xmpp-trust").values()}
    assert {"Lab Root CA", "Lab Issuing CA"} <= chain                # the signing chain came with it

    _strictly_before(events, IMP_PUB, IMP_SUB, ("restart_requested", "restart_completed"))
    assert _restarts(events, IMP_PUB) == [FEDERATION, ICSA]
    assert _restarts(events, IMP_SUB) == [FEDERATION]
    assert not [e for e in events if e.kind.startswith("xmpp_sessions_")]     # XCP Router untouched: Jabber stays

    inventory = subprocess.run([sys.executable, "-m", "cucmkit", "inventory", "-f", str(tmp_path / "parameters" /
                                "lab.yaml"), "--json"], env=child_env(imp2_lab), text=True, capture_output=True,
                               timeout=240)
    assert inventory.returncode == 0, inventory.stderr
    rows = {(r["node"], r["purpose"]): r for r in json.loads(inventory.stdout) if r["store"] == "own"}
    for fqdn in (IMP_PUB, IMP_SUB):                    # the inventory sees the multi-server s2s on both nodes
        assert rows[(fqdn, "cup-xmpp-s2s")]["distribution"] == "multi-server"
        assert rows[(fqdn, "cup")]["distribution"] == "this-server"
