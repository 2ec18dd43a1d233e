"""CA back-ends behind one small interface.

A back-end takes a CSR and, sooner or later, gives back the files the CA
issued (``collect`` returns ``None`` while the CA has not answered):

- ``manual``: writes each CSR to an outbox folder and reads what a person drops
  into the inbox folder (the run stops cleanly with "waiting for the CA");
- ``adcs``: Microsoft AD CS web enrolment (``/certsrv``), including requests
  left pending for a CA manager's approval;
- ``lab``: the AD CS back-end pointed at the embedded lab CA.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["CaBackend", "make_backend", "KINDS"]

KINDS = ("manual", "adcs", "lab")


@runtime_checkable
class CaBackend(Protocol):
    """Submit a CSR, then collect what the CA issued (``None`` = not yet)."""

    kind: str

    def submit(self, node: str, purpose: str, csr_pem: str) -> str: ...

    def collect(self, request_id: str) -> list[bytes] | None: ...


def make_backend(params: Any, kind: str | None = None, *, folder: Path | None = None) -> CaBackend:
    """The back-end ``kind`` (default: the parameter file's ``ca.backend``) for a cluster's parameters."""
    ca = getattr(params, "ca", None)
    kind = (kind or getattr(ca, "backend", None) or "manual").lower()
    if kind == "manual":
        from cucmkit.ca.manual import ManualCa

        if folder is not None:
            return ManualCa(folder=Path(folder))
        outbox, inbox = getattr(ca, "outbox", None), getattr(ca, "inbox", None)
        if outbox and inbox:
            return ManualCa(outbox=Path(outbox), inbox=Path(inbox))
        root = Path(getattr(params, "root", None) or ".")
        return ManualCa(folder=root / "ca-exchange" / params.cluster)
    if kind == "adcs":
        from cucmkit.ca.adcs import AdcsCa

        return AdcsCa.from_parameters(params)
    if kind == "lab":
        from cucmkit.ca.lab import lab_backend

        return lab_backend(params)
    raise ValueError(f"unknown CA back-end {kind!r}; valid: {', '.join(KINDS)}")
