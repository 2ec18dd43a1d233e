"""Issue 12, the certificate part: one test per finding, each failing on the code before the fix."""

from __future__ import annotations

import argparse
import io
import os
import time
import tracemalloc
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from cucmkit.certs import Material, build_chain, load_bytes, load_files, validate
from cucmkit.certs import command as check_command
from cucmkit.certs.budgets import BUDGETS, shorten
from cucmkit.certs.command import run_check
from cucmkit.errors import CertificateError

from . import hostile
from .factory import NOW, Pki, der, good, pem, rsa_key

NOW_ARG = NOW.isoformat()


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cucmkit")
    check_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["check", *argv])
    return int(args.func(args))


def report_of(certs, purpose: str = "tomcat", **kw):
    return validate(Material.of(certs, source="ca.pem"), purpose=purpose, now=NOW, **kw)


def only(report, name: str):
    found = report.by_name(name)
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def bundle():
    return good("tomcat")


@pytest.fixture()
def answer(tmp_path: Path, bundle) -> Path:
    path = tmp_path / "chain.pem"
    path.write_bytes(pem(*bundle.certs()))
    return path


# --- tracebacks --------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["existing-file", "missing-parent", "unwritable"])
def test_write_plan_destination_is_refused_before_any_verdict(tmp_path, answer, capsys, monkeypatch, where):
    target = {"existing-file": tmp_path / "plan.txt", "missing-parent": tmp_path / "no" / "such" / "plan",
              "unwritable": tmp_path / "locked" / "plan"}[where]
    if where == "existing-file":
        target.write_text("keep me")
    if where == "unwritable":
        target.parent.mkdir()
        target.parent.chmod(0o500)
        if os.access(target.parent, os.W_OK):  # root writes anywhere: make the folder read-only in the check's eyes
            real_access = os.access
            monkeypatch.setattr(os, "access",
                                lambda path, mode: False if Path(path) == target.parent else real_access(path, mode))
    try:
        code = cli(["--purpose", "tomcat", "--now", NOW_ARG, "--write-plan", str(target), str(answer)])
    finally:
        if where == "unwritable":
            target.parent.chmod(0o700)
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""   # no UPLOADABLE verdict printed, then contradicted
    assert captured.err.startswith(f"cucmkit check: --write-plan {target}: ") and "Traceback" not in captured.err
    assert "Remedy: Name a folder you can write to" in captured.err
    if where == "existing-file":
        assert target.read_text() == "keep me"


def test_a_plan_that_cannot_be_written_after_the_verdict_exits_1(tmp_path, answer, capsys, monkeypatch):
    def full_disk(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full_disk)
    code = cli(["--purpose", "tomcat", "--now", NOW_ARG, "--write-plan", str(tmp_path / "plan"), str(answer)])
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    plan = tmp_path / "plan"
    assert captured.err == f"cucmkit check: --write-plan {plan}: the plan was not written (No space left on device)\n"


def test_write_plan_into_an_existing_folder_still_works(tmp_path, answer, capsys):
    (tmp_path / "plan").mkdir()
    assert cli(["--purpose", "tomcat", "--now", NOW_ARG, "--write-plan", str(tmp_path / "plan"), str(answer)]) == 0
    assert len(list((tmp_path / "plan").iterdir())) == 3


def test_a_character_device_is_read_by_the_bytes_it_gives():
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    tracemalloc.start()
    try:
        with pytest.raises(CertificateError) as err:
            load_files(["/dev/zero"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(err.value) == "/dev/zero: is larger than 8 MiB; not a certificate bundle"
    assert peak < 3 * BUDGETS.input_bytes


# --- budgets -----------------------------------------------------------------------------------


def test_a_zip_bomb_stops_at_the_budget_quickly():
    started = time.monotonic()
    with pytest.raises(CertificateError, match="larger than 8 MiB"):
        load_bytes(hostile._zip_bomb_flat(64 * 1024 * 1024), name="bomb.zip")
    with pytest.raises(CertificateError, match="nested too deep"):
        load_bytes(hostile._zip_nested_bomb(), name="nested.zip")
    assert time.monotonic() - started < 5


def test_zip_declared_sizes_are_not_trusted(bundle):
    """A member whose header claims a small size but inflates to more is cut at the budget."""
    data = hostile.zip_of({"a.bin": b"\0" * (9 * 1024 * 1024), "leaf.pem": pem(bundle.leaf)})
    with pytest.raises(CertificateError, match="member a.bin is larger than 8 MiB"):
        load_bytes(data, name="ca.zip")


def test_certificates_per_input_are_counted(bundle):
    roots = [Pki().root(f"R{i}", key=rsa_key(2048, 1)) for i in range(BUDGETS.certificates + 1)]
    with pytest.raises(CertificateError, match=f"more than {BUDGETS.certificates} certificates"):
        load_bytes(pem(*roots), name="many.pem")


def test_messages_quote_values_shortened():
    assert shorten("x" * 10_000) == "x" * 100 + "... (10000 characters)"
    assert shorten("a\nb") == "a\\nb"
    with pytest.raises(CertificateError) as err:
        load_bytes(b"-----BEGIN " + b"A" * 60 + b"-----\nAA==\n-----END " + b"A" * 60 + b"-----\n", name="x.pem")
    assert len(str(err.value)) < 200


# --- chain building ------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", [str.upper, str.lower, lambda s: f"  {s.replace(' ', '   ')} "])
def test_issuer_names_match_case_insensitively_with_spaces_folded(variant):
    report = report_of(hostile._case_variant_chain(variant))
    assert report.ok, report.to_text()
    assert only(report, "chain_complete").status == "pass"


def test_self_issued_rollover_does_not_count_against_path_length():
    report = report_of(hostile._rollover_chain())
    assert report.status_of("ca_constraints") == "pass", report.to_text()
    assert report.ok


def test_path_length_still_counts_ordinary_intermediates():
    pki, root_key, k1, k2 = Pki(), rsa_key(2048, 1), rsa_key(2048, 2), rsa_key(2048, 3)
    root = pki.root(key=root_key, path_length=0)
    inter = pki.intermediate(root, root_key, key=k1, path_length=None)
    issuing = pki.intermediate(inter, k1, cn="Issuing 2", key=k2, path_length=None)
    leaf = hostile._leaf(issuing, k2)
    check = [c for c in report_of([leaf, issuing, inter, root]).by_name("ca_constraints") if c.status == "fail"]
    assert [c.message for c in check] == ["root CA allows pathlen 0 but 2 CA(s) follow it"]


def test_same_name_same_key_mesh_is_fast_and_named_a_cycle():
    certs = [hostile._leaf(hostile._same_name_mesh(2)[1], rsa_key(2048, 20)), *hostile._same_name_mesh(56)]
    started = time.monotonic()
    report = report_of(certs)
    assert time.monotonic() - started < 5
    check = only(report, "chain_complete")
    assert check.status == "fail" and "cycle" in check.message and "missing" not in check.message


def test_many_same_name_self_signed_cas_are_fast_and_small():
    roots = hostile._self_signed_same_name(BUDGETS.certificates)
    material = Material.of(roots)
    tracemalloc.start()
    started = time.monotonic()
    try:
        chain = build_chain(material.certificates)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 5 and peak < 50 * 1024 * 1024
    assert chain.leaf is not None and chain.root is not None


def test_cycle_is_named_not_missing():
    check = only(report_of(hostile._cycle()), "chain_complete")
    assert check.message.startswith("no root CA: the CA certificates issue each other in a cycle (")
    assert "Cycle A" in check.message and "Cycle B" in check.message


def test_deep_chain_is_named_by_its_depth():
    check = only(report_of(hostile._deep_chain(20)), "chain_complete")
    assert check.message.startswith(f"no root CA within {BUDGETS.chain_depth} certificates")


def test_deep_chain_within_the_budget_is_complete():
    assert report_of(hostile._deep_chain(BUDGETS.chain_depth)).ok


# --- wrong verdicts ------------------------------------------------------------------------------


def test_unknown_critical_extension_is_refused():
    report = report_of([hostile._critical_unknown(), *good("tomcat").intermediates, good("tomcat").root])
    check = only(report, "critical_extensions")
    assert (check.status, check.message) == (
        "fail", "leaf has critical extension(s) no verifier handles: 1.3.6.1.4.1.99999.1")
    assert not report.ok


def test_md5_leaf_names_the_algorithm_not_a_missing_ca(bundle):
    report = report_of([hostile._md5_leaf(), *bundle.intermediates, bundle.root])
    chain, signature = only(report, "chain_complete"), only(report, "chain_signatures")
    assert "MD5" in chain.message and "missing" not in chain.message
    assert "MD5" in signature.message and "does not verify" not in signature.message
    assert [c.message for c in report.by_name("signature_algorithm")] == ["signed with MD5 (leaf): refused"]


@pytest.mark.parametrize("exponent", [1, 2, 65536])
def test_bad_rsa_exponent_is_named(bundle, exponent):
    report = report_of([hostile._exponent_leaf(exponent), *bundle.intermediates, bundle.root])
    key_type = only(report, "key_type")
    assert "unknown 0" not in key_type.message
    assert f"RSA public exponent {exponent} is not allowed" in key_type.message
    assert only(report, "public_key").message.startswith(f"leaf: RSA public exponent {exponent} is not allowed")


@pytest.mark.parametrize("curve", ["secp521r1", "secp256k1"])
def test_ec_curve_is_checked_by_purpose(bundle, curve):
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key({"secp521r1": ec.SECP521R1(), "secp256k1": ec.SECP256K1()}[curve])
    leaf = Pki().leaf(bundle.intermediates[0], bundle.int_key, key.public_key(), ku=("digital_signature",),
                      eku=hostile.TOMCAT_EKU)
    check = only(report_of([leaf, *bundle.intermediates, bundle.root], purpose="tomcat-ECDSA"), "key_type")
    assert check.status == "fail"
    assert check.message.startswith(f"tomcat-ECDSA needs an EC key on P-256 or P-384; the leaf's key is on curve {curve}")


def test_private_key_in_the_bundle_is_a_loud_warning_and_never_copied(bundle, tmp_path, capsys):
    key_pem = hostile._private_key_pem(bundle.leaf_key)
    (tmp_path / "all.pem").write_bytes(key_pem + pem(*bundle.certs()))
    code = cli(["--purpose", "tomcat", "--now", NOW_ARG, "--json", "--write-plan", str(tmp_path / "plan"),
                str(tmp_path / "all.pem")])
    out = capsys.readouterr().out
    assert code == 0
    assert '"name": "private_key"' in out and '"status": "warn"' in out and "PRIVATE KEY found in" in out
    body = key_pem.decode().splitlines()[2]
    assert body not in out
    assert all(body not in p.read_text() and "PRIVATE" not in p.read_text() for p in (tmp_path / "plan").iterdir())
    summary = validate(load_files([tmp_path / "all.pem"]), purpose="tomcat", now=NOW).summary()
    assert "1 warnings" in summary


def test_empty_subject_without_san_is_refused(bundle):
    leaf = (Pki()._base(x509.Name([]), bundle.intermediates[0].subject, bundle.leaf_key.public_key(), 1, 365)
            .sign(bundle.int_key, hashes.SHA256()))
    report = report_of([leaf, *bundle.intermediates, bundle.root])
    check = only(report, "leaf_names")
    assert (check.status, check.message) == ("fail", "the leaf has no name: an empty subject and no Subject Alternative Name")
    assert not report.ok


def test_the_end_entity_with_the_purposes_key_usages_wins_the_tie(bundle):
    """Without a CSR, a CRL signer beside the leaf must never be picked, whatever its fingerprint."""
    for slot in range(61, 67):
        signer = hostile._leaf(bundle.intermediates[0], bundle.int_key, public_key=rsa_key(2048, slot).public_key(),
                               cn=f"Lab CRL Signer {slot}", ku=("crl_sign",), eku=())
        chain = build_chain(Material.of([signer, *bundle.certs()]).certificates,
                            leaf_usages=frozenset(hostile.TOMCAT_KU))
        assert chain.leaf is not None and chain.leaf.certificate == bundle.leaf


# --- the command line ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["-1", "-30", "x", "99999999"])
def test_bad_expiry_warning_days_is_a_usage_error(answer, capsys, value):
    with pytest.raises(SystemExit) as exit_:
        cli(["--purpose", "tomcat", "--expiry-warning-days", value, str(answer)])
    assert exit_.value.code == 2
    assert "--expiry-warning-days" in capsys.readouterr().err


def test_negative_days_from_python_are_refused_too(answer):
    err = io.StringIO()
    assert run_check([answer], purpose="tomcat", expiry_warning_days=-1, err=err, out=io.StringIO()) == 2
    assert err.getvalue() == "cucmkit check: --expiry-warning-days must be 0 or more, not -1\n"


def test_interrupted_exits_130(answer, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(check_command, "_report", interrupted)
    err = io.StringIO()
    assert run_check([answer], purpose="tomcat", err=err, out=io.StringIO()) == 130
    assert err.getvalue() == "cucmkit check: interrupted\n"


def test_help_states_the_exit_code_contract(capsys):
    with pytest.raises(SystemExit):
        cli(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "exit codes: 0 uploadable; 1 not uploadable" in text and "3 waiting" in text and "130 interrupted" in text


def test_der_leaf_alone_still_reads(bundle):
    assert len(load_bytes(der(bundle.leaf), name="leaf.cer")) == 1


def test_a_thousand_same_name_roots_in_the_trust_store_are_fast(bundle):
    """The trust store's budget is larger: the search must stay bounded there too (issuer candidates, key cache)."""
    pki = Pki()
    store = [pki.root("Lab Issuing CA", key=rsa_key(2048, 70 + i % 3), days_after=100 + i) for i in range(1000)]
    started = time.monotonic()
    report = validate(Material.of([bundle.leaf]), purpose="tomcat", now=NOW, trust_store=store)
    assert time.monotonic() - started < 5
    assert only(report, "chain_complete").status == "fail"


def test_a_present_issuer_whose_key_does_not_verify_is_named_so(bundle):
    impostor = Pki().intermediate(bundle.root, bundle.root_key, key=rsa_key(2048, 6))  # same name, other key
    check = only(report_of([bundle.leaf, impostor, bundle.root]), "chain_complete")
    assert check.message == ("issuer 'CN=Lab Issuing CA,O=Lab,C=JP' of 'CN=cucm-pub.lab.example,O=Lab,C=JP' is present, "
                             "but its key does not verify the signature (see chain_signatures)")


def test_begin_floods_are_read_in_linear_time(tmp_path):
    """A file of BEGIN lines and no END made the old block regex scan to the end from every BEGIN."""
    from cucmkit.certs import load_csr, record_from_pem, record_from_show_cert

    flood = b"-----BEGIN CERTIFICATE REQUEST-----\n" * 200_000
    started = time.monotonic()
    with pytest.raises(CertificateError, match="has no CERTIFICATE REQUEST PEM block"):
        load_csr(flood)
    cert_flood = b"-----BEGIN CERTIFICATE-----\n" * 200_000
    with pytest.raises(CertificateError):
        record_from_pem(cert_flood)
    with pytest.raises(CertificateError):
        record_from_show_cert(cert_flood)
    assert time.monotonic() - started < 5


def test_a_named_pipe_without_a_writer_reads_as_empty(tmp_path):
    fifo = tmp_path / "answer.pem"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(CertificateError) as err:
        load_files([fifo])
    assert str(err.value) == f"{fifo}: is empty" and time.monotonic() - started < 5


def test_a_directory_given_as_a_file_is_named(tmp_path):
    with pytest.raises(CertificateError) as err:
        load_files([tmp_path])
    assert str(err.value) == f"{tmp_path}: is a directory, not a file"


def test_validate_from_python_keeps_the_budgets(bundle):
    roots = [Pki().root(f"B{i}", key=rsa_key(2048, 1)) for i in range(BUDGETS.certificates + 1)]
    with pytest.raises(CertificateError, match=f"at most {BUDGETS.certificates} are checked at once"):
        validate(Material.of(roots), purpose="tomcat", now=NOW)
