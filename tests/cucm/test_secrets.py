"""Secret references: env, file, keyring; a Secret never shows its value."""

from __future__ import annotations

import copy
import logging
import pickle
from pathlib import Path

import keyring
import keyring.backend
import pytest

from cucmkit.errors import ParameterError
from cucmkit.secrets import Secret, describe, resolve

SENTINEL = "S3ntinel-Pa55-4d2e"


class _MemoryKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


@pytest.fixture
def memory_keyring() -> _MemoryKeyring:
    previous = keyring.get_keyring()
    backend = _MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def test_secret_hides_value_everywhere(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret(SENTINEL, source="env:X")
    logging.getLogger("t").warning("value %s %r", secret, secret)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r:>40}", caplog.text, repr([secret])):
        assert SENTINEL not in text
    assert repr(secret) == "Secret(env:X)"
    assert secret.reveal() == SENTINEL


def test_secret_compares_and_copies_without_pickling() -> None:
    a, b = Secret(SENTINEL, source="a"), Secret(SENTINEL, source="b")
    assert a == b and a != Secret("other", source="a")
    assert copy.deepcopy(a) is a
    with pytest.raises(TypeError):
        pickle.dumps(a)


def test_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUCMKIT_TEST_PW", SENTINEL)
    secret = resolve({"env": "CUCMKIT_TEST_PW"})
    assert secret.reveal() == SENTINEL and repr(secret) == "Secret(env:CUCMKIT_TEST_PW)"


def test_env_missing_names_variable_and_remedy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUCMKIT_TEST_MISSING", raising=False)
    with pytest.raises(ParameterError) as info:
        resolve({"env": "CUCMKIT_TEST_MISSING"}, where="credentials.os_admin.password")
    text = str(info.value)
    assert "credentials.os_admin.password" in text and "CUCMKIT_TEST_MISSING" in text and "export" in text


def test_file_relative_to_base_first_line_only(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "pw").write_text(SENTINEL + "\n")
    secret = resolve({"file": "secrets/pw"}, base=tmp_path)
    assert secret.reveal() == SENTINEL
    assert str(tmp_path / "secrets" / "pw") in repr(secret)


def test_file_readable_by_others_warns_without_value(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "pw"
    path.write_text(SENTINEL)
    path.chmod(0o644)
    resolve({"file": str(path)})
    assert "chmod 600" in caplog.text and SENTINEL not in caplog.text
    caplog.clear()
    path.chmod(0o600)
    resolve({"file": str(path)})
    assert "chmod" not in caplog.text


@pytest.mark.parametrize("content", ["", "\n\n"])
def test_file_empty(tmp_path: Path, content: str) -> None:
    (tmp_path / "pw").write_text(content)
    with pytest.raises(ParameterError, match="empty"):
        resolve({"file": str(tmp_path / "pw")})


def test_file_missing(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="does not exist") as info:
        resolve({"file": "nope"}, base=tmp_path)
    assert info.value.remedy


def test_keyring(memory_keyring: _MemoryKeyring) -> None:
    memory_keyring.set_password("cucmkit", "admin", SENTINEL)
    secret = resolve({"keyring": "cucmkit/admin"})
    assert secret.reveal() == SENTINEL and repr(secret) == "Secret(keyring:cucmkit/admin)"


def test_keyring_missing_entry(memory_keyring: _MemoryKeyring) -> None:
    with pytest.raises(ParameterError, match="keyring set cucmkit nobody"):
        resolve({"keyring": "cucmkit/nobody"})


def test_keyring_needs_service_and_user() -> None:
    with pytest.raises(ParameterError, match="service/user"):
        resolve({"keyring": "justone"})


@pytest.mark.parametrize("ref", [SENTINEL, {"vault": "x"}, {"env": "A", "file": "b"}, {"env": ""}, 12345])
def test_plain_or_malformed_refused_without_echo(ref: object) -> None:
    with pytest.raises(ParameterError) as info:
        resolve(ref)
    assert SENTINEL not in str(info.value) and "{env:" in str(info.value)


def test_describe_never_shows_plain_values() -> None:
    assert describe({"env": "X"}) == "env:X"
    assert SENTINEL not in describe(SENTINEL)
