from __future__ import annotations

from cucmkit import catalogue
from cucmkit.renewal.plan import NodeFacts, build_plan

from .certutil import NOW, record

ALL_SERVICES = frozenset({"Cisco Tomcat", "Cisco Trust Verification Service", "Cisco TFTP", "Cisco CallManager",
                          "Cisco CTIManager", "Cisco DRF Local", "Cisco DRF Master",
                          "Cisco Certificate Authority Proxy Function"})
NODES = (
    NodeFacts("cucm-pub.lab.example", "cucm-pub", "publisher", "CUCM", ALL_SERVICES),
    NodeFacts("cucm-sub1.lab.example", "cucm-sub1", "subscriber", "CUCM", ALL_SERVICES - {"Cisco DRF Master",
              "Cisco Certificate Authority Proxy Function"}),
    NodeFacts("cucm-sub2.lab.example", "cucm-sub2", "subscriber", "CUCM",
              frozenset({"Cisco Tomcat", "Cisco CallManager", "Cisco DRF Local"})),
    NodeFacts("imp-pub.lab.example", "imp-pub", "publisher", "IM&P", frozenset({"Cisco Tomcat", "Cisco DRF Local"})),
)


def certs(purpose: str, days: dict[str, float]) -> dict:
    return {n.name: record(n.name, days_left=days.get(n.short, 400), now=NOW, purpose=purpose) for n in NODES}


def plan(purpose: str, days: dict[str, float], **kw):
    return build_plan(cluster="lab", purpose=catalogue.get(purpose), nodes=NODES, certificates=certs(purpose, days),
                      now=NOW, threshold_days=60, **kw)


def test_nothing_due_gives_no_steps():
    p = plan("tomcat", {})
    assert not p.due and p.steps == ()
    assert "nothing due" in p.describe()
    assert {n.action for n in p.nodes} == {"ok"}


def test_tomcat_only_expiring_nodes_renewed_and_restart_order_publisher_first():
    p = plan("tomcat", {"cucm-sub1": 10, "imp-pub": 59}, version="12.5")   # before 14: Tomcat alone
    assert [n.short for n in p.renew] == ["cucm-sub1", "imp-pub"]
    restarts = [s.node for s in p.steps if s.name == "restart"]
    assert restarts[0] == "cucm-pub.lab.example"
    assert len(restarts) == 4 and all(s.service == "Cisco Tomcat" for s in p.steps if s.name == "restart")
    verify = [s.node for s in p.steps if s.name == "verify-tls"]
    assert verify == ["cucm-sub1.lab.example", "imp-pub.lab.example"]
    assert p.steps[-1].key == "reminder:sso"
    phases = [s.phase for s in p.steps]
    assert phases == sorted(phases, key=["csr", "ca", "install", "activate", "phones"].index)


def test_explicit_nodes_renewed_even_when_not_due():
    p = plan("ipsec", {}, explicit=["cucm-sub2"])
    assert [n.short for n in p.renew] == ["cucm-sub2"]
    assert any(s.key == "restart:cucm-pub.lab.example:Cisco DRF Master" for s in p.steps)
    assert p.steps[-1].key == "reminder:backup"


def test_capf_publisher_only_subscribers_self_signed():
    p = plan("CAPF", {"cucm-pub": 5, "cucm-sub1": 5, "cucm-sub2": 5})
    assert [n.short for n in p.renew] == ["cucm-pub"]
    assert [n.short for n in p.self_signed] == ["cucm-sub1", "cucm-sub2"]
    assert next(n for n in p.nodes if n.short == "imp-pub").action == "out of scope"
    assert "phones-reset" in [s.key for s in p.steps] and "phones-wait" in [s.key for s in p.steps]
    p2 = plan("CAPF", {"cucm-pub": 5, "cucm-sub1": 5}, self_signed=False)
    assert p2.self_signed == ()


def test_mixed_mode_inserts_ctl_update_before_restarts():
    p = plan("CallManager", {"cucm-pub": 1}, security_mode=1)
    keys = [s.key for s in p.steps]
    assert keys.index("ctl-update") < min(i for i, k in enumerate(keys) if k.startswith("restart:"))
    assert keys.index("phones-baseline") < keys.index("ctl-update")
    assert "ctl-update" not in [s.key for s in plan("CallManager", {"cucm-pub": 1}, security_mode=0).steps]


def test_tvs_scope_is_nodes_running_tvs():
    p = plan("TVS", {"cucm-pub": 1, "cucm-sub1": 1, "cucm-sub2": 1})
    assert [n.short for n in p.renew] == ["cucm-pub", "cucm-sub1"]
    assert next(n for n in p.nodes if n.short == "cucm-sub2").action == "out of scope"


def test_restarts_only_where_service_runs():
    p = plan("CallManager", {"cucm-sub2": 1})
    sub2 = [s.service for s in p.steps if s.name == "restart" and s.node == "cucm-sub2.lab.example"]
    assert sub2 == ["Cisco CallManager"]


def test_resumed_plan_keeps_locked_nodes():
    p = plan("tomcat", {}, locked=["cucm-pub.lab.example"])
    assert [n.short for n in p.renew] == ["cucm-pub"] and p.resumed


def test_frames_and_html():
    p = plan("tomcat", {"cucm-pub": 1})
    assert len(p.to_frame()) == len(p.steps)
    assert "risk medium" in p.describe() and "<table" in p._repr_html_()
    assert "SAML SSO" in p.describe()


def test_imp_purpose_renews_imp_nodes_only_imp_publisher_restarted_first():
    xcp = frozenset({"Cisco XCP Router", "Cisco XCP Connection Manager"})
    nodes = (*NODES[:3], NodeFacts("imp-sub.lab.example", "imp-sub", "subscriber", "IM&P", xcp),
             NodeFacts("imp-pub.lab.example", "imp-pub", "publisher", "IM&P", xcp))
    p = build_plan(cluster="lab", purpose=catalogue.get("cup-xmpp"), nodes=nodes, certificates={}, now=NOW,
                   threshold_days=60)
    assert [n.short for n in p.renew] == ["imp-sub", "imp-pub"]
    assert {n.action for n in p.nodes if n.kind == "CUCM"} == {"out of scope"}
    restarts = [(s.node, s.service) for s in p.steps if s.name == "restart"]
    assert [node for node, _ in restarts] == ["imp-pub.lab.example", "imp-sub.lab.example"]
    assert {service for _, service in restarts} == {"Cisco XCP Router"}   # only where activated and running
    assert "verify-tls" not in {s.name for s in p.steps}


def test_imp_chain_change_restarts_the_intercluster_sync_agent_on_the_imp_publisher_only():
    services = frozenset({"Cisco XCP Router", "Cisco Intercluster Sync Agent"})
    nodes = (*NODES[:3], NodeFacts("imp-sub.lab.example", "imp-sub", "subscriber", "IM&P", services),
             NodeFacts("imp-pub.lab.example", "imp-pub", "publisher", "IM&P", services))
    for name in ("cup", "cup-xmpp", "cup-xmpp-s2s-ECDSA"):
        p = build_plan(cluster="lab", purpose=catalogue.get(name), nodes=nodes, certificates={}, now=NOW,
                       threshold_days=60)
        sync = [s.node for s in p.steps if s.service == "Cisco Intercluster Sync Agent"]
        assert sync == ["imp-pub.lab.example"], name
        assert p.steps[-1].key == "reminder:intercluster-sync" and "intercluster" in p.steps[-1].detail


def test_verify_steps_come_from_the_catalogue():
    assert catalogue.get("tomcat").verify and not catalogue.get("tomcat-ECDSA").verify
    p = plan("tomcat-ECDSA", {"cucm-pub": 1})
    assert "verify-tls" not in {s.name for s in p.steps} and p.renew
