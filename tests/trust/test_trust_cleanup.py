"""Clean-up on the lab: shown first, refused without approval or when in use, deleted cluster-wide with evidence."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cucmkit.certs.records import record_from_pem
from cucmkit.cucm import Cluster
from cucmkit.errors import InterlockError
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
    capf_orphan = partner_ca("Old CAPF Partner CA", slot=953)
    for node in ("cucm-pub", "cucm-sub1"):             # CAPF-trust is node-local: two copies, two deletes
        trust_lab.state.node(node).upload_trust("CAPF-trust", capf_orphan)
    since = len(_deleted(trust_lab))
    result = _cucmkit(tmp_path, "trust", "clean", "-f", str(trust_params), "--approve", "--ticket", "CHG1")
    assert result.returncode == 0, result.stdout + result.stderr
    for node in trust_lab.state.nodes.values():
        names = {f for store in node.trust_stores().values() for f in store}
        assert "Expired_Partner_CA.pem" not in names and "Old_CAPF_Partner_CA.pem" not in names
    events = _deleted(trust_lab)[since:]
    expired_events = [e for e in events if e["filename"] == "Expired_Partner_CA.pem"]
    assert sum(1 for e in expired_events if e["door"] != "propagated") == 1      # one delete, CUCM propagates
    assert len(expired_events) == len(trust_lab.endpoints())
    assert sum(1 for e in events if e["filename"] == "Old_CAPF_Partner_CA.pem" and e["door"] != "propagated") == 2
    [evidence] = (tmp_path / "evidence" / "lab" / "CHG1").glob("*-trust-cleanup.json")
    body = json.loads(evidence.read_text())
    assert body["ok"] and {d["fingerprint"] for d in body["deletions"]} == {
        record_from_pem(capf_orphan).fingerprint_sha256,
        next(d["fingerprint"] for d in body["deletions"] if d["common_name"] == EXPIRED_CN)}
    assert all(d["outcome"] == "deleted" and not d["still_on"] for d in body["deletions"])
    assert scan_dir(evidence.parent, known_secrets([trust_params])) == []
    again = _cucmkit(tmp_path, "trust", "clean", "-f", str(trust_params))
    assert again.returncode == 0 and "nothing stale to delete" in again.stdout
