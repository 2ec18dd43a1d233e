"""Where the cluster stands after an interrupted run: the finding "Ctrl-C 25 s into CallManager ... nothing said
the cluster was half-activated" gets a per-node account from the engine's run state."""

from __future__ import annotations

from pathlib import Path

from cucmkit.renewal.plan import PlannedNode, Step
from cucmkit.renewal.standing import is_half_done, standing, standing_lines
from cucmkit.renewal.state import Ledger, StepRecord, StoredPlan, utcnow

NODES = ("cucm-pub.lab", "cucm-sub1.lab", "cucm-sub2.lab")


def _plan() -> StoredPlan:
    steps: list[Step] = []
    for node in NODES:
        steps.append(Step(f"identity:{node}", "install", "identity", node))
    for node in NODES:
        steps.append(Step(f"restart:{node}:Cisco CallManager", "activate", "restart", node, "Cisco CallManager"))
        steps.append(Step(f"verify-tls:{node}", "activate", "verify-tls", node))
    steps.append(Step("restart:imp-pub.lab:Cisco Tomcat", "activate", "restart", "imp-pub.lab", "Cisco Tomcat"))
    steps.append(Step("phones-reset", "phones", "phones-reset"))
    planned = tuple(PlannedNode(n, n.split(".")[0], "subscriber", "CUCM", "renew", "due") for n in NODES)
    planned += (PlannedNode("imp-pub.lab", "imp-pub", "publisher", "IMP", "ok", "not due"),)
    return StoredPlan(nodes=planned, steps=tuple(steps), threshold_days=60.0)


def _ledger(tmp_path: Path, done: list[str], running: str | None = None) -> Ledger:
    ledger = Ledger.open(tmp_path, "lab", "CallManager")
    plan = _plan()
    ledger.begin(ticket="CHG1", nodes=list(NODES), plan=plan)
    steps = {s.key: s for s in plan.steps}
    for key in done:
        s = steps[key]
        ledger.record(StepRecord(key, s.name, s.node, s.phase, "done", utcnow(), utcnow(), "ok"))
    if running:
        s = steps[running]
        ledger.record(StepRecord(running, s.name, s.node, s.phase, "running", utcnow()))
    return ledger


def test_half_activated_cluster_is_told_per_node(tmp_path: Path) -> None:
    done = [f"identity:{n}" for n in NODES] + ["restart:cucm-pub.lab:Cisco CallManager", "verify-tls:cucm-pub.lab"]
    ledger = _ledger(tmp_path, done, running="restart:cucm-sub1.lab:Cisco CallManager")
    nodes = standing(ledger.state)
    lines = standing_lines(nodes)
    assert lines[0] == "cucm-pub   installed, active; nothing pending"
    assert lines[1] == ("cucm-sub1  installed, NOT active until restart; interrupted in restart Cisco CallManager; "
                        "pending: restart Cisco CallManager, verify-tls")
    assert lines[2].startswith("cucm-sub2  installed, NOT active until restart; pending: restart Cisco CallManager")
    assert lines[3] == "imp-pub    not renewed, restart pending; pending: restart Cisco Tomcat"
    assert lines[4] == "cluster    cluster-wide steps; pending: phones-reset"
    assert is_half_done(nodes)


def test_nothing_installed_is_not_half_done(tmp_path: Path) -> None:
    nodes = standing(_ledger(tmp_path, []).state)
    assert not is_half_done(nodes) and nodes[0].text().startswith("NOT installed")


def test_no_plan_no_standing() -> None:
    assert standing(None) == ()
