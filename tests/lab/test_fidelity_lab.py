"""The lab as CUCM 14/15 is documented (issue 13, part A): services of 14 with CUCM's spellings and restart
times, no ITLRecovery-trust, Phone Interaction on Certificate Update, `utils ipsec restart`; and the kit meeting
them over the wire (case-insensitive service lookups, the enterprise parameter over AXL, the CLI reload)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cucmkit import catalogue
from cucmkit.cucm import Cluster
from cucmkit.lab import LabCluster
from cucmkit.lab.services import CUCM_SERVICES, TOMCAT_LIKE
from cucmkit.lab.shell import AdminShell
from cucmkit.lab.state import LabState
from cucmkit.lab.topology import Topology
from cucmkit.params import load_parameters

CRLF = "\r\n"


@pytest.fixture
def state(tmp_path: Path) -> LabState:
    return LabState.open(tmp_path / "s", topology=Topology(phones=6), speed=0.01)


def test_lab_cucm_nodes_carry_the_services_every_catalogue_restart_names(state: LabState) -> None:
    wanted = {r.service for p in catalogue.PURPOSES.values() if catalogue.CUCM in p.node_kinds
              for r in p.restarts if r.command is None and r.where is not catalogue.NodeScope.IMP}
    assert wanted <= set(CUCM_SERVICES), wanted - set(CUCM_SERVICES)
    services = state.node("cucm-pub").services()
    assert "Cisco Tftp" in services and "Cisco TFTP" not in services      # CUCM's own spelling
    assert state.node("cucm-pub").service("Cisco TFTP").name == "Cisco Tftp"  # CUCM matches either


def test_lab_separate_tomcats_restart_as_slowly_as_tomcat(state: LabState) -> None:
    services = state.node("cucm-sub1").svc
    durations = {name: services._duration(name) for name in ("Cisco AXL Tomcat", "Cisco Tftp", "Cisco HAProxy")}
    assert "Cisco AXL Tomcat" in TOMCAT_LIKE
    assert durations["Cisco AXL Tomcat"] > durations["Cisco Tftp"] > durations["Cisco HAProxy"]


def test_lab_has_no_itlrecovery_trust_store(state: LabState) -> None:
    stores = state.node("cucm-pub").trust_stores()
    assert "ITLRecovery-trust" not in stores and "CallManager-trust" in stores


def test_phone_interaction_resets_phones_when_tvs_changes(state: LabState) -> None:
    assert state.phone_summary()["registered"] == 6
    state.node("cucm-pub").regenerate("TVS")
    assert state.phone_summary()["registered"] == 0
    assert [e for e in state.events(kind="phones_auto_reset") if dict(e.data).get("purpose") == "TVS"]


def test_phone_interaction_off_or_tomcat_leaves_phones_alone(state: LabState) -> None:
    state.node("cucm-pub").regenerate("tomcat")
    assert state.phone_summary()["registered"] == 6
    state.knobs.set("phone_interaction", False)
    state.node("cucm-pub").regenerate("CAPF")
    assert state.phone_summary()["registered"] == 6


def test_shell_utils_ipsec_restart(state: LabState) -> None:
    out: list[str] = []
    shell = AdminShell(state=state, node=state.node("cucm-sub1"), write=out.append)  # type: ignore[arg-type]
    shell.start()
    out.clear()
    shell.feed("utils ipsec restart\r")
    text = "".join(out)
    assert "IPSec service restarted successfully" in text
    assert state.events(kind="ipsec_restarted")


def test_kit_reads_phone_interaction_and_matches_service_names(lab: LabCluster, lab_params: Path) -> None:
    with Cluster.from_parameters(load_parameters(lab_params)) as cluster:
        assert cluster.phone_interaction() is True
        node = cluster.node("cucm-sub1")
        states = node.service_status(["Cisco Tftp"])
        assert states["Cisco TFTP"].started and states["cisco tftp"].name == "Cisco Tftp"
        assert "Cisco HAProxy" in node.service_status()


def test_kit_restarts_by_either_spelling_and_reloads_ipsec(fresh_lab: LabCluster, tmp_path: Path) -> None:
    params = load_parameters(fresh_lab.write_parameters(tmp_path / "lab.yaml"))
    with Cluster.from_parameters(params) as cluster:
        node = cluster.node("cucm-sub1")
        assert node.restart_service("Cisco TFTP", timeout=30).name == "Cisco Tftp"
        assert "restarted successfully" in node.run_command("utils ipsec restart")
