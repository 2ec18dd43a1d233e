"""Multi-server certificates: one CSR on the holder with every node's FQDN, one CA request, one upload; CUCM
(the lab) distributes it to every node; then the restarts on every node in the safe order."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cucmkit import catalogue
from cucmkit.lab import pki
from cucmkit.renewal.plan import NodeFacts, build_plan

from .crashkit import requests_for
from .labcheck import assert_restart_order

NOW = datetime(2026, 11, 26, tzinfo=UTC)
CONVERT = {"convert_multi_server": "CAB-14: move tomcat to one multi-server certificate"}
NODES = (
    NodeFacts("cucm-pub.lab.example", "cucm-pub", "publisher", "CUCM", frozenset({"Cisco Tomcat"})),
    NodeFacts("cucm-sub1.lab.example", "cucm-sub1", "subscriber", "CUCM", frozenset({"Cisco Tomcat"})),
    NodeFacts("imp-pub.lab.example", "imp-pub", "publisher", "IM&P", frozenset({"Cisco Tomcat"})),
)


def test_multi_server_plan_one_csr_on_the_publisher_distributed_to_every_node() -> None:
    plan = build_plan(cluster="lab", purpose=catalogue.get("tomcat"), nodes=NODES, certificates={}, now=NOW,
                      threshold_days=60, explicit=("cucm-sub1",), multi_server=True)
    assert [n.short for n in plan.renew] == ["cucm-pub", "cucm-sub1", "imp-pub"]
    per_node = {name: [s.node for s in plan.steps if s.name == name]
                for name in ("csr", "ca-submit", "ca-collect", "trust", "identity", "distributed")}
    assert per_node == {"csr": ["cucm-pub.lab.example"], "ca-submit": ["cucm-pub.lab.example"],
                        "ca-collect": ["cucm-pub.lab.example"],
                        "trust": [n.name for n in NODES],               # the chain on every node (TLS clients)
                        "identity": ["cucm-pub.lab.example"],
                        "distributed": ["cucm-sub1.lab.example", "imp-pub.lab.example"]}
    assert [s.node for s in plan.steps if s.name == "restart"] == [n.name for n in NODES]
    assert any("multi-server" in note for note in plan.notes)


def test_multi_server_is_refused_for_a_per_node_purpose() -> None:
    with pytest.raises(ValueError, match="ipsec has no multi-server certificate"):
        build_plan(cluster="lab", purpose=catalogue.get("ipsec"), nodes=NODES, certificates={}, now=NOW,
                   threshold_days=60, multi_server=True)


def test_multi_server_tomcat_renews_every_node_on_the_lab(env) -> None:
    with env.open("tomcat", multi_server=True, overrides=CONVERT) as renewal:   # the lab starts per node
        result = renewal.run()
    assert result.status == "done", result
    assert [(o.check, o.reason) for o in env.ledger("tomcat").state.overrides] == [("distribution", CONVERT[
        "convert_multi_server"])]
    state = env.ledger("tomcat").state
    pub = env.lab.state.publisher.fqdn
    assert list(state.csrs) == [pub]
    assert len(requests_for(env.lab, state.csrs[pub].pem)) == 1          # one CA request
    uploads = env.lab.state.events(env.since, kind="identity_uploaded")
    assert len(uploads) == 1 and uploads[0].node == pub                   # one upload, on the publisher
    new = state.certificates[pub].after
    for node in env.lab.state.nodes.values():                             # every node serves it after restarts
        own = node.own()["tomcat"]
        assert pki.fingerprint(own.pem) == new and own.active_pem == own.pem, node.fqdn
        assert state.certificates[node.fqdn].after == new
    leaf = pki.load_cert(env.lab.state.node("cucm-pub").own()["tomcat"].pem)
    assert pki.common_name(leaf) == "cucm-pub-ms.lab.example"
    assert {f"DNS:{n.fqdn}" for n in env.lab.state.nodes.values()} <= set(pki.san_strings(leaf))
    assert_restart_order(env, "tomcat")


def test_multi_server_for_a_per_node_purpose_is_a_clear_usage_error(env, capsys) -> None:
    from cucmkit.renewal.command import main

    code = main(["plan", "ipsec", "-f", str(env.params_file), "--multi-server", "--state-dir", str(env.state_dir)])
    err = capsys.readouterr().err
    assert code == 1 and "ipsec has no multi-server certificate" in err and "Traceback" not in err   # as any refused input


def test_multi_server_cup_xmpp_plan_through_the_cli(env, capsys) -> None:
    from cucmkit.renewal.command import main

    code = main(["plan", "cup-xmpp", "-f", str(env.params_file), "--multi-server", "--nodes", "imp-pub", "--json",
                 "--state-dir", str(env.state_dir)])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads(out)
    assert summary["renew"] == ["imp-pub.lab.example"]            # the lab's one IM&P node holds it
    assert [k for k in summary["steps"] if k.startswith("csr:")] == ["csr:imp-pub.lab.example"]


def test_multi_server_tomcat_crash_after_every_step_then_resume(env) -> None:
    from .crashkit import finished_steps, renew_child
    from .labcheck import assert_no_repeats

    purpose, crashes = "tomcat", 0
    for _ in range(60):
        before = finished_steps(env, purpose)
        child = renew_child(env, purpose, "CHG-MS", ("cucm-sub1",), crash=1, extra=("--multi-server", "--override",
                                                                                    "convert_multi_server=CAB-14"))
        if child.returncode == 0:
            break
        assert child.returncode == 137, f"after {crashes} crashes: " + child.stdout[:700] + child.stderr[-2000:]
        crashes += 1
        assert len(finished_steps(env, purpose)) == len(before) + 1
    else:
        pytest.fail("the run never finished")
    assert json.loads(child.stdout)["status"] == "done"
    state = env.ledger(purpose).state
    assert crashes == len(state.order)
    pub = env.lab.state.publisher.fqdn
    assert list(state.csrs) == [pub] and len(requests_for(env.lab, state.csrs[pub].pem)) == 1
    assert len(env.lab.state.events(env.since, kind="identity_uploaded")) == 1
    for node in env.lab.state.nodes.values():
        own = node.own()["tomcat"]
        assert pki.fingerprint(own.pem) == state.certificates[pub].after and own.active_pem == own.pem
    assert_no_repeats(env, purpose)
    assert_restart_order(env, purpose)
