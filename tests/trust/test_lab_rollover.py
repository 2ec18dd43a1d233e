"""The lab CA rolls over: new root and issuing CA, issuing CA only, same CN, cross-signed; the CLI drives it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cucmkit.certs.chain import issued_by
from cucmkit.lab import pki
from cucmkit.lab.starting import ensure_cas


def _cert(pem: str):
    return pki.load_cert(pem)


def test_new_root_and_cross_sign() -> None:
    old = pki.make_ca("Roll A", slot=60)
    new = pki.roll_ca(old, label="Roll B", cross_sign=True, slot=64)
    root, inter, cross = _cert(new.root_pem), _cert(new.inter_pem), _cert(new.cross_pem)
    assert pki.common_name(root) == "Roll B Root CA" and issued_by(inter, root) and issued_by(root, root)
    assert issued_by(cross, _cert(old.root_pem)) and cross.subject == root.subject
    assert cross.public_key().public_numbers() == root.public_key().public_numbers()   # type: ignore[union-attr]
    assert issued_by(inter, cross)                     # the new issuing CA chains to the old root through it


def test_issuing_only_and_same_cn() -> None:
    old = pki.make_ca("Roll C", slot=68)
    issuing_only = pki.roll_ca(old, label="Roll C2", new_root=False, slot=72)
    assert issuing_only.root_pem == old.root_pem and issuing_only.inter_pem != old.inter_pem
    assert issued_by(_cert(issuing_only.inter_pem), _cert(old.root_pem))
    same = pki.roll_ca(old, label="Roll C", same_cn=True, slot=76)
    assert _cert(same.root_pem).subject == _cert(old.root_pem).subject
    assert pki.fingerprint(same.root_pem) != pki.fingerprint(old.root_pem)
    assert _cert(same.inter_pem).subject == _cert(old.inter_pem).subject and not same.cross_pem


def test_cli_rollover_on_a_stopped_lab_keeps_every_root(tmp_path: Path) -> None:
    state = tmp_path / "state"
    start = subprocess.run([sys.executable, "-m", "cucmkit", "lab", "start", "--state-dir", str(state), "--ports",
                            "ephemeral", "--detach", "--speed", "0.02"], capture_output=True, text=True, timeout=120,
                           env={**os.environ})
    assert start.returncode == 0, start.stderr
    try:
        before = (state / "ca-bundle.pem").read_text()
        roll = subprocess.run([sys.executable, "-m", "cucmkit", "lab", "ca", "rollover", "--state-dir", str(state),
                               "--label", "Lab G2", "--cross-sign"], capture_output=True, text=True, timeout=60,
                              env={**os.environ})
        assert roll.returncode == 0, roll.stderr
        assert "Lab G2" in roll.stdout and '"cross_signed": true' in roll.stdout
    finally:
        subprocess.run([sys.executable, "-m", "cucmkit", "lab", "stop", "--state-dir", str(state)],
                       capture_output=True, timeout=60, env={**os.environ})
    bundle = (state / "ca-bundle.pem").read_text()
    assert all(block in bundle for block in before.split("-----END CERTIFICATE-----") if block.strip())
    assert bundle.count("BEGIN CERTIFICATE") == before.count("BEGIN CERTIFICATE") + 1
    _old, current = ensure_cas(state)                  # a restart loads the rolled-over CA
    assert pki.common_name(_cert(current.root_pem)) == "Lab G2 Root CA" and current.cross_pem
    assert (state / "ca" / "retired-1" / "root.pem").exists()
