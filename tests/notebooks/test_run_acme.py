"""`cucmkit run PURPOSE -f PARAMS --ca acme --approve` on the lab: pebble issues, BIND serves DNS-01.

The parameter file is the lab's, with its ``ca:`` section the ACME back-end's configuration (pebble's
directory, an account key and a TSIG secret referenced as files) and pebble's root added to
``tls.ca_bundle`` (the nodes will serve what pebble signed). Pebble issues like a public ACME CA
(digitalSignature + keyEncipherment only): the validator warns about the recommended Data Encipherment
(and Key Agreement) and the renewal goes on.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from renewal import acme_servers  # tests/ is on sys.path (rootdir-relative packages)
from renewal.acme_servers import Bind, Pebble, acme_section

from cucmkit.certs import validate
from cucmkit.evidence import verify
from cucmkit.lab import LabCluster, pki

from .conftest import assert_nowhere, child_env, cucmkit_run, evidence_folders, make_lab, sentinels, write_params

pytestmark = pytest.mark.notebook
bind, pebble = acme_servers.bind, acme_servers.pebble


@pytest.fixture(scope="module")
def acme_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    """A lab of its own: pebble's certificates on its nodes must not reach the other tests' shared lab."""
    with make_lab(tmp_path_factory.mktemp("acmelab") / "state") as lab:
        yield lab


def acme_params(lab: LabCluster, folder: Path, pebble: Pebble, bind: Bind, **acme: Any) -> Path:
    """The lab's parameter file whose ``ca:`` section points at pebble (DNS-01 through BIND)."""
    path = write_params(lab, folder / "parameters" / "lab.yaml")
    data = yaml.safe_load(path.read_text())
    data["ca"] = acme_section(folder, pebble, bind, **acme)
    data["tls"]["ca_bundle"] = [*data["tls"]["ca_bundle"], str(pebble.root)]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_acme(lab: LabCluster, folder: Path, params: Path, purpose: str, evidence: str,
             timeout: float = 240) -> tuple[Path, subprocess.CompletedProcess[str], dict[str, Any]]:
    root = folder / evidence
    run = cucmkit_run([purpose, "-f", str(params), "--ca", "acme", "--ticket", "CHG-ACME", "--approve",
                       "--evidence-root", str(root), "--state-dir", str(folder / "state"), "--timeout", str(timeout)],
                      env=child_env(lab), timeout=timeout + 120)
    folders = evidence_folders(root)
    assert len(folders) == 1, run.stdout + run.stderr
    secrets = [*sentinels(lab), *(p.read_text().strip() for p in (folder / "secrets").iterdir())]
    assert_nowhere(secrets, folder=root, texts=(run.stdout, run.stderr))
    return folders[0], run, json.loads((folders[0] / "result.json").read_text())


def assert_pebble_issued(lab: LabCluster, purpose: str, record: dict[str, Any], pebble: Pebble) -> set[str]:
    """Every CUCM node serves a certificate pebble's intermediate signed; returns those nodes."""
    intermediate = x509.load_pem_x509_certificate(pebble.management_get("/intermediates/0").encode())
    renewed = {s["node"] for s in record["steps"] if s["name"] == "identity" and s["outcome"] == "done"}
    before = {c["node"]: c["fingerprint_sha256"] for c in record["certs_before"]}
    cucm = {n.fqdn for n in lab.state.nodes.values() if n.fqdn.startswith("cucm-") and purpose in n.own()}
    assert renewed == cucm and renewed <= set(before), (renewed, set(before), cucm)
    for node in renewed:
        issued = pki.load_cert(lab.state.node(node).own()[purpose].pem)
        assert issued.issuer == intermediate.subject
        assert pki.fingerprint(lab.state.node(node).own()[purpose].pem) != before[node]
        ku = issued.extensions.get_extension_for_class(x509.KeyUsage).value
        assert ku.digital_signature and ku.key_encipherment and not ku.data_encipherment   # what pebble issues
        chain = lab.state.node(node).own()[purpose].pem + pebble.management_get("/intermediates/0")
        report = validate(chain + pebble.root.read_text(), purpose=purpose, now=dt.datetime.now(dt.UTC))
        check = next(c for c in report.checks if c.name == "key_usage")
        assert report.ok and check.status == "warn" and "which Cisco's guide recommends" in check.message
    return renewed


def test_tomcat_through_acme_waits_then_a_rerun_completes(acme_lab: LabCluster, tmp_path: Path, pebble: Pebble,
                                                          bind: Bind) -> None:
    # First run: the orders are placed and answered, but the CA may not be waited for (wait_seconds 0).
    params = acme_params(acme_lab, tmp_path, pebble, bind, wait_seconds=0)
    folder, run, record = run_acme(acme_lab, tmp_path, params, "tomcat", "evidence-1")
    assert record["status"] in ("waiting", "done"), run.stdout + run.stderr
    assert verify(folder).ok
    if record["status"] == "waiting":
        assert run.returncode == 3, run.stdout[-3000:] + run.stderr[-3000:]
        params = acme_params(acme_lab, tmp_path, pebble, bind, wait_seconds=30)
        folder, run, record = run_acme(acme_lab, tmp_path, params, "tomcat", "evidence-2")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert record["status"] == "done" and record["approve"] is True
    assert verify(folder).ok
    assert assert_pebble_issued(acme_lab, "tomcat", record, pebble)


def test_callmanager_through_acme_resets_the_phones(acme_lab: LabCluster, tmp_path: Path, pebble: Pebble,
                                                    bind: Bind) -> None:
    params = acme_params(acme_lab, tmp_path, pebble, bind, wait_seconds=60)
    folder, run, record = run_acme(acme_lab, tmp_path, params, "CallManager", "evidence", timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert record["status"] == "done" and verify(folder).ok
    assert assert_pebble_issued(acme_lab, "CallManager", record, pebble)
    names = [s["name"] for s in record["steps"]]
    assert "phones-reset" in names and "phones-wait" in names
