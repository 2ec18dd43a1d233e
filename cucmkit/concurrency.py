"""How many clusters ``cucmkit run`` runs at a time when ``--parallel`` is not given.

Each cluster's run is a papermill child process plus its notebook kernel, and
almost all of a run's memory is theirs. The default is therefore

    clusters at a time = available memory // memory per run, at least 1, at most ``CAP_PER_CORE`` x cores
                         (and never more than the clusters asked for)

``PER_RUN_MIB`` is measured (``python -m bench.fleet_run`` on 2026-11-27: in a
20-cluster Tomcat renewal the largest papermill child peaked at 101 MiB and the
largest kernel at 151 MiB, 5124 MiB for the whole tree; the kernel imports the
kit, pandas and matplotlib), rounded up to 300 for runbooks with larger tables. ``CUCMKIT_KERNEL_MIB``
overrides that figure for a machine whose kernels are larger (another kernel,
more libraries), and ``CUCMKIT_PARALLEL`` sets the number outright (as
``--parallel`` does, which wins over both). The cap keeps a machine with a
lot of memory from starting hundreds of kernels at once: a run is mostly
waiting on the cluster, but kernel start-up and TLS are CPU work.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cucmkit.errors import ParameterError

__all__ = ["PER_RUN_MIB", "CAP_PER_CORE", "PARALLEL_ENV", "KERNEL_MIB_ENV", "Concurrency", "derive_parallel",
           "choose_parallel", "available_bytes"]

PER_RUN_MIB = 300          # papermill child + kernel: 101 + 151 MiB measured (tomcat, bench/fleet_run.py), + margin
CAP_PER_CORE = 8
PARALLEL_ENV = "CUCMKIT_PARALLEL"
KERNEL_MIB_ENV = "CUCMKIT_KERNEL_MIB"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Concurrency:
    """The number chosen and why (``derived``: from memory, so it is worth saying once)."""

    parallel: int
    derived: bool
    available_bytes: int = 0
    per_run_mib: int = PER_RUN_MIB
    source: str = "memory"     # memory | --parallel | CUCMKIT_PARALLEL

    def line(self) -> str:
        """What the terminal says once when the number was derived."""
        gib = self.available_bytes / (1024 * MIB)
        return (f"running {self.parallel} cluster{'s' if self.parallel != 1 else ''} at a time "
                f"({gib:.1f} GiB available, ~{self.per_run_mib} MiB per kernel)")


def derive_parallel(*, available: int, per_run_mib: int, cores: int, clusters: int) -> int:
    """``available // per_run`` clamped to [1, min(CAP_PER_CORE x cores, clusters)]. Pure: no machine read."""
    if per_run_mib < 1:
        raise ValueError("per_run_mib must be >= 1")
    by_memory = max(0, available) // (per_run_mib * MIB)
    cap = max(1, CAP_PER_CORE * max(1, cores))
    return max(1, min(by_memory, cap, max(1, clusters)))


def available_bytes() -> int:
    """MemAvailable of this machine (what can be used without swapping)."""
    import psutil

    return int(psutil.virtual_memory().available)


def _positive(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ParameterError(f"{name}={text!r} is not a positive whole number",
                         remedy=f"set {name} to the number wanted (e.g. 4), or unset it")
    return value


def choose_parallel(given: int | None, *, clusters: int, environ: dict[str, str] | None = None,
                    available: int | None = None, cores: int | None = None) -> Concurrency:
    """``--parallel`` if given, else ``CUCMKIT_PARALLEL``, else derived from memory (``derive_parallel``)."""
    env = dict(os.environ) if environ is None else environ
    if given is not None:
        if given < 1:
            raise ParameterError(f"--parallel {given}: must be at least 1", remedy="give --parallel 1 or more")
        return Concurrency(parallel=given, derived=False, source="--parallel")
    if env.get(PARALLEL_ENV):
        return Concurrency(parallel=_positive(PARALLEL_ENV, env[PARALLEL_ENV]), derived=False, source=PARALLEL_ENV)
    per_run = _positive(KERNEL_MIB_ENV, env[KERNEL_MIB_ENV]) if env.get(KERNEL_MIB_ENV) else PER_RUN_MIB
    free = available_bytes() if available is None else available
    count = derive_parallel(available=free, per_run_mib=per_run, cores=cores or os.cpu_count() or 1,
                            clusters=clusters)
    return Concurrency(parallel=count, derived=True, available_bytes=free, per_run_mib=per_run)
