"""AdminCli against the lab's SSH door: a real paramiko session to the `admin:` CLI."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
import yaml
from cryptography import x509

from cucmkit.certs.records import record_from_pem
from cucmkit.cucm.cli import AdminCli
from cucmkit.errors import CliError, ConnectError, TimeoutError_, TransportError
from cucmkit.secrets import Secret


def _cli(lab, name: str = "cucm-pub", *, password: str | None = None, **kw) -> AdminCli:
    ep = lab.endpoint(name)
    secret = password if password is not None else lab.state.secret("os_admin")
    options: dict[str, Any] = dict(prompt_timeout=10, command_timeout=20, connect_timeout=5,
                                   known_hosts=lab.state_dir / "known_hosts")   # the lab writes it for its keys
    options.update(kw)
    return AdminCli(node=ep.fqdn, address=ep.address, port=ep.ssh_port, username="admin",
                    password=Secret(secret, source="test"), **options)


@pytest.fixture(scope="module")
def pub_cli(lab):
    with _cli(lab) as cli:
        yield cli


def test_login_then_commands_reuse_one_session(pub_cli) -> None:
    own = pub_cli.list_certs("own")
    assert pub_cli.connected
    assert "tomcat" in {c.unit for c in own}
    trust = pub_cli.list_certs("trust")
    assert trust and all(c.unit.endswith("-trust") for c in trust)


def test_show_cert_matches_the_lab_state(lab, pub_cli) -> None:
    record = pub_cli.show_cert("own", "tomcat/tomcat.pem")
    expected = record_from_pem(lab.state.node("cucm-pub").own()["tomcat"].pem)
    assert record.fingerprint_sha256 == expected.fingerprint_sha256
    assert (record.node, record.purpose, record.store, record.filename) == (
        lab.endpoint("cucm-pub").fqdn, "tomcat", "own", "tomcat.pem")
    item = next(c for c in pub_cli.list_certs("trust") if c.unit == "tomcat-trust")
    trust = pub_cli.show_cert("trust", item.path)
    assert (trust.store, trust.purpose, trust.filename) == ("tomcat-trust", "tomcat", item.filename)


def test_missing_certificate_is_cli_error_with_cucm_message(pub_cli) -> None:
    with pytest.raises(CliError) as caught:
        pub_cli.show_cert("own", "tomcat/nope.pem")
    assert "does not exist" in caught.value.message
    assert caught.value.interface == "cli" and caught.value.operation == "show cert own"


def test_unknown_command_is_cli_error(pub_cli) -> None:
    with pytest.raises(CliError) as caught:
        pub_cli.run("utils frobnicate now")
    assert "No valid command entered" in caught.value.message
    assert pub_cli.list_certs("own")  # the session is still usable


def test_pager_is_answered_when_pagination_is_on(pub_cli) -> None:
    plain = pub_cli.run("show cert own tomcat/tomcat.pem").output
    pub_cli.run("set cli pagination on")
    try:
        result = pub_cli.run("show cert own tomcat/tomcat.pem")
        paged = result.output
    finally:
        pub_cli.run("set cli pagination off")
    assert len(plain.split("\n")) > 24
    assert result.pages >= 1 and "Press <enter>" not in paged
    assert [line for line in paged.split("\n") if line.strip()] == [line for line in plain.split("\n") if line.strip()]


def test_service_list_and_restart_streams_until_started(lab, pub_cli) -> None:
    services = pub_cli.service_list()
    assert services["Cisco Tomcat"].started
    lines: list[str] = []
    state = pub_cli.service_restart("Cisco Tomcat", on_line=lines.append, timeout=20)
    assert state.started and state.name == "Cisco Tomcat"
    assert any("[STOPPING]" in line for line in lines)
    starting = next(line for line in lines if "[STARTING]" in line)
    assert lines.index(starting) < lines.index(next(line for line in lines if "[STARTED]" in line))


def test_slow_restart_is_waited_on(lab) -> None:
    lab.state.faults.set("cucm-sub1", "slow_restart", 6)
    try:
        with _cli(lab, "cucm-sub1") as cli:
            started = time.monotonic()
            state = cli.service_restart("Cisco Tftp", timeout=30)
            took = time.monotonic() - started
    finally:
        lab.state.faults.clear("cucm-sub1", "slow_restart")
    assert state.started and took > 0.5


def test_failed_restart_is_cli_error(lab) -> None:
    lab.state.faults.set("cucm-sub1", "service_fail", "Cisco Tftp")
    try:
        with _cli(lab, "cucm-sub1") as cli, pytest.raises(CliError) as caught:
            cli.service_restart("Cisco Tftp", timeout=20)
    finally:
        lab.state.faults.clear("cucm-sub1", "service_fail")
        with _cli(lab, "cucm-sub1") as cli:
            cli.service_restart("Cisco Tftp", timeout=20)
    assert "Cisco Tftp did not start" in caught.value.message
    assert caught.value.operation == "utils service restart"


def test_restart_deadline_is_timeout_error(lab) -> None:
    lab.state.faults.set("cucm-sub2", "slow_restart", 40)  # 0.2 s restart -> 8 s
    try:
        with _cli(lab, "cucm-sub2") as cli:
            started = time.monotonic()
            with pytest.raises(TimeoutError_) as caught:
                cli.service_restart("Cisco Tftp", timeout=1.0)
            assert time.monotonic() - started < 5          # the 1 s deadline, not the 8 s restart
            assert not cli.connected
    finally:
        lab.state.faults.clear("cucm-sub2", "slow_restart")
        node = lab.state.node("cucm-sub2")
        deadline = time.monotonic() + 30
        while node.service("Cisco Tftp").status != "Started" and time.monotonic() < deadline:
            time.sleep(0.1)  # leave the shared lab as found
    assert caught.value.node == lab.endpoint("cucm-sub2").fqdn
    assert (caught.value.interface, caught.value.operation) == ("cli", "utils service restart")
    assert "utils service restart Cisco Tftp" in caught.value.message


def test_hung_cli_times_out_within_its_deadline(lab) -> None:
    lab.state.faults.set("cucm-sub2", "hang_ssh")
    try:
        cli = _cli(lab, "cucm-sub2", prompt_timeout=1.0)
        started = time.monotonic()
        with pytest.raises(TimeoutError_) as caught:
            cli.list_certs("own")
        elapsed = time.monotonic() - started
    finally:
        lab.state.faults.clear("cucm-sub2", "hang_ssh")
    assert 0.9 < elapsed < 4
    error = caught.value
    assert (error.node, error.interface, error.operation) == (lab.endpoint("cucm-sub2").fqdn, "cli", "login")
    assert "admin: prompt" in error.message and not cli.connected


def test_unreachable_node_is_transport_error(lab) -> None:
    lab.state.faults.set("cucm-sub2", "unreachable")
    try:
        started = time.monotonic()
        with pytest.raises(TransportError) as caught:
            _cli(lab, "cucm-sub2", connect_timeout=2).list_certs("own")
        assert time.monotonic() - started < 5
    finally:
        lab.state.faults.clear("cucm-sub2", "unreachable")
    assert caught.value.node == lab.endpoint("cucm-sub2").fqdn and caught.value.interface == "cli"


def test_sentinel_password_never_shows(lab, caplog) -> None:
    sentinel = "Sentinel-Pw-0xDEADBEEF"
    cli = _cli(lab, password=sentinel)
    with caplog.at_level("DEBUG"), pytest.raises(CliError) as caught:
        cli.list_certs("own")
    assert "authentication failed for admin" in caught.value.message
    for text in (str(caught.value), repr(caught.value), repr(cli), caplog.text):
        assert sentinel not in text


def test_cluster_level_commands(lab, pub_cli) -> None:
    assert pub_cli.sso_status().enabled is bool(lab.state.sso_enabled)
    backup = pub_cli.backup_status()
    assert backup.in_progress is bool(lab.state.backup_in_progress) and backup.operation == "BACKUP"
    restore = pub_cli.restore_status()
    assert restore.in_progress is bool(lab.state.restore_in_progress)
    rows = pub_cli.run_sql("select paramname,paramvalue from processconfig where paramname='ClusterSecurityMode'")
    assert rows == [{"paramname": "ClusterSecurityMode", "paramvalue": str(int(lab.state.security_mode))}]
    nodes = pub_cli.run_sql("select name,tknodeusage,tkprocessnoderole from processnode")
    assert "EnterpriseWideData" in {r["name"] for r in nodes} and len(nodes) == len(lab.endpoints()) + 1
    if int(lab.state.security_mode) == 0:
        with pytest.raises(CliError) as caught:
            pub_cli.ctl_update()
        assert "not in Mixed Mode" in caught.value.message
    web = pub_cli.show_web_security()
    assert set(web) >= {"OrgUnit", "OrgName"}


def test_certificate_cycle_through_the_cli(fresh_lab) -> None:
    """CSR, CA issue, trust chain + identity import, regen and trust delete, all over the CLI."""
    with _cli(fresh_lab, "cucm-sub1") as cli:
        assert "Successfully Generated CSR for tomcat" in cli.csr_gen("tomcat")
        csr = cli.show_csr("tomcat")
        assert csr is not None and x509.load_pem_x509_csr(csr.encode())
        leaf, chain = fresh_lab.ca.issue(csr, "tomcat")
        for ca_pem in reversed(chain):
            message = cli.import_cert("trust", "tomcat", ca_pem)
            assert "Successfully imported certificate for tomcat." in message or "not stored" in message
        with pytest.raises(ValueError, match="takes the unit"):
            cli.import_cert("trust", "tomcat-trust", chain[-1])
        assert "Successfully imported certificate for tomcat" in cli.import_cert("own", "tomcat", leaf)
        assert cli.show_csr("tomcat") is None
        installed = record_from_pem(fresh_lab.state.node("cucm-sub1").own()["tomcat"].pem)
        assert installed.fingerprint_sha256 == record_from_pem(leaf).fingerprint_sha256
        with pytest.raises(CliError) as refused:
            cli.import_cert("own", "tomcat", leaf)  # no pending CSR any more
        assert refused.value.message
        assert "Successfully Regenerated Certificate for tomcat" in cli.regen("tomcat")
        assert record_from_pem(fresh_lab.state.node("cucm-sub1").own()["tomcat"].pem).self_signed
        victim = next(c for c in cli.list_certs("trust") if c.unit == "tomcat-trust")
        assert "Successfully deleted" in cli.delete_trust("tomcat-trust", victim.filename)
        assert victim.filename not in fresh_lab.state.node("cucm-sub1").trust("tomcat-trust")


def test_ctl_update_and_web_security_change(fresh_lab) -> None:
    fresh_lab.state.set_security_mode(1)
    version = fresh_lab.state.ctl.version
    with _cli(fresh_lab) as cli:
        assert "successfully updated" in cli.ctl_update()
        assert fresh_lab.state.ctl.version == version + 1
        before = fresh_lab.state.node("cucm-pub").own()["tomcat"].pem
        cli.set_web_security(orgunit="Voice Team", orgname="Example Corp", locality="Tokyo", state="Tokyo",
                             country="JP")
        shown = cli.show_web_security()
    assert shown["OrgUnit"] == "Voice Team" and shown["OrgName"] == "Example Corp" and shown["Country"] == "JP"
    assert fresh_lab.state.node("cucm-pub").own()["tomcat"].pem != before


def test_unreachable_node_names_node_and_fits_the_remedy(lab) -> None:
    """Issue 11 item 7: paramiko/socket failures become ConnectError / TimeoutError_ naming the node."""
    lab.state.faults.set("cucm-sub2", "unreachable")
    try:
        with pytest.raises(ConnectError) as caught:
            _cli(lab, "cucm-sub2", connect_timeout=2).list_certs("own")
    finally:
        lab.state.faults.clear("cucm-sub2", "unreachable")
    error = caught.value
    assert error.node == lab.endpoint("cucm-sub2").fqdn and error.operation == "login"
    assert "cannot open SSH" in error.message and "ssh_port" in (error.remedy or "")


def test_closed_port_is_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cli = AdminCli(node="gone.example", address="127.0.0.1", port=port, username="admin",
                   password=Secret("x", source="test"), connect_timeout=2)
    with pytest.raises(ConnectError) as caught:
        cli.open()
    assert caught.value.node == "gone.example" and "refused" in caught.value.message.lower()


def test_silent_ssh_port_times_out_within_timeouts_connect() -> None:
    with socket.socket() as listener:   # accepts TCP, never sends an SSH banner
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        cli = AdminCli(node="silent.example", address="127.0.0.1", port=listener.getsockname()[1],
                       username="admin", password=Secret("x", source="test"), connect_timeout=0.5)
        started = time.monotonic()
        with pytest.raises((TimeoutError_, ConnectError)) as caught:
            cli.open()
    assert time.monotonic() - started < 3
    assert caught.value.node == "silent.example" and caught.value.operation == "login"


def test_inventory_of_an_unreachable_cli_only_node_is_one_line_not_a_traceback(lab, lab_params, tmp_path,
                                                                              capsys) -> None:
    from cucmkit.cli import main

    data = yaml.safe_load(lab_params.read_text())
    for node in data["nodes"]:
        node["version"] = "12.5"
    data["timeouts"]["connect"] = 2
    path = tmp_path / "cli-only.yaml"
    path.write_text(yaml.safe_dump(data))
    lab.state.faults.set("imp-pub", "unreachable")
    try:
        code = main(["inventory", "-f", str(path)])
    finally:
        lab.state.faults.clear("imp-pub", "unreachable")
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert "error: [imp-pub.lab.example cli login] cannot open SSH" in err
    assert "cucm-pub" in out


def test_sso_and_restore_status_read_the_real_layouts(fresh_lab) -> None:
    """An enabled subscriber prints `Recovery URL Status = disabled`: still enabled (TAC 217268's layout)."""
    fresh_lab.state.set_sso(True)
    fresh_lab.state.set_restore(True)
    with _cli(fresh_lab, "cucm-sub1") as cli:
        sso = cli.sso_status()
        assert (sso.enabled, sso.recovery_url, sso.test_status) == (True, False, "passed")
        assert sso.entity_id and sso.entity_id.startswith("http")
        restore = cli.restore_status()
        assert (restore.in_progress, restore.operation, restore.available) == (True, "RESTORE", True)
        fresh_lab.state.set_sso(False)
        fresh_lab.state.set_restore(False)
        assert cli.sso_status().enabled is False
        assert cli.restore_status().available is False
