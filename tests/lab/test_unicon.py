"""Cisco's own CUCM CLI driver, pyATS unicon (``os='vos'``), drives the lab's CLI over OpenSSH.

The connection comes from a pyATS testbed dict; the lab's host keys are trusted through its
known_hosts file (StrictHostKeyChecking=yes). Connecting, the prompt, the pager and plain commands
use only what the ``vos`` plugin ships. The plugin ships no statement for CUCM's ``(yes|no)?``
questions nor for the certificate paste prompt, so the dialogs add exactly those two, worded as
the CLI reference words them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from cucmkit.certs.records import record_from_pem
from cucmkit.lab import LabCluster, Topology

pytest.importorskip("unicon.plugins.vos")
loader = pytest.importorskip("pyats.topology.loader")
from unicon.eal.dialogs import Dialog, Statement  # noqa: E402

if shutil.which("ssh") is None:
    pytest.skip("unicon needs the OpenSSH client", allow_module_level=True)

YES_NO = r"\(yes\|no\)\?\s*$"                          # "Proceed with regeneration (yes|no)?" etc.
PASTE = r"Paste the Certificate and Hit Enter\s*$"     # set cert import own|trust <unit>


@pytest.fixture(scope="module")
def unicon_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    with LabCluster(tmp_path_factory.mktemp("unicon") / "state", topology=Topology(phones=4),
                    ports="ephemeral", speed=0.02) as cluster:
        yield cluster


def _device(lab: LabCluster, node: str) -> Any:
    ep = lab.endpoint(node)
    known_hosts = lab.state_dir / "known_hosts"
    testbed = loader.load({"devices": {node: {
        "os": "vos", "type": "cucm",
        "credentials": {"default": {"username": "admin", "password": lab.state.secret("os_admin")}},
        "connections": {"cli": {
            "class": "unicon.Unicon", "protocol": "ssh", "ip": ep.address, "port": ep.ssh_port,
            "ssh_options": f"-F /dev/null -o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes "
                           "-o PubkeyAuthentication=no"}},
    }}})
    return testbed.devices[node]


@pytest.fixture
def device(unicon_lab: LabCluster) -> Iterator[Any]:
    dev = _device(unicon_lab, "cucm-sub1")
    dev.connect(via="cli", log_stdout=False, learn_hostname=False, connection_timeout=60)
    try:
        yield dev
    finally:
        dev.disconnect()


def _yes() -> Dialog:
    return Dialog([Statement(pattern=YES_NO, action="sendline(yes)", loop_continue=True, continue_timer=False)])


def _paste(pem: str) -> Dialog:
    def send(spawn: Any) -> None:
        spawn.send("\r\n".join(pem.strip().splitlines()) + "\r\n\r\n")
    return Dialog([Statement(pattern=PASTE, action=send, loop_continue=True, continue_timer=False)])


def test_show_commands_with_the_plugins_own_patterns(device: Any, unicon_lab: LabCluster) -> None:
    own = device.execute("show cert list own")
    assert "tomcat/tomcat.pem:" in own and "CallManager/CallManager.pem:" in own
    services = device.execute("utils service list")
    assert "Cisco Tomcat[STARTED]" in services and services.rstrip().endswith("]")
    assert device.execute("show version active").startswith("Active Master Version: ")
    sso = device.execute("utils sso status")
    assert sso.strip() == "SSO Status: SAML SSO Disabled"


def test_the_pager_is_answered_by_the_plugins_statement(unicon_lab: LabCluster) -> None:
    """Pagination left on: the plugin's `Press <enter> ...` statement pages through, and its clean-up
    removes the prompt and the erase sequence the lab writes once."""
    dev = _device(unicon_lab, "cucm-sub1")
    dev.connect(via="cli", log_stdout=False, learn_hostname=False, connection_timeout=60, init_exec_commands=[])
    try:
        shown = dev.execute("show cert own tomcat/tomcat.pem")
    finally:
        dev.disconnect()
    lines = shown.splitlines()
    assert len(lines) > 24 and "Press <enter>" not in shown and "\x1b" not in shown
    pem = shown[shown.index("-----BEGIN CERTIFICATE-----"):].replace("\r", "").strip() + "\n"
    assert pem == unicon_lab.state.node("cucm-sub1").own()["tomcat"].pem


def test_csr_import_regen_and_restart_dialogs(device: Any, unicon_lab: LabCluster) -> None:
    node = unicon_lab.state.node("cucm-sub1")
    assert "Successfully Generated CSR for tomcat." in device.execute("set csr gen tomcat", reply=_yes())
    csr = device.execute("show csr own tomcat")
    assert csr.strip().startswith("-----BEGIN CERTIFICATE REQUEST-----")
    leaf, chain = unicon_lab.ca.issue(csr.strip() + "\n", "tomcat")
    for ca_pem in reversed(chain):
        answer = device.execute("set cert import trust tomcat", reply=_paste(ca_pem), timeout=60)
        assert "Successfully imported certificate for tomcat." in answer or "not stored" in answer
    answer = device.execute("set cert import own tomcat", reply=_paste(leaf), timeout=60)
    assert "Successfully imported certificate for tomcat." in answer
    installed = record_from_pem(node.own()["tomcat"].pem)
    assert installed.fingerprint_sha256 == record_from_pem(leaf).fingerprint_sha256
    restart = device.execute("utils service restart Cisco Tomcat", timeout=180)
    assert "Cisco Tomcat[STARTED]" in restart
    assert node.service("Cisco Tomcat").status == "Started"
    assert "Successfully Regenerated Certificate for ipsec." in device.execute(
        "set cert regen ipsec", reply=_yes(), timeout=60)
    assert record_from_pem(node.own()["ipsec"].pem).self_signed
