"""Read every cluster of a fleet concurrently, through ``Cluster.inventory`` (the kit's one inventory).

Clusters are built by ``cucmkit.wiring.open_cluster``, like everywhere else.

A node that cannot be read is recorded with its error (a cucmkit error's text,
which never holds a secret), never a traceback; the other nodes and clusters
are still read.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from cucmkit.certs.records import CertRecord
from cucmkit.errors import CucmKitError, ParameterError
from cucmkit.params import ClusterParams, load_parameters

if TYPE_CHECKING:
    from cucmkit.cucm.node import Cluster, Node

__all__ = ["ClusterScan", "parameter_files", "load_fleet", "scan_cluster", "scan_fleet"]

_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class ClusterScan:
    """What one cluster's inventory returned: its records and, per node that failed, why."""

    params: ClusterParams
    parameters_file: str
    records: tuple[CertRecord, ...] = ()
    node_errors: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def name(self) -> str:
        return self.params.cluster


def parameter_files(sources: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Each ``-f`` value: a parameter file, or a folder whose ``*.yaml`` / ``*.yml`` files are taken (sorted)."""
    files: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in _SUFFIXES and p.is_file())
            if not found:
                raise ParameterError(f"{path}: no parameter file (*.yaml) in this folder",
                                     remedy="point -f at parameter files or a folder that holds them.")
            files += found
        else:
            files.append(path)
    return list(dict.fromkeys(files))


def _load(path: Path) -> ClusterParams:
    """One parameter file; its error names the file (several are loaded at once)."""
    try:
        return load_parameters(path)
    except ParameterError as exc:
        if str(path) in exc.message:
            raise
        raise ParameterError(f"{path}: {exc.message}", remedy=exc.remedy) from None


def load_fleet(files: Sequence[Path]) -> list[tuple[Path, ClusterParams]]:
    """Load and check every parameter file before any network call; two files naming one cluster are refused."""
    loaded = [(path, _load(path)) for path in files]
    seen: dict[str, Path] = {}
    for path, params in loaded:
        if params.cluster in seen:
            raise ParameterError(f"{path}: cluster {params.cluster!r} is also named by {seen[params.cluster]}",
                                 remedy="give each cluster its own name (the report and metrics key on it).")
        seen[params.cluster] = path
    return loaded


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, CucmKitError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return f"unexpected {type(exc).__name__} (a cucmkit bug: please report it)"


def _read_node(cluster: Cluster, node: Node) -> list[CertRecord]:
    return cluster.inventory(nodes=[node], workers=1)


def scan_cluster(params: ClusterParams, parameters_file: str, *, workers: int = 4) -> ClusterScan:
    """One cluster's inventory, node by node in parallel; failures per node, never raised."""
    from cucmkit.wiring import open_cluster  # the one place that builds a Cluster from parameters

    records: list[CertRecord] = []
    errors: dict[str, str] = {}
    try:
        with open_cluster(params) as cluster:
            nodes = list(cluster.nodes)
            with ThreadPoolExecutor(max_workers=max(1, min(workers, len(nodes)))) as pool:
                futures = [(node, pool.submit(_read_node, cluster, node)) for node in nodes]
                for node, future in futures:
                    try:
                        records += future.result()
                    except Exception as exc:  # noqa: BLE001 - one node's failure is reported, the others read
                        errors[node.name] = _error_text(exc)
    except Exception as exc:  # noqa: BLE001 - a cluster that cannot even be opened is listed, not dropped
        errors = {n.fqdn: _error_text(exc) for n in params.nodes}
    return ClusterScan(params=params, parameters_file=parameters_file, records=tuple(records),
                       node_errors=MappingProxyType(errors))


def scan_fleet(fleet: Sequence[tuple[str, ClusterParams]], *, workers: int = 8) -> list[ClusterScan]:
    """Every cluster concurrently (``workers`` at a time), in the order given."""
    if not fleet:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(fleet)))) as pool:
        return list(pool.map(lambda pair: scan_cluster(pair[1], pair[0]), fleet))
