"""Each interlock proven against the lab, including the consequence it prevents."""

from __future__ import annotations

import time
from datetime import timedelta

from cucmkit.renewal import MaintenanceWindow
from cucmkit.renewal.state import utcnow

from .labcheck import assert_renewed

CUCM = ("cucm-pub", "cucm-sub1", "cucm-sub2")


def _wait(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "lab did not settle"
        time.sleep(0.05)


def test_sso_enabled_blocks_tomcat_and_nothing_changes(env):
    env.lab.state.set_sso(True)
    with env.open("tomcat") as renewal:
        result = renewal.run()
        assert result.status == "blocked" and "SAML SSO is enabled" in result.message
        assert all(env.lab.state.node(n).pending_csr("tomcat") is None for n in CUCM)
        env.lab.state.set_sso(False)
        assert renewal.csr().status == "done"
        assert all(env.lab.state.node(n).pending_csr("tomcat") for n in CUCM)


def test_backup_running_blocks_ipsec(env):
    env.lab.state.set_backup(True)
    with env.open("ipsec", nodes=("cucm-sub2",)) as renewal:
        result = renewal.run()
        assert result.status == "blocked" and "DRS backup" in result.message
        assert env.lab.state.node("cucm-sub2").pending_csr("ipsec") is None
        env.lab.state.set_backup(False)
        assert renewal.csr().status == "done"


def test_sso_enabled_on_one_node_only_blocks_tomcat_and_names_the_node(env):
    """The GUI (web API) says disabled; cucm-sub2's CLI and tkssomode say SAML (TAC 217268)."""
    env.lab.state.set_sso_node("cucm-sub2", 2)
    before = {n: env.lab.state.node(n).pending_csr("tomcat") for n in CUCM}
    try:
        with env.open("tomcat") as renewal:
            result = renewal.run()
            assert result.status == "blocked" and "SAML SSO is enabled" in result.message
            assert "cucm-sub2.lab.example: API disabled, CLI enabled, tkssomode 2 (SAML)" in result.message
            assert {n: env.lab.state.node(n).pending_csr("tomcat") for n in CUCM} == before
    finally:
        env.lab.state.set_sso(False)


def test_restore_running_blocks_ipsec(env):
    env.lab.state.set_restore(True)
    before = env.lab.state.node("cucm-sub2").pending_csr("ipsec")
    with env.open("ipsec", nodes=("cucm-sub2",)) as renewal:
        result = renewal.run()
        assert result.status == "blocked" and "restore" in result.message.lower()
        assert env.lab.state.node("cucm-sub2").pending_csr("ipsec") == before
        env.lab.state.set_restore(False)
        assert renewal.csr().status == "done"


def _raw_install(lab, node_name, purpose):
    node = lab.state.node(node_name)
    leaf, chain = lab.ca.issue(node.generate_csr(purpose), purpose)
    for pem in chain:
        node.upload_trust(purpose, pem)
    node.upload_identity(purpose, leaf)


def test_callmanager_then_tvs_without_waiting_strands_phones_raw(env):
    """Bypassing the engine: CallManager and TVS both changed before the phones came back -> ITL mismatch."""
    lab = env.lab
    for name in CUCM:
        _raw_install(lab, name, "CallManager")
        _raw_install(lab, name, "TVS")
    for name in CUCM:
        for service in ("Cisco CallManager", "Cisco Trust Verification Service"):
            lab.state.node(name).restart(service)
    _wait(lambda: all(s.status == "Started" for n in CUCM for s in lab.state.node(n).services().values() if s.activated))
    lab.state.reset_all_devices()
    time.sleep(lab.state.knobs.delay(lab.state.knobs.reregister_seconds) * 2 + 0.3)
    summary = lab.state.phone_summary()
    assert summary["registered"] == 0
    assert summary["itl_mismatch"] == summary["total"]


def test_engine_refuses_tvs_while_callmanager_phones_pending(env):
    with env.open("CallManager", nodes=CUCM) as cm:
        for phase in ("csr", "ca", "install", "activate"):
            assert getattr(cm, phase)().status == "done"
    tvs_before = {n: env.lab.state.node(n).own()["TVS"].pem for n in CUCM}
    with env.open("TVS", nodes=("cucm-pub",)) as tvs:
        refused = tvs.run()
        assert refused.status == "blocked"
        assert "CallManager changed the cluster" in refused.message and "ITL" in refused.message
        assert env.lab.state.node("cucm-pub").pending_csr("TVS") is None
        assert {n: env.lab.state.node(n).own()["TVS"].pem for n in CUCM} == tvs_before
    with env.open("CallManager", nodes=CUCM) as cm:
        assert_renewed(env, "CallManager", cm.run())
    env.since = time.time()                     # the lab's log from here on is the TVS run's
    with env.open("TVS", nodes=("cucm-pub",)) as tvs:
        assert_renewed(env, "TVS", tvs.run())
    summary = env.lab.state.phone_summary()
    assert summary["registered"] == summary["total"] and summary["itl_mismatch"] == 0


def test_restarts_wait_for_the_window_and_override_is_recorded(env):
    later = MaintenanceWindow(utcnow() + timedelta(hours=2), utcnow() + timedelta(hours=4))
    with env.open("ipsec", nodes=("cucm-sub1",), maintenance_window=later) as renewal:
        result = renewal.run()
        assert result.status == "blocked" and "outside the maintenance window" in result.message
        assert [p.phase for p in result.phases] == ["csr", "ca", "install", "activate"]
    own = env.lab.state.node("cucm-sub1").own()["ipsec"]
    assert own.pem != own.active_pem                                  # installed, not activated: nothing restarted
    with env.open("ipsec", nodes=("cucm-sub1",), maintenance_window=later,
                  overrides={"maintenance_window": "CAB emergency change 42"}) as renewal:
        result = renewal.run()
    ledger = assert_renewed(env, "ipsec", result)
    assert [o["reason"] for o in ledger["overrides"] if o["check"] == "maintenance_window"] == ["CAB emergency change 42"]
    assert result.overrides


def test_one_run_per_cluster(env):
    first = env.open("tomcat")
    try:
        assert first.prechecks().get("single_run").status == "passed"
        with env.open("ipsec", nodes=("cucm-sub1",)) as second:
            refused = second.run()
            assert refused.status == "blocked" and "another run holds the cluster lock" in refused.message
            assert env.lab.state.node("cucm-sub1").pending_csr("ipsec") is None
            first.close()
            assert second.csr().status == "done"
    finally:
        first.close()


def test_mixed_mode_switched_on_after_planning_gets_its_ctl_update(env):
    with env.open("CAPF", nodes=("cucm-pub",), self_signed=False) as renewal:
        for phase in ("csr", "ca", "install"):
            assert getattr(renewal, phase)().status == "done"
        assert "ctl-update" not in [s.key for s in renewal.plan().steps]
        env.lab.state.set_security_mode(1)
        version = env.lab.state.ctl.version
        report = renewal.prechecks()
        assert [c.name for c in report.checks] == ["single_run", "sso_disabled", "no_backup", "phones_gate",
                                                   "maintenance_window", "mixed_mode", "upload_path", "distribution"]
        assert "CTL update is inserted" in report.get("mixed_mode").reason
        result = renewal.run()
    ledger = assert_renewed(env, "CAPF", result)
    order = ledger["order"]
    assert order.index("ctl-update") < min(i for i, k in enumerate(order) if k.startswith("restart:"))
    assert env.lab.state.ctl.version == version + 1
