"""Issue 11 item 4: an impostor SSH server on a node's address never receives a password (nor a login attempt).

The impostor is a real paramiko server on loopback with its own host key. It
records every authentication attempt and would accept any password. Each kit
path that uses SSH is pointed at it (the node's ``ssh_port`` is the impostor's),
with and without ``ssh.known_hosts``, with a pin, on a CLI-only release (12.5,
where the CLI carries every certificate operation) and on a REST release (where
Tomcat restarts, backups, regeneration and CTL still use the CLI).
"""

from __future__ import annotations

import functools
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest
import yaml

from cucmkit.cucm import Cluster
from cucmkit.cucm.cli import AdminCli, fetch_ssh_host_keys, host_key_fingerprint, known_hosts_name
from cucmkit.errors import CucmKitError, TlsError
from cucmkit.lab import LabCluster
from cucmkit.lab.ssh import host_keys
from cucmkit.params import load_parameters
from cucmkit.secrets import Secret


class _Recorder(paramiko.ServerInterface):
    def __init__(self, impostor: Impostor) -> None:
        self.impostor = impostor

    def get_allowed_auths(self, username: str) -> str:
        return "password,publickey,keyboard-interactive"

    def check_auth_none(self, username: str) -> int:
        self.impostor.record("none", username, "")
        return paramiko.AUTH_FAILED

    def check_auth_password(self, username: str, password: str) -> int:
        self.impostor.record("password", username, password)
        return paramiko.AUTH_SUCCESSFUL            # an impostor takes whatever it is given

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        self.impostor.record("publickey", username, "")
        return paramiko.AUTH_FAILED

    def check_auth_interactive(self, username: str, submethods: str) -> int:
        self.impostor.record("keyboard-interactive", username, "")
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED

    def check_channel_pty_request(self, *args: Any) -> bool:
        return True

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        return True


class Impostor:
    """An SSH server on 127.0.0.1 with its own host key, recording every authentication attempt."""

    def __init__(self, key: paramiko.PKey) -> None:
        self.key = key
        self.attempts: list[tuple[str, str, str]] = []     # (method, username, password or "")
        self.connections = 0
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._transports: list[paramiko.Transport] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def fingerprint(self) -> str:
        return host_key_fingerprint(self.key)

    def record(self, method: str, username: str, password: str) -> None:
        with self._lock:
            self.attempts.append((method, username, password))

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.key)
            self._transports.append(transport)
            try:
                transport.start_server(server=_Recorder(self))
            except (paramiko.SSHException, EOFError, OSError):
                continue

    def close(self) -> None:
        self._sock.close()
        for transport in self._transports:
            transport.close()


@pytest.fixture(params=["ecdsa", "rsa"])
def impostor(request: pytest.FixtureRequest) -> Iterator[Impostor]:
    key = paramiko.ECDSAKey.generate() if request.param == "ecdsa" else paramiko.RSAKey.generate(2048)
    server = Impostor(key)
    try:
        yield server
    finally:
        server.close()


def _params_file(lab_params: Path, tmp_path: Path, impostor: Impostor, *, version: str = "auto",
                 ssh: dict[str, Any] | None = None, pins: list[str] | None = None) -> Path:
    """The lab's parameter file with every node's SSH port on the impostor (the HTTPS ports stay real)."""
    data = yaml.safe_load(lab_params.read_text())
    for node in data["nodes"]:
        node["ssh_port"], node["version"] = impostor.port, version
        if pins:
            node["ssh_host_key_sha256"] = pins
    if ssh is None:
        data.pop("ssh", None)
    else:
        data["ssh"] = ssh
    path = tmp_path / "impostor.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _lab_fingerprints(lab: LabCluster, name: str = "cucm-pub") -> list[str]:
    return [host_key_fingerprint(k) for k in host_keys(lab.state_dir, name)]


def _claiming_known_hosts(lab: LabCluster, impostor: Impostor, tmp_path: Path) -> Path:
    """A known_hosts that holds the REAL publisher's keys for the impostor's address (it took the address over)."""
    real = paramiko.HostKeys(str(lab.state_dir / "known_hosts"))
    pub = lab.endpoint("cucm-pub")
    forged = paramiko.HostKeys()
    for key_type, key in real.lookup(known_hosts_name(pub.address, pub.ssh_port)).items():
        forged.add(known_hosts_name("127.0.0.1", impostor.port), key_type, key)
    path = tmp_path / "known_hosts"
    forged.save(str(path))
    return path


def _trust_settings(lab: LabCluster, impostor: Impostor, tmp_path: Path) -> dict[str, dict[str, Any]]:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    return {
        "no known_hosts": {},
        "no known_hosts, policy warn": {"ssh": {"host_key_policy": "warn"}},
        "known_hosts without the address": {"ssh": {"known_hosts": str(empty)}},
        "known_hosts with the real key": {"ssh": {"known_hosts": str(_claiming_known_hosts(lab, impostor, tmp_path))}},
        "pinned to the real key": {"pins": _lab_fingerprints(lab)},
    }


def _refused(call: Callable[[], object], impostor: Impostor) -> CucmKitError:
    before = impostor.connections
    with pytest.raises(CucmKitError) as info:
        call()
    assert impostor.connections > before, "the call never reached the impostor: the test proves nothing"
    assert impostor.attempts == [], f"authentication reached the impostor: {impostor.attempts}"
    return info.value


def test_the_impostor_takes_a_password_from_a_client_that_does_not_check(impostor: Impostor) -> None:
    """The control: a client that trusts any key hands the impostor user and password."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect("127.0.0.1", port=impostor.port, username="admin", password="not-a-secret",
                       look_for_keys=False, allow_agent=False, timeout=5)
    finally:
        client.close()
    assert ("password", "admin", "not-a-secret") in impostor.attempts


def test_cli_only_node_never_authenticates_to_the_impostor(lab: LabCluster, lab_params: Path, tmp_path: Path,
                                                          impostor: Impostor) -> None:
    for case, settings in _trust_settings(lab, impostor, tmp_path).items():
        params = load_parameters(_params_file(lab_params, tmp_path, impostor, version="12.5", **settings))
        with Cluster.from_parameters(params) as cluster:
            error = _refused(cluster.publisher.own_certificates, impostor)
        assert isinstance(error, TlsError), case
        assert error.node == "cucm-pub.lab.example" and error.interface == "cli" and error.operation == "login"
        assert impostor.fingerprint in error.message, case


def test_cluster_inventory_and_the_inventory_command_never_authenticate(lab: LabCluster, lab_params: Path,
                                                                       tmp_path: Path, impostor: Impostor,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from cucmkit.cli import main

    for settings in _trust_settings(lab, impostor, tmp_path).values():
        path = _params_file(lab_params, tmp_path, impostor, version="12.5", **settings)
        with Cluster.from_parameters(load_parameters(path)) as cluster:
            _refused(cluster.inventory, impostor)
        before = impostor.connections
        assert main(["inventory", "-f", str(path)]) == 1
        assert impostor.connections > before and impostor.attempts == []
        err = capsys.readouterr().err
        assert impostor.fingerprint in err and "Traceback" not in err


def test_rest_node_cli_paths_never_authenticate(lab: LabCluster, lab_params: Path, tmp_path: Path,
                                                impostor: Impostor) -> None:
    """On 14+, certificates go over REST, but Tomcat restarts, backups, regeneration and CTL use the CLI."""
    for settings in _trust_settings(lab, impostor, tmp_path).values():
        params = load_parameters(_params_file(lab_params, tmp_path, impostor, version="14.0", **settings))
        with Cluster.from_parameters(params) as cluster:
            node = cluster.node("cucm-sub2")
            assert node.own_certificates()                       # REST: the real node answers
            for call in (node.backup_status, functools.partial(node.regenerate_self_signed, "tomcat"),
                         functools.partial(node.restart_service, "Cisco Tomcat", timeout=5), cluster.ctl_update):
                _refused(call, impostor)


def test_admin_cli_itself_never_authenticates(lab: LabCluster, tmp_path: Path, impostor: Impostor) -> None:
    secret = Secret(lab.state.secret("os_admin"), source="test")
    for known_hosts, pins in ((None, ()), (_claiming_known_hosts(lab, impostor, tmp_path), ()),
                              (None, tuple(_lab_fingerprints(lab)))):
        for policy in ("reject", "warn"):
            cli = AdminCli(node="cucm-pub.lab.example", address="127.0.0.1", port=impostor.port, username="admin",
                           password=secret, known_hosts=known_hosts, host_key_sha256=pins, host_key_policy=policy,
                           connect_timeout=5)
            with cli:
                _refused(cli.open, impostor)


def test_trust_fetch_and_accept_show_the_key_and_never_authenticate(lab_params: Path, tmp_path: Path,
                                                                   impostor: Impostor,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from cucmkit.cli import main

    path = _params_file(lab_params, tmp_path, impostor)
    main(["trust", "fetch", "-f", str(path)])
    out = capsys.readouterr().out
    assert impostor.fingerprint in out and "cucmkit trust accept" in out
    assert main(["trust", "accept", "-f", str(path), "--node", "cucm-pub"]) == 1     # not confirmed: nothing written
    assert impostor.fingerprint in capsys.readouterr().out
    assert not (tmp_path / "known_hosts").exists()
    assert impostor.connections > 0 and impostor.attempts == []


def test_fetching_host_keys_is_no_login(impostor: Impostor) -> None:
    keys = fetch_ssh_host_keys("127.0.0.1", impostor.port, node="n.example", timeout=5)
    assert [host_key_fingerprint(k) for k in keys] == [impostor.fingerprint]
    assert impostor.connections >= 1 and impostor.attempts == []
