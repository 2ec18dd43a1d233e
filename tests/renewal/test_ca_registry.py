"""CA back-ends are a registry: adding one is one new module (found by entry point) plus its tests.

The fake back-end below lives in a package written to tmp_path, with a
``*.dist-info/entry_points.txt`` declaring it in ``cucmkit.ca_backends``: no
file of the kit changes, and it shows up in the ``--ca`` choices, in the
parameter file's validation (its own config model) and in ``make_backend``.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cucmkit.ca import make_backend, registry
from cucmkit.ca.adcs import AdcsConfig
from cucmkit.ca.manual import ManualCa, ManualConfig
from cucmkit.errors import ParameterError
from cucmkit.params import load_parameters
from cucmkit.renewal.ports import InboxCa

PLUGIN = '''
from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field
from pydantic.dataclasses import dataclass

from cucmkit.ca.registry import BackendSpec
from cucmkit.params import SECTION, CaConfig


@dataclass(frozen=True, config=SECTION, kw_only=True)
class EchoConfig(CaConfig):
    backend: str = "echo"
    profile: str
    copies: Annotated[int, Field(ge=1, le=3)] = 1


class EchoCa:
    kind = "echo"

    def __init__(self, config: EchoConfig) -> None:
        self.config = config
        self.requests: dict[str, str] = {}

    def submit(self, node: str, purpose: str, csr_pem: str) -> str:
        request_id = f"{self.config.profile}-{node}-{purpose}"
        self.requests[request_id] = csr_pem
        return request_id

    def collect(self, request_id: str) -> list[bytes] | None:
        return [self.requests[request_id].encode()] * self.config.copies


def build(params, folder: Path | None) -> EchoCa:
    return EchoCa(params.ca if isinstance(params.ca, EchoConfig) else EchoConfig(profile="default"))


BACKEND = BackendSpec(kind="echo", summary="answers each CSR with itself (a test back-end).", config=EchoConfig,
                      build=build)
'''

BASE: dict[str, Any] = {
    "cluster": "lab",
    "nodes": [{"fqdn": "cucm-pub.lab.example", "role": "publisher"}],
    "credentials": {"os_admin": {"username": "admin", "password": {"env": "X_OS"}},
                    "app_user": {"username": "app", "password": {"env": "X_APP"}}},
}


@pytest.fixture
def echo_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A distribution ``cucmkit-echo`` on sys.path whose entry point registers the ``echo`` back-end."""
    (tmp_path / "cucmkit_echo.py").write_text(PLUGIN)
    info = tmp_path / "cucmkit_echo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cucmkit-echo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""\
        [cucmkit.ca_backends]
        echo = cucmkit_echo:BACKEND
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.reload()
    yield
    sys.modules.pop("cucmkit_echo", None)
    registry.reload()


def _ca_choices(register: Any) -> tuple[str, ...]:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    for action in parser._subparsers._group_actions[0].choices.values():  # type: ignore[union-attr]
        for option in action._actions:
            if "--ca" in option.option_strings:
                return tuple(option.choices)
    raise AssertionError("no --ca option")


def test_builtins_without_package_metadata() -> None:
    assert registry.kinds()[:3] == ("lab", "manual", "adcs")
    assert registry.config_model("adcs") is AdcsConfig and registry.config_model("manual") is ManualConfig


def test_a_new_backend_is_one_module(echo_installed: None, tmp_path: Path) -> None:
    from cucmkit.renewal.command import register as renew_register
    from cucmkit.runner import register as run_register

    assert "echo" in registry.kinds()
    assert "echo" in _ca_choices(run_register) and "echo" in _ca_choices(renew_register)

    params = load_parameters({**BASE, "ca": {"backend": "echo", "profile": "gold", "copies": 2}},
                             root=tmp_path, check_secrets=False)
    assert type(params.ca).__name__ == "EchoConfig" and params.ca.profile == "gold"   # type: ignore[attr-defined]
    with pytest.raises(ParameterError, match=r"^ca\.copies: .*Remedy") as info:
        load_parameters({**BASE, "ca": {"backend": "echo", "profile": "gold", "copies": 9}}, check_secrets=False)
    assert info.value.remedy
    with pytest.raises(ParameterError, match=r"^ca\.url: unknown key"):
        load_parameters({**BASE, "ca": {"backend": "echo", "profile": "x", "url": "https://ca/"}}, check_secrets=False)
    with pytest.raises(ParameterError, match=r"^ca\.profile: is required"):
        load_parameters({**BASE, "ca": {"backend": "echo"}}, check_secrets=False)

    backend = make_backend(params)
    assert backend.kind == "echo" and not isinstance(backend, InboxCa)
    request_id = backend.submit("cucm-pub", "tomcat", "CSR")
    assert request_id == "gold-cucm-pub-tomcat" and backend.collect(request_id) == [b"CSR", b"CSR"]
    assert "`echo`: answers each CSR with itself" in registry.describe()
    schema_kinds = [o["properties"]["backend"]["const"] for o in registry.section_schema()["oneOf"]]
    assert "echo" in schema_kinds


def test_unknown_backend_is_refused_naming_the_registered_ones(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"^ca\.backend: must be one of lab, manual, adcs"):
        load_parameters({**BASE, "ca": {"backend": "echo"}}, check_secrets=False)
    with pytest.raises(ValueError, match="valid: lab, manual, adcs"):
        make_backend(load_parameters(BASE, root=tmp_path, check_secrets=False), "echo")


def test_override_kind_builds_from_the_files_other_section(tmp_path: Path) -> None:
    """``--ca manual`` on a file whose ``ca:`` is the lab's: the manual flow uses ca.outbox/inbox when given."""
    data = {**BASE, "ca": {"backend": "lab", "url": "https://127.0.0.1:9443/certsrv/", "username": "causer",
                           "password": {"env": "X_CA"}, "outbox": "x/out", "inbox": "x/in"}}
    params = load_parameters(data, root=tmp_path, check_secrets=False)
    manual = make_backend(params, "manual")
    assert isinstance(manual, ManualCa) and isinstance(manual, InboxCa)
    assert (manual.outbox, manual.inbox) == (tmp_path / "x/out", tmp_path / "x/in")
    default = make_backend(load_parameters(BASE, root=tmp_path, check_secrets=False))
    assert isinstance(default, ManualCa) and default.folder == tmp_path / "ca-exchange" / "lab"
    with pytest.raises(ParameterError, match="no ca.url"):
        make_backend(load_parameters(BASE, root=tmp_path, check_secrets=False), "adcs")


def test_missing_ca_secret_fails_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_OS", "a")
    monkeypatch.setenv("X_APP", "b")
    monkeypatch.delenv("X_CA_MISSING", raising=False)
    data = {**BASE, "ca": {"backend": "adcs", "url": "https://ca.example/certsrv/", "username": "u",
                           "password": {"env": "X_CA_MISSING"}}}
    with pytest.raises(ParameterError, match=r"ca\.password.*X_CA_MISSING|X_CA_MISSING.*ca\.password"):
        load_parameters(data, root=tmp_path)


def test_pyproject_declares_the_builtins_as_entry_points() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    declared = pyproject["project"]["entry-points"][registry.GROUP]
    assert {kind: registry._load(ref) for kind, ref in declared.items()} == \
        {spec.kind: spec for spec in map(registry._load, registry._BUILTIN)}


def test_a_broken_plugin_is_skipped_with_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    info = tmp_path / "broken_ca-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-ca\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[cucmkit.ca_backends]\nbroken = no_such_module_xyz:BACKEND\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.reload()
    try:
        assert registry.kinds()[:3] == ("lab", "manual", "adcs") and "broken" not in registry.kinds()
        assert "broken" in caplog.text and "cannot be loaded" in caplog.text
    finally:
        registry.reload()


def test_acme_is_a_registered_backend_with_its_own_model(tmp_path: Path) -> None:
    from cucmkit.ca.acme import AcmeCa, AcmeConfig

    section = {"backend": "acme", "directory": "https://acme.example/dir", "account_key": {"file": "secrets/acme"},
               "state_dir": "state/acme",
               "dns": {"provider": "rfc2136", "server": "127.0.0.1", "zone": "lab.example",
                       "tsig_key_name": "k", "tsig_secret": {"file": "secrets/tsig"}}}
    params = load_parameters({**BASE, "ca": section}, root=tmp_path, check_secrets=False)
    assert isinstance(params.ca, AcmeConfig) and params.ca.backend == "acme"
    backend = make_backend(params)
    assert isinstance(backend, AcmeCa) and backend.base == tmp_path and not isinstance(backend, InboxCa)
    with pytest.raises(ParameterError, match=r"^ca\.directory: .*https"):
        load_parameters({**BASE, "ca": {**section, "directory": "http://acme.example/dir"}}, check_secrets=False)
    with pytest.raises(ParameterError, match=r"^ca\.url: "):
        load_parameters({**BASE, "ca": {**section, "url": "https://x/"}}, check_secrets=False)
    with pytest.raises(ParameterError, match="ACME back-end needs its own ca: section"):
        make_backend(load_parameters(BASE, root=tmp_path, check_secrets=False), "acme")
