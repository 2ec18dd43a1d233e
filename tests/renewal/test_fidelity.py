"""CUCM 14/15 fidelity of the catalogue and the planner (issue 13, part A).

Restarts per release with their reasons, CUCM's service spellings matched as CUCM matches them, the CAPF chain
into CallManager-trust, ITLRecovery regenerated only, Phone Interaction on Certificate Update, phone trust.
"""

from __future__ import annotations

import pytest

from cucmkit import catalogue
from cucmkit.cucm.cli import parse_service_list
from cucmkit.cucm.models import ServiceState, ServiceStates
from cucmkit.cucm.risport import DeviceRegistration, RegistrationSummary
from cucmkit.renewal.plan import NodeFacts, build_plan
from cucmkit.renewal.state import Baseline
from cucmkit.renewal.steps.phones import _back

from .certutil import NOW, record

V12, V14, V14SU1, V14SU3, V15 = "12.5.1.16900-48", "14.0.1.10000-20", "14.0.1.11900-132", "14.0.1.13900-155", "15.0"
CUCM14 = frozenset({
    "Cisco Tomcat", "Cisco Intercluster Lookup Service", "Cisco Location Bandwidth Manager", "Cisco DRF Master",
    "Cisco DRF Local", "Cisco AXL Tomcat", "Cisco UDS Tomcat", "Cisco SSOSP Tomcat", "Cisco HAProxy",
    "Cisco Trust Verification Service", "Cisco Tftp", "Cisco CallManager", "Cisco CTIManager",
    "Cisco Certificate Authority Proxy Function"})
NODES = (
    NodeFacts("cucm-pub.lab.example", "cucm-pub", "publisher", "CUCM", CUCM14 | {"Cisco Extension Mobility"}),
    NodeFacts("cucm-sub1.lab.example", "cucm-sub1", "subscriber", "CUCM",
              CUCM14 - {"Cisco DRF Master", "Cisco Certificate Authority Proxy Function"}),
    NodeFacts("imp-pub.lab.example", "imp-pub", "publisher", "IM&P", frozenset({"Cisco Tomcat", "Cisco DRF Local"})),
)


def plan(purpose: str, version: str | None, nodes=NODES, **kw):
    certs = {n.name: record(n.name, days_left=5, now=NOW, purpose=purpose) for n in nodes}
    return build_plan(cluster="lab", purpose=catalogue.get(purpose), nodes=nodes, certificates=certs, now=NOW,
                      threshold_days=60, version=version, **kw)


def restarts(p, node: str | None = None) -> list[str]:
    return [s.service for s in p.steps if s.name == "restart" and (node is None or s.node == node)]


def test_release_parsing_and_order():
    assert catalogue.release("14.0.1.13900-155") == (14, 0, 1, 13900, 155)
    assert catalogue.release("auto") is None and catalogue.release(None) is None
    assert catalogue.release("12.5") < catalogue.RELEASES["14"] <= catalogue.release(V14)
    assert catalogue.release(V14) < catalogue.RELEASES["14SU1"] <= catalogue.release(V14SU1)


def test_tomcat_restarts_follow_the_release():
    pub = "cucm-pub.lab.example"
    assert restarts(plan("tomcat", V12), pub) == ["Cisco Tomcat"]
    on14 = restarts(plan("tomcat", V14), pub)
    assert on14[0] == "Cisco Tomcat"
    assert {"Cisco Intercluster Lookup Service", "Cisco Location Bandwidth Manager", "Cisco DRF Master",
            "Cisco DRF Local", "Cisco Extension Mobility", "Cisco AXL Tomcat", "Cisco UDS Tomcat",
            "Cisco SSOSP Tomcat"} <= set(on14)
    on_su3 = restarts(plan("tomcat", V14SU3), pub)       # SG14: no DRF restart after tomcat RSA from 14SU2
    assert "Cisco DRF Local" not in on_su3 and "Cisco AXL Tomcat" in on_su3
    # only activated and running: Extension Mobility runs on the publisher only, nothing of 14 on IM&P but Tomcat
    assert "Cisco Extension Mobility" not in restarts(plan("tomcat", V14), "cucm-sub1.lab.example")
    assert restarts(plan("tomcat", V14SU3), "imp-pub.lab.example") == ["Cisco Tomcat"]


def test_every_restart_step_says_why_and_the_plan_names_the_version():
    p = plan("tomcat", V14)
    for step in p.steps:
        if step.name == "restart":
            assert ": " in step.detail and ("SG14" in step.detail or "procedure" in step.detail
                                           or "TAC225746" in step.detail), step
    ils = next(s for s in p.steps if s.service == "Cisco Intercluster Lookup Service")
    assert "(from 14)" in ils.detail
    assert "CUCM version: 14.0.1.10000-20" in p.describe()
    frame = p.to_frame()
    assert frame[frame["service"] == "Cisco Intercluster Lookup Service"]["detail"].str.contains("SG14").all()


def test_unknown_version_plans_every_release_restart_and_says_so():
    p = plan("tomcat", None)
    assert "Cisco DRF Local" in restarts(p) and "Cisco AXL Tomcat" in restarts(p)
    assert any("version is unknown" in n for n in p.notes)


def test_tomcat_ecdsa_restarts_and_ec_cipher_reminder():
    ec = plan("tomcat-ECDSA", V14SU3)
    assert {"Cisco Tomcat", "Cisco DRF Master", "Cisco DRF Local", "Cisco UDS Tomcat", "Cisco AXL Tomcat"} \
        == set(restarts(ec))
    assert any("EC ciphers" in n for n in catalogue.get("tomcat-ECDSA").notes)
    assert "EC ciphers" in ec.describe()


def test_callmanager_restarts_haproxy_from_14():
    assert "Cisco HAProxy" not in restarts(plan("CallManager", V12))
    for name in ("CallManager", "CallManager-ECDSA"):
        assert restarts(plan(name, V14SU1), "cucm-sub1.lab.example") == [
            "Cisco Trust Verification Service", "Cisco Tftp", "Cisco CallManager", "Cisco CTIManager",
            "Cisco HAProxy"]


def test_capf_restarts_haproxy_and_its_chain_goes_to_callmanager_trust():
    p = plan("CAPF", V14SU3)
    assert "Cisco HAProxy" in restarts(p)
    assert catalogue.get("CAPF").trust_stores == ("CAPF-trust", "CallManager-trust")
    trust = next(s for s in p.steps if s.name == "trust")
    assert "CAPF-trust and CallManager-trust" in trust.detail


def test_ipsec_reloads_ipsec_on_every_node_by_the_cli():
    p = plan("ipsec", V14SU3)
    reloads = [s for s in p.steps if s.name == "reload"]
    assert [s.node for s in reloads] == [n.name for n in NODES]
    assert all(s.detail.startswith("utils ipsec restart: ") for s in reloads)
    assert "IPsec" not in catalogue.get("ipsec").restart_services()   # not a service to wait on


def test_service_names_match_as_cucm_answers_them():
    # the plan: a node reporting "Cisco TFTP" (or "cisco tftp") still gets the "Cisco Tftp" restart
    shouting = tuple(NodeFacts(n.name, n.short, n.role, n.kind,
                               frozenset(s.upper() if s == "Cisco Tftp" else s for s in n.services)) for n in NODES)
    assert "Cisco Tftp" in restarts(plan("TVS", V14SU3, nodes=shouting))
    # Control Center / CLI answers: looked up by either spelling, iterated in CUCM's
    states = ServiceStates([ServiceState("Cisco Tftp", "Started", True)])
    assert states["Cisco TFTP"].started and "cisco tftp" in states and list(states) == ["Cisco Tftp"]
    parsed = parse_service_list("Cisco Tftp[STARTED]\nCisco Tomcat[STARTED]\n")
    assert parsed["Cisco TFTP"].started and parsed.get("CISCO TOMCAT") is not None
    assert catalogue.TFTP_SERVICE == "Cisco Tftp"
    assert all(r.service != "Cisco TFTP" for p in catalogue.PURPOSES.values() for r in p.restarts)


def test_itlrecovery_is_regenerated_never_signed():
    purpose = catalogue.get("ITLRecovery")
    assert not purpose.ca_signed and purpose.trust_store == "" and purpose.trust_stores == ()
    p = plan("ITLRecovery", V14SU3)
    kinds = {s.name for s in p.steps}
    assert not kinds & {"csr", "ca-submit", "ca-collect", "trust", "identity"}
    regen = [s for s in p.steps if s.name == "self-signed"]
    assert [s.node for s in regen] == ["cucm-pub.lab.example"]
    assert "set cert regen ITLRecovery" in regen[0].detail
    assert "reminder:itl-reset" in [s.key for s in p.steps]
    # self_signed=False (no self-signed regeneration elsewhere) does not drop the only way ITLRecovery renews
    assert [s.name for s in plan("ITLRecovery", V14SU3, self_signed=False).steps].count("self-signed") == 1


@pytest.mark.parametrize("purpose", ["TVS", "CAPF", "CallManager"])
def test_phone_interaction_on_takes_the_baseline_before_the_upload(purpose):
    p = plan(purpose, V14SU3, phone_interaction=True)
    keys = [s.key for s in p.steps]
    baseline = keys.index("phones-baseline")
    assert p.steps[baseline].phase == "install"
    first_change = min(i for i, s in enumerate(p.steps) if s.name in ("identity", "self-signed"))
    assert baseline < first_change
    assert any("Phone Interaction on Certificate Update is on" in n for n in p.notes)
    off = plan(purpose, V14SU3, phone_interaction=False)
    assert next(s for s in off.steps if s.key == "phones-baseline").phase == "activate"


def test_phone_interaction_does_not_move_tomcat():
    p = plan("tomcat", V14SU3, phone_interaction=True)
    assert "phones-baseline" not in [s.key for s in p.steps]
    assert not any("Phone Interaction" in n for n in p.notes)


def _summary(*devices: DeviceRegistration) -> RegistrationSummary:
    registered = sum(1 for d in devices if d.registered)
    return RegistrationSummary(total=len(devices), registered=registered, unregistered=len(devices) - registered,
                               by_node={}, by_reason={}, unregistered_names=(), devices=devices)


def test_phone_gate_counts_only_phones_that_re_registered_after_a_pre_upload_baseline():
    baseline = Baseline(registered=2, total=2, names=("SEP1", "SEP2"), stamps={"SEP1": 100, "SEP2": 100})
    same = _summary(DeviceRegistration("SEP1", "n", "Registered", 1, 100),
                    DeviceRegistration("SEP2", "n", "Registered", 1, 100))
    assert _back(same, baseline) == 0                # still the registrations of before: not back yet
    later = _summary(DeviceRegistration("SEP1", "n", "Registered", 1, 130),
                     DeviceRegistration("SEP2", "n", "Registered", 1, 100))
    assert _back(later, baseline) == 1
    assert _back(same, Baseline(registered=2, total=2)) == 2   # a baseline after the upload counts as before


def test_callmanager_and_tvs_remind_that_registration_is_not_itl_trust():
    for purpose in ("CallManager", "TVS"):
        step = next(s for s in plan(purpose, V15).steps if s.key == "reminder:phone-trust")
        assert "does not prove they trust the new ITL" in step.detail


def test_renew_hint_names_something_that_works():
    assert "cucmkit run tomcat" in catalogue.renew_hint("tomcat")
    itl = catalogue.renew_hint("ITLRecovery")
    assert "set cert regen ITLRecovery" in itl and "cucmkit run" not in itl
    with pytest.raises(ValueError):
        catalogue.runbook_for("ITLRecovery")
    assert itl.split("`")[1].startswith("cucmkit plan ITLRecovery ")     # the notebook's hint rule (main)
    assert "cucmkit run cup " in catalogue.renew_hint("cup")              # IM&P purposes have runbooks now


def test_restart_reasons_for_the_approval_text():
    reasons = plan("CallManager", V14SU3).restart_reasons()
    assert any(r.startswith("Cisco HAProxy: HAProxy serves SIP OAuth TLS") for r in reasons)
    assert len(reasons) == len({r.split(":")[0] for r in reasons})     # each service once
