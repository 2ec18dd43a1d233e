"""The embedded lab cluster: a CUCM cluster on loopback that speaks CUCM's interfaces.

    with LabCluster(tmp_path, ports="ephemeral", speed=0.02) as lab:
        lab.endpoints()            # name, fqdn, role, kind, address, https_port, ssh_port
        lab.write_parameters(p)    # a cluster parameter file for this lab
        lab.ca.issue(csr, "tomcat")
        lab.state.node("cucm-pub").own()

``start_subprocess`` runs ``cucmkit lab start --detach`` for tests that need a
lab in another process. See docs/lab.md.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cucmkit.lab.pki import LabCA
from cucmkit.lab.state import APP_USER, CA_USER, OS_ADMIN_USER, LabRefusal, LabState
from cucmkit.lab.topology import CA_PORT, NodeSpec, Topology

__all__ = [
    "LabCluster",
    "LabProcess",
    "NodeEndpoint",
    "Topology",
    "NodeSpec",
    "LabState",
    "LabRefusal",
    "LabCA",
    "start_subprocess",
]


@dataclass(frozen=True)
class NodeEndpoint:
    name: str
    fqdn: str
    role: str
    kind: str
    address: str
    https_port: int
    ssh_port: int | None
    rest_port: int | None = None   # the second HTTPS port (CUCM serves the same Tomcat on 443 and 8443)


class LabCluster:
    """A running lab: every node's HTTPS (and SSH) listener plus the lab CA's AD CS listener.

    ``state_dir`` is loaded if it holds a lab (then ``topology`` is ignored), else
    created with the realistic starting state. ``speed`` multiplies every delay
    (None keeps the saved one); ``faults`` are switched on at start
    (``{"cucm-sub1": {"tls_fail": True}}``); ``ssh=False`` skips the SSH listeners.
    """

    def __init__(self, state_dir: Path | str, *, topology: Topology | None = None, ports: str = "fixed",
                 speed: float | None = 1.0, faults: dict[str, dict[str, Any]] | None = None,
                 host: str = "127.0.0.1", ssh: bool = True) -> None:
        if ports not in ("fixed", "ephemeral"):
            raise ValueError("ports must be 'fixed' or 'ephemeral'")
        self.state_dir = Path(state_dir).resolve()
        self.host = host
        self._topology = topology
        self._ports = ports
        self._speed = speed
        self._faults = faults
        self._ssh_enabled = ssh
        self.state: LabState | None = None  # type: ignore[assignment]
        self.ca: LabCA | None = None  # type: ignore[assignment]
        self._https: dict[str, Any] = {}
        self._rest: dict[str, Any] = {}
        self._ssh: dict[str, Any] = {}
        self._ca_server: Any = None

    def __enter__(self) -> LabCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LabCluster({str(self.state_dir)!r}, running={bool(self._https)})"

    # -- lifecycle

    def start(self) -> None:
        from cucmkit.lab import adcs
        from cucmkit.lab.routes import serve_node
        from cucmkit.lab.starting import ensure_cas

        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state = LabState.open(self.state_dir, topology=self._topology, speed=self._speed, faults=self._faults)
        old, current = ensure_cas(self.state_dir)
        self.ca = LabCA(pair=current, old=old, directory=self.state_dir / "ca", knobs=self.state.knobs)
        try:
            for index, spec in enumerate(self.state.topology.nodes):
                https, ssh = self.state.topology.ports(index, spec) if self._ports == "fixed" else (0, 0)
                node = self.state.nodes[spec.name]
                self._https[spec.name] = serve_node(state=self.state, node=node, host=self.host, port=https)
                rest = self.state.topology.rest_port(index, spec) if self._ports == "fixed" else 0
                self._rest[spec.name] = serve_node(state=self.state, node=node, host=self.host, port=rest)
                self._start_ssh(node, ssh)
            ca_port = CA_PORT if self._ports == "fixed" else 0
            self._ca_server = adcs.serve_ca(ca=self.ca, state=self.state, host=self.host, port=ca_port)
        except Exception:
            self.stop()
            raise
        self._write_lab_json()
        self._write_known_hosts()
        self._evidence_signing()   # parameters/lab.yaml names .lab/evidence-signing/: the demo's evidence is signed

    def _write_known_hosts(self) -> Path | None:
        if not self._ssh:
            return None
        from cucmkit.lab.ssh import write_known_hosts

        return write_known_hosts(self.state_dir, {name: (h.host, int(h.port)) for name, h in self._ssh.items()})

    def _start_ssh(self, node: Any, port: int) -> None:
        if not self._ssh_enabled:
            return
        from cucmkit.lab.ssh import start_ssh  # here, not at the top: paramiko only when SSH doors run

        self._ssh[node.name] = start_ssh(state=self.state, node=node, host=self.host, port=port)

    def stop(self) -> None:
        servers = [*self._https.values(), *self._rest.values(), *self._ssh.values(), self._ca_server]
        for server in servers:
            if server is None:
                continue
            try:
                server.close()
            except Exception:  # noqa: BLE001 - stop everything even if one listener misbehaves
                pass
        self._https.clear()
        self._rest.clear()
        self._ssh.clear()
        self._ca_server = None

    # -- facts

    @property
    def running(self) -> bool:
        return bool(self._https)

    @property
    def ca_port(self) -> int:
        return int(self._ca_server.port)

    @property
    def ca_url(self) -> str:
        return f"https://{self.host}:{self.ca_port}/certsrv/"

    @property
    def ca_bundle(self) -> Path:
        return self.state_dir / "ca-bundle.pem"

    def secret_path(self, name: str) -> Path:
        return self.state_dir / "secrets" / name

    def endpoints(self) -> list[NodeEndpoint]:
        out = []
        for name, node in self.state.nodes.items():
            ssh, rest = self._ssh.get(name), self._rest.get(name)
            out.append(NodeEndpoint(name=name, fqdn=node.fqdn, role=node.role, kind=node.kind, address=self.host,
                                    https_port=int(self._https[name].port),
                                    ssh_port=int(ssh.port) if ssh is not None else None,
                                    rest_port=int(rest.port) if rest is not None else None))
        return out

    def endpoint(self, name: str) -> NodeEndpoint:
        node = self.state.node(name)
        return next(e for e in self.endpoints() if e.name == node.name)

    def _write_lab_json(self, extra: dict[str, Any] | None = None) -> Path:
        data = {
            "pid": os.getpid(),
            "state_dir": str(self.state_dir),
            "host": self.host,
            "ca": {"fqdn": self.state.topology.ca_fqdn, "port": self.ca_port, "url": self.ca_url},
            "nodes": [asdict(e) for e in self.endpoints()],
            **(extra or {}),
        }
        path = self.state_dir / "lab.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)
        return path

    def write_parameters(self, path: Path | str, *, cluster: str | None = None) -> Path:
        """Write a cluster parameter file (CONTRACTS section 3) for this running lab, absolute paths."""
        import yaml

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = parameters_dict(self.endpoints(), state_dir=self.state_dir, ca_url=self.ca_url,
                               ca_fqdn=self.state.topology.ca_fqdn, cluster=cluster or self.state.topology.cluster)
        data["tls"]["pins"] = self.self_signed_pins()
        known_hosts = self._write_known_hosts()
        if known_hosts is not None:
            data["ssh"] = {"known_hosts": str(known_hosts)}
        data["evidence"] = self._evidence_signing()
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def _evidence_signing(self) -> dict[str, Any]:
        """The lab team's signing key (a file reference), certificate and CA, so the demo's evidence is signed."""
        from cucmkit.lab.signing import write_signing_pair

        pair = write_signing_pair(Path(self.state_dir) / "evidence-signing")
        return {"signing_key": {"file": str(pair.key)}, "signing_cert": str(pair.cert), "signing_ca": str(pair.ca)}


    def self_signed_pins(self) -> dict[str, str]:
        """fqdn -> sha256 of the served tomcat certificate, for nodes that serve a self-signed one now."""
        from cucmkit.fingerprints import cert_sha256
        from cucmkit.lab import pki

        pins = {}
        for node in self.state.nodes.values():
            cert = pki.load_cert(node.tls_chain()[0])
            if cert.issuer == cert.subject:
                pins[node.fqdn] = cert_sha256(node.tls_chain()[0])
        return pins


def _node_dict(endpoint: NodeEndpoint) -> dict[str, Any]:
    """One node's entry; ``ssh_port`` only when the lab has an SSH door for it."""
    e = endpoint
    out: dict[str, Any] = {"fqdn": e.fqdn, "address": e.address, "role": e.role, "kind": e.kind,
                           "version": "auto", "https_port": e.https_port}
    if e.ssh_port is not None:
        out["ssh_port"] = e.ssh_port
    return out


def parameters_dict(endpoints: list[NodeEndpoint], *, state_dir: Path | str, ca_url: str, ca_fqdn: str,
                    cluster: str = "lab") -> dict[str, Any]:
    state = str(state_dir)
    return {
        "cluster": cluster,
        "nodes": [_node_dict(e) for e in endpoints],
        "credentials": {
            "os_admin": {"username": OS_ADMIN_USER, "password": {"file": f"{state}/secrets/os_admin"}},
            "app_user": {"username": APP_USER, "password": {"file": f"{state}/secrets/app_user"}},
        },
        "tls": {"ca_bundle": [f"{state}/ca-bundle.pem"], "pins": {}},
        "timeouts": {"connect": 5, "read": 30, "cli_prompt": 30, "restart": 600, "registration": 1800},
        "maintenance_window": None,
        "ca": {"backend": "lab", "url": ca_url, "fqdn": ca_fqdn, "username": CA_USER,
               "password": {"file": f"{state}/secrets/ca_user"}, "template_prefix": "CUCM-"},
        "registration": {"tolerance": 0, "baseline": "auto"},
        "expiry_threshold_days": 60,
    }


# ---------------------------------------------------------------- subprocess labs


@dataclass
class LabProcess:
    """A lab running in another process (``cucmkit lab start --detach``)."""

    state_dir: Path
    pid: int
    info: dict[str, Any]

    def endpoints(self) -> list[NodeEndpoint]:
        return [NodeEndpoint(**n) for n in self.info["nodes"]]

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        return True

    def stop(self, timeout: float = 15) -> None:
        subprocess.run([sys.executable, "-m", "cucmkit.lab.command", "stop", "--state-dir", str(self.state_dir)],
                       check=False, capture_output=True, timeout=timeout + 5)

    def __enter__(self) -> LabProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_subprocess(state_dir: Path | str, *, ports: str = "ephemeral", speed: float = 1.0,
                     phones: int | None = None, imp_subscribers: int | None = None,
                     timeout: float = 60) -> LabProcess:
    """Start a lab in a separate process and return once every listener accepts connections
    (``imp_subscribers``: IM&P subscribers imp-sub1.. in a new state, as ``--imp-subscribers``)."""
    args = [sys.executable, "-m", "cucmkit.lab.command", "start", "--detach", "--state-dir", str(state_dir),
            "--ports", ports, "--speed", str(speed)]
    if phones is not None:
        args += ["--phones", str(phones)]
    if imp_subscribers is not None:
        args += ["--imp-subscribers", str(imp_subscribers)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"lab did not start: {done.stderr.strip()[-2000:]}")
    info = json.loads((Path(state_dir) / "lab.json").read_text())
    return LabProcess(state_dir=Path(state_dir), pid=int(info["pid"]), info=info)


def wait_for_port(host: str, port: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False
