"""The manual CA back-end: an outbox of CSRs, an inbox of issued files, an archive of what was used.

``submit`` writes ``outbox/<node>-<purpose>.csr`` (the request id is
``<node>-<purpose>``); ``collect`` reads the files dropped into
``inbox/<node>-<purpose>/`` (any shape the intake understands: PEM, DER,
p7b, zip). Until something is there it answers ``None`` and the engine stops
with "waiting for the CA"; re-running later picks the files up.

The newest file wins: of several files holding a leaf (end-entity) certificate,
only the most recently modified is used, and ``selection`` names it and the
ones it supersedes; files holding only CA certificates (the chain) are all
used. Once the engine accepted a request's files, ``archive`` moves the used
and superseded files and the CSR to ``archive/<UTC date>/<request>/``: the
outbox then holds only CSRs still waiting for the CA.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic.dataclasses import dataclass

from cucmkit.ca.registry import BackendSpec
from cucmkit.params import SECTION, CaConfig

if TYPE_CHECKING:
    from cucmkit.certs.intake import LoadedCert

__all__ = ["ManualCa", "ManualConfig", "BACKEND", "Selection"]

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

    def selection(self, request_id: str) -> Selection:
        """Which inbox files ``collect`` uses: the newest leaf file, every chain-only (or unreadable) file."""
        files = self._files(request_id)
        leaves = sorted((p for p in files if _holds_leaf(p)), key=lambda p: (p.stat().st_mtime_ns, p.name))
        chains = [p for p in files if p not in leaves]
        used = tuple(sorted([*leaves[-1:], *chains]))
        return Selection(used=used, superseded=tuple(leaves[:-1]))

    def collect(self, request_id: str) -> list[bytes] | None:
        chosen = self.selection(request_id)
        return [p.read_bytes() for p in chosen.used] if chosen.used else None

    def archive(self, request_id: str, *, now: datetime | None = None) -> Path:
        """Move the used and superseded inbox files and the CSR to ``archive/<UTC date>/<request>/``."""
        moment = now or datetime.now(UTC)
        target = self.folder / "archive" / moment.strftime("%Y-%m-%d") / request_id
        target.mkdir(parents=True, exist_ok=True)
        chosen = self.selection(request_id)
        for path in (*chosen.used, *chosen.superseded):
            shutil.move(str(path), str(_free(target / path.name)))
        csr = self.csr_path(request_id)
        if csr.is_file():
            shutil.move(str(csr), str(_free(target / csr.name)))
        return target


@dataclasses.dataclass(frozen=True)
class Selection:
    """The inbox files of one request: used (the newest leaf file and the chain files), and superseded."""

    used: tuple[Path, ...]
    superseded: tuple[Path, ...] = ()

    def describe(self) -> str:
        text = "from " + ", ".join(p.name for p in self.used)
        return text + (f" (newest wins; superseded: {', '.join(p.name for p in self.superseded)})"
                       if self.superseded else "")


def _holds_leaf(path: Path) -> bool:
    """True if the file holds an end-entity certificate (an unreadable file is always used: the intake reports it)."""
    from cucmkit.certs.intake import load_bytes
    from cucmkit.errors import CucmKitError

    try:
        material = load_bytes(path.read_bytes(), name=path.name)
    except (CucmKitError, OSError, ValueError):
        return False
    return any(not _is_ca(c) for c in material.certificates)


def _is_ca(cert: LoadedCert) -> bool:
    from cryptography import x509

    certificate = cert.certificate
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return certificate.subject == certificate.issuer


def _free(path: Path) -> Path:
    """``path``, or ``name-2.ext`` ... if it exists (an archive never overwrites)."""
    candidate, counter = path, 2
    while candidate.exists():
        candidate, counter = path.with_name(f"{path.stem}-{counter}{path.suffix}"), counter + 1
    return candidate


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
