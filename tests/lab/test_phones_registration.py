"""Phones drop and re-register (StatusReason 9, callManagerReset); the broken-ITL case keeps them down
(StatusReason 1, unknown: CISCO-CCM-MIB has no ITL cause)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cucmkit.lab.phones import REASON_ITL, REASON_RESET
from cucmkit.lab.pki import LabCA
from cucmkit.lab.starting import ensure_cas
from cucmkit.lab.state import LabRefusal, LabState
from cucmkit.lab.testing import wait_until
from cucmkit.lab.topology import Topology

SPEED = 0.01  # restarts 0.1 s


@pytest.fixture
def state(tmp_path: Path) -> LabState:
    lab_state = LabState.open(tmp_path / "s", topology=Topology(phones=12), speed=SPEED)
    lab_state.knobs.set("reregister_seconds", 80)  # 0.8-0.96 s: "still down" checks hold under load
    return lab_state


def _counts(state: LabState, node: str | None = None) -> dict[str, int]:
    out = {"Registered": 0, "UnRegistered": 0, REASON_ITL: 0, REASON_RESET: 0}
    for view in state.phone_views():
        if node is None or view.node == node:
            out[view.status] += 1
            if view.reason:
                out[view.reason] += 1
    return out


def _all_registered(state: LabState) -> bool:
    return state.phone_summary()["registered"] == 12


def test_phones_live_on_subscribers_with_risport_fields(state: LabState) -> None:
    views = state.phone_views()
    assert len(views) == 12 and {v.node for v in views} == {"cucm-sub1", "cucm-sub2"}
    first = views[0]
    assert first.name.startswith("SEP") and len(first.name) == 15
    assert first.status == "Registered" and first.reason == 0 and first.device_pool == f"DP-{first.node.upper()}"


def test_reset_all_devices_drops_then_reregisters(state: LabState) -> None:
    assert state.reset_all_devices() == 12
    counts = _counts(state)
    assert counts["UnRegistered"] == 12 and counts[REASON_RESET] == 12
    wait_until(lambda: _all_registered(state), timeout=5)


def test_reset_device_pool_and_single_device(state: LabState) -> None:
    assert state.reset_device_pool("DP-CUCM-SUB1") == 6
    assert _counts(state, "cucm-sub1")["UnRegistered"] == 6 and _counts(state, "cucm-sub2")["UnRegistered"] == 0
    with pytest.raises(LabRefusal):
        state.reset_device_pool("NoSuchPool")
    name = state.phones.names()[-1]
    assert state.reset_device(name) == 1
    wait_until(lambda: _all_registered(state), timeout=5)


def test_callmanager_restart_drops_only_that_nodes_phones(state: LabState) -> None:
    state.node("cucm-sub2").restart("Cisco CallManager")
    assert _counts(state, "cucm-sub2")["UnRegistered"] == 6
    assert _counts(state, "cucm-sub1")["Registered"] == 6
    wait_until(lambda: _all_registered(state), timeout=5)


def test_callmanager_stopped_keeps_phones_down_until_started(state: LabState) -> None:
    node = state.node("cucm-sub1")
    node.stop("Cisco CallManager")
    assert _counts(state, "cucm-sub1")["UnRegistered"] == 6
    time.sleep(0.5)
    assert _counts(state, "cucm-sub1")["UnRegistered"] == 6
    node.start("Cisco CallManager")
    wait_until(lambda: _all_registered(state), timeout=5)


def _renew(state: LabState, ca: LabCA, node_name: str, unit: str) -> None:
    node = state.node(node_name)
    for pem in (ca.root_pem, ca.intermediate_pem):
        node.upload_trust(unit, pem)
    leaf, _ = ca.issue(node.generate_csr(unit), unit)
    node.upload_identity(unit, leaf)


def test_callmanager_renewal_alone_phones_come_back(state: LabState) -> None:
    old, current = ensure_cas(state.state_dir)
    ca = LabCA(pair=current, old=old)
    _renew(state, ca, "cucm-sub1", "CallManager")
    state.node("cucm-sub1").restart("Cisco CallManager")
    wait_until(lambda: _all_registered(state), timeout=5)
    # then TVS, after all phones are back: still fine (the procedure's safe order)
    state.node("cucm-sub1").regenerate("TVS")
    state.node("cucm-sub1").restart("Cisco Trust Verification Service")
    wait_until(lambda: state.node("cucm-sub1").service("Cisco Trust Verification Service").status == "Started")
    state.reset_all_devices()
    wait_until(lambda: _all_registered(state), timeout=5)


def test_callmanager_and_tvs_together_break_the_itl(state: LabState) -> None:
    node = state.node("cucm-sub1")
    node.regenerate("CallManager")
    node.regenerate("TVS")
    node.restart("Cisco Trust Verification Service")
    node.restart("Cisco CallManager")
    wait_until(lambda: _counts(state, "cucm-sub2")["Registered"] == 6 and _counts(state, "cucm-sub1")[REASON_ITL] == 6
               and node.service("Cisco CallManager").status == "Started", timeout=5)
    views = [v for v in state.phone_views() if v.node == "cucm-sub1"]
    assert {(v.status, v.reason) for v in views} == {("UnRegistered", REASON_ITL)}
    state.reset_all_devices()  # a reset does not help
    time.sleep(0.6)
    assert _counts(state, "cucm-sub1")[REASON_ITL] == 6
    assert state.delete_itl([v.name for v in views]) == 6  # by hand, phone by phone
    wait_until(lambda: _all_registered(state), timeout=5)
