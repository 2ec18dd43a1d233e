"""The secret scan: known values (every encoded form) and patterns; references are not secrets."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from cucmkit.evidence.secrets import REDACTED, known_secrets, redact, scan_dir, scan_text

SENTINEL = "S3ntinel-4f1c-Pa$$word"


@pytest.fixture
def params_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    secret_file = tmp_path / "app_user"
    secret_file.write_text("file-sentinel-991\n")
    monkeypatch.setenv("CUCMKIT_TEST_OS_ADMIN", SENTINEL)
    path = tmp_path / "c1.yaml"
    path.write_text(
        "cluster: c1\n"
        "credentials:\n"
        "  os_admin: {username: admin, password: {env: CUCMKIT_TEST_OS_ADMIN}}\n"
        f"  app_user: {{username: ccmadmin, password: {{file: {secret_file}}}}}\n"
        "ca: {backend: lab, password: {env: CUCMKIT_TEST_UNSET_VAR}}\n"
    )
    return path


def test_known_secrets_resolves_env_and_file_references(params_file: Path) -> None:
    assert known_secrets([params_file]) == {SENTINEL, "file-sentinel-991"}


def test_known_secrets_skips_unreadable_files(tmp_path: Path) -> None:
    assert known_secrets([tmp_path / "missing.yaml"]) == frozenset()


@pytest.mark.parametrize("form", [
    SENTINEL,
    json.dumps(SENTINEL)[1:-1],
    base64.b64encode(SENTINEL.encode()).decode(),
    base64.b64encode(f"admin:{SENTINEL}".encode()).decode(),
    "S3ntinel-4f1c-Pa%24%24word",
])
def test_every_encoding_of_a_known_secret_is_found(form: str) -> None:
    findings = scan_text(f"some text {form} more", [SENTINEL], path="x.ipynb")
    assert [f.kind for f in findings] == ["known secret"]
    assert SENTINEL not in str(findings[0])


@pytest.mark.parametrize("text,kind", [
    ("-----BEGIN PRIVATE KEY-----\nMIIB...", "private key"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIB...", "private key"),
    ("Authorization: Basic YWRtaW46c2VjcmV0", "basic auth header"),
    ('{"password": "hunter22"}', "literal password"),
    ("password = 'hunter22'", "literal password"),
])
def test_patterns_flag_secrets_whatever_their_value(text: str, kind: str) -> None:
    assert kind in [f.kind for f in scan_text(text)]


@pytest.mark.parametrize("text", [
    'password: {file: .lab/secrets/os_admin}',
    '"password": {"env": "CUCM_PW"}',
    'password = None',
    '"password": "[REDACTED]"',
    "-----BEGIN CERTIFICATE-----",
    "-----BEGIN CERTIFICATE REQUEST-----",
])
def test_references_and_public_material_are_not_findings(text: str) -> None:
    assert scan_text(text) == []


def test_redact_replaces_every_form() -> None:
    encoded = base64.b64encode(f"admin:{SENTINEL}".encode()).decode()
    clean = redact(f"a {SENTINEL} b {encoded} c", [SENTINEL])
    assert SENTINEL not in clean and encoded.rstrip("=") not in clean
    assert clean.count(REDACTED) == 2


def test_scan_dir_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "ok.txt").write_text("nothing here")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bad.html").write_text(f"<p>{SENTINEL}</p>")
    findings = scan_dir(tmp_path, [SENTINEL])
    assert [(f.path, f.kind) for f in findings] == [("sub/bad.html", "known secret")]


def test_redact_patterns_removes_keys_headers_and_literal_passwords() -> None:
    from cucmkit.evidence.secrets import redact_patterns

    text = ('{"text": "-----BEGIN RSA PRIVATE KEY-----\\nMIIEow\\n-----END RSA PRIVATE KEY-----\\n", '
            '"h": "Authorization: Basic YWRtaW46c2VjcmV0", "password": "hunter22", "ref": {"password": {"env": "X"}}}')
    clean = redact_patterns(text)
    assert scan_text(clean) == []
    assert "MIIEow" not in clean and "YWRtaW46c2VjcmV0" not in clean and "hunter22" not in clean
    assert '"env": "X"' in clean


# ---- every encoding, with a secret made of every special character ----

from ._encodings import SPECIALS, encodings, inner  # noqa: E402

NASTY = f"Nasty{SPECIALS}k&w\"k-91"


@pytest.mark.parametrize("name", sorted(encodings(NASTY)))
def test_every_encoding_of_a_secret_with_special_characters_is_found_and_redacted(name: str) -> None:
    encoded = encodings(NASTY)[name]
    text = f"<pre>before {encoded} after</pre>"
    assert [f.kind for f in scan_text(text, [NASTY])] == ["known secret"], name
    clean = redact(text, [NASTY])
    assert inner(name, encoded) not in clean and REDACTED in clean
    assert clean.startswith("<pre>before ") and clean.endswith(" after</pre>")


def test_basic_auth_with_the_parameter_files_username(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cucmkit.evidence.secrets import search_for

    monkeypatch.setenv("CUCMKIT_TEST_CA", NASTY)
    path = tmp_path / "c1.yaml"
    path.write_text("ca: {backend: adcs, username: svc-cert-7, password: {env: CUCMKIT_TEST_CA}}\n")
    search = search_for([path])
    assert search.usernames == {"svc-cert-7"} and search.complete
    header = encodings(NASTY, user="svc-cert-7")["basic-auth"]
    assert [f.kind for f in scan_text(header, search.values, usernames=search.usernames)] == ["known secret"]
    assert [f.kind for f in scan_text(header, search.values)] == ["known secret"]   # any user: aligned base64
    clean = redact(header, search.values, usernames=search.usernames)
    assert clean == "[REDACTED]"                                        # the whole header value, padding too


def test_search_names_every_reference_and_what_it_could_not_resolve(params_file: Path) -> None:
    from cucmkit.evidence.secrets import search_for

    search = search_for([params_file])
    lines = search.lines()
    assert "looked for: credentials.os_admin.password (env:CUCMKIT_TEST_OS_ADMIN)" in lines
    assert any(line.startswith("looked for: credentials.app_user.password (file:") for line in lines)
    (unset,) = [line for line in lines if line.startswith("could not look for")]
    assert "ca.password (env:CUCMKIT_TEST_UNSET_VAR)" in unset and "CUCMKIT_TEST_UNSET_VAR" in unset
    assert not search.complete
    assert all(SENTINEL not in line and "file-sentinel-991" not in line for line in lines)
    assert "file-sentinel-991" not in repr(search) and SENTINEL not in repr(search)


def test_short_encoded_forms_do_not_match_images() -> None:
    from cucmkit.evidence.secrets import secret_forms

    assert all(len(form) >= 6 for form in secret_forms("abcd") if form != "abcd")
