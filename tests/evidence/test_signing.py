"""The signed manifest: tampering of every kind is reported by ``evidence verify``; openssl verifies the untouched
signature; a folder without a key says "unsigned"; the settings refuse a key written into the parameter file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cucmkit.cli import main
from cucmkit.errors import ParameterError
from cucmkit.evidence import write_manifest
from cucmkit.evidence.signing import SIGNATURE, EvidenceParams, evidence_section, load_signer, sign_manifest
from cucmkit.lab.signing import SigningPair, write_signing_pair


def _settings(base: Path, **section: object) -> EvidenceParams:
    """The evidence section of a parameter file holding ``section`` (paths as given, key as a file reference)."""
    body = {k: ({"file": str(v)} if k == "key" else str(v)) for k, v in section.items()}
    path = base / "params-evidence.yaml"
    lines = [f"  signing_{k}: {{file: '{v['file']}'}}" if isinstance(v, dict) else f"  signing_{k}: '{v}'"
             for k, v in body.items()]
    path.write_text("cluster: c1\nevidence:\n" + "\n".join(lines) + "\n")
    return evidence_section(path)


@pytest.fixture
def pair(tmp_path: Path) -> SigningPair:
    return write_signing_pair(tmp_path / "keys")


def _filed(base: Path, pair: SigningPair, name: str = "20261127T220000Z-tomcat") -> Path:
    folder = base / "evidence" / "c1" / "CHG1" / name
    folder.mkdir(parents=True)
    (folder / "tomcat.html").write_text("<html>DONE</html>")
    (folder / "result.json").write_text(json.dumps({"status": "done", "parameters_files": [], "name": name}))
    write_manifest(folder, signed=True)
    signer = load_signer(_settings(base, key=pair.key, cert=pair.cert))
    assert signer is not None
    sign_manifest(folder, signer)
    return folder


def _verify(folder: Path, pair: SigningPair, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["evidence", "verify", str(folder), "--ca", str(pair.ca)])
    return code, capsys.readouterr().out


def _openssl(folder: Path, ca: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", "cms", "-verify", "-binary", "-content", "manifest.json", "-in", SIGNATURE,
                           "-inform", "PEM", "-CAfile", str(ca), "-out", "/dev/null"],
                          cwd=folder, capture_output=True, text=True)


def test_untouched_folder_verifies_here_and_with_openssl(tmp_path: Path, pair: SigningPair,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    folder = _filed(tmp_path, pair)
    code, out = _verify(folder, pair, capsys)
    assert code == 0 and out.startswith(f"OK {folder}")
    assert "signature: OK, manifest.json signed by CN=lab change team evidence signing" in out
    assert "signer issued by the team CA CN=lab change team CA" in out
    assert _openssl(folder, pair.ca).returncode == 0


def test_edited_file_is_reported(tmp_path: Path, pair: SigningPair, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _filed(tmp_path, pair)
    (folder / "tomcat.html").write_text("<html>DONE, honest</html>")
    code, out = _verify(folder, pair, capsys)
    assert code == 1 and "tampered: tomcat.html: modified" in out


def test_edited_file_and_its_manifest_line_break_the_signature(tmp_path: Path, pair: SigningPair,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    folder = _filed(tmp_path, pair)
    (folder / "tomcat.html").write_text("<html>DONE, rewritten</html>")
    body = json.loads((folder / "manifest.json").read_text())
    import hashlib

    body["files"]["tomcat.html"] = hashlib.sha256((folder / "tomcat.html").read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
    code, out = _verify(folder, pair, capsys)
    assert code == 1 and "tampered:" not in out
    assert "signature: manifest.json is not the manifest that was signed" in out
    assert _openssl(folder, pair.ca).returncode != 0


def test_deleted_and_added_files_are_reported(tmp_path: Path, pair: SigningPair,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    folder = _filed(tmp_path, pair)
    (folder / "tomcat.html").unlink()
    (folder / "note.txt").write_text("added later")
    code, out = _verify(folder, pair, capsys)
    assert code == 1 and "tampered: tomcat.html: missing" in out and "tampered: note.txt: unlisted" in out


def test_swapped_signature_is_reported(tmp_path: Path, pair: SigningPair, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _filed(tmp_path, pair)
    other = _filed(tmp_path, pair, "20261127T230000Z-tomcat")
    (folder / SIGNATURE).write_bytes((other / SIGNATURE).read_bytes())
    code, out = _verify(folder, pair, capsys)
    assert code == 1 and "signature: manifest.json is not the manifest that was signed" in out
    assert _openssl(folder, pair.ca).returncode != 0


def test_signature_by_a_stranger_is_reported(tmp_path: Path, pair: SigningPair,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    folder = _filed(tmp_path, write_signing_pair(tmp_path / "stranger", team="someone else"))
    code, out = _verify(folder, pair, capsys)
    assert code == 1 and "which CN=lab change team CA,O=cucmkit lab did not issue" in out
    assert _openssl(folder, pair.ca).returncode != 0


def test_deleted_signature_is_reported(tmp_path: Path, pair: SigningPair, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _filed(tmp_path, pair)
    (folder / SIGNATURE).unlink()
    code, out = _verify(folder, pair, capsys)
    assert code == 1 and "manifest.json.p7s missing, but manifest.json says the folder was signed" in out


def test_garbage_signature_is_reported(tmp_path: Path, pair: SigningPair, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _filed(tmp_path, pair)
    (folder / SIGNATURE).write_text("-----BEGIN PKCS7-----\nAAAA\n-----END PKCS7-----\n")
    code, out = _verify(folder, pair, capsys)
    assert code == 1 and "is not a CMS signature" in out


def test_unsigned_folder_says_so_plainly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "result.json").write_text(json.dumps({"status": "done", "parameters_files": []}))
    write_manifest(folder)
    assert main(["evidence", "verify", str(folder)]) == 0
    assert "signature: unsigned (no signing key in the parameter file)" in capsys.readouterr().out


def test_settings_refuse_a_key_value_and_half_a_pair(tmp_path: Path, pair: SigningPair) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("cluster: c1\nevidence: {signing_key: 'MIIEvQIBADANBgkq', signing_cert: c.pem}\n")
    with pytest.raises(ParameterError, match="evidence.signing_key: a plain password is not allowed"):
        evidence_section(path)
    with pytest.raises(ParameterError, match="evidence.signing_key: needs both signing_key and signing_cert"):
        _settings(tmp_path, cert=pair.cert)
    path.write_text("cluster: c1\n")
    assert not evidence_section(path).signs


def test_relative_paths_resolve_against_the_project(tmp_path: Path, pair: SigningPair,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUCMKIT_ROOT", str(tmp_path))
    settings = _settings(tmp_path, key="keys/signing-key.pem", cert="keys/signing-cert.pem", ca="keys/team-ca.pem")
    assert settings.signing_ca == pair.ca and settings.signing_cert == pair.cert
    assert load_signer(settings) is not None


def test_certificate_of_another_key_is_refused(tmp_path: Path, pair: SigningPair) -> None:
    other = write_signing_pair(tmp_path / "other")
    with pytest.raises(ParameterError, match="does not belong"):
        load_signer(_settings(tmp_path, key=pair.key, cert=other.cert))
    assert "PRIVATE" not in repr(load_signer(_settings(tmp_path, key=pair.key, cert=pair.cert)))
