"""``cucmkit lab start --detach / status / fault / knob / ca / phones / stop`` as real subprocesses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from cucmkit.lab.testing import FqdnAdapter

pytestmark = pytest.mark.slow


def cucmkit(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cucmkit", *args], capture_output=True, text=True, timeout=timeout)


def lab_cmd(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """The lab commands without the full CLI's imports (same code path after dispatch)."""
    return subprocess.run([sys.executable, "-m", "cucmkit.lab.command", *args], capture_output=True, text=True,
                          timeout=timeout)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _session(state_dir: Path, node: dict) -> tuple[requests.Session, str]:
    base = f"https://{node['address']}:{node['https_port']}"
    session = requests.Session()
    session.trust_env = False
    session.mount(base, FqdnAdapter(node["fqdn"]))
    session.verify = str(state_dir / "ca-bundle.pem")
    session.auth = ("admin", (state_dir / "secrets" / "os_admin").read_text().strip())
    return session, base


def _submit_csr(state_dir: Path, info: dict) -> int:
    from cucmkit.lab import pki

    session = requests.Session()
    session.trust_env = False
    session.mount(info["ca"]["url"], FqdnAdapter(info["ca"]["fqdn"]))
    session.verify = str(state_dir / "ca-bundle.pem")
    session.auth = ("causer", (state_dir / "secrets" / "ca_user").read_text().strip())
    csr = pki.make_csr(key=pki.new_key("ec", 256), cn="cucm-pub.lab.example", sans=("DNS:cucm-pub.lab.example",))
    page = session.post(info["ca"]["url"] + "certfnsh.asp", data={
        "Mode": "newreq", "CertRequest": csr, "CertAttrib": "CertificateTemplate:CUCM-tomcat"}).text
    return int(re.search(r"Your Request Id is (\d+)", page).group(1))


def test_start_detach_status_fault_stop(tmp_path: Path) -> None:
    state_dir = tmp_path / "lab"
    d = ["--state-dir", str(state_dir)]
    started = cucmkit("lab", "start", "--detach", *d, "--ports", "ephemeral", "--speed", "0.02", "--phones", "8",
                      "--fault", "imp-pub:axl_503")
    assert started.returncode == 0, started.stderr
    info = json.loads((state_dir / "lab.json").read_text())
    pid = info["pid"]
    try:
        assert _alive(pid) and "cucm-pub.lab.example" in started.stdout and "https 127.0.0.1:" in started.stdout
        # every listener answers right away
        pub = next(n for n in info["nodes"] if n["name"] == "cucm-pub")
        session, base = _session(state_dir, pub)
        assert session.get(base + "/platformcom/api/v1/certmgr/config/snapshot/server", timeout=5).status_code == 200

        text = lab_cmd("status", *d)
        assert text.returncode == 0 and "running" in text.stdout
        assert re.search(r"tomcat\s+issuer Lab Old Issuing CA\s+2\d\.\d days", text.stdout)
        status = json.loads(lab_cmd("status", "--json", *d).stdout)
        assert status["running"] and len(status["nodes"]) == 4 and status["phones"]["total"] == 8
        assert status["nodes"][3]["faults"] == {"axl_503": True}
        assert {n["name"]: n["https_port"] for n in status["nodes"]} == {n["name"]: n["https_port"] for n in info["nodes"]}

        assert lab_cmd("fault", "set", *d, "cucm-pub", "tls_fail").returncode == 0
        with pytest.raises(requests.exceptions.SSLError):
            session.get(base + "/platformcom/api/v1/certmgr/config/snapshot/server", timeout=5)
        assert json.loads(lab_cmd("fault", "list", *d).stdout)["cucm-pub"] == {"tls_fail": True}
        assert lab_cmd("fault", "clear", *d, "cucm-pub", "tls_fail").returncode == 0
        assert session.get(base + "/platformcom/api/v1/certmgr/config/snapshot/server", timeout=5).status_code == 200
        bad = lab_cmd("fault", "set", *d, "cucm-pub", "gremlins")
        assert bad.returncode == 1 and "unknown fault" in bad.stderr

        assert json.loads(lab_cmd("knob", "set", *d, "ca_approval", "manual").stdout) == {"ca_approval": "manual"}
        assert json.loads(lab_cmd("set", *d, "sso_enabled", "true").stdout) == {"sso_enabled": True}
        assert 'enabled="true"' in session.get(base + "/ssosp/ws/public/singleSignOn", timeout=5).text
        phones = json.loads(lab_cmd("phones", *d).stdout)
        assert phones["summary"]["total"] == 8
        assert lab_cmd("ca", "approve", *d, "999").returncode == 1
        req_id = _submit_csr(state_dir, info)  # pending: ca_approval is manual now
        assert json.loads(lab_cmd("ca", "pending", *d).stdout) == [{"req_id": req_id, "template": "CUCM-tomcat"}]
    finally:
        stopped = cucmkit("lab", "stop", *d)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid) and not (state_dir / "lab.json").exists()
    # offline: status reads the saved state, a fault set now applies at the next start
    offline = lab_cmd("status", "--json", *d)
    assert offline.returncode == 0 and json.loads(offline.stdout)["running"] is False
    assert json.loads(offline.stdout)["sso_enabled"] is True
    assert lab_cmd("fault", "set", *d, "cucm-sub1", "unreachable").returncode == 0
    assert json.loads((state_dir / "state.json").read_text())["faults"]["cucm-sub1"] == {"unreachable": True}
    assert json.loads(lab_cmd("ca", "approve", *d, str(req_id)).stdout) == {"req_id": req_id, "status": "issued"}


def test_status_without_a_lab(tmp_path: Path) -> None:
    result = lab_cmd("status", "--state-dir", str(tmp_path / "none"))
    assert result.returncode == 1 and "cucmkit lab start --detach" in result.stderr
    assert lab_cmd("stop", "--state-dir", str(tmp_path / "none")).returncode == 0


def test_start_subprocess_api(tmp_path: Path) -> None:
    from cucmkit.lab import start_subprocess

    with start_subprocess(tmp_path / "sp", speed=0.02, phones=4) as proc:
        assert proc.alive() and len(proc.endpoints()) == 4
        second = lab_cmd("start", "--detach", "--state-dir", str(tmp_path / "sp"), "--ports", "ephemeral")
        assert second.returncode == 1 and "already running" in second.stderr
    deadline = time.monotonic() + 10
    while proc.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not proc.alive()


def test_start_with_an_imp_subscriber(tmp_path: Path) -> None:
    """`lab start --imp-subscribers 1` (new state): `lab status` lists imp-sub1 as an IM&P subscriber with its own
    ports and Jabber sessions; a count outside 0..5 is refused before anything starts."""
    from cucmkit.lab import start_subprocess

    bad = lab_cmd("start", "--detach", "--state-dir", str(tmp_path / "bad"), "--ports", "ephemeral",
                  "--imp-subscribers", "6")
    assert bad.returncode == 2 and "--imp-subscribers 6" in bad.stderr and not (tmp_path / "bad" / "state.json").exists()
    d = ["--state-dir", str(tmp_path / "imp")]
    with start_subprocess(tmp_path / "imp", speed=0.02, phones=2, imp_subscribers=1) as proc:
        sub = next(e for e in proc.endpoints() if e.name == "imp-sub1")
        assert (sub.role, sub.kind, sub.fqdn) == ("subscriber", "IM&P", "imp-sub1.lab.example")
        text = lab_cmd("status", *d)
        assert text.returncode == 0, text.stderr
        assert re.search(rf"imp-sub1\.lab\.example  subscriber IM&P  https 127\.0\.0\.1:{sub.https_port} .*"
                         r"jabber sessions 40", text.stdout), text.stdout
        status = json.loads(lab_cmd("status", "--json", *d).stdout)
        assert [n["name"] for n in status["nodes"]] == ["cucm-pub", "cucm-sub1", "cucm-sub2", "imp-pub", "imp-sub1"]
