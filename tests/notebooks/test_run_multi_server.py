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
from cucmkit.lab import LabCluster, pki

from .conftest import make_lab, run_purpose

pytestmark = pytest.mark.notebook
CONFIRM = ("--override", "convert_multi_server=CAB-14: one multi-server certificate")


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


@pytest.mark.slow
@pytest.mark.timeout(1800)          # 13 papermill runs, each with its own kernel
def test_multi_server_tomcat_crash_after_each_step_through_run(ms_lab: LabCluster, tmp_path: Path) -> None:
    """`cucmkit run` whose kernel dies after each step (tests/renewal/crashhook) from the CSR to the first restart
    (every step that is multi-server's own: the CSR, the CA, the trust chains, the one upload and each node's
    distribution), re-run each time; then a run without crashes finishes it: every step once, one CSR, one CA
    request, one upload, the same certificate on every node. (`cucmkit renew` is killed after every one of the
    steps in tests/renewal/test_multi_server.py; a papermill run per step of all 38 is too slow for the suite.)"""
    from cucmkit.params import load_parameters
    from cucmkit.renewal.state import Ledger
    from tests.renewal.crashkit import CRASH_ENV, HOOK_DIR, requests_for

    from .conftest import child_env, cucmkit_run, write_params

    params = write_params(ms_lab, tmp_path / "parameters" / "lab.yaml", extra={"multi_server": ["tomcat"]})
    cluster, state_dir = load_parameters(params).cluster, tmp_path / "state"
    since = time.time()
    crashing = child_env(ms_lab, **{CRASH_ENV: "1", "PYTHONPATH": os.pathsep.join(
        p for p in (str(HOOK_DIR), os.environ.get("PYTHONPATH")) if p)})
    args = ["tomcat", "-f", str(params), "--ticket", "CHG-CRASH", "--ca", "lab", "--approve", "--nodes", "cucm-sub1",
            "--evidence-root", str(tmp_path / "evidence"), "--state-dir", str(state_dir), "--timeout", "120", *CONFIRM]

    def state():
        return Ledger.open(state_dir, cluster, "tomcat").state

    def finished() -> list[str]:
        return [r.key for r in state().records() if r.finished] if (state_dir / cluster / "tomcat.json").exists() else []

    crashes = 0
    while True:
        before = finished()
        order = list(state().order) if before else []
        first_restart = next((i for i, key in enumerate(order) if key.startswith("restart:")), len(order))
        if before and len(before) > first_restart:
            break
        run = cucmkit_run(args, env=crashing)
        crashes += 1
        assert run.returncode == 1 and "resume: cucmkit run tomcat" in run.stdout, run.stdout + run.stderr[-2000:]
        assert "--override 'convert_multi_server=" in run.stdout       # the resume command keeps the confirmation
        assert finished() == before + [state().order[len(before)]], (before, finished())   # exactly the next step
        assert crashes < 30
    assert [k.split(":")[0] for k in finished()] == ["csr", "ca-submit", "ca-collect", "trust", "identity", "trust",
                                                     "distributed", "trust", "distributed", "trust", "distributed",
                                                     "restart"]
    run = cucmkit_run(args, env=child_env(ms_lab))
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]
    done = state()
    assert done.status == "completed" and len(finished()) == len(done.order)
    pub = ms_lab.state.publisher.fqdn
    assert list(done.csrs) == [pub] and len(requests_for(ms_lab, done.csrs[pub].pem)) == 1
    assert [e.node for e in ms_lab.state.events(since, kind="identity_uploaded")] == [pub]
    for node in ms_lab.state.nodes.values():
        own = node.own()["tomcat"]
        assert pki.fingerprint(own.pem) == done.certificates[pub].after and own.active_pem == own.pem
