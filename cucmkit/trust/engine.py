"""The rotation's renewals go through the renewal engine, one purpose at a time (``engine_renewer``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cucmkit.ca import CaBackend
from cucmkit.trust.rotation import PurposeRenewer

__all__ = ["engine_renewer"]


def engine_renewer(cluster: Any, params: Any, *, state_dir: Path, ticket: str, ca: CaBackend) -> PurposeRenewer:
    """A ``PurposeRenewer`` that runs ``cucmkit.renewal`` for one purpose on the given nodes (even if not due)."""
    from cucmkit.renewal.executor import Renewal, RenewalOptions

    def renew(purpose: str, nodes: tuple[str, ...]) -> tuple[str, str]:
        options = RenewalOptions.from_parameters(params, nodes=nodes)
        with Renewal.open(cluster, purpose, state_dir=state_dir, ticket=ticket, ca=ca, options=options) as renewal:
            result = renewal.run()
        return result.status, result.message

    return renew
