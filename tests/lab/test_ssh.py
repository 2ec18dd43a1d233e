"""The lab's SSH door: a real paramiko client (and OpenSSH's ssh, if present) over loopback.

Read-only sessions use the session ``lab``; tests that change certificates,
restart services or switch faults on use this module's own lab (``ssh_lab``).
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paramiko
import pytest

from cucmkit.catalogue import MESSAGES
from cucmkit.lab import LabCluster, Topology
from cucmkit.lab.shell import PAGER_PROMPT, PROMPT
from cucmkit.lab.ssh import start_ssh

REST = "/platformcom/api/v1/certmgr/config"


class Session:
    """An interactive ``admin:`` session over paramiko, reading until a pattern shows up."""

    def __init__(self, lab: LabCluster, node: str = "cucm-pub", *, password: str | None = None,
                 wait_prompt: bool = True, **connect: object) -> None:
        ep = lab.endpoint(node)
        self.client = paramiko.SSHClient()
        self.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        self.client.connect(ep.address, port=ep.ssh_port, username="admin",
                            password=password if password is not None else lab.state.secret("os_admin"),
                            look_for_keys=False, allow_agent=False, timeout=5, banner_timeout=5, **connect)
        self.channel = self.client.invoke_shell(width=200)
        self.buffer = ""
        if wait_prompt:
            self.until(PROMPT)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    @property
    def transport(self) -> paramiko.Transport:
        transport = self.client.get_transport()
        assert transport is not None
        return transport

    def until(self, marker: str, timeout: float = 10.0, *, on_line: Callable[[str], None] | None = None) -> str:
        """Everything up to and including ``marker``; AssertionError if it does not come in time."""
        deadline = time.monotonic() + timeout
        while marker not in self.buffer:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {marker!r} within {timeout} s; got {self.buffer[-300:]!r}")
            if self.channel.recv_ready():
                chunk = self.channel.recv(65536).decode()
                self.buffer += chunk
                if on_line is not None:
                    for line in chunk.split("\r\n")[:-1]:
                        on_line(line)
            elif self.channel.closed or self.channel.eof_received:
                raise AssertionError(f"channel closed before {marker!r}; got {self.buffer[-300:]!r}")
            else:
                time.sleep(0.005)
        head, _, tail = self.buffer.partition(marker)
        self.buffer = tail
        return head + marker

    def send(self, text: str) -> None:
        self.channel.sendall(text.encode())

    def run(self, command: str, *answers: str, timeout: float = 10.0) -> list[str]:
        """Output lines of ``command`` (echo, questions and the final prompt left out)."""
        self.send(command + "\r\n")
        text = ""
        for answer in answers:
            text += self.until("?", timeout)
            self.send(answer + "\r")
        text += self.until(PROMPT, timeout)
        lines = text[: -len(PROMPT)].split("\r\n")[:-1]
        return [line for line in lines if line != command and "(yes|no)?" not in line]

    def paste(self, kind: str, unit: str, pem: str) -> list[str]:
        self.send(f"set cert import {kind} {unit}\r")
        self.until("Paste the Certificate and Hit Enter\r\n")
        lines = pem.strip().splitlines()
        self.send("\r\n".join(lines) + "\r\n\r\n")
        out = self.until(PROMPT)[: -len(PROMPT)].split("\r\n")[:-1]
        return out[len(lines) + 1:]


@pytest.fixture(scope="module")
def ssh_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    with LabCluster(tmp_path_factory.mktemp("ssh") / "state", topology=Topology(phones=8),
                    ports="ephemeral", speed=0.02) as cluster:
        yield cluster


# --- login, keys, algorithms ----------------------------------------------------------------


def test_login_shows_banner_and_prompt(lab: LabCluster) -> None:
    with Session(lab, wait_prompt=False) as s:
        text = s.until(PROMPT)
        assert text.startswith("Command Line Interface is starting up, please wait ...\r\n")
        assert "Welcome to the Platform Command Line Interface\r\n" in text
        assert text.endswith("\r\nadmin:")
        assert s.run("show version active")[0] == "Active Master Version: 14.0.1.13900-155"


def test_wrong_password_is_refused(lab: LabCluster) -> None:
    with pytest.raises(paramiko.AuthenticationException):
        Session(lab, password="not-the-password")


def test_password_and_keyboard_interactive_are_offered(lab: LabCluster) -> None:
    ep = lab.endpoint("cucm-pub")
    transport = paramiko.Transport((ep.address, ep.ssh_port))
    try:
        transport.start_client(timeout=5)
        with pytest.raises(paramiko.BadAuthenticationType) as info:
            transport.auth_none("admin")
        assert info.value.allowed_types == ["password", "keyboard-interactive"]
        prompts: list[tuple[str, bool]] = []

        def handler(title: str, instructions: str, asked: list[tuple[str, bool]]) -> list[str]:
            prompts.extend(asked)
            return [lab.state.secret("os_admin")] * len(asked)

        transport.auth_interactive("admin", handler)
        assert transport.is_authenticated() and prompts == [("Password: ", False)]
    finally:
        transport.close()


def test_keyboard_interactive_with_a_wrong_password_fails(lab: LabCluster) -> None:
    ep = lab.endpoint("cucm-pub")
    transport = paramiko.Transport((ep.address, ep.ssh_port))
    try:
        transport.start_client(timeout=5)
        with pytest.raises(paramiko.AuthenticationException):
            transport.auth_interactive("admin", lambda title, instructions, asked: ["wrong"] * len(asked))
    finally:
        transport.close()


def test_login_delay_knob_holds_the_prompt(ssh_lab: LabCluster) -> None:
    knobs = ssh_lab.state.knobs
    knobs.ssh_login_delay = 0.5 / knobs.speed
    try:
        with Session(ssh_lab, wait_prompt=False) as s:
            s.until("please wait ...")
            start = time.monotonic()
            s.until(PROMPT)
            assert time.monotonic() - start >= 0.4
    finally:
        knobs.ssh_login_delay = 0.0


def test_exec_requests_are_refused(lab: LabCluster) -> None:
    with Session(lab) as s:
        with pytest.raises(paramiko.SSHException):
            s.client.exec_command("show version active", timeout=5)


def test_group14_sha256_with_an_rsa_host_key(lab: LabCluster) -> None:
    kex = [k for k in paramiko.Transport._preferred_kex if k != "diffie-hellman-group14-sha256"]
    keys = [k for k in paramiko.Transport._preferred_keys if k != "rsa-sha2-256"]
    with Session(lab, disabled_algorithms={"kex": kex, "keys": keys,
                                           "ciphers": ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
                                                       "aes192-ctr", "aes256-ctr", "aes128-cbc", "aes192-cbc",
                                                       "aes256-cbc", "3des-cbc"],
                                           "macs": ["hmac-sha2-256", "hmac-sha2-512", "hmac-sha2-256-etm@openssh.com",
                                                    "hmac-sha2-512-etm@openssh.com"]}) as s:
        t = s.transport
        assert tuple(t.preferred_kex) == ("diffie-hellman-group14-sha256",)  # the only one offered
        assert t.get_remote_server_key().get_name() == "ssh-rsa"
        assert t.host_key_type == "rsa-sha2-256"
        assert (t.local_cipher, t.local_mac) == ("aes128-ctr", "hmac-sha1")
        assert s.run("show version active")[0].startswith("Active Master Version")


def test_ecdsa_host_key_is_offered_too(lab: LabCluster) -> None:
    keys = [k for k in paramiko.Transport._preferred_keys if k != "ecdsa-sha2-nistp256"]
    with Session(lab, disabled_algorithms={"keys": keys}) as s:
        assert s.transport.get_remote_server_key().get_name() == "ecdsa-sha2-nistp256"


def test_host_keys_persist_in_the_state_dir(ssh_lab: LabCluster) -> None:
    folder = ssh_lab.state_dir / "ssh"
    rsa_file = folder / "cucm-sub1_host_rsa.key"
    assert rsa_file.is_file() and stat.S_IMODE(rsa_file.stat().st_mode) == 0o600
    on_disk = paramiko.RSAKey.from_private_key_file(str(rsa_file))
    keys = [k for k in paramiko.Transport._preferred_keys if not k.startswith("rsa-sha2")]
    with Session(ssh_lab, "cucm-sub1", disabled_algorithms={"keys": keys}) as s:
        served = s.transport.get_remote_server_key()
    assert served.asbytes() == on_disk.asbytes()
    # a second listener for the same node (a lab restart) serves the same key
    handle = start_ssh(state=ssh_lab.state, node=ssh_lab.state.node("cucm-sub1"), host="127.0.0.1", port=0)
    try:
        transport = paramiko.Transport(("127.0.0.1", handle.port))
        transport.disabled_algorithms = {"keys": keys}
        transport.start_client(timeout=5)
        assert transport.get_remote_server_key().asbytes() == on_disk.asbytes()
        transport.close()
    finally:
        handle.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", handle.port), timeout=2).close()


def test_a_taken_port_is_named_in_the_error(lab: LabCluster) -> None:
    port = lab.endpoint("cucm-pub").ssh_port
    with pytest.raises(OSError, match=f"lab SSH for cucm-pub cannot listen on 127.0.0.1:{port}"):
        start_ssh(state=lab.state, node=lab.state.node("cucm-pub"), host="127.0.0.1", port=port)


# --- the CLI over SSH -----------------------------------------------------------------------


def test_pager_over_ssh(lab: LabCluster) -> None:
    with Session(lab) as s:
        s.send("show cert own tomcat/tomcat.pem\r")
        first = s.until(PAGER_PROMPT)
        assert len(first.split("\r\n")) == 24 + 2  # echo line + 24 lines + the pager prompt
        s.send("\r")
        s.until(PAGER_PROMPT)
        s.send("q")
        assert s.until(PROMPT).endswith("\r\x1b[K" + PROMPT)
        assert s.run("set cli pagination off") == ["Automatic pagination is turned off"]
        lines = s.run("show cert own tomcat/tomcat.pem")
        assert PAGER_PROMPT not in "".join(lines) and lines[-1] == "-----END CERTIFICATE-----"


def test_every_read_command_over_ssh(lab: LabCluster) -> None:
    trust_file = sorted(lab.state.node("cucm-pub").trust("tomcat-trust"))[0]
    commands = {
        "show cert list own": "tomcat/tomcat.pem: ",
        "show cert list trust": f"tomcat-trust/{trust_file}: Trust Certificate",
        "show cert own tomcat/tomcat.pem": "-----END CERTIFICATE-----",
        f"show cert trust tomcat-trust/{trust_file}": "-----END CERTIFICATE-----",
        "show csr list own": None,
        "show csr own ipsec": "does not exist",
        "utils service list": "Cisco Tomcat[STARTED]",
        "utils ctl update CTLFile": "This cluster is not in Mixed Mode. CTL update is not allowed",
        "utils disaster_recovery status backup": "Status: SUCCESS :: BACKUP completed successfully",
        "utils sso status": "SSO Status: SAML SSO Disabled",
        "show web-security": "  OrgUnit: ",
        "run sql select paramname,paramvalue from processconfig where paramname='ClusterSecurityMode'":
            "ClusterSecurityMode 0",
        "show version active": "Active Master Version: 14.0.1.13900-155",
    }
    with Session(lab) as s:
        s.run("set cli pagination off")
        for command, expected in commands.items():
            text = "\n".join(s.run(command))
            assert "Executed command unsuccessfully" not in text, command
            if expected is not None:
                assert expected in text, (command, text[-300:])


def test_unknown_command_over_ssh(lab: LabCluster) -> None:
    with Session(lab) as s:
        assert s.run("utils frobnicate now") == ["Executed command unsuccessfully", "No valid command entered"]


def test_quit_closes_the_channel(lab: LabCluster) -> None:
    with Session(lab) as s:
        s.send("quit\r")
        deadline = time.monotonic() + 5
        while not s.channel.exit_status_ready() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert s.channel.recv_exit_status() == 0


def test_csr_gen_and_import_over_ssh(ssh_lab: LabCluster) -> None:
    node = ssh_lab.state.node("cucm-sub1")
    with Session(ssh_lab, "cucm-sub1") as s:
        assert s.run("set csr gen tomcat", "yes") == ["Successfully Generated CSR for tomcat."]
        csr = "\n".join(s.run("show csr own tomcat")) + "\n"
        assert csr == node.pending_csr("tomcat")
        leaf, chain = ssh_lab.ca.issue(csr, "tomcat")
        for ca_pem in reversed(chain):
            assert s.paste("trust", "tomcat", ca_pem)[0] == "Successfully imported certificate for tomcat."
        assert s.paste("own", "tomcat", leaf) == [
            "Successfully imported certificate for tomcat.",
            "Please restart services related to tomcat for the new certificate to become active.",
        ]
    assert node.own()["tomcat"].pem.strip() == leaf.strip()


def _rest_identity(session, base: str, pem: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    answer = session.post(f"{base}{REST}/identity/certificates", json={"service": "tomcat", "certificates": [pem]})
    return answer.status_code, answer.json()["message"]


def _rest_trust(session, base: str, pem: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    answer = session.post(f"{base}{REST}/trust/certificates",
                          json={"service": ["tomcat"], "certificates": [pem], "description": "test"})
    return answer.status_code, answer.json()["message"]


def test_rule_messages_are_the_same_through_cli_and_rest(ssh_lab: LabCluster, lab_https) -> None:  # type: ignore[no-untyped-def]
    node = ssh_lab.state.node("cucm-sub2")
    session, base = lab_https(ssh_lab, "cucm-sub2")
    ca = ssh_lab.ca
    with Session(ssh_lab, "cucm-sub2") as s:
        s.run("set cli pagination off")
        # no pending CSR
        assert node.pending_csr("tomcat") is None
        probe_csr = ssh_lab.state.node("cucm-sub1").generate_csr("ipsec")
        stray, chain = ca.issue(probe_csr, "tomcat")
        seen: dict[str, str] = {}

        def both(pem: str, expected: str, *, trust: bool = False) -> None:
            status, rest_message = (_rest_trust if trust else _rest_identity)(session, base, pem)
            cli = s.paste("trust" if trust else "own", "tomcat", pem)
            assert status == 400
            assert rest_message == expected
            assert cli == [rest_message]
            seen[expected] = rest_message

        both(stray, node.csr_missing_message("tomcat"))
        csr = "\n".join(s.run("set csr gen tomcat", "yes") and s.run("show csr own tomcat")) + "\n"
        good, chain = ca.issue(csr, "tomcat")
        both(good, MESSAGES.ca_not_in_trust)
        both(ca.issue(csr, "tomcat", wildcard=True)[0], MESSAGES.wildcard)
        both("this is not a certificate", MESSAGES.bad_format)
        for ca_pem in reversed(chain):
            assert _rest_trust(session, base, ca_pem)[0] == 200
        both(ca.issue(csr, "tomcat", wrong_key=True)[0], MESSAGES.key_mismatch)
        both(ca.issue(csr, "tomcat", extra_sans=["DNS:extra.lab.example"])[0], MESSAGES.san_mismatch)
        both(ca.issue(csr, "tomcat", expired=True)[0], MESSAGES.expired, trust=True)
        # and the good one goes in through the CLI
        assert s.paste("own", "tomcat", good)[0] == "Successfully imported certificate for tomcat."
    assert len(seen) == 7


def test_restart_output_streams_as_it_progresses(ssh_lab: LabCluster) -> None:
    arrivals: dict[str, float] = {}

    def on_line(line: str) -> None:
        arrivals.setdefault(line.strip(), time.monotonic())

    ssh_lab.state.faults.set("cucm-sub1", "slow_restart", 3)  # ~1.2 s: long enough to see it stream under load
    try:
        with Session(ssh_lab, "cucm-sub1") as s:
            s.send("utils service restart Cisco Tomcat\r")
            s.until(PROMPT, 15, on_line=on_line)
    finally:
        ssh_lab.state.faults.clear("cucm-sub1", "slow_restart")
    duration = ssh_lab.state.knobs.delay(ssh_lab.state.knobs.tomcat_restart_seconds) * 3
    order = [k for k in arrivals if k.startswith("Cisco Tomcat[")]
    assert order == ["Cisco Tomcat[STOPPING]", "Cisco Tomcat[STARTING]", "Cisco Tomcat[STARTED]"]
    assert arrivals["Cisco Tomcat[STARTED]"] - arrivals["Cisco Tomcat[STOPPING]"] >= duration * 0.5


def test_failing_service_over_ssh(ssh_lab: LabCluster) -> None:
    ssh_lab.state.faults.set("cucm-sub1", "service_fail", "Cisco TFTP")
    try:
        with Session(ssh_lab, "cucm-sub1") as s:
            lines = s.run("utils service restart Cisco TFTP", timeout=15)
    finally:
        ssh_lab.state.faults.clear("cucm-sub1", "service_fail")
    assert lines[-1] == "Cisco Tftp[STOPPED]  Component is not running"
    with Session(ssh_lab, "cucm-sub1") as s:
        assert s.run("utils service start Cisco TFTP")[-1] == "Cisco Tftp[STARTED]"


# --- faults ---------------------------------------------------------------------------------


def test_hang_fault_logs_in_but_never_prompts(ssh_lab: LabCluster) -> None:
    ssh_lab.state.faults.set("cucm-pub", "hang_ssh")
    try:
        with Session(ssh_lab, wait_prompt=False) as s:
            assert s.transport.is_authenticated()
            s.until("please wait ...")
            with pytest.raises(AssertionError, match="no 'admin:'"):
                s.until(PROMPT, timeout=1.5)
            s.send("show version active\r")
            with pytest.raises(AssertionError):
                s.until("Active Master Version", timeout=0.5)
    finally:
        ssh_lab.state.faults.clear("cucm-pub", "hang_ssh")
    with Session(ssh_lab) as s:
        assert s.run("show version active")[0].startswith("Active Master Version")


def test_unreachable_fault_drops_connections(ssh_lab: LabCluster) -> None:
    ssh_lab.state.faults.set("cucm-pub", "unreachable")
    try:
        with pytest.raises((paramiko.SSHException, EOFError, OSError)):
            Session(ssh_lab)
    finally:
        ssh_lab.state.faults.clear("cucm-pub", "unreachable")
    with Session(ssh_lab) as s:
        assert s.run("show version active")[0].startswith("Active Master Version")


def test_unreachable_fault_cuts_a_running_session(ssh_lab: LabCluster) -> None:
    with Session(ssh_lab) as s:
        ssh_lab.state.faults.set("cucm-pub", "unreachable")
        try:
            deadline = time.monotonic() + 5
            while not (s.channel.closed or s.channel.eof_received) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert s.channel.closed or s.channel.eof_received
        finally:
            ssh_lab.state.faults.clear("cucm-pub", "unreachable")


# --- OpenSSH's own client ---------------------------------------------------------------------


class _Collector:
    """Reads a pipe in a thread so a test can wait for text with a deadline."""

    def __init__(self, pipe) -> None:
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe) -> None:
        for chunk in iter(lambda: pipe.read1(4096), b""):
            with self._lock:
                self._chunks.append(chunk)

    def text(self) -> str:
        with self._lock:
            return b"".join(self._chunks).decode(errors="replace")

    def wait_for(self, needle: str, *, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text():
                return True
            time.sleep(0.05)
        return needle in self.text()


def test_openssh_client_gets_the_prompt(lab: LabCluster, tmp_path: Path) -> None:
    ssh = shutil.which("ssh")
    if ssh is None:
        pytest.skip("no OpenSSH client on this machine")
    version = subprocess.run([ssh, "-V"], capture_output=True, text=True).stderr
    if not version.startswith("OpenSSH_") or tuple(int(x) for x in version[8:11].split(".")) < (8, 4):
        pytest.skip(f"ssh cannot take a password without a terminal here ({version.strip()})")
    askpass = tmp_path / "askpass.sh"
    secret = tmp_path / "pw"
    secret.write_text(lab.state.secret("os_admin"))
    secret.chmod(0o600)
    askpass.write_text(f"#!/bin/sh\ncat '{secret}'\n")
    askpass.chmod(0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSH_")}
    env.update(SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force", DISPLAY=env.get("DISPLAY", ":0"))
    ep = lab.endpoint("cucm-pub")
    command = [ssh, "-tt", "-p", str(ep.ssh_port), "-F", "/dev/null", "-o", "StrictHostKeyChecking=no",
               "-o", f"UserKnownHostsFile={tmp_path / 'known_hosts'}", "-o", "PreferredAuthentications=password",
               "-o", "PubkeyAuthentication=no", "-o", "NumberOfPasswordPrompts=1",
               "-o", "KexAlgorithms=diffie-hellman-group14-sha256", "-o", "HostKeyAlgorithms=rsa-sha2-256,rsa-sha2-512",
               f"admin@{ep.address}"]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, start_new_session=True)
    out = _Collector(proc.stdout)
    try:
        # Type only once the prompt is there, as a person would: stdin closed early
        # makes OpenSSH tear the session down before the server has answered.
        assert out.wait_for("admin:", timeout=30), out.text()[-500:]
        proc.stdin.write(b"show version active\r")
        proc.stdin.flush()
        assert out.wait_for("Active Master Version", timeout=30), out.text()[-500:]
        proc.stdin.write(b"exit\r")
        proc.stdin.close()
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    text, err = out.text(), proc.stderr.read()
    assert "admin:" in text, (text[-500:], err.decode(errors="replace")[-500:])
    assert "Welcome to the Platform Command Line Interface" in text
    assert "Active Master Version: 14.0.1.13900-155" in text
    assert (tmp_path / "known_hosts").read_text().count("ssh-rsa") == 1
