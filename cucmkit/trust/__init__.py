"""Trust lifecycle: the trust inventory, stale-trust clean-up, CA rotation as a plan, partners.

- ``inventory``: every trust certificate of every store on every node, which identities chain to it, stale reasons.
- ``cleanup``: delete stale trust certificates after approval, check cluster-wide, record every deletion.
- ``rotation``: stage a new CA, check partners, renew the purposes, remove the old CA (resumable plan).
- ``partners``: per-partner chain export with paste instructions, and the TLS handshake check.
- ``config``: the parameter file's ``trust`` / ``partners`` sections (imported by ``cucmkit.params``).

Import the submodules directly; this package module stays light (``cucmkit.params`` imports ``config``).
"""

from __future__ import annotations

__all__: list[str] = []
