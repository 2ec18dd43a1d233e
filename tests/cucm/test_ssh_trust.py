"""SSH host key verification of the admin CLI against the lab's SSH door (real paramiko sessions)."""

from __future__ import annotations

import argparse
from pathlib import Path

import paramiko
import pytest
import yaml

from cucmkit.cucm import command
from cucmkit.cucm.cli import AdminCli, host_key_fingerprint
from cucmkit.cucm.node import Cluster
from cucmkit.errors import TlsError
from cucmkit.lab import LabCluster
from cucmkit.lab.ssh import host_keys
from cucmkit.params import load_parameters
from cucmkit.secrets import Secret


def _cli(lab: LabCluster, name: str = "cucm-pub", **kw: object) -> AdminCli:
    ep = lab.endpoint(name)
    return AdminCli(node=ep.fqdn, address=ep.address, port=ep.ssh_port, username="admin",
                    password=Secret(lab.state.secret("os_admin"), source="test"),
                    prompt_timeout=10, command_timeout=20, connect_timeout=5, **kw)  # type: ignore[arg-type]


def _fingerprints(lab: LabCluster, name: str) -> list[str]:
    return [host_key_fingerprint(k) for k in host_keys(lab.state_dir, name)]


def test_lab_writes_known_hosts_for_every_node(lab: LabCluster) -> None:
    entries = paramiko.HostKeys(str(lab.state_dir / "known_hosts"))
    for ep in lab.endpoints():
        found = entries.lookup(f"[{ep.address}]:{ep.ssh_port}")
        assert found is not None, ep.name
        assert sorted(found.keys()) == ["ecdsa-sha2-nistp256", "ssh-rsa"]
        assert sorted(host_key_fingerprint(found[k]) for k in found.keys()) == sorted(_fingerprints(lab, ep.name))


def test_lab_parameters_name_known_hosts_and_default_to_reject(lab: LabCluster, lab_params: Path) -> None:
    params = load_parameters(lab_params)
    assert params.ssh.known_hosts == lab.state_dir / "known_hosts"
    assert params.ssh.host_key_policy == "reject"


def test_right_key_accepted_through_the_cluster(lab_params: Path) -> None:
    with Cluster.from_parameters(load_parameters(lab_params)) as cluster:
        cli = cluster.publisher.cli
        assert cli._known_hosts is not None and cli.list_certs("own")


def test_changed_host_key_refused_naming_node_fingerprint_and_remedy(lab: LabCluster, tmp_path: Path) -> None:
    """known_hosts holds sub1's keys for the publisher's port: the publisher's real key is a changed key."""
    pub, sub1 = lab.endpoint("cucm-pub"), lab.endpoint("cucm-sub1")
    entries = paramiko.HostKeys(str(lab.state_dir / "known_hosts"))
    forged = paramiko.HostKeys()
    for key_type, key in entries.lookup(f"[{sub1.address}]:{sub1.ssh_port}").items():
        forged.add(f"[{pub.address}]:{pub.ssh_port}", key_type, key)
    known = tmp_path / "known_hosts"
    forged.save(str(known))
    with _cli(lab, known_hosts=known, host_key_policy="warn") as cli, pytest.raises(TlsError) as info:
        cli.open()
    error = info.value
    assert error.node == pub.fqdn and error.interface == "cli" and error.operation == "login"
    assert any(fp in error.message for fp in _fingerprints(lab, "cucm-pub"))
    assert "changed" in error.message and "ssh.known_hosts" in (error.remedy or "")
    assert not cli.connected


def test_unknown_key_refused_with_reject(lab: LabCluster, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with _cli(lab, known_hosts=empty, host_key_policy="reject") as cli, pytest.raises(TlsError) as info:
        cli.open()
    assert info.value.node == lab.endpoint("cucm-pub").fqdn
    assert any(fp in info.value.message for fp in _fingerprints(lab, "cucm-pub"))
    assert "ssh_host_key_sha256" in (info.value.remedy or "")


def test_pin_admits_an_unknown_key_and_a_wrong_pin_is_refused(lab: LabCluster, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with _cli(lab, known_hosts=empty, host_key_policy="reject", host_key_sha256=_fingerprints(lab, "cucm-pub")) as cli:
        assert cli.list_certs("own")
    wrong = _fingerprints(lab, "cucm-sub1")
    with _cli(lab, known_hosts=lab.state_dir / "known_hosts", host_key_sha256=wrong) as cli, \
            pytest.raises(TlsError, match="does not match nodes") as info:
        cli.open()
    assert any(fp in info.value.message for fp in _fingerprints(lab, "cucm-pub"))


@pytest.mark.parametrize("policy", ["warn", "reject"])
def test_no_known_hosts_and_no_pin_refuses_before_login_and_says_how_to_trust(lab: LabCluster, policy: str) -> None:
    """Issue 11 item 4: "warn" used to log in to any key; now no policy logs in to an unverified host."""
    with _cli(lab, host_key_policy=policy) as cli, pytest.raises(TlsError) as info:
        cli.open()
    error = info.value
    assert "did not log in" in error.message and any(fp in error.message for fp in _fingerprints(lab, "cucm-pub"))
    assert "cucmkit trust accept -f PARAMS" in (error.remedy or "") and "ssh_host_key_sha256" in (error.remedy or "")
    assert not cli.connected


def test_a_paramiko_policy_object_is_refused(lab: LabCluster) -> None:
    with pytest.raises(ValueError, match="never logs in"):
        _cli(lab, host_key_policy=paramiko.AutoAddPolicy())


def test_trust_fetch_shows_ssh_fingerprints(lab: LabCluster, lab_params: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert command._trust_fetch(argparse.Namespace(parameters=str(lab_params))) == 0
    out = capsys.readouterr().out
    for ep in lab.endpoints():
        for fingerprint in _fingerprints(lab, ep.name):
            assert f"{fingerprint}  in known_hosts" in out


def _without_ssh(lab_params: Path, tmp_path: Path, **ssh: str) -> Path:
    data = yaml.safe_load(lab_params.read_text())
    data.pop("ssh", None)
    if ssh:
        data["ssh"] = ssh
    folder = tmp_path / "parameters"
    folder.mkdir(exist_ok=True)
    path = folder / "cluster.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_trust_accept_writes_known_hosts_and_says_how_to_use_it(lab: LabCluster, lab_params: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from cucmkit.cli import main

    path = _without_ssh(lab_params, tmp_path)
    written = path.parent / "known_hosts"
    assert main(["trust", "accept", "-f", str(path), "--node", "cucm-pub", "--node", "cucm-sub1", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "ssh.known_hosts is not set" in out and "known_hosts:" in out
    entries = paramiko.HostKeys(str(written))
    for name in ("cucm-pub", "cucm-sub1"):
        ep = lab.endpoint(name)
        found = entries.lookup(f"[{ep.address}]:{ep.ssh_port}")
        assert found is not None
        assert sorted(host_key_fingerprint(found[k]) for k in found.keys()) == sorted(_fingerprints(lab, name))
        assert all(f"added {ep.fqdn} {fp}" in out for fp in _fingerprints(lab, name))
    sub2 = lab.endpoint("cucm-sub2")
    assert entries.lookup(f"[{sub2.address}]:{sub2.ssh_port}") is None          # --node chose two nodes
    assert main(["trust", "accept", "-f", str(path), "--node", "cucm-pub", "--yes"]) == 0
    assert "Nothing to add" in capsys.readouterr().out                           # idempotent
    trusted = load_parameters(_without_ssh(lab_params, tmp_path, known_hosts=str(written)))
    with Cluster.from_parameters(trusted) as cluster:
        assert cluster.publisher.cli.list_certs("own")


def test_trust_accept_never_replaces_a_known_key(lab: LabCluster, lab_params: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """known_hosts holds sub1's keys for the publisher: accept refuses; the file is not touched."""
    from cucmkit.cli import main

    pub, sub1 = lab.endpoint("cucm-pub"), lab.endpoint("cucm-sub1")
    entries = paramiko.HostKeys(str(lab.state_dir / "known_hosts"))
    forged = paramiko.HostKeys()
    for key_type, key in entries.lookup(f"[{sub1.address}]:{sub1.ssh_port}").items():
        forged.add(f"[{pub.address}]:{pub.ssh_port}", key_type, key)
    known = tmp_path / "known_hosts"
    forged.save(str(known))
    before = known.read_text()
    path = _without_ssh(lab_params, tmp_path, known_hosts=str(known))
    assert main(["trust", "accept", "-f", str(path), "--node", "cucm-pub", "--yes"]) == 1
    err = capsys.readouterr().err
    assert "already holds another" in err and "Traceback" not in err
    assert known.read_text() == before


def test_trust_accept_refuses_without_confirmation_and_unknown_nodes(lab_params: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from cucmkit.cli import main

    path = _without_ssh(lab_params, tmp_path)
    assert main(["trust", "accept", "-f", str(path), "--node", "cucm-pub"]) == 1      # stdin is not a terminal
    assert "--yes" in capsys.readouterr().err and not (path.parent / "known_hosts").exists()
    assert main(["trust", "accept", "-f", str(path), "--node", "nope", "--yes"]) == 1
    assert "no such node" in capsys.readouterr().err
