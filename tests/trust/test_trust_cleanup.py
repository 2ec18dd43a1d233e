"""Clean-up on the lab: shown first, refused without approval or when in use, deleted cluster-wide with evidence."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cucmkit.certs.records import CertRecord, record_from_pem
from cucmkit.cucm import Cluster
from cucmkit.errors import CucmError, InterlockError
from cucmkit.evidence import known_secrets, scan_dir
from cucmkit.lab import LabCluster
from cucmkit.lab.starting import EXPIRED_CN, OLD_LABEL
from cucmkit.params import load_parameters
from cucmkit.trust.cleanup import plan_cleanup, read_inventory, run_cleanup
from cucmkit.trust.command import NOT_APPROVED

from .conftest import partner_ca


def _cucmkit(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cucmkit", *args], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "CUCMKIT_ROOT": str(root)}, cwd=root)


def _deleted(lab: LabCluster) -> list[dict[str, object]]:
    return [e.to_dict() for e in lab.state.events(kind="trust_deleted")]


def test_without_approval_nothing_changes(trust_lab: LabCluster, trust_params: Path, tmp_path: Path) -> None:
    before = len(_deleted(trust_lab))
    result = _cucmkit(tmp_path, "trust", "clean", "-f", str(trust_params))
    assert result.returncode == NOT_APPROVED, result.stderr
    assert f"DELETE {EXPIRED_CN} (expired, orphaned)" in result.stdout and "--approve" in result.stderr
    assert len(_deleted(trust_lab)) == before
    with Cluster.from_parameters(load_parameters(trust_params)) as cluster:
        plan = plan_cleanup(read_inventory(cluster, keep=(), now=dt.datetime.now(dt.UTC)))
        with pytest.raises(InterlockError, match="not approved"):
            run_cleanup(cluster, plan, approved=False, keep=())
    assert len(_deleted(trust_lab)) == before


def test_in_use_ca_is_refused_even_when_asked(trust_lab: LabCluster, trust_params: Path, tmp_path: Path) -> None:
    root_pem = next(p for f, p in trust_lab.state.node("cucm-pub").trust("tomcat-trust").items() if "Old_Root" in f)
    fingerprint = record_from_pem(root_pem).fingerprint_sha256
    before = len(_deleted(trust_lab))
    result = _cucmkit(tmp_path, "trust", "clean", "-f", str(trust_params), "--only", fingerprint, "--approve")
    assert result.returncode == 1
    assert f"REFUSED {OLD_LABEL} Root CA" in result.stdout and "still chain to it" in result.stdout
    assert len(_deleted(trust_lab)) == before


def test_approved_deletes_cluster_wide_with_evidence(trust_lab: LabCluster, trust_params: Path,
                                                      tmp_path: Path) -> None:
    orphan = partner_ca("Old Phone Partner CA", slot=953)
    for node in ("cucm-pub", "cucm-sub1"):
        trust_lab.state.node(node).upload_trust("CallManager-trust", orphan)
    since = len(_deleted(trust_lab))
    result = _cucmkit(tmp_path, "trust", "clean", "-f", str(trust_params), "--approve", "--ticket", "CHG1")
    assert result.returncode == 0, result.stdout + result.stderr
    for node in trust_lab.state.nodes.values():
        names = {f for store in node.trust_stores().values() for f in store}
        assert "Expired_Partner_CA.pem" not in names and "Old_Phone_Partner_CA.pem" not in names
    events = _deleted(trust_lab)[since:]
    # one delete request per store: the lab (as CUCM 11.0+) removes the certificate from every node that holds it
    assert len([e for e in events if e["filename"] == "Expired_Partner_CA.pem"]) == len(trust_lab.endpoints())
    assert len([e for e in events if e["filename"] == "Old_Phone_Partner_CA.pem"]) == 2
    [evidence] = (tmp_path / "evidence" / "lab" / "CHG1").glob("*-trust-cleanup.json")
    body = json.loads(evidence.read_text())
    assert body["ok"] and {d["fingerprint"] for d in body["deletions"]} == {
        record_from_pem(orphan).fingerprint_sha256,
        next(d["fingerprint"] for d in body["deletions"] if d["common_name"] == EXPIRED_CN)}
    assert all(d["outcome"] == "deleted" and not d["still_on"] for d in body["deletions"])
    assert scan_dir(evidence.parent, known_secrets([trust_params])) == []
    again = _cucmkit(tmp_path, "trust", "clean", "-f", str(trust_params))
    assert again.returncode == 0 and "nothing stale to delete" in again.stdout


class _FakeNode:
    """A node whose deletes stay local (CAPF-trust, or a node that did not follow the propagation)."""

    def __init__(self, name: str, records: list[CertRecord], *, refuse: bool = False) -> None:
        self.name = name
        self.records = records
        self.refuse = refuse
        self.deleted: list[tuple[str, str]] = []

    def trust_certificates(self, store: str | None = None) -> list[CertRecord]:
        return [r for r in self.records if r.store != "own" and (store is None or r.store == store)]

    def delete_trust(self, store: str, filename: str) -> None:
        if self.refuse:
            raise CucmError("Certificate is in use", node=self.name, interface="certmgr", operation="delete trust")
        self.deleted.append((store, filename))
        self.records = [r for r in self.records if not (r.store == store and r.filename == filename)]


class _FakeCluster:
    name = "fake"

    def __init__(self, nodes: list[_FakeNode]) -> None:
        self.nodes = nodes

    def inventory(self) -> list[CertRecord]:
        return [r for n in self.nodes for r in n.records]


def _orphan_on(names: tuple[str, ...]) -> list[_FakeNode]:
    pem = partner_ca("Local CA", slot=954)
    return [_FakeNode(n, [record_from_pem(pem, node=n, store="CAPF-trust", filename="Local_CA.pem")]) for n in names]


def test_node_local_copies_deleted_node_by_node_and_a_refusal_reported() -> None:
    now = dt.datetime.now(dt.UTC)
    cluster = _FakeCluster(_orphan_on(("a", "b")))
    plan = plan_cleanup(read_inventory(cluster, keep=(), now=now))
    report = run_cleanup(cluster, plan, approved=True, keep=())
    assert report.ok and [n.deleted for n in cluster.nodes] == [[("CAPF-trust", "Local_CA.pem")]] * 2
    stubborn = _FakeCluster(_orphan_on(("a", "b")))
    stubborn.nodes[1].refuse = True
    report = run_cleanup(stubborn, plan_cleanup(read_inventory(stubborn, keep=(), now=now)), approved=True, keep=())
    [deletion] = report.deletions
    assert not report.ok and deletion.outcome == "failed" and deletion.still_on == ("b",)
    assert "in use" in deletion.detail
