"""The manual CA as the engineer lives it, on the lab under `cucmkit run`.

Findings: WAITING named only the first node's inbox and never the outbox; with bad files for two nodes only the
first node's problems were printed; a missing intermediate got "re-issue from the pending CSR"; an old and a
corrected file: the old one was judged, unnamed; old CSRs stayed in the outbox; `cucmkit lab ca` could not sign.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from cucmkit.cli import main
from cucmkit.lab import LabCluster
from cucmkit.runner import EXIT_FAILED, EXIT_WAITING
from tests.notebooks.conftest import manual_ca_params, run_manual_ca

pytestmark = pytest.mark.notebook


def _run(lab: LabCluster, tmp_path: Path, params: Path) -> subprocess.CompletedProcess[str]:
    return run_manual_ca(lab, tmp_path, params, "CHG-600", "--nodes", "cucm-pub", "cucm-sub1", "cucm-sub2")


def _sign(lab: LabCluster, csr: Path, out: Path, *extra: str) -> None:
    assert main(["lab", "ca", "sign", str(csr), "--out", str(out), "--state-dir", str(lab.state_dir), *extra]) == 0


def test_manual_ca_every_node_at_once_newest_file_wins_and_archives(manual_lab: LabCluster, tmp_path: Path) -> None:
    params, exchange = manual_ca_params(manual_lab, tmp_path)
    first = _run(manual_lab, tmp_path, params)
    assert first.returncode == EXIT_WAITING, first.stdout + first.stderr
    csrs = sorted((exchange / "outbox").glob("*.csr"))
    assert len(csrs) >= 3
    for csr in csrs:                                     # every node's CSR path and inbox path is printed
        assert str(csr) in first.stdout and str(exchange / "inbox" / csr.stem) in first.stdout, first.stdout

    # two nodes get bad files: a leaf without its chain, and an expired leaf
    chainless, no_de = csrs[0], csrs[1]
    _sign(manual_lab, chainless, exchange / "inbox" / chainless.stem / "cert.pem", "--no-chain")
    leaf, chain = manual_lab.ca.issue(no_de.read_text(), "tomcat", expired=True)
    (exchange / "inbox" / no_de.stem / "old.pem").write_text(leaf + "".join(chain))
    for csr in csrs[2:]:
        assert main(["lab", "ca", "sign", str(csr), "--inbox", str(exchange / "inbox"), "--state-dir",
                     str(manual_lab.state_dir)]) == 0
    second = _run(manual_lab, tmp_path, params)
    assert second.returncode == EXIT_FAILED, second.stdout + second.stderr
    out = second.stdout
    assert chainless.stem.split("-tomcat")[0] in out and no_de.stem.split("-tomcat")[0] in out, out
    assert "add the CA's chain file (intermediate and root) to" in out and "re-issue from the pending CSR" not in out
    assert "expired" in out and "(judged from old.pem)" in out

    # fixes: the chain file added; a corrected, newer file beside the old one
    (exchange / "inbox" / chainless.stem / "chain.pem").write_text("".join(manual_lab.ca.chain()))
    time.sleep(0.05)
    _sign(manual_lab, no_de, exchange / "inbox" / no_de.stem / "new.pem")
    os.utime(exchange / "inbox" / no_de.stem / "new.pem")
    third = _run(manual_lab, tmp_path, params)
    assert third.returncode == 0, third.stdout + third.stderr
    assert not list((exchange / "outbox").glob("*.csr"))                  # CSRs leave the outbox once used
    archived = {p.name for p in (exchange / "archive").rglob("*") if p.is_file()}
    assert {"old.pem", "new.pem", "cert.pem", "chain.pem"} <= archived and {c.name for c in csrs} <= archived
    assert not [p for p in (exchange / "inbox").rglob("*") if p.is_file()]
    done = max((p for p in (tmp_path / "evidence").glob("*/*/*") if p.is_dir()), key=lambda p: p.name)
    details = [s["detail"] for s in json.loads((done / "result.json").read_text())["steps"] if s["name"] == "ca-collect"]
    assert any("from new.pem (newest wins; superseded: old.pem)" in d for d in details), details
