"""Fleet inventory: every certificate of 50 clusters x 6 nodes through cucmkit, concurrent vs serial.

    python -m bench.fleet_inventory [--clusters 50] [--nodes 6] [--latency 0 0.1 0.25] [--small]

The lab fleet (``cucmkit/lab/fleet.py``) runs in its own process, like real
clusters would, so the kit does not share a core with the servers it reads.
For each per-request server latency (0 = the lab answers as fast as its CPU
allows; a real CUCM's certmgr REST and the WAN add some), the same inventory
is taken twice, each time with fresh ``Cluster`` objects (new TLS sessions):

- serial: one cluster after the other, nodes one after the other
  (``Cluster.inventory(workers=1)``);
- concurrent: every cluster in its own thread, nodes in parallel
  (``Cluster.inventory(workers=nodes)``).

An untimed pass first lets the lab build each node's TLS context once.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench._common import BenchResult, Row, emit, peak_rss_mb
from cucmkit.cucm.node import Cluster
from cucmkit.lab.fleet import start_fleet_process
from cucmkit.params import ClusterParams, load_parameters

__all__ = ["main", "run", "inventory_serial", "inventory_concurrent", "WHY_NOTE"]

WHY_NOTE = (
    "why the target is missed (at 0 ms): with no server latency both runs are bound by CPU on 2 cores (the "
    "lab's process and the kit's: one TLS handshake per node, kept alive, and the certmgr snapshot's JSON; "
    "certificate records are cached by DER sha256, so the CA certificates every node repeats are parsed "
    "once), and concurrency can only overlap the two processes, so no 10x is possible there. From about "
    "75-100 ms a request (a real CUCM's certmgr REST plus a WAN) the serial run is latency-bound and the "
    "concurrent one stays near 2-3 s: parameter files name the version, so no AXL version round comes first."
)

TARGET_SPEEDUP = 10.0
TARGET_SECONDS = 5.0


def _one(params: ClusterParams, workers: int) -> int:
    with Cluster.from_parameters(params) as cluster:
        return len(cluster.inventory(workers=workers))


def inventory_serial(clusters: list[ClusterParams]) -> tuple[float, int]:
    """(seconds, records) reading every cluster and node one after the other."""
    began = time.perf_counter()
    records = sum(_one(p, 1) for p in clusters)
    return time.perf_counter() - began, records


def inventory_concurrent(clusters: list[ClusterParams], nodes: int) -> tuple[float, int]:
    """(seconds, records) reading every cluster in its own thread, nodes in parallel."""
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(clusters)) as pool:
        records = sum(pool.map(lambda p: _one(p, nodes), clusters))
    return time.perf_counter() - began, records


def _measure(fleet: Any, clusters: list[ClusterParams], nodes: int, latency: float) -> dict[str, float]:
    fleet.set_latency(latency)
    serial, n_serial = inventory_serial(clusters)
    concurrent, n_conc = inventory_concurrent(clusters, nodes)
    if n_serial != n_conc:
        raise RuntimeError(f"serial and concurrent inventories differ: {n_serial} vs {n_conc} records")
    return {"latency": latency, "serial": serial, "concurrent": concurrent, "records": n_serial}


def _rows(results: list[dict[str, float]], clusters: int, nodes: int) -> list[Row]:
    rows: list[Row] = []
    for m in results:
        speedup = m["serial"] / m["concurrent"]
        tag = f"latency {m['latency'] * 1000:g} ms"
        rows.append(Row(f"{tag}: concurrent ({clusters}x{nodes} nodes, {int(m['records'])} records)",
                        f"{m['concurrent']:.2f} s", f"serial {m['serial']:.2f} s", f"{speedup:.1f}x faster",
                        f">= {TARGET_SPEEDUP:g}x and < {TARGET_SECONDS:g} s",
                        "yes" if speedup >= TARGET_SPEEDUP and m["concurrent"] < TARGET_SECONDS else "no"))
    return rows


def _why(results: list[dict[str, float]], clusters: int, nodes: int) -> tuple[str, ...]:
    """What bounds the concurrent run, and the server latency at which 10x would be reached."""
    base = next((m for m in results if m["latency"] == 0), None)
    if base is None:
        return ()
    per_cluster = base["concurrent"] / clusters * 1000
    serial_requests = clusters * nodes          # one certmgr snapshot per node; the version is in the parameters
    needed = max(0.0, (TARGET_SPEEDUP * base["concurrent"] - base["serial"]) / serial_requests)
    return (f"the concurrent inventory is CPU-bound: {per_cluster:.0f} ms of work per cluster (TLS handshakes, "
            f"parsing about {int(base['records'] / clusters)} certificates into records) on 2 cores shared with "
            f"the lab; serial time grows with server latency ({serial_requests} requests one after the other), "
            f"so 10x is reached once a request takes about {needed * 1000:.0f} ms or more.",)


def run(*, clusters: int = 50, nodes: int = 6, latencies: tuple[float, ...] = (0.0, 0.1, 0.25),
        workdir: Path | None = None) -> BenchResult:
    root = Path(workdir or tempfile.mkdtemp(prefix="bench-fleet-"))
    started = time.perf_counter()
    with start_fleet_process(root / "fleet", clusters=clusters, nodes=nodes) as fleet:
        startup = time.perf_counter() - started
        params = [load_parameters(p) for p in fleet.parameters()]
        fleet.set_latency(0.0)
        inventory_concurrent(params, nodes)       # untimed: the lab builds its TLS contexts once
        results = [_measure(fleet, params, nodes, lat) for lat in latencies]
    own, children = peak_rss_mb()
    notes = _why(results, clusters, nodes) + (
        f"lab fleet: {clusters} clusters x {nodes} nodes (CUCM publisher, {nodes - 2} subscribers, IM&P) in one "
        f"child process, started in {startup:.0f} s (not timed).",
        "parameter files name each node's version (14.0), so per cluster the kit makes no AXL version query, only "
        "one certmgr snapshot per node (own and trust certificates) over a kept-alive HTTPS connection.",
        "latency is added by the lab to every HTTPS request (sleeping, so requests overlap); at 0 ms both runs are "
        "CPU-bound on 2 cores (TLS handshakes, certificate parsing) and concurrency can only overlap the "
        "lab's process with the kit's.",
        WHY_NOTE,
    )
    return BenchResult(name="fleet_inventory", title=f"Fleet inventory: {clusters} clusters x {nodes} nodes",
                       rows=tuple(_rows(results, clusters, nodes)), notes=notes, peak_rss_mb=own,
                       peak_rss_children_mb=children,
                       params={"clusters": clusters, "nodes": nodes, "results": results, "startup": startup})


def main(argv: list[str] | None = None) -> BenchResult:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet_inventory", description=__doc__.split("\n")[0])
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=6)
    parser.add_argument("--latency", type=float, nargs="+", default=[0.0, 0.1, 0.25],
                        help="per-request server latency in seconds, one run each")
    parser.add_argument("--small", action="store_true", help="tiny size for a smoke test (seconds)")
    parser.add_argument("--json", type=Path, default=None, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    if args.small:
        args.clusters, args.nodes, args.latency = 2, 2, [0.0, 0.02]
    result = run(clusters=args.clusters, nodes=args.nodes, latencies=tuple(args.latency))
    return emit(result, json_out=args.json)


if __name__ == "__main__":
    main()
