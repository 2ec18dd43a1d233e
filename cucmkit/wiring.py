"""Parameters -> Cluster -> CA back-end -> Renewal, built in one place.

The notebooks (``cucmkit.notebook``) and the command line (``cucmkit plan`` /
``cucmkit renew``) both open a renewal through ``open_renewal``; nothing else
builds the chain. A renewal that built its cluster closes it when it is closed.

    with open_renewal(params, "tomcat", ca="lab", state_dir=state_dir_for(params), ticket="CHG1") as renewal:
        renewal.run()
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cucmkit.ca import CaBackend
    from cucmkit.cucm import Cluster
    from cucmkit.params import ClusterParams
    from cucmkit.renewal import Renewal, RenewalOptions
    from cucmkit.renewal.ports import ClusterPort

__all__ = ["DEFAULT_STATE_DIR", "open_cluster", "make_ca", "open_renewal", "state_dir_for"]

DEFAULT_STATE_DIR = ".cucmkit-state"


def open_cluster(params: ClusterParams) -> Cluster:
    """The Node/Cluster facade for a parameter file (nothing connects until a call needs it)."""
    from cucmkit.cucm import Cluster

    return Cluster.from_parameters(params)


def make_ca(params: ClusterParams, kind: str | None = None) -> CaBackend:
    """The CA back-end ``kind`` (default: the parameter file's ``ca.backend``)."""
    from cucmkit.ca import make_backend

    return make_backend(params, kind)


def state_dir_for(params: ClusterParams, value: str | Path | None = None) -> Path:
    """Where the engine keeps its ledger, lock and phone gate: ``value`` (relative to the parameters' root)."""
    path = Path(value if value is not None else DEFAULT_STATE_DIR).expanduser()
    return path if path.is_absolute() else Path(params.root) / path


def open_renewal(params: ClusterParams, purpose: str, *, state_dir: Path, ticket: str,
                 ca: CaBackend | str | None = None, with_ca: bool = True,
                 options: RenewalOptions | None = None, cluster: ClusterPort | None = None) -> Renewal:
    """A ``Renewal`` of ``purpose`` on the cluster of ``params``.

    ``ca``: a back-end, or its kind (default: the file's ``ca.backend``); ``with_ca=False`` opens
    without one (plan and dry runs). ``options``: default ``RenewalOptions.from_parameters(params, purpose)``.
    ``cluster``: the caller's (e.g. a recording wrapper); without it one is built and closed with the renewal.
    """
    from cucmkit.renewal import Renewal, RenewalOptions

    backend = _backend(params, ca) if with_ca else None
    options = options if options is not None else RenewalOptions.from_parameters(params, purpose)
    if cluster is not None:
        return Renewal.open(cluster, purpose, state_dir=state_dir, ticket=ticket, ca=backend, options=options)
    built = open_cluster(params)
    try:
        return Renewal.open(built, purpose, state_dir=state_dir, ticket=ticket, ca=backend, options=options,
                            on_close=built.close)
    except BaseException:
        built.close()
        raise


def _backend(params: ClusterParams, ca: CaBackend | str | None) -> CaBackend:
    return make_ca(params, ca) if ca is None or isinstance(ca, str) else ca
