"""`cucmkit check`: exit codes 0 / 1 / 2, text and JSON output, the plan written as single PEMs."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from cucmkit.catalogue import MESSAGES
from cucmkit.certs import command

from .factory import FQDN, NOW, csr_pem, der, good, p7b_der, pem

NOW_ARG = NOW.isoformat()


def cucmkit_check(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cucmkit")
    command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["check", *argv])
    return args.func(args)


@pytest.fixture()
def files(tmp_path):
    bundle = good("tomcat")
    (tmp_path / "certnew.cer").write_bytes(der(bundle.leaf))
    (tmp_path / "certnew.p7b").write_bytes(p7b_der(*bundle.certs()))
    (tmp_path / "tomcat.csr").write_bytes(csr_pem(bundle.csr))
    store = tmp_path / "tomcat-trust"
    store.mkdir()
    (store / "Lab_Root_CA.pem").write_bytes(pem(bundle.root))
    return tmp_path, bundle


def test_uploadable_exits_0_and_writes_the_plan(files, capsys):
    path, _ = files
    code = cucmkit_check(["--purpose", "tomcat", "--csr", str(path / "tomcat.csr"), "--trust-store", str(path / "tomcat-trust"),
                          "--now", NOW_ARG, "--write-plan", str(path / "plan"), str(path / "certnew.p7b")])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("purpose tomcat: UPLOADABLE (0 failed, 0 warnings, ")
    assert sorted(p.name for p in (path / "plan").iterdir()) == [
        "01-tomcat-trust-root.pem", "02-tomcat-trust-intermediate.pem", "03-tomcat-leaf.pem"]
    assert (path / "plan" / "03-tomcat-leaf.pem").read_text().count("BEGIN CERTIFICATE") == 1


def test_not_uploadable_exits_1_with_cucm_wording(files, capsys):
    path, _ = files
    code = cucmkit_check(["--purpose", "tomcat", "--csr", str(path / "tomcat.csr"), "--now", NOW_ARG, str(path / "certnew.cer")])
    out = capsys.readouterr().out
    assert code == 1
    assert f"CUCM would say: {MESSAGES.ca_not_in_trust}" in out
    assert "No upload plan: fix the failed checks first." in out


def test_json_output(files, capsys):
    path, _ = files
    code = cucmkit_check(["--purpose", "TOMCAT", "--json", "--now", NOW_ARG, str(path / "certnew.p7b")])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["ok"] is True and data["purpose"] == "tomcat"
    assert [s["kind"] for s in data["upload_plan"]] == ["root", "intermediate", "leaf"]


def test_unusable_input_exits_2_with_a_clean_message(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("please find attached")
    code = cucmkit_check(["--purpose", "tomcat", str(tmp_path / "notes.txt")])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err == f"cucmkit check: {tmp_path / 'notes.txt'}: is not a certificate (expected PEM, DER, PKCS#7 or ZIP)\n"


def test_bad_csr_file_exits_2(files, capsys):
    path, _ = files
    code = cucmkit_check(["--purpose", "tomcat", "--csr", str(path / "certnew.p7b"), str(path / "certnew.cer")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"cucmkit check: {path / 'certnew.p7b'}: is not a valid certificate request (")


def test_unknown_purpose_is_a_usage_error(files, capsys):
    path, _ = files
    with pytest.raises(SystemExit) as exit_:
        cucmkit_check(["--purpose", "web", str(path / "certnew.cer")])
    assert exit_.value.code == 2
    assert "unknown certificate purpose 'web'" in capsys.readouterr().err


def test_the_real_command_line(files):
    path, _ = files
    result = subprocess.run(
        [sys.executable, "-m", "cucmkit", "check", "--purpose", "tomcat", "--now", NOW_ARG, "--csr", str(path / "tomcat.csr"),
         str(path / "certnew.cer"), str(path / "certnew.p7b")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"leaf         CN={FQDN},O=Lab,C=JP" in result.stdout
