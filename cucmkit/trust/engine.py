"""The rotation's renewals go through the renewal engine, one purpose at a time (``engine_renewer``).

The engine is opened through ``cucmkit.wiring.open_renewal`` (the one place a Renewal is built), on the
rotation's own cluster, so the rotation and its renewals share one view of the nodes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cucmkit.ca import CaBackend
from cucmkit.trust.rotation import PurposeRenewer

if TYPE_CHECKING:
    from cucmkit.params import ClusterParams
    from cucmkit.renewal.ports import ClusterPort

__all__ = ["engine_renewer"]


def engine_renewer(cluster: ClusterPort, params: ClusterParams, *, state_dir: Path, ticket: str,
                   ca: CaBackend) -> PurposeRenewer:
    """A ``PurposeRenewer`` that runs ``cucmkit.renewal`` for one purpose on the given nodes (even if not due)."""
    from cucmkit.renewal import RenewalOptions
    from cucmkit.wiring import open_renewal

    def renew(purpose: str, nodes: tuple[str, ...]) -> tuple[str, str]:
        options = RenewalOptions.from_parameters(params, purpose, nodes=nodes)
        with open_renewal(params, purpose, state_dir=state_dir, ticket=ticket, ca=ca, options=options,
                          cluster=cluster) as renewal:
            result = renewal.run()
        return result.status, result.message

    return renew
