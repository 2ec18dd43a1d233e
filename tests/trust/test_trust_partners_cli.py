"""``cucmkit trust export|partners|rotate`` as a user runs them, against the lab after a CA rollover."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cucmkit.errors import ParameterError
from cucmkit.lab import LabCluster
from cucmkit.lab.control import apply_action
from cucmkit.lab.partner import LabPartner
from cucmkit.params import load_parameters

CHANGES = ("trust_uploaded", "trust_deleted", "identity_uploaded", "csr_generated")


def _cucmkit(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cucmkit", *args], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "CUCMKIT_ROOT": str(root)}, cwd=root)


def test_export_partners_and_rotation_plan(trust_lab: LabCluster, trust_params: Path, tmp_path: Path) -> None:
    old_root = trust_lab.ca.root_pem
    apply_action(trust_lab.state, "ca_rollover", {"label": "Lab G2"}, ca=trust_lab.ca, running=True)
    chain = tmp_path / "new-ca.pem"
    chain.write_text("".join(trust_lab.ca.chain()))
    with LabPartner("vcs-c", trusted=[old_root]) as partner:
        data = yaml.safe_load(trust_params.read_text())
        data["partners"] = [{"name": "vcs-c", "kind": "expressway-c", "address": "127.0.0.1", "port": partner.port},
                            {"name": "cube1", "kind": "cube", "required": False}]
        params = tmp_path / "lab.yaml"
        params.write_text(yaml.safe_dump(data))
        refused = _cucmkit(tmp_path, "trust", "partners", "-f", str(params))
        assert refused.returncode == 4, refused.stderr
        assert "vcs-c: does NOT trust the new chain" in refused.stdout and "cube1: NOT CHECKED" in refused.stdout
        partner.trust(trust_lab.ca.root_pem)
        accepted = _cucmkit(tmp_path, "trust", "partners", "-f", str(params))
        assert accepted.returncode == 0 and "vcs-c: TRUSTS the new chain" in accepted.stdout

    exported = _cucmkit(tmp_path, "trust", "export", "-f", str(params), "--chain", str(chain))
    assert exported.returncode == 0, exported.stderr
    folder = tmp_path / "partner-chain" / "lab"
    names = sorted(p.name for p in (folder / "vcs-c").iterdir())
    assert names == ["vcs-c-trusted-ca-list-1-root-Lab_G2_Root_CA.pem",
                     "vcs-c-trusted-ca-list-2-issuing-Lab_G2_Issuing_CA.pem", "vcs-c-trusted-ca-list-bundle.pem"]
    assert "Append CA certificate" in exported.stdout and "crypto pki authenticate" in exported.stdout
    assert (folder / "cube1" / "cube1-trustpoint-bundle.pem").read_text().count("BEGIN CERTIFICATE") == 2

    before = len(trust_lab.state.events(kind=CHANGES))
    plan = _cucmkit(tmp_path, "trust", "rotate", "-f", str(params), "--chain", str(chain), "--ticket", "CHG9")
    assert plan.returncode == 3, plan.stderr
    assert "renew tomcat on" in plan.stdout and "retire Lab Old Root CA" in plan.stdout
    assert len(trust_lab.state.events(kind=CHANGES)) == before


def test_bad_partner_section_names_the_key(trust_params: Path, tmp_path: Path) -> None:
    data = yaml.safe_load(trust_params.read_text())
    data["partners"] = [{"name": "x", "kind": "pbx"}]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ParameterError, match=r"partners\[0\]\.kind"):
        load_parameters(path, check_secrets=False)
    data["partners"] = []
    data["trust"] = {"keep": ["not-a-fingerprint"]}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ParameterError, match=r"trust\.keep"):
        load_parameters(path, check_secrets=False)
