"""Fleet inventory: every certificate of 50 clusters x 6 nodes through cucmkit, concurrent vs serial; then
500 clusters x 6 nodes (3,000 nodes, provider size) at 100 ms a request.

    python -m bench.fleet_inventory [--clusters 50] [--nodes 6] [--latency 0 0.1 0.25]
                                    [--provider 500] [--provider-latency 0.1] [--in-flight 64]
                                    [--processes CORES] [--small]

The lab fleet (``cucmkit/lab/fleet.py``) runs in its own process, like real
clusters would, so the kit does not share a core with the servers it reads.
For each per-request server latency (0 = the lab answers as fast as its CPU
allows; a real CUCM's certmgr REST and the WAN add some), the same inventory
is taken twice, each time with fresh ``Cluster`` objects (new TLS sessions):

- serial: one cluster after the other, nodes one after the other
  (``Cluster.inventory(workers=1)``);
- concurrent: ``cucmkit.cucm.inventory.inventory_fleet`` (clusters
  ``in_flight // nodes`` at a time, each cluster's nodes in parallel: at most
  ``--in-flight`` nodes read at once).

An untimed pass first lets the lab build each node's TLS context once.

Provider size (``--provider``, 0 to skip): a second lab fleet of that many
clusters (the lab raises its open-file limit and idles its 6,500 listeners
cheaply, see cucmkit/lab/fleet.py), one concurrent inventory at
``--provider-latency`` read from the clusters' parameter files by
``--processes`` kit processes (``inventory_files``; default one per core: the
read is CPU-bound and one Python process uses one core), after an untimed pass for the lab and with the kit's
caches emptied (TLS contexts, parsed certificates), as in a fresh nightly
process. Targets: under 30 s and under 1 GiB peak RSS of the kit's process
(this one). Beside it the CPU floor: the CPU seconds the run took, per
cluster, in the kit's process and in the lab's, times the clusters, divided
by the cores (both share this machine's 2 cores; a real CUCM's CPU is its
own, so the kit's share is given too): no schedule on these cores can beat it.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench._common import BenchResult, Row, TreeSampler, emit, peak_rss_mb
from cucmkit.certs import records as record_cache
from cucmkit.cucm import _http
from cucmkit.cucm.inventory import DEFAULT_IN_FLIGHT, inventory_files, inventory_fleet
from cucmkit.cucm.node import Cluster
from cucmkit.lab.fleet import FleetProcess, start_fleet_process
from cucmkit.params import ClusterParams, load_parameters

__all__ = ["main", "run", "inventory_serial", "inventory_concurrent", "provider", "WHY_NOTE"]

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
PROVIDER_SECONDS = 30.0
PROVIDER_RSS_MIB = 1024.0


def _one(params: ClusterParams, workers: int) -> int:
    with Cluster.from_parameters(params) as cluster:
        return len(cluster.inventory(workers=workers))


def inventory_serial(clusters: list[ClusterParams]) -> tuple[float, int]:
    """(seconds, records) reading every cluster and node one after the other."""
    began = time.perf_counter()
    records = sum(_one(p, 1) for p in clusters)
    return time.perf_counter() - began, records


def inventory_concurrent(clusters: list[ClusterParams], nodes: int = 6,
                         in_flight: int = DEFAULT_IN_FLIGHT) -> tuple[float, int]:
    """(seconds, records) through ``inventory_fleet``: at most ``in_flight`` nodes read at once."""
    began = time.perf_counter()
    records = sum(len(found) for _, found in inventory_fleet(clusters, in_flight=in_flight))
    return time.perf_counter() - began, records


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _forget_caches() -> None:
    """Empty the kit's process-wide caches, as a fresh process starts (TLS contexts, parsed certificates)."""
    with _http._CONTEXTS_LOCK:
        _http._CONTEXTS.clear()
    with record_cache._cache_lock:
        record_cache._cache.clear()
        record_cache._digests.clear()


def provider(root: Path, *, clusters: int, nodes: int, latency: float, in_flight: int,
             processes: int = 1) -> dict[str, float]:
    """One concurrent inventory of a ``clusters`` x ``nodes`` fleet at ``latency``, read from parameter files by
    ``processes`` kit processes (``inventory_files``): wall, CPU (kit, lab), the kit's peak RSS."""
    began = time.perf_counter()
    with start_fleet_process(root, clusters=clusters, nodes=nodes) as fleet:
        startup = time.perf_counter() - began
        files = _files(root / "parameters", fleet.parameters())
        params = [load_parameters(f) for f in files]
        fleet.set_latency(latency)
        warm, _ = inventory_concurrent(params, nodes, in_flight)     # untimed: the lab builds its TLS contexts
        _forget_caches()
        measured = _timed(fleet, files, in_flight, processes)
    return {**measured, "startup": startup, "warm": warm, "clusters": clusters, "nodes": nodes,
            "latency": latency, "in_flight": in_flight, "processes": processes}


def _files(folder: Path, parameters: list[dict[str, Any]]) -> list[Path]:
    """The fleet's parameter dicts as the files a provider keeps (one per cluster)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for data in parameters:
        path = folder / f"{data['cluster']}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        paths.append(path)
    return paths


def _timed(fleet: FleetProcess, files: list[Path], in_flight: int, processes: int) -> dict[str, float]:
    """The timed read. Kit CPU: this process plus its worker processes (waited for when the read ends, so in
    RUSAGE_CHILDREN; the lab's process is still running, so not in it). Kit RSS: this process's peak plus
    each worker's peak (sampled every 0.2 s): an upper bound of the kit's memory at any one time."""
    kit0, workers0 = time.process_time(), _children_cpu()
    lab0, load0 = _cpu_seconds(fleet.proc.pid), os.getloadavg()[0]
    with TreeSampler(os.getpid()) as sampler:
        began = time.perf_counter()
        records = sum(len(found) for _, found in inventory_files(files, in_flight=in_flight, processes=processes))
        wall = time.perf_counter() - began
    kit = time.process_time() - kit0 + _children_cpu() - workers0
    workers_mb = sampler.peaks_mb("spawn_main")
    return {"wall": wall, "records": records, "kit_cpu": kit, "lab_cpu": _cpu_seconds(fleet.proc.pid) - lab0,
            "load_before": load0, "load_after": os.getloadavg()[0], "workers_peak_mb": sum(workers_mb),
            "workers": len(workers_mb)}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _measure(fleet: Any, clusters: list[ClusterParams], nodes: int, latency: float,
             in_flight: int) -> dict[str, float]:
    fleet.set_latency(latency)
    serial, n_serial = inventory_serial(clusters)
    concurrent, n_conc = inventory_concurrent(clusters, nodes, in_flight)
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


def provider_rows(m: dict[str, float], rss_mib: float, cores: int) -> list[Row]:
    """The provider-size rows: wall time against 30 s beside the CPU floor, and the kit's peak RSS."""
    cpu_floor = (m["kit_cpu"] + m["lab_cpu"]) / cores
    tag = f"provider size {int(m['clusters'])}x{int(m['nodes'])} nodes at {m['latency'] * 1000:g} ms"
    processes = int(m.get("processes", 1))
    kit_mb = rss_mib + float(m.get("workers_peak_mb", 0.0))
    how = f"{int(m['in_flight'])} nodes in flight" + (f", {processes} kit processes" if processes > 1 else "")
    return [
        Row(f"{tag}: concurrent ({int(m['records'])} records, {how})",
            f"{m['wall']:.1f} s", f"CPU floor {cpu_floor:.1f} s", f"{m['wall'] / cpu_floor:.2f}x floor",
            f"< {PROVIDER_SECONDS:g} s", "yes" if m["wall"] < PROVIDER_SECONDS else "no"),
        Row(f"{tag}: CPU per cluster, kit / lab", f"{m['kit_cpu'] / m['clusters'] * 1000:.0f} ms / "
            f"{m['lab_cpu'] / m['clusters'] * 1000:.0f} ms", f"kit alone {m['kit_cpu'] / cores:.1f} s on {cores} cores"),
        Row(f"{tag}: peak RSS of the kit" + (f" (main + {processes} workers, summed)" if processes > 1 else
                                               "'s process"),
            f"{kit_mb:.0f} MiB", "", "", f"< {PROVIDER_RSS_MIB:g} MiB", "yes" if kit_mb < PROVIDER_RSS_MIB else "no"),
    ]


def provider_notes(m: dict[str, float], cores: int) -> tuple[str, ...]:
    floor = (m["kit_cpu"] + m["lab_cpu"]) / cores
    waits = m["clusters"] * m["nodes"] * m["latency"] / m["in_flight"]
    return (
        f"provider size: lab fleet of {int(m['clusters'])} clusters started in {m['startup']:.0f} s (not timed); "
        f"an untimed pass ({m['warm']:.1f} s) let the lab build its TLS contexts, then the kit's caches were "
        f"emptied. The timed run read the {int(m['clusters'])} parameter files with "
        f"cucmkit.cucm.inventory.inventory_files(processes={int(m.get('processes', 1))}): the files split in "
        "contiguous shards, one spawned worker process each (its interpreter start and imports are in the wall "
        "time), the records back in file order. "
        f"It spent {m['kit_cpu']:.1f} s CPU in the kit's processes and {m['lab_cpu']:.1f} s in "
        f"the lab's: floor ({m['kit_cpu']:.1f} + {m['lab_cpu']:.1f}) / {cores} cores = {floor:.1f} s; the latency "
        f"alone, {int(m['in_flight'])} in flight, is {waits:.1f} s and overlaps the CPU work. 1-min load average "
        f"{m['load_before']:.1f} -> {m['load_after']:.1f} during the run: on 2 cores a load above 2 means the "
        "run had only a share of the floor's CPU.",
        "where the kit's CPU goes per node (cProfile, 50x6): the TLS handshake (one per node, kept alive for the "
        "node's requests), requests/urllib3 per request, the snapshot's JSON and about 17 certificate records "
        "(cached by the PEM text and the DER sha256, so each distinct certificate is parsed once). TLS contexts "
        "are shared by CA bundle text (building one per node was the largest avoidable cost). TLS session "
        "resumption does not help a single pass: each node is a different server, read over one connection.",
    )


def run(*, clusters: int = 50, nodes: int = 6, latencies: tuple[float, ...] = (0.0, 0.1, 0.25),
        provider_clusters: int = 500, provider_latency: float = 0.1, in_flight: int = DEFAULT_IN_FLIGHT,
        processes: int = 1, workdir: Path | None = None) -> BenchResult:
    root = Path(workdir or tempfile.mkdtemp(prefix="bench-fleet-"))
    started = time.perf_counter()
    with start_fleet_process(root / "fleet", clusters=clusters, nodes=nodes) as fleet:
        startup = time.perf_counter() - started
        params = [load_parameters(p) for p in fleet.parameters()]
        fleet.set_latency(0.0)
        inventory_concurrent(params, nodes, in_flight)       # untimed: the lab builds its TLS contexts once
        results = [_measure(fleet, params, nodes, lat, in_flight) for lat in latencies]
    own_small, _ = peak_rss_mb()
    big = (provider(root / "provider", clusters=provider_clusters, nodes=nodes, latency=provider_latency,
                    in_flight=in_flight, processes=processes) if provider_clusters else None)
    own, children = peak_rss_mb()
    cores = os.cpu_count() or 1
    notes = _why(results, clusters, nodes) + (
        f"lab fleet: {clusters} clusters x {nodes} nodes (CUCM publisher, {nodes - 2} subscribers, IM&P) in one "
        f"child process, started in {startup:.0f} s (not timed).",
        "parameter files name each node's version (14.0), so per cluster the kit makes no AXL version query, only "
        "one certmgr snapshot per node (own and trust certificates) over a kept-alive HTTPS connection.",
        "latency is added by the lab to every HTTPS request (sleeping, so requests overlap); at 0 ms both runs are "
        "CPU-bound on 2 cores (TLS handshakes, certificate parsing) and concurrency can only overlap the "
        "lab's process with the kit's.",
        WHY_NOTE,
        "the machine is shared (2 CPUs, five engineers running test suites and benchmarks at once): every figure "
        "here is CPU-bound at some point and inflates with the load average shown beside it.",
    ) + (provider_notes(big, cores) if big else ())
    rows = _rows(results, clusters, nodes) + (provider_rows(big, own, cores) if big else [])
    title = f"Fleet inventory: {clusters} clusters x {nodes} nodes" + (
        f"; {provider_clusters} x {nodes} at {provider_latency * 1000:g} ms" if big else "")
    return BenchResult(name="fleet_inventory", title=title, rows=tuple(rows), notes=notes, peak_rss_mb=own,
                       peak_rss_children_mb=children,
                       params={"clusters": clusters, "nodes": nodes, "results": results, "startup": startup,
                               "in_flight": in_flight, "provider": big, "peak_rss_before_provider": own_small})


def main(argv: list[str] | None = None) -> BenchResult:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet_inventory", description=__doc__.split("\n")[0])
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=6)
    parser.add_argument("--latency", type=float, nargs="+", default=[0.0, 0.1, 0.25],
                        help="per-request server latency in seconds, one run each")
    parser.add_argument("--provider", type=int, default=500, help="clusters of the provider-size run (0: skip)")
    parser.add_argument("--provider-latency", type=float, default=0.1)
    parser.add_argument("--in-flight", type=int, default=DEFAULT_IN_FLIGHT, help="nodes read at once, at most")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="kit processes for the provider-size read (default: the machine's cores)")
    parser.add_argument("--small", action="store_true", help="tiny size for a smoke test (seconds)")
    parser.add_argument("--json", type=Path, default=None, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    if args.small:
        args.clusters, args.nodes, args.latency, args.provider, args.provider_latency = 2, 2, [0.0, 0.02], 3, 0.02
    result = run(clusters=args.clusters, nodes=args.nodes, latencies=tuple(args.latency),
                 provider_clusters=args.provider, provider_latency=args.provider_latency, in_flight=args.in_flight,
                 processes=args.processes)
    return emit(result, json_out=args.json)


if __name__ == "__main__":
    main()
