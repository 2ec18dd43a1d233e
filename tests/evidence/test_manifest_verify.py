"""Manifest hashes and ``cucmkit evidence verify``: tamper, missing, unlisted, planted secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cucmkit.cli import main
from cucmkit.evidence import verify, write_manifest
from cucmkit.evidence.manifest import verify_manifest


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    run = tmp_path / "evidence" / "c1" / "CHG1" / "20261126T200000Z-tomcat"
    run.mkdir(parents=True)
    (run / "tomcat.ipynb").write_text('{"cells": []}')
    (run / "tomcat.html").write_text("<html>ok</html>")
    (run / "result.json").write_text(json.dumps({"status": "done", "parameters_files": []}))
    write_manifest(run)
    return run


def test_intact_folder_verifies(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert verify_manifest(folder) == []
    assert main(["evidence", "verify", str(folder)]) == 0
    assert capsys.readouterr().out.startswith(f"OK {folder}")


def test_manifest_lists_every_file_with_sha256(folder: Path) -> None:
    body = json.loads((folder / "manifest.json").read_text())
    assert sorted(body["files"]) == ["result.json", "tomcat.html", "tomcat.ipynb"]
    assert all(len(h) == 64 for h in body["files"].values())


def test_tampered_file_fails(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "result.json").write_text(json.dumps({"status": "failed"}))
    assert [str(p) for p in verify_manifest(folder)] == ["result.json: modified"]
    assert main(["evidence", "verify", str(folder)]) == 1
    assert "tampered: result.json: modified" in capsys.readouterr().out


def test_missing_and_unlisted_files_fail(folder: Path) -> None:
    (folder / "tomcat.html").unlink()
    (folder / "extra.txt").write_text("added later")
    assert sorted(str(p) for p in verify_manifest(folder)) == ["extra.txt: unlisted", "tomcat.html: missing"]


def test_no_manifest_fails(folder: Path) -> None:
    (folder / "manifest.json").unlink()
    assert not verify(folder).ok


def test_planted_known_secret_fails_even_with_a_fresh_manifest(folder: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CUCMKIT_TEST_PLANTED", "planted-sentinel-7731")
    params = tmp_path / "c1.yaml"
    params.write_text("cluster: c1\ncredentials:\n  os_admin: {username: admin, password: {env: CUCMKIT_TEST_PLANTED}}\n")
    (folder / "tomcat.html").write_text("<html>planted-sentinel-7731</html>")
    write_manifest(folder)  # the tamperer even re-hashed: the scan still catches it
    assert main(["evidence", "verify", str(folder), "-f", str(params)]) == 1
    out = capsys.readouterr().out
    assert "secret: tomcat.html: known secret" in out
    assert "planted-sentinel-7731" not in out


def test_parameter_files_named_in_the_record_are_used(folder: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUCMKIT_TEST_PLANTED", "planted-sentinel-7731")
    params = tmp_path / "c1.yaml"
    params.write_text("cluster: c1\ncredentials:\n  os_admin: {username: admin, password: {env: CUCMKIT_TEST_PLANTED}}\n")
    (folder / "result.json").write_text(json.dumps({"status": "done", "parameters_files": [str(params)]}))
    (folder / "tomcat.ipynb").write_text('{"x": "planted-sentinel-7731"}')
    write_manifest(folder)
    report = verify(folder)
    assert [f.path for f in report.secrets] == ["tomcat.ipynb"]


def test_planted_private_key_fails_without_any_parameter_file(folder: Path) -> None:
    (folder / "tomcat.ipynb").write_text('{"text": "-----BEGIN EC PRIVATE KEY-----\\nMHcCAQEE"}')
    write_manifest(folder)
    report = verify(folder)
    assert [f.kind for f in report.secrets] == ["private key"] and not report.ok


# ---- verify says what it looked for, and is never OK when it could not look ----


def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: Path) -> Path:
    """A project with parameters/c1.yaml (referencing an env var) named relatively in result.json."""
    project = tmp_path / "evidence" / ".."          # the folder fixture lives in tmp_path/evidence/...
    (project / "parameters").mkdir(exist_ok=True)
    (project / "parameters" / "c1.yaml").write_text(
        "cluster: c1\ncredentials:\n  os_admin: {username: admin, password: {env: CUCMKIT_TEST_PLANTED}}\n")
    (folder / "result.json").write_text(json.dumps({"status": "done", "parameters_files": ["parameters/c1.yaml"]}))
    (folder / "tomcat.html").write_text("<html>planted&amp;sentinel</html>")
    write_manifest(folder)
    monkeypatch.delenv("CUCMKIT_ROOT", raising=False)
    return project.resolve()


def test_verify_from_another_directory_still_finds_the_projects_parameter_file(
        folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _project(tmp_path, monkeypatch, folder)
    monkeypatch.setenv("CUCMKIT_TEST_PLANTED", "planted&sentinel")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["evidence", "verify", str(folder)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAILED") and "secret: tomcat.html: known secret" in out   # HTML-escaped, still found
    assert "looked for: credentials.os_admin.password (env:CUCMKIT_TEST_PLANTED)" in out
    assert "planted" not in out.replace("CUCMKIT_TEST_PLANTED", "")


def test_an_unset_variable_makes_verify_incomplete_never_ok(folder: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    _project(tmp_path, monkeypatch, folder)
    (folder / "tomcat.html").write_text("<html>ok</html>")
    write_manifest(folder)
    monkeypatch.delenv("CUCMKIT_TEST_PLANTED", raising=False)
    monkeypatch.chdir(tmp_path)
    report = verify(folder)
    assert not report.ok and report.verdict == "INCOMPLETE"
    assert main(["evidence", "verify", str(folder)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"INCOMPLETE {folder}")
    assert "could not look for: credentials.os_admin.password (env:CUCMKIT_TEST_PLANTED)" in out
    monkeypatch.setenv("CUCMKIT_TEST_PLANTED", "planted-sentinel-7731")
    assert verify(folder).ok


def test_a_recorded_parameter_file_that_cannot_be_found_is_named(folder: Path, capsys: pytest.CaptureFixture[str]
                                                                 ) -> None:
    (folder / "result.json").write_text(json.dumps({"status": "done", "parameters_files": ["parameters/gone.yaml"]}))
    write_manifest(folder)
    assert main(["evidence", "verify", str(folder)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("INCOMPLETE") and "parameters/gone.yaml (not found from" in out and "give it with -f" in out


@pytest.mark.parametrize("body", ['{"files": ["tomcat.html"]}', '["files"]', '{"files": {"a": 1}}', "not json"])
def test_a_malformed_manifest_is_a_clean_finding(folder: Path, body: str, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "manifest.json").write_text(body)
    assert main(["evidence", "verify", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "tampered: manifest.json: unreadable manifest" in out and "Traceback" not in out


def test_result_json_that_is_not_an_object_does_not_crash(folder: Path) -> None:
    (folder / "result.json").write_text('["parameters/c1.yaml"]')
    write_manifest(folder)
    assert verify(folder).ok
