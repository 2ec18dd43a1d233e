"""The manifest of an evidence folder: the SHA-256 of every file in it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["MANIFEST", "SIGNATURE", "sha256_file", "write_manifest", "verify_manifest", "manifest_says_signed",
           "ManifestProblem"]

MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.p7s"   # the detached signature over the manifest (cucmkit.evidence.signing)


@dataclass(frozen=True)
class ManifestProblem:
    path: str
    problem: str   # "missing", "modified", "unlisted", "no manifest", "unreadable manifest"

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.relative_to(folder).as_posix() not in _OWN)


_OWN = (MANIFEST, SIGNATURE)


def write_manifest(folder: Path, *, signed: bool = False) -> Path:
    """Write ``manifest.json`` listing every other file of ``folder`` with its SHA-256.

    ``signed``: a signature over this manifest follows (recorded, so a deleted signature is tampering).
    """
    entries = {p.relative_to(folder).as_posix(): sha256_file(p) for p in _files(folder)}
    body = {"algorithm": "sha256", "created": datetime.now(UTC).isoformat(timespec="seconds"), "files": entries,
            "signature": SIGNATURE if signed else None}
    path = folder / MANIFEST
    path.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def _listed(path: Path) -> dict[str, str] | None:
    """The manifest's ``files`` mapping; None when it is not JSON or not a name -> hex digest mapping."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = body.get("files") if isinstance(body, dict) else None
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        return None
    return files


def manifest_says_signed(folder: Path) -> bool:
    """The manifest announces a signature (``"signature": "manifest.json.p7s"``)."""
    try:
        body = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(body, dict) and body.get("signature") == SIGNATURE


def verify_manifest(folder: Path) -> list[ManifestProblem]:
    """Every file missing, modified or not listed; empty when the folder is intact."""
    path = folder / MANIFEST
    if not path.is_file():
        return [ManifestProblem(MANIFEST, "no manifest")]
    listed = _listed(path)
    if listed is None:
        return [ManifestProblem(MANIFEST, "unreadable manifest (expected {\"files\": {name: sha256}})")]
    problems = []
    for name, digest in sorted(listed.items()):
        file = folder / name
        if not file.is_file():
            problems.append(ManifestProblem(name, "missing"))
        elif sha256_file(file) != digest:
            problems.append(ManifestProblem(name, "modified"))
    for file in _files(folder):
        name = file.relative_to(folder).as_posix()
        if name not in listed:
            problems.append(ManifestProblem(name, "unlisted"))
    return problems
