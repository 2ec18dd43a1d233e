"""`cucmkit run CallManager --approve` with `multi_server: [CallManager]` on a lab of its own (issue 14).

One CSR on the publisher whose SAN names every CUCM node and no IM&P node (TAC 118731: "Cisco CallManager - Only
CUCM"), CN `<publisher>-ms`, one CA request, one upload, the same certificate active on every CUCM node, the
catalogue's restarts node by node (publisher first), the CTL update of mixed mode once, the phones dropped and
back. The run is first killed right after its upload and `cucmkit run TVS` is refused by the phone gate while the
phones are out (the procedure's "never CallManager and TVS together"), then resumed to the end. And the validator's
refusal, through `cucmkit run`, of a CA return whose SAN lacks one node (lab knob
`ca_drop_san`): the run stops before any upload and names the node. Each test starts its own lab, so they hold
in any order and on any xdist worker (measured: 35 s and 25 s on a quiet machine, 45 s and 29 s under load 2.5).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cucmkit import catalogue
from cucmkit.cli import main
from cucmkit.lab import LabCluster, pki
from cucmkit.lab.soap import LAB_VERSION

from .conftest import child_env, cucmkit_run, evidence_folders, make_lab, run_purpose, write_params

pytestmark = pytest.mark.notebook
CONFIRM = ("--override", "convert_multi_server=CAB-14: one multi-server CallManager certificate")
PURPOSE = "CallManager"


@pytest.fixture
def cm_lab(tmp_path: Path) -> Iterator[LabCluster]:
    """A lab of its own per test: a multi-server run leaves the cluster multi-server (the other tests expect
    per-node certificates); the default topology keeps its IM&P node, which the CallManager SAN must leave out."""
    with make_lab(tmp_path / "lab") as lab:
        yield lab


def _run(lab: LabCluster, tmp: Path, *extra: str):
    return run_purpose(lab, tmp, PURPOSE, "--ca", "lab", "--approve", *CONFIRM, *extra,
                       params_extra={"multi_server": [PURPOSE]})


def _cucm(lab: LabCluster) -> list[str]:
    """The CUCM nodes' FQDNs, publisher first (the lab's order)."""
    nodes = [n for n in lab.state.topology.nodes if n.kind == "CUCM"]
    return [lab.state.topology.fqdn(n.name) for n in sorted(nodes, key=lambda n: n.role != "publisher")]


def _own(lab: LabCluster) -> dict[str, str]:
    return {fqdn: lab.state.node(fqdn.split(".")[0]).own()[PURPOSE].pem for fqdn in _cucm(lab)}


def _tvs(lab: LabCluster) -> dict[str, str]:
    return {fqdn: lab.state.node(fqdn.split(".")[0]).own()["TVS"].pem for fqdn in _cucm(lab)}


def _crash_after_the_upload_then_tvs_is_refused(lab: LabCluster, tmp: Path) -> None:
    """The kernel dies right after the one upload (phones dropping, restarts not done); `cucmkit run TVS` on the
    same state is then refused by the phone gate (the ITL trap: CallManager and TVS never together)."""
    from cucmkit.params import load_parameters
    from cucmkit.renewal.state import Ledger
    from tests.renewal.crashkit import CRASH_ENV, HOOK_DIR

    params = write_params(lab, tmp / "parameters" / "lab.yaml", extra={"multi_server": [PURPOSE]})
    state_dir, cluster = tmp / "state", load_parameters(params).cluster
    common = ["-f", str(params), "--ticket", "CHG-100", "--ca", "lab", "--approve", "--state-dir", str(state_dir),
              "--timeout", "120"]
    hook = os.pathsep.join(p for p in (str(HOOK_DIR), os.environ.get("PYTHONPATH")) if p)
    run = cucmkit_run([PURPOSE, *common, *CONFIRM, "--evidence-root", str(tmp / "crashed")],
                      env=child_env(lab, **{CRASH_ENV: "6", "PYTHONPATH": hook}))
    assert run.returncode == 1 and f"resume: cucmkit run {PURPOSE}" in run.stdout, run.stdout + run.stderr[-2000:]
    done = [r.key for r in Ledger.open(state_dir, cluster, PURPOSE).state.records() if r.finished]
    assert done[-1] == f"identity:{lab.state.publisher.fqdn}", done
    tvs_before = _tvs(lab)
    run = cucmkit_run(["TVS", *common, "--evidence-root", str(tmp / "tvs")], env=child_env(lab))
    assert run.returncode != 0, run.stdout + run.stderr[-2000:]
    assert "CallManager changed the cluster" in run.stdout and "ITL" in run.stdout, run.stdout
    assert _tvs(lab) == tvs_before
    assert lab.state.publisher.pending_csr("TVS") is None


def test_multi_server_callmanager_end_to_end(cm_lab: LabCluster, tmp_path: Path) -> None:
    from tests.renewal.crashkit import requests_for

    cm_lab.state.set_security_mode(1)              # mixed mode: the CTL file is updated once, before the restarts
    cucm, pub = _cucm(cm_lab), cm_lab.state.publisher.fqdn
    imp = [cm_lab.state.topology.fqdn(n.name) for n in cm_lab.state.topology.nodes if n.kind == "IM&P"]
    assert imp, "the lab must have an IM&P node for the SAN check to mean something"
    since = time.time()
    _crash_after_the_upload_then_tvs_is_refused(cm_lab, tmp_path)
    folder, run = _run(cm_lab, tmp_path)                     # the same state dir: the crashed run resumed
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert main(["evidence", "verify", str(folder)]) == 0
    record = json.loads((folder / "result.json").read_text())
    assert record["status"] == "done"
    assert record["overrides"] == {"convert_multi_server": "CAB-14: one multi-server CallManager certificate"}

    # one CSR on the publisher, one CA request, one upload; the certificate every CUCM node holds and serves
    assert [c["node"] for c in record["csrs"]] == [pub]
    assert len(requests_for(cm_lab, record["csrs"][0]["pem"])) == 1
    uploads = cm_lab.state.events(since, kind="identity_uploaded")
    assert [(e.node, sorted(dict(e.data)["targets"])) for e in uploads] == [(pub, sorted(cucm))]
    assert [s["node"] for s in record["steps"] if s["name"] == "identity"] == [pub]
    assert sorted(s["node"] for s in record["steps"] if s["name"] == "distributed") == sorted(cucm[1:])
    after = {c["node"]: c["fingerprint_sha256"] for c in record["certs_after"]}
    assert set(after) == set(cucm) and len(set(after.values())) == 1
    for fqdn in cucm:
        own = cm_lab.state.node(fqdn.split(".")[0]).own()[PURPOSE]
        assert own.active_pem == own.pem and pki.fingerprint(own.pem) == after[pub]
    leaf = pki.load_cert(_own(cm_lab)[pub])
    assert pki.common_name(leaf) == "cucm-pub-ms.lab.example"
    assert set(pki.san_strings(leaf)) == {f"DNS:{fqdn}" for fqdn in cucm}           # no IM&P node in it
    assert all(PURPOSE not in cm_lab.state.node(fqdn.split(".")[0]).own() for fqdn in imp)   # not distributed there

    # the CTL update once on the publisher, before the restarts; then the catalogue's restarts node by node
    ctl = cm_lab.state.events(since, kind="ctl_updated")
    restarted = cm_lab.state.events(since, kind="restart_completed")
    assert [e.node for e in ctl] == [pub] and ctl[0].seq < min(e.seq for e in restarted)
    services = [r.service for r in catalogue.PURPOSES[PURPOSE].restarts_for(LAB_VERSION)]
    assert [(e.node, dict(e.data)["service"]) for e in restarted] == [(n, s) for n in cucm for s in services]

    # the phones drop on the change and come back (the lab's events, the phone gate's steps)
    assert cm_lab.state.events(since, kind="phones_auto_reset") and cm_lab.state.events(since, kind="devices_reset")
    wait = next(s for s in record["steps"] if s["name"] == "phones-wait")
    assert wait["outcome"] == "done" and "8 phones re-registered" in wait["detail"]
    summary = cm_lab.state.phone_summary()
    assert summary["registered"] == summary["total"] == 8 and summary["itl_mismatch"] == 0

    # the evidence says multi-server, the TVS caution and the ITL reminder
    csr = next(s for s in record["steps"] if s["name"] == "csr")
    assert "multi-server: every node's FQDN in the SAN" in csr["detail"]
    assert any("ITL" in r for r in record["reminders"])
    text = (folder / f"{PURPOSE}.ipynb").read_text()
    assert "distribution: multi-server" in text and f"{PURPOSE} (multi-server) on" in text
    assert "Never regenerate CallManager and TVS at the same time" in text
    assert "utils ctl update CTLFile" in text


def test_a_ca_return_without_one_nodes_fqdn_is_refused_before_any_upload(cm_lab: LabCluster, tmp_path: Path) -> None:
    dropped = "cucm-sub2.lab.example"
    before = _own(cm_lab)
    since = time.time()
    cm_lab.state.knobs.set("ca_drop_san", "cucm-sub2")         # the lab CA leaves cucm-sub2 out of the SAN
    try:
        folder, run = _run(cm_lab, tmp_path / "refused")
    finally:
        cm_lab.state.knobs.set("ca_drop_san", "")
    assert run.returncode == 1, run.stdout + run.stderr[-3000:]
    assert f"dropped by the CA: DNS:{dropped}" in run.stdout and "san_missing" in run.stdout
    assert main(["evidence", "verify", str(folder)]) == 0
    record = json.loads((folder / "result.json").read_text())
    assert record["status"] == "failed" and dropped in record["message"] and "san_missing" in record["message"]
    collect = next(s for s in record["steps"] if s["name"] == "ca-collect")
    assert collect["outcome"] == "failed" and dropped in collect["detail"]
    assert [s["name"] for s in record["steps"]] == ["csr", "ca-submit", "ca-collect"]      # nothing after it
    assert not cm_lab.state.events(since, kind=("identity_uploaded", "trust_uploaded", "restart_requested"))
    assert _own(cm_lab) == before

    # the remedy: a certificate with exactly the CSR's SANs (the CA fixed; the same run resumed with a new CSR)
    refused = tmp_path / "refused"
    run = cucmkit_run([PURPOSE, "-f", str(refused / "parameters" / "lab.yaml"), "--ticket", "CHG-100", "--ca", "lab",
                       "--approve", *CONFIRM, "--force-csr", "--state-dir", str(refused / "state"), "--timeout", "120",
                       "--evidence-root", str(tmp_path / "evidence")], env=child_env(cm_lab))
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert main(["evidence", "verify", str(evidence_folders(tmp_path / "evidence")[0])]) == 0
    leaf = pki.load_cert(_own(cm_lab)[cm_lab.state.publisher.fqdn])
    assert f"DNS:{dropped}" in set(pki.san_strings(leaf))


@pytest.mark.parametrize("drop", ["cucm-sub2", "CUCM-SUB2.lab.example"])
def test_the_ca_drop_san_knob_leaves_one_name_out_of_what_the_ad_cs_book_issues(tmp_path: Path, drop: str) -> None:
    from cucmkit.lab.starting import ensure_cas
    from cucmkit.lab.store import Knobs

    knobs = Knobs()
    old, current = ensure_cas(tmp_path)
    ca = pki.LabCA(pair=current, old=old, directory=tmp_path / "ca", knobs=knobs)
    names = ("DNS:cucm-pub.lab.example", "DNS:cucm-sub1.lab.example", "DNS:cucm-sub2.lab.example")
    csr = pki.make_csr(key=pki.new_key("rsa", 2048), cn="cucm-pub-ms.lab.example", sans=names)

    def issued() -> set[str]:
        leaf = ca.submit(csr, "CUCM-CallManager").leaf_pem
        assert leaf is not None
        return set(pki.san_strings(pki.load_cert(leaf)))

    assert issued() == set(names)
    knobs.set("ca_drop_san", drop)
    assert issued() == set(names) - {"DNS:cucm-sub2.lab.example"}
    knobs.set("ca_drop_san", "cucm-sub")            # a prefix of a host is no host: nothing dropped
    assert issued() == set(names)
