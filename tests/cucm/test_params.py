"""The parameter file: safe load, typed schema, secret references, path resolution."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path
from typing import Any

import pytest

from cucmkit.errors import ParameterError
from cucmkit.params import ClusterParams, find_root, from_notebook, load_parameters

SENTINEL = "S3ntinel-Pa55-77aa"
REPO = Path(__file__).resolve().parents[2]

BASE = """\
cluster: lab
nodes:
  - {fqdn: cucm-pub.lab.example, address: 127.0.0.1, role: publisher, kind: CUCM, version: auto, https_port: 8443, ssh_port: 2222}
  - {fqdn: cucm-sub1.lab.example, address: 127.0.0.1, role: subscriber, kind: CUCM, https_port: 8444, ssh_port: 2223}
  - {fqdn: imp-pub.lab.example, role: publisher, kind: IM&P, version: "14.0"}
credentials:
  os_admin: {username: admin, password: {file: .lab/secrets/os_admin}}
  app_user: {username: ccmadmin, password: {env: CUCMKIT_TEST_APP_PW}}
tls:
  ca_bundle: [.lab/ca-bundle.pem]
  pins: {}
timeouts: {connect: 5, read: 30, cli_prompt: 30, restart: 600, registration: 1800}
maintenance_window: {start: 2026-11-26T22:00:00+00:00, end: "2026-11-27T04:00:00+00:00"}
ca: {backend: lab, url: "https://127.0.0.1:9443/certsrv/", fqdn: ca.lab.example, username: causer, password: {file: .lab/secrets/ca_user}, template_prefix: CUCM-}
registration: {tolerance: 0, baseline: auto}
expiry_threshold_days: 60
"""  # noqa: E501 - a parameter file, one node or section per line


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with parameters/ and .lab/secrets, cwd inside a subfolder of it."""
    (tmp_path / "parameters").mkdir()
    (tmp_path / "notebooks").mkdir()
    secrets = tmp_path / ".lab" / "secrets"
    secrets.mkdir(parents=True)
    for name in ("os_admin", "ca_user"):
        (secrets / name).write_text(SENTINEL + "\n")
    (tmp_path / "parameters" / "lab.yaml").write_text(BASE)
    monkeypatch.delenv("CUCMKIT_ROOT", raising=False)
    monkeypatch.setenv("CUCMKIT_TEST_APP_PW", SENTINEL)
    monkeypatch.chdir(tmp_path / "notebooks")
    return tmp_path


def _write(project: Path, text: str) -> Path:
    path = project / "parameters" / "x.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def _edit(project: Path, old: str, new: str) -> Path:
    assert old in BASE
    return _write(project, BASE.replace(old, new))


def test_loads_typed_frozen_values(project: Path) -> None:
    params = load_parameters(project / "parameters" / "lab.yaml")
    assert isinstance(params, ClusterParams) and params.cluster == "lab"
    assert params.publisher.fqdn == "cucm-pub.lab.example" and params.publisher.https_port == 8443
    imp = params.node("imp-pub")
    assert imp.kind == "IM&P" and imp.address == "imp-pub.lab.example" and imp.https_port == 443
    assert params.tls.ca_bundle == (project / ".lab" / "ca-bundle.pem",)
    assert params.timeouts.restart == 600.0
    assert params.maintenance_window is not None
    assert params.maintenance_window.start == dt.datetime(2026, 11, 26, 22, tzinfo=dt.UTC)
    assert params.ca.template_for("tomcat") == "CUCM-tomcat"
    assert params.credentials.os_admin.secret().reveal() == SENTINEL
    with pytest.raises(AttributeError):
        params.cluster = "other"  # type: ignore[misc]


def test_no_date_coercion_and_window(project: Path) -> None:
    params = load_parameters(project / "parameters" / "lab.yaml")
    window = params.maintenance_window
    assert window is not None
    assert window.contains(dt.datetime(2026, 11, 27, 1, tzinfo=dt.UTC))
    assert not window.contains(dt.datetime(2026, 11, 27, 4, tzinfo=dt.UTC))
    assert params.in_window(dt.datetime(2026, 11, 26, 21, 59, 59, tzinfo=dt.UTC)) is False


def test_window_null_means_always(project: Path) -> None:
    path = _edit(project, 'maintenance_window: {start: 2026-11-26T22:00:00+00:00, end: "2026-11-27T04:00:00+00:00"}',
                 "maintenance_window: null")
    assert load_parameters(path).in_window(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))


def test_plain_password_refused_with_remedy(project: Path) -> None:
    path = _edit(project, "password: {env: CUCMKIT_TEST_APP_PW}", f"password: {SENTINEL}")
    with pytest.raises(ParameterError) as info:
        load_parameters(path)
    text = str(info.value)
    assert "credentials.app_user.password" in text
    assert "reference it as {env: ...} / {file: ...} / {keyring: ...}" in text
    assert SENTINEL not in text and SENTINEL not in repr(info.value)


def test_missing_secret_fails_before_network(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUCMKIT_TEST_APP_PW")
    with pytest.raises(ParameterError, match="CUCMKIT_TEST_APP_PW"):
        load_parameters(project / "parameters" / "lab.yaml")
    assert load_parameters(project / "parameters" / "lab.yaml", check_secrets=False).cluster == "lab"


@pytest.mark.parametrize(("old", "new", "where"), [
    ("https_port: 8443", "https_port: 70000", "nodes[0].https_port"),
    ("https_port: 8443", 'https_port: "8443"', "nodes[0].https_port"),
    ("role: subscriber", "role: primary", "nodes[1].role"),
    ("fqdn: cucm-sub1.lab.example", "fqdn: cucm-sub1", "nodes[1].fqdn"),
    ("kind: IM&P, version: \"14.0\"", "kind: IM&P, version: latest", "nodes[2].version"),
    ("connect: 5", "connect: -1", "timeouts.connect"),
    ("expiry_threshold_days: 60", "expiry_threshold_days: soon", "expiry_threshold_days"),
    ("tolerance: 0", "tolerance: 0, extra: 1", "registration.extra"),
    ("pins: {}", "pins: {cucm-pub.lab.example: abc}", "tls.pins.cucm-pub.lab.example"),
    ("end: \"2026-11-27T04:00:00+00:00\"", "end: \"2026-11-26T21:00:00+00:00\"", "maintenance_window.end"),
    ("end: \"2026-11-27T04:00:00+00:00\"", "end: \"2026-11-27T04:00:00\"", "maintenance_window.end"),
    ("backend: lab", "backend: letsencrypt", "ca.backend"),
    ("cluster: lab", "cluster: lab\nclustr: typo", "clustr"),
    ("role: publisher, kind: CUCM", "role: subscriber, kind: CUCM", "nodes"),
])
def test_errors_name_key_path_and_remedy(project: Path, old: str, new: str, where: str) -> None:
    with pytest.raises(ParameterError) as info:
        load_parameters(_edit(project, old, new))
    assert str(info.value).startswith(f"{where}:") and info.value.remedy


def test_duplicate_node_and_duplicate_key(project: Path) -> None:
    with pytest.raises(ParameterError, match="listed twice"):
        load_parameters(_edit(project, "fqdn: cucm-sub1.lab.example", "fqdn: cucm-pub.lab.example"))
    with pytest.raises(ParameterError, match="duplicate key 'cluster'"):
        load_parameters(_edit(project, "cluster: lab", "cluster: lab\ncluster: other"))


def test_yaml_syntax_error_gives_line_not_text(project: Path) -> None:
    path = _write(project, f"cluster: lab\nnodes: [\n  password: '{SENTINEL}\n")
    with pytest.raises(ParameterError) as info:
        load_parameters(path)
    assert "line" in str(info.value) and SENTINEL not in str(info.value)


def test_unsafe_yaml_refused(project: Path) -> None:
    path = _write(project, "cluster: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ParameterError):
        load_parameters(path)


def test_relative_paths_resolve_against_cucmkit_root(project: Path, tmp_path_factory: pytest.TempPathFactory,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path_factory.mktemp("root")
    (other / ".lab" / "secrets").mkdir(parents=True)
    for name in ("os_admin", "ca_user"):
        (other / ".lab" / "secrets" / name).write_text("x\n")
    monkeypatch.setenv("CUCMKIT_ROOT", str(other))
    params = load_parameters(project / "parameters" / "lab.yaml")
    assert params.root == other.resolve()
    assert params.tls.ca_bundle == (other.resolve() / ".lab" / "ca-bundle.pem",)


def test_find_root_walks_up_to_parameters(project: Path) -> None:
    assert find_root() == project.resolve()


def test_mapping_source(project: Path) -> None:
    import yaml

    data: dict[str, Any] = yaml.safe_load(BASE.replace("2026-11-26T22:00:00+00:00", '"2026-11-26T22:00:00+00:00"'))
    assert load_parameters(data).nodes[1].short == "cucm-sub1"


def test_from_notebook_with_injected_keys(project: Path) -> None:
    import yaml

    injected = yaml.safe_load(BASE.replace("2026-11-26T22:00:00+00:00", '"2026-11-26T22:00:00+00:00"'))
    namespace = {"parameters_file": "parameters/does-not-exist.yaml", "ca": "lab", **injected}
    params = from_notebook(namespace)
    assert params.cluster == "lab" and params.ca.backend == "lab"


def test_from_notebook_falls_back_to_parameters_file_with_overrides(project: Path) -> None:
    namespace = {"parameters_file": "parameters/lab.yaml", "cluster": None, "nodes": None,
                 "expiry_threshold_days": 30, "ca": "manual"}
    params = from_notebook(namespace)
    assert params.cluster == "lab" and params.expiry_threshold_days == 30 and params.ca.backend == "lab"


def test_example_cluster_file_loads() -> None:
    params = load_parameters(REPO / "parameters" / "example-cluster.yaml", check_secrets=False)
    assert params.publisher.fqdn == "cucm-pub.acme.example"
    assert params.tls.pin_for("imp-pub.acme.example")
    assert params.ca.backend == "adcs"


def test_repository_lab_file_loads_if_present() -> None:
    path = REPO / "parameters" / "lab.yaml"
    if not path.exists():
        pytest.skip("parameters/lab.yaml not written yet (lab-core)")
    params = load_parameters(path, check_secrets=False, root=REPO)
    assert params.publisher.kind == "CUCM" and params.credentials.os_admin.username
