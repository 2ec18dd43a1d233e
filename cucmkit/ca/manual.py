"""The manual CA back-end: an outbox of CSRs, an inbox of issued files.

``submit`` writes ``outbox/<node>-<purpose>.csr`` (the request id is
``<node>-<purpose>``); ``collect`` reads every file dropped into
``inbox/<node>-<purpose>/`` (any shape the intake understands: PEM, DER,
p7b, zip). Until something is there it answers ``None`` and the engine stops
with "waiting for the CA"; re-running later picks the files up.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic.dataclasses import dataclass

from cucmkit.ca.registry import BackendSpec
from cucmkit.params import SECTION, CaConfig

__all__ = ["ManualCa", "ManualConfig", "BACKEND"]

_SAFE = re.compile(r"[^A-Za-z0-9._-]")
_IGNORED = (".tmp", ".part", ".crdownload")


class ManualCa:
    """Outbox/inbox folders under ``folder``."""

    kind = "manual"

    def __init__(self, *, folder: Path | None = None, outbox: Path | None = None, inbox: Path | None = None) -> None:
        if folder is None and (outbox is None or inbox is None):
            raise ValueError("give folder, or both outbox and inbox")
        if folder is not None:
            self.folder = Path(folder)
            self.outbox = Path(outbox) if outbox is not None else self.folder / "outbox"
            self.inbox = Path(inbox) if inbox is not None else self.folder / "inbox"
        else:
            assert outbox is not None and inbox is not None
            self.folder, self.outbox, self.inbox = Path(outbox).parent, Path(outbox), Path(inbox)

    def __repr__(self) -> str:
        return f"ManualCa(outbox={str(self.outbox)!r}, inbox={str(self.inbox)!r})"

    @staticmethod
    def request_name(node: str, purpose: str) -> str:
        return _SAFE.sub("_", f"{node}-{purpose}")

    def submit(self, node: str, purpose: str, csr_pem: str) -> str:
        name = self.request_name(node, purpose)
        self.outbox.mkdir(parents=True, exist_ok=True)
        (self.inbox / name).mkdir(parents=True, exist_ok=True)
        target = self.outbox / f"{name}.csr"
        tmp = target.with_suffix(".csr.tmp")
        tmp.write_text(csr_pem if csr_pem.endswith("\n") else csr_pem + "\n", encoding="ascii")
        os.replace(tmp, target)
        return name

    def pending(self) -> list[str]:
        """Request names with a CSR in the outbox and nothing yet in the inbox."""
        names = sorted(p.stem for p in self.outbox.glob("*.csr")) if self.outbox.exists() else []
        return [n for n in names if not self._files(n)]

    def csr_path(self, request_id: str) -> Path:
        return self.outbox / f"{request_id}.csr"

    def inbox_for(self, request_id: str) -> Path:
        return self.inbox / request_id

    def _files(self, request_id: str) -> list[Path]:
        folder = self.inbox / request_id
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir()
                      if p.is_file() and not p.name.startswith(".") and not p.name.endswith(_IGNORED))

    def collect(self, request_id: str) -> list[bytes] | None:
        files = self._files(request_id)
        return [p.read_bytes() for p in files] if files else None


@dataclass(frozen=True, config=SECTION)
class ManualConfig(CaConfig):
    """``ca: {backend: manual, outbox: PATH, inbox: PATH}``; without folders: ``ca-exchange/<cluster>/``."""

    backend: str = "manual"


def build(params: Any, folder: Path | None) -> ManualCa:
    """The folders given by the caller, else ``ca.outbox``/``ca.inbox``, else ``<root>/ca-exchange/<cluster>``."""
    if folder is not None:
        return ManualCa(folder=folder)
    ca = getattr(params, "ca", None)
    outbox, inbox = getattr(ca, "outbox", None), getattr(ca, "inbox", None)
    if outbox and inbox:
        return ManualCa(outbox=Path(outbox), inbox=Path(inbox))
    root = Path(getattr(params, "root", None) or ".")
    return ManualCa(folder=root / "ca-exchange" / params.cluster)


BACKEND = BackendSpec(kind="manual", config=ManualConfig, build=build,
                      summary="CSRs written to an outbox folder; a person drops what the CA issued into the inbox.")
