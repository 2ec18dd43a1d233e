"""A fleet's inventory: every certificate of many clusters, with a bound on the requests in flight.

    from cucmkit.cucm.inventory import inventory_fleet

    for cluster, records in inventory_fleet([load_parameters(f) for f in files], in_flight=64):
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
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from cucmkit.certs.records import CertRecord
from cucmkit.cucm.node import Cluster
from cucmkit.params import ClusterParams

__all__ = ["DEFAULT_IN_FLIGHT", "inventory_fleet", "read_cluster"]

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
