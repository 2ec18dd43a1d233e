"""Many lab clusters in one process, for fleet benchmarks (owned by the benchmarks part).

    with LabFleet(root, clusters=50, nodes=6, latency=0.05) as fleet:
        fleet.parameters()        # one cluster parameter dict per lab (load_parameters accepts it)

Each member is an ordinary ``LabCluster`` on ephemeral ports without SSH (the
inventory reads certificates over REST), phones optional. ``latency`` makes
every HTTPS request of a node answer that many seconds late, as a real CUCM
does (its Tomcat answers a certmgr snapshot in a fraction of a second, a WAN
adds its round trips): it is each lab's ``http_latency`` knob, slept in the
request's own thread, so concurrent requests overlap as they would against
real servers. Parameter files name the lab's version (``LAB_VERSION``), so
the kit asks no AXL version query per cluster.

``python -m cucmkit.lab.fleet serve --root DIR --clusters 50`` runs a fleet in
its own process (so the kit under test does not share a core with the lab),
writes ``DIR/fleet.json`` (parameter dicts, pid) and serves until SIGTERM;
writing a number to ``DIR/latency`` changes the latency (acknowledged in
``DIR/latency.ack``).

At provider size (500 clusters x 6 nodes: 6,500 listeners, two per node and
one CA per cluster) the serving process raises its open-file limit to the
hard limit (``RLIMIT_NOFILE``: a listener and each open connection is a
descriptor) and lets idle listeners check for shutdown every
``FLEET_IDLE_POLL`` seconds instead of 0.1 s. Measured: 100 clusters idled at
27% of a core with 0.1 s (1.6% with 2 s); at 500 clusters even 2 s was too
often, because each waking listener must take the GIL: while the main thread
was busy starting clusters, 3,000 wake-ups a second queued behind Python's
5 ms switch interval and the start stalled at 458 clusters (load average
800). A connection still wakes a listener at once, and stopping one wakes it
(``LabHttpServer.close``), so a long poll costs nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self

from cucmkit.lab import LabCluster, parameters_dict
from cucmkit.lab.http import LabHttpServer
from cucmkit.lab.soap import LAB_VERSION
from cucmkit.lab.topology import NodeSpec, Topology

__all__ = ["LabFleet", "fleet_topology", "FleetProcess", "start_fleet_process", "raise_nofile", "FLEET_IDLE_POLL"]

READY_FILE = "fleet.json"
LATENCY_FILE, LATENCY_ACK = "latency", "latency.ack"
FLEET_IDLE_POLL = 60.0           # seconds between an idle listener's shutdown checks in a fleet process
FDS_PER_NODE = 4                 # two listeners, a client connection, one spare (state files, logs)
STOPPERS = 32                    # clusters stopped at once


def fleet_topology(index: int, *, nodes: int = 6, phones: int = 0) -> Topology:
    """Cluster ``index``: a CUCM publisher, ``nodes - 2`` subscribers and one IM&P publisher."""
    if nodes < 2:
        raise ValueError("a fleet cluster needs at least 2 nodes (CUCM publisher and IM&P)")
    specs = ((NodeSpec("cucm-pub", "publisher", "CUCM"),)
             + tuple(NodeSpec(f"cucm-sub{i}", "subscriber", "CUCM") for i in range(1, nodes - 1))
             + (NodeSpec("imp-pub", "publisher", "IM&P"),))
    return Topology(nodes=specs, phones=phones, cluster=f"fleet{index:03d}", domain=f"c{index:03d}.lab.example")


class LabFleet:
    """``clusters`` lab clusters of ``nodes`` nodes each, started one after the other."""

    def __init__(self, root: Path | str, *, clusters: int, nodes: int = 6, phones: int = 0,
                 latency: float = 0.0, host: str = "127.0.0.1", first: int = 0) -> None:
        if clusters < 1:
            raise ValueError("clusters must be >= 1")
        if latency < 0:
            raise ValueError("latency must be >= 0")
        self.root = Path(root).resolve()
        self.clusters = clusters
        self.nodes = nodes
        self.phones = phones
        self.latency = latency
        self.host = host
        self.first = first             # the index of the first member (cluster fleet<first>)
        self.labs: list[LabCluster] = []

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LabFleet({str(self.root)!r}, clusters={self.clusters}, nodes={self.nodes}, latency={self.latency})"

    def start(self) -> None:
        try:
            for index in range(self.first, self.first + self.clusters):
                self.labs.append(self._start_one(index))
        except BaseException:
            self.stop()
            raise

    def _start_one(self, index: int) -> LabCluster:
        topology = fleet_topology(index, nodes=self.nodes, phones=self.phones)
        lab = LabCluster(self.root / topology.cluster, topology=topology, ports="ephemeral", ssh=False,
                         host=self.host)
        lab.start()
        lab.state.knobs.set("http_latency", self.latency)
        return lab

    def set_latency(self, seconds: float) -> None:
        """Every node of the fleet answers ``seconds`` late from now on."""
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        self.latency = float(seconds)
        for lab in self.labs:
            lab.state.knobs.set("http_latency", self.latency)

    def stop(self) -> None:
        """Stop every member, ``STOPPERS`` at a time (each stop wakes its listeners; none waits out a poll)."""
        with ThreadPoolExecutor(max_workers=max(1, min(STOPPERS, len(self.labs)))) as pool:
            list(pool.map(LabCluster.stop, self.labs))
        self.labs.clear()

    def parameters(self) -> list[dict[str, Any]]:
        """One parameter dict per cluster (CONTRACTS section 3), absolute paths, every node's version set."""
        out = []
        for lab in self.labs:
            data = parameters_dict(lab.endpoints(), state_dir=lab.state_dir, ca_url=lab.ca_url,
                                   ca_fqdn=lab.state.topology.ca_fqdn, cluster=lab.state.topology.cluster)
            for node in data["nodes"]:
                node["version"] = _major_minor(LAB_VERSION)
            out.append(data)
        return out


def _major_minor(version: str) -> str:
    """``"14.0.1.13900-155"`` -> ``"14.0"``."""
    return ".".join(version.split(".")[:2])


# ---------------------------------------------------------------- a fleet in its own process


class FleetProcess:
    """A fleet served by ``python -m cucmkit.lab.fleet serve`` in a child process."""

    def __init__(self, proc: subprocess.Popen[bytes], info: dict[str, Any]) -> None:
        self.proc = proc
        self.info = info

    def parameters(self) -> list[dict[str, Any]]:
        return list(self.info["parameters"])

    def set_latency(self, seconds: float, timeout: float = 10) -> None:
        """Change the fleet's latency and wait until the child applied it."""
        root = Path(self.info["root"])
        tmp = root / "latency.tmp"
        tmp.write_text(repr(float(seconds)))
        tmp.replace(root / LATENCY_FILE)
        deadline = time.monotonic() + timeout
        ack = root / LATENCY_ACK
        while not (ack.exists() and ack.read_text() == repr(float(seconds))):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the lab fleet did not apply the latency")
            time.sleep(0.02)

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM, then wait (20 s, plus 0.1 s a cluster), then kill."""
        if timeout is None:
            timeout = 20 + 0.1 * len(self.info.get("parameters", ()))
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self) -> FleetProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_fleet_process(root: Path | str, *, clusters: int, nodes: int = 6, latency: float = 0.0,
                        timeout: float | None = None) -> FleetProcess:
    """Start a fleet in a child process and return once every listener of it is up (within ``timeout``:
    by default 600 s, plus 1 s a cluster beyond 100, as each cluster makes its CA and node keys)."""
    if timeout is None:
        timeout = 600 + max(0, clusters - 100)
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    ready = root / READY_FILE
    ready.unlink(missing_ok=True)
    args = [sys.executable, "-m", "cucmkit.lab.fleet", "serve", "--root", str(root), "--clusters", str(clusters),
            "--nodes", str(nodes), "--latency", str(latency)]
    log = root / "fleet.log"
    with log.open("wb") as sink:   # a file, not a pipe: a chatty child never blocks on a full pipe
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=sink)
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if proc.poll() is not None:
            err = log.read_text(errors="replace")
            raise RuntimeError(f"lab fleet did not start: {err.strip()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"lab fleet not ready within {timeout:g} s")
        time.sleep(0.1)
    return FleetProcess(proc, json.loads(ready.read_text()))


def raise_nofile(wanted: int) -> int:
    """Raise this process's soft open-file limit towards ``wanted`` (at most the hard limit); the new soft limit.
    A fleet that needs more than the hard limit is refused with the remedy."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if ceiling > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
        soft = ceiling
    if soft < wanted:
        raise ValueError(f"a fleet this size needs about {wanted} open files but the hard limit is {hard}; "
                         "raise it (ulimit -Hn, or LimitNOFILE in a service unit) or run fewer clusters")
    return soft


def _serve(args: argparse.Namespace) -> int:
    raise_nofile(args.clusters * args.nodes * FDS_PER_NODE + 256)
    LabHttpServer.idle_poll = FLEET_IDLE_POLL          # this process serves the fleet and nothing else
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with LabFleet(args.root, clusters=args.clusters, nodes=args.nodes, latency=args.latency) as fleet:
        root = Path(args.root).resolve()
        info = {"pid": os.getpid(), "root": str(root), "parameters": fleet.parameters()}
        ready = root / READY_FILE
        tmp = ready.with_suffix(".tmp")
        tmp.write_text(json.dumps(info))
        tmp.replace(ready)
        parent = os.getppid()
        while not stop.wait(0.05) and os.getppid() == parent:     # an orphaned fleet stops itself
            _follow_latency(fleet, root)
    return 0


def _follow_latency(fleet: LabFleet, root: Path) -> None:
    wanted = root / LATENCY_FILE
    try:
        text = wanted.read_text()
    except FileNotFoundError:
        return
    if (root / LATENCY_ACK).exists() and (root / LATENCY_ACK).read_text() == text:
        return
    fleet.set_latency(float(text))
    tmp = root / "latency.ack.tmp"
    tmp.write_text(text)
    tmp.replace(root / LATENCY_ACK)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cucmkit.lab.fleet")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve a fleet of lab clusters until SIGTERM")
    serve.add_argument("--root", type=Path, required=True)
    serve.add_argument("--clusters", type=int, default=50)
    serve.add_argument("--nodes", type=int, default=6)
    serve.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args(argv)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
