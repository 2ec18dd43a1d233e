"""Lab clusters for fleet *renewal* runs: SSH doors on, real CUCM durations scaled, one parameter file each.

    with RenewalFleet(root, clusters=20, scale=0.1) as fleet:
        files = fleet.parameter_files()          # root/parameters/fleet000.yaml ...
        fleet.fault(3, "cucm-sub1", "unreachable")
        before = fleet.touches()                  # per cluster: connections accepted + events logged

Unlike ``LabFleet`` (inventory: HTTPS only), a renewal needs every node's SSH
door (Tomcat restarts through the platform CLI). Each member is a
``fleet_topology`` cluster (CUCM publisher, ``nodes - 2`` subscribers, IM&P
publisher). ``scale`` multiplies real CUCM durations (``REAL_SECONDS``: Cisco
Tomcat restarts in about 120 s, other services in 60 s, phones re-register in
80 s), so 0.1 makes a Tomcat restart 12 s.

``touches()`` is the proof that a cluster was not contacted: the connections
its listeners accepted (every door, faults or not: ``LabState.connections``)
plus the length of its event log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cucmkit.lab import LabCluster
from cucmkit.lab.fleet import LabFleet, fleet_topology

__all__ = ["RenewalFleet", "REAL_SECONDS", "Touches"]

REAL_SECONDS = {"tomcat_restart_seconds": 120.0, "restart_seconds": 60.0, "reregister_seconds": 80.0,
                "risport_window": 60.0}

Touches = dict[str, tuple[int, int]]   # cluster -> (connections accepted, events logged)


class RenewalFleet(LabFleet):
    """``clusters`` lab clusters of ``nodes`` nodes, SSH on, durations at ``scale`` of CUCM's."""

    def __init__(self, root: Path | str, *, clusters: int, nodes: int = 4, scale: float = 0.1,
                 os_admin_env: str | None = None, first: int = 0) -> None:
        if scale <= 0:
            raise ValueError("scale must be > 0")
        super().__init__(root, clusters=clusters, nodes=nodes, first=first)
        self.scale = scale
        self.os_admin_env = os_admin_env   # reference the OS admin password through this variable (per cluster)

    def __repr__(self) -> str:
        return f"RenewalFleet({str(self.root)!r}, clusters={self.clusters}, nodes={self.nodes}, scale={self.scale})"

    def _start_one(self, index: int) -> LabCluster:
        topology = fleet_topology(index, nodes=self.nodes, phones=0)
        lab = LabCluster(self.root / "labs" / topology.cluster, topology=topology, ports="ephemeral", speed=1.0)
        lab.start()
        for knob, seconds in REAL_SECONDS.items():
            lab.state.knobs.set(knob, seconds * self.scale)
        lab.state.changed()
        return lab

    def names(self) -> list[str]:
        return [lab.state.topology.cluster for lab in self.labs]

    def lab(self, cluster: int | str) -> LabCluster:
        """A member by position or by cluster name."""
        if isinstance(cluster, int):
            return self.labs[cluster]
        return next(lab for lab in self.labs if lab.state.topology.cluster == cluster)

    def parameter_files(self) -> list[Path]:
        """One parameter file per cluster under ``root/parameters/`` (secrets by reference only)."""
        return [self._write(lab) for lab in self.labs]

    def _write(self, lab: LabCluster) -> Path:
        path = lab.write_parameters(self.root / "parameters" / f"{lab.state.topology.cluster}.yaml")
        if self.os_admin_env is None:
            return path
        data: dict[str, Any] = yaml.safe_load(path.read_text())
        data["credentials"]["os_admin"]["password"] = {"env": self.env_var(lab)}
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def env_var(self, lab: LabCluster) -> str:
        """The environment variable a member's OS admin password is referenced by (``os_admin_env``)."""
        return f"{self.os_admin_env}_{lab.state.topology.cluster.upper()}"

    def environment(self) -> dict[str, str]:
        """The variables the parameter files reference (empty when every secret is a file reference)."""
        if self.os_admin_env is None:
            return {}
        return {self.env_var(lab): lab.state.secret("os_admin") for lab in self.labs}

    def secrets(self) -> list[str]:
        """Every member's secrets (for 'no secret in any artefact' checks)."""
        return [lab.state.secret(n) for lab in self.labs for n in ("os_admin", "app_user", "ca_user")]

    def fault(self, cluster: int | str, node: str, fault: str, value: Any = True) -> None:
        self.lab(cluster).state.faults.set(node, fault, value)

    def clear_faults(self) -> None:
        for lab in self.labs:
            for node in lab.state.nodes:
                lab.state.faults.clear(node)

    def touches(self) -> Touches:
        """Per cluster: (connections its listeners accepted, events in its log) so far."""
        return {lab.state.topology.cluster: (sum(lab.state.connections().values()), len(lab.state.events()))
                for lab in self.labs}
