"""A fleet's inventory: every certificate of many clusters, with a bound on the requests in flight.

    from cucmkit.cucm.inventory import inventory_fleet

    for cluster, records in inventory_fleet([load_parameters(f) for f in files], in_flight=64):
        ...

    from cucmkit.cucm.inventory import inventory_files

    for cluster, records in inventory_files(files, in_flight=64, processes=2):   # a provider's nightly read
        ...

Each cluster is read as ``Cluster.inventory`` reads it (its nodes in parallel,
one certmgr snapshot per node over one kept-alive HTTPS connection), and
clusters are read ``in_flight // nodes`` at a time, so at most about
``in_flight`` nodes are being read at once, whatever the fleet's size. The
records of each cluster are exactly those ``Cluster.inventory(workers=1)``
returns, in the same order (node order, own then trust).

Why a bound: reading 3,000 nodes at once (500 clusters x 6) opens 3,000 TLS
handshakes together; on a loaded 2-core machine against the lab that stalled
the servers past the 30 s read timeout, while 64 at a time keeps a 100 ms
server busy enough (3,000 x 0.1 s / 64 = 4.7 s of waiting, overlapped with the
CPU work) and holds memory to the open clusters.

Why processes (``inventory_files(..., processes=N)``): at provider size the
read is CPU-bound in the kit (TLS, HTTP, certificate parsing: about 55 ms of
CPU a cluster), and one Python process uses one core for it. The parameter
files are split into ``N`` contiguous shards, each read by a worker process of
its own (spawned: a fresh interpreter, its own TLS contexts and caches) with
``in_flight // N`` nodes in flight; the records come back in the order of the
files, exactly as one process reads them. Every file is loaded once in the
caller first, so a bad one is named before any worker starts.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

from cucmkit.certs.records import CertRecord
from cucmkit.cucm.node import Cluster
from cucmkit.params import ClusterParams, load_parameters

__all__ = ["DEFAULT_IN_FLIGHT", "inventory_fleet", "inventory_files", "read_cluster"]

DEFAULT_IN_FLIGHT = 64


def read_cluster(params: ClusterParams, *, workers: int | None = None) -> list[CertRecord]:
    """One cluster's records: its nodes ``workers`` at a time (default: all at once)."""
    with Cluster.from_parameters(params) as cluster:
        return cluster.inventory(workers=workers or len(cluster.nodes))


def inventory_fleet(clusters: Sequence[ClusterParams], *,
                    in_flight: int = DEFAULT_IN_FLIGHT) -> Iterator[tuple[str, list[CertRecord]]]:
    """(cluster name, records) for every cluster, in the order given; at most about ``in_flight`` nodes read
    at once. A node that fails raises its ``CucmKitError`` (``cucmkit.watch.scan`` reports per node instead)."""
    if in_flight < 1:
        raise ValueError("in_flight must be >= 1")
    if not clusters:
        return iter(())
    widest = max(len(p.nodes) for p in clusters)
    workers = max(1, min(len(clusters), in_flight // max(1, widest)))
    return _read_all(clusters, workers)


def _read_all(clusters: Sequence[ClusterParams], workers: int) -> Iterator[tuple[str, list[CertRecord]]]:
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inventory") as pool:
        yield from zip((p.cluster for p in clusters), pool.map(read_cluster, clusters), strict=True)


def inventory_files(files: Sequence[Path | str], *, in_flight: int = DEFAULT_IN_FLIGHT,
                    processes: int = 1) -> Iterator[tuple[str, list[CertRecord]]]:
    """``inventory_fleet`` of parameter files, read by ``processes`` worker processes (1: this process).

    (cluster name, records) in the order of ``files``. Each file is loaded here first (a bad file raises its
    ``ParameterError`` before anything is read); a node that fails raises its ``CucmKitError`` from the worker.
    """
    if processes < 1:
        raise ValueError("processes must be >= 1")
    paths = [Path(f) for f in files]
    params = [load_parameters(path) for path in paths]
    if processes == 1 or len(paths) < 2:
        return inventory_fleet(params, in_flight=in_flight)
    if in_flight < 1:
        raise ValueError("in_flight must be >= 1")
    shards = _shards(paths, min(processes, len(paths)))
    return _read_shards(shards, max(1, in_flight // len(shards)))


def _shards(paths: list[Path], count: int) -> list[list[Path]]:
    """``count`` contiguous slices of ``paths``, sizes differing by one at most."""
    size, extra = divmod(len(paths), count)
    bounds = [i * size + min(i, extra) for i in range(count + 1)]
    return [paths[bounds[i]:bounds[i + 1]] for i in range(count)]


def _read_shards(shards: list[list[Path]], in_flight: int) -> Iterator[tuple[str, list[CertRecord]]]:
    context = multiprocessing.get_context("spawn")     # no fork of a process that holds threads and sockets
    with ProcessPoolExecutor(max_workers=len(shards), mp_context=context) as pool:
        for found in pool.map(_read_shard, shards, [in_flight] * len(shards)):
            yield from found


def _read_shard(paths: list[Path], in_flight: int) -> list[tuple[str, list[CertRecord]]]:
    """In a worker process: one shard's inventory, in order."""
    return list(inventory_fleet([load_parameters(path) for path in paths], in_flight=in_flight))
