"""The parameter file's ``ssh:`` and ``retries:`` sections and per-node SSH host key pins."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from cucmkit.errors import ParameterError
from cucmkit.params import Backoff, Retries, load_parameters, normalize_ssh_fingerprint

ROOT = Path("/tmp/cucmkit-params-trust")
RAW = hashlib.sha256(b"host key").digest()
OPENSSH = "SHA256:" + base64.b64encode(RAW).decode().rstrip("=")


def _data(**extra: Any) -> dict[str, Any]:
    pub: dict[str, Any] = {"fqdn": "cucm-pub.lab.example", "role": "publisher"}
    pub.update(extra.pop("pub", {}))
    data: dict[str, Any] = {
        "cluster": "lab",
        "nodes": [pub],
        "credentials": {"os_admin": {"username": "admin", "password": {"env": "X_OS"}},
                        "app_user": {"username": "app", "password": {"env": "X_APP"}}},
    }
    data.update(extra)
    return data


def _load(**extra: Any):  # type: ignore[no-untyped-def]
    return load_parameters(_data(**extra), root=ROOT, check_secrets=False)


def test_ssh_defaults_warn_without_known_hosts() -> None:
    params = _load()
    assert params.ssh.known_hosts is None and params.ssh.host_key_policy == "warn"


def test_known_hosts_makes_reject_the_default_and_resolves_relative() -> None:
    params = _load(ssh={"known_hosts": ".lab/known_hosts"})
    assert params.ssh.known_hosts == ROOT / ".lab" / "known_hosts"
    assert params.ssh.host_key_policy == "reject"
    assert _load(ssh={"known_hosts": "k", "host_key_policy": "warn"}).ssh.host_key_policy == "warn"


def test_bad_policy_and_unknown_key_name_the_path() -> None:
    with pytest.raises(ParameterError, match=r"ssh\.host_key_policy"):
        _load(ssh={"host_key_policy": "accept-all"})
    with pytest.raises(ParameterError, match=r"ssh\.known_host\b"):
        _load(ssh={"known_host": "x"})


def test_node_host_key_pins_in_openssh_or_hex_form() -> None:
    params = _load(pub={"ssh_host_key_sha256": OPENSSH})
    assert params.publisher.ssh_host_key_sha256 == (OPENSSH,)
    both = _load(pub={"ssh_host_key_sha256": [RAW.hex(), OPENSSH + "="]})
    assert both.publisher.ssh_host_key_sha256 == (OPENSSH, OPENSSH)
    assert normalize_ssh_fingerprint(":".join(f"{b:02X}" for b in RAW)) == OPENSSH


def test_bad_host_key_pin_names_node_path() -> None:
    with pytest.raises(ParameterError, match=r"nodes\[0\]\.ssh_host_key_sha256\[1\]") as info:
        _load(pub={"ssh_host_key_sha256": [OPENSSH, "SHA256:short"]})
    assert "trust fetch" in (info.value.remedy or "")


def test_retries_defaults_and_overrides() -> None:
    assert _load().retries == Retries()
    assert Retries().risport.attempts >= 2 and Retries().axl.max_backoff_seconds >= Retries().axl.backoff_seconds
    params = _load(retries={"risport": {"attempts": 2, "backoff_seconds": 0.5}})
    assert params.retries.risport == Backoff(attempts=2, backoff_seconds=0.5,
                                             max_backoff_seconds=Retries().risport.max_backoff_seconds)
    assert params.retries.axl == Retries().axl


@pytest.mark.parametrize(("section", "where"), [
    ({"risport": {"attempts": 0}}, r"retries\.risport\.attempts"),
    ({"axl": {"backoff_seconds": -1}}, r"retries\.axl\.backoff_seconds"),
    ({"axl": {"backoff_seconds": 5, "max_backoff_seconds": 1}}, r"retries\.axl\.max_backoff_seconds"),
    ({"phones": {}}, r"retries\.phones"),
])
def test_bad_retries_name_the_key(section: dict[str, Any], where: str) -> None:
    with pytest.raises(ParameterError, match=where):
        _load(retries=section)


def test_repository_parameter_files_load() -> None:
    repo = Path(__file__).resolve().parents[2]
    lab = load_parameters(repo / "parameters" / "lab.yaml", root=repo, check_secrets=False)
    assert lab.ssh.known_hosts == repo / ".lab" / "known_hosts" and lab.ssh.host_key_policy == "reject"
    example = load_parameters(repo / "parameters" / "example-cluster.yaml", root=repo, check_secrets=False)
    assert example.ssh.host_key_policy == "reject" and example.retries.axl.attempts == 5


def test_cluster_clients_take_the_retries(tmp_path: Path) -> None:
    from cucmkit.cucm.node import Cluster
    from cucmkit.secrets import Secret

    params = _load(retries={"risport": {"attempts": 3, "backoff_seconds": 0.25, "max_backoff_seconds": 1},
                            "axl": {"attempts": 2, "backoff_seconds": 0.5, "max_backoff_seconds": 2}})
    with Cluster.from_parameters(params) as cluster:
        for account in (params.credentials.app_user,):
            cluster.credentials._cache[account] = (account.username, Secret("x", source="test"))
        risport = cluster._risport_for(cluster.publisher)
        assert (risport._attempts, risport._backoff, risport._backoff_max) == (3, 0.25, 1.0)
        axl = cluster.axl
        assert (axl._retries, axl._backoff, axl._backoff_max) == (1, 0.5, 2.0)


def test_papermill_injected_ssh_and_retries_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """``papermill -f params.yaml`` injects every key, the optional sections included."""
    from cucmkit.params import from_notebook

    monkeypatch.setenv("CUCMKIT_ROOT", str(ROOT))
    namespace = _data(ssh={"known_hosts": "kh"}, retries={"axl": {"attempts": 2}}, parameters_file=None)
    params = from_notebook(namespace, check_secrets=False)
    assert params.ssh.known_hosts == ROOT / "kh" and params.ssh.host_key_policy == "reject"
    assert params.retries.axl.attempts == 2
