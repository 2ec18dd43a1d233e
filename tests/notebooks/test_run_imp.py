"""`cucmkit run <IM&P purpose> --approve` renews cup, cup-xmpp and cup-xmpp-s2s (+ECDSA) on the lab, with evidence."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cucmkit import catalogue
from cucmkit.cli import main
from cucmkit.lab import LabCluster

from .conftest import run_purpose

pytestmark = pytest.mark.notebook

IMP_PUB = "imp-pub.lab.example"


def _renews(lab: LabCluster, tmp_path: Path, purpose: str) -> dict:
    folder, run = run_purpose(lab, tmp_path, purpose, "--ca", "lab", "--approve", threshold=2000)
    assert run.returncode == 0, run.stdout + run.stderr
    assert main(["evidence", "verify", str(folder)]) == 0
    record = json.loads((folder / "result.json").read_text())
    assert record["status"] == "done" and record["purpose"] == purpose
    renewed = {s["node"] for s in record["steps"] if s["name"] == "identity" and s["outcome"] == "done"}
    assert renewed == {IMP_PUB}
    before = {c["node"]: c["fingerprint_sha256"] for c in record["certs_before"]}
    after = {c["node"]: c["fingerprint_sha256"] for c in record["certs_after"]}
    assert before[IMP_PUB] != after[IMP_PUB]
    assert lab.state.node("imp-pub").active_fingerprint(purpose) == after[IMP_PUB]   # active on the node
    p = catalogue.get(purpose)
    restarted = [s["detail"].split(" restarted")[0] for s in record["steps"]
                 if s["name"] == "restart" and s["outcome"] == "done"]
    assert restarted == [*p.restart_services()], restarted     # the purpose's services, then the sync agent
    assert any("intercluster" in s["detail"] for s in record["steps"] if s["name"] == "reminder")
    return record


@pytest.mark.parametrize("purpose", ["cup", "cup-xmpp", "cup-xmpp-s2s", "cup-xmpp-ECDSA"])
def test_imp_purpose_renews_end_to_end(nb_lab: LabCluster, tmp_path: Path, purpose: str) -> None:
    since = time.time()
    _renews(nb_lab, tmp_path, purpose)
    jabber = nb_lab.state.events(since, kind=("xmpp_sessions_dropped", "xmpp_sessions_restored"))
    if catalogue.get(purpose).activated_by == "Cisco XCP Router":     # Jabber sessions drop and come back
        assert [e.kind for e in jabber] == ["xmpp_sessions_dropped", "xmpp_sessions_restored"]
        assert all(e.node == IMP_PUB and e.get("sessions") == nb_lab.state.knobs.jabber_sessions for e in jabber)
    else:
        assert jabber == []
    assert nb_lab.state.node("imp-pub").xmpp_sessions() == nb_lab.state.knobs.jabber_sessions > 0
