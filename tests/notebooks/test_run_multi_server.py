"""`cucmkit run tomcat|cup-xmpp -f <params with multi_server: [...]> --approve` on a lab of its own: refused until
the conversion is confirmed, then one multi-server certificate on every node, with evidence that says so."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cucmkit.cli import main
from cucmkit.lab import LabCluster, NodeSpec, Topology, pki

from .conftest import make_lab, run_purpose

pytestmark = pytest.mark.notebook
CONFIRM = ("--override", "convert_multi_server=CAB-14: one multi-server certificate")
NOT_RUNNING = ("Cisco Intercluster Lookup Service", "Cisco Location Bandwidth Manager")


@pytest.fixture(scope="module")
def ms_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    """A lab of its own: these runs leave it multi-server, which the other notebook tests do not expect."""
    with make_lab(tmp_path_factory.mktemp("mslab") / "state") as lab:
        yield lab


def _run(lab: LabCluster, tmp: Path, purpose: str, *extra: str, threshold: float | None = None):
    """``cucmkit run PURPOSE --ca lab --approve`` with the parameter file listing ``purpose`` under multi_server."""
    return run_purpose(lab, tmp, purpose, "--ca", "lab", "--approve", *extra, threshold=threshold,
                       params_extra={"multi_server": [purpose]})


def _notebook_text(folder: Path, purpose: str) -> str:
    return next(folder.glob("*.ipynb")).read_text()


def test_multi_server_tomcat_with_cluster_wide_sso(ms_lab: LabCluster, tmp_path: Path) -> None:
    ms_lab.state.set_sso(True)                          # cluster-wide SAML SSO: tomcat must be multi-server
    try:
        folder, run = _run(ms_lab, tmp_path / "refused", "tomcat")
        assert run.returncode == 1, run.stdout + run.stderr
        record = json.loads((folder / "result.json").read_text())
        assert record["status"] == "blocked"
        assert "asks for multi-server" in run.stdout and "has per-node" in run.stdout
        assert "--override convert_multi_server=" in _notebook_text(folder, "tomcat")
        assert all(ms_lab.state.node(n).pending_csr("tomcat") is None for n in ms_lab.state.nodes)

        folder, run = _run(ms_lab, tmp_path / "confirmed", "tomcat", *CONFIRM)
        assert run.returncode == 0, run.stdout + run.stderr
        assert main(["evidence", "verify", str(folder)]) == 0
        record = json.loads((folder / "result.json").read_text())
        assert record["status"] == "done"
        assert record["overrides"] == {"convert_multi_server": "CAB-14: one multi-server certificate"}
        after = {c["node"]: c["fingerprint_sha256"] for c in record["certs_after"]}
        assert len(set(after.values())) == 1 and set(after) == {n.fqdn for n in ms_lab.state.nodes.values()}
        leaf = pki.load_cert(ms_lab.state.node("cucm-pub").own()["tomcat"].pem)
        assert pki.common_name(leaf) == "cucm-pub-ms.lab.example"
        uploads = [s for s in record["steps"] if s["name"] == "identity"]
        assert [s["node"] for s in uploads] == ["cucm-pub.lab.example"]             # one upload
        text = _notebook_text(folder, "tomcat")
        assert "distribution: multi-server" in text                                  # the plan
        assert "tomcat (multi-server) on" in text                                    # the approval
        assert "SAML SSO is enabled cluster-wide" in text and "SP metadata exported" in text   # SSO table
        assert "re-export the SP metadata to the IdP" in text
    finally:
        ms_lab.state.set_sso(False)


def test_multi_server_cup_xmpp(ms_lab: LabCluster, tmp_path: Path) -> None:
    folder, run = _run(ms_lab, tmp_path, "cup-xmpp", *CONFIRM, threshold=2000)
    assert run.returncode == 0, run.stdout + run.stderr
    assert main(["evidence", "verify", str(folder)]) == 0
    record = json.loads((folder / "result.json").read_text())
    assert record["status"] == "done"
    leaf = pki.load_cert(ms_lab.state.node("imp-pub").own()["cup-xmpp"].pem)
    assert pki.common_name(leaf).split(".")[0].endswith("-ms")              # CUCM's multi-server common name
    assert "distribution: multi-server" in _notebook_text(folder, "cup-xmpp")


@pytest.fixture
def small_lab(tmp_path: Path) -> Iterator[LabCluster]:
    """Publisher and one subscriber, no IM&P node, 4 phones: a tomcat plan of few steps (one papermill run each)."""
    nodes = (NodeSpec("cucm-pub", "publisher", "CUCM"), NodeSpec("cucm-sub1", "subscriber", "CUCM"))
    with LabCluster(tmp_path / "lab", topology=Topology(nodes=nodes, phones=4), ports="ephemeral", speed=0.02) as lab:
        for node in nodes:                  # a cluster without ILS networking nor intercluster LBM links: the kit
            for service in NOT_RUNNING:     # plans restarts only where a service runs (4 runs fewer)
                lab.state.node(node.name).stop(service)
        yield lab


@pytest.mark.slow
@pytest.mark.timeout(1200)          # one papermill run per step (18) and a last one, each with its own kernel
def test_multi_server_tomcat_crash_after_each_step_through_run(small_lab: LabCluster, tmp_path: Path) -> None:
    """`cucmkit run` whose kernel dies after each step (tests/renewal/crashhook), every step of the plan to the
    end, re-run each time; then a run without crashes closes it: every step once, one CSR, one CA request, one
    upload, the same certificate active on every node, and the final run's evidence verifies. A lab of its own
    (publisher and one subscriber, no IM&P, ILS and LBM not running) keeps the plan to 18 steps: 19 papermill runs
    of about 8 s each, 160 s measured on this machine when quiet (load 1). (`cucmkit renew` is killed after every
    step in tests/renewal/test_multi_server.py.)"""
    from cucmkit.params import load_parameters
    from cucmkit.renewal.state import Ledger
    from tests.renewal.crashkit import CRASH_ENV, HOOK_DIR, requests_for

    from .conftest import child_env, cucmkit_run, evidence_folders, write_params

    lab = small_lab
    params = write_params(lab, tmp_path / "parameters" / "lab.yaml", extra={"multi_server": ["tomcat"]})
    cluster, state_dir = load_parameters(params).cluster, tmp_path / "state"
    since = time.time()
    crashing = child_env(lab, **{CRASH_ENV: "1", "PYTHONPATH": os.pathsep.join(
        p for p in (str(HOOK_DIR), os.environ.get("PYTHONPATH")) if p)})

    def args(evidence: str) -> list[str]:
        return ["tomcat", "-f", str(params), "--ticket", "CHG-CRASH", "--ca", "lab", "--approve", "--nodes",
                "cucm-sub1", "--evidence-root", str(tmp_path / evidence), "--state-dir", str(state_dir),
                "--timeout", "120", *CONFIRM]

    def state():
        return Ledger.open(state_dir, cluster, "tomcat").state

    def finished() -> list[str]:
        return [r.key for r in state().records() if r.finished] if (state_dir / cluster / "tomcat.json").exists() else []

    crashes = 0
    while not finished() or len(finished()) < len(state().order):
        before = finished()
        run = cucmkit_run(args("evidence-crashed"), env=crashing)
        crashes += 1
        assert run.returncode == 1 and "resume: cucmkit run tomcat" in run.stdout, run.stdout + run.stderr[-2000:]
        assert "--override 'convert_multi_server=" in run.stdout       # the resume command keeps the confirmation
        assert finished() == before + [state().order[len(before)]], (before, finished())   # exactly the next step
        assert crashes < 40
    order = list(state().order)
    assert crashes == len(order) == 18
    kinds = [k.split(":")[0] for k in order]
    assert kinds[:7] == ["csr", "ca-submit", "ca-collect", "trust", "identity", "trust", "distributed"], kinds
    assert set(kinds[7:]) == {"restart", "verify-tls", "reminder"} and kinds[-1] == "reminder", kinds
    planned = [tuple(k.split(":", 2)[1:]) for k in order if k.startswith("restart:")]
    pub, sub1 = lab.state.publisher.fqdn, lab.state.node("cucm-sub1").fqdn
    assert [n for n, _ in planned] == sorted((n for n, _ in planned), key=lambda n: n != pub)   # publisher first
    assert {n for n, _ in planned} == {pub, sub1} and (pub, "Cisco Tomcat") in planned and (sub1, "Cisco Tomcat") in planned
    assert not {service for _, service in planned} & set(NOT_RUNNING)

    run = cucmkit_run(args("evidence"), env=child_env(lab))
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]
    folders = evidence_folders(tmp_path / "evidence")
    assert len(folders) == 1 and main(["evidence", "verify", str(folders[0])]) == 0
    assert json.loads((folders[0] / "result.json").read_text())["status"] == "done"
    done = state()
    assert done.status == "completed" and finished() == order                 # nothing ran again
    assert list(done.csrs) == [pub] and len(requests_for(lab, done.csrs[pub].pem)) == 1
    assert [e.node for e in lab.state.events(since, kind="csr_generated")] == [pub]
    assert [e.node for e in lab.state.events(since, kind="identity_uploaded")] == [pub]
    restarted = [(e.node, dict(e.data)["service"]) for e in lab.state.events(since, kind="restart_requested")]
    assert restarted == planned                                               # each restart once, in the plan's order
    trust = [(e.node, dict(e.data)["fingerprint"]) for e in lab.state.events(since, kind="trust_uploaded")]
    assert len(trust) == len(set(trust))                                      # each CA certificate once per node
    for node in lab.state.nodes.values():
        own = node.own()["tomcat"]
        assert pki.fingerprint(own.pem) == done.certificates[pub].after and own.active_pem == own.pem
