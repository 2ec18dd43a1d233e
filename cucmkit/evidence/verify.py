"""Check an evidence folder: every hash in the manifest, and no secret in any file."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cucmkit.evidence.manifest import ManifestProblem, verify_manifest
from cucmkit.evidence.record import read_record
from cucmkit.evidence.secrets import Finding, known_secrets, scan_dir

__all__ = ["VerifyReport", "verify"]


@dataclass(frozen=True)
class VerifyReport:
    folder: Path
    manifest: tuple[ManifestProblem, ...]
    secrets: tuple[Finding, ...]
    parameter_files: tuple[str, ...]   # the files whose secret values were looked for
    known_values: int = 0              # how many secret values those references resolved to

    @property
    def ok(self) -> bool:
        return not self.manifest and not self.secrets

    def lines(self) -> list[str]:
        head = f"{'OK' if self.ok else 'FAILED'} {self.folder}"
        body = [f"  tampered: {p}" for p in self.manifest] + [f"  secret: {f}" for f in self.secrets]
        known = ", ".join(self.parameter_files) or "no parameter file (patterns only)"
        return [head, *body, f"  secrets looked for: {self.known_values} value(s) from {known}, and patterns"]


def _parameter_files(folder: Path, given: Iterable[Path]) -> tuple[Path, ...]:
    files = [Path(p) for p in given]
    record = read_record(folder) or {}
    for name in record.get("parameters_files") or ():
        if Path(name).is_file():
            files.append(Path(name))
    return tuple(dict.fromkeys(files))


def verify(folder: Path, *, parameter_files: Iterable[Path] = ()) -> VerifyReport:
    """Hashes from ``manifest.json`` plus a secret scan (values from the run's parameter files)."""
    files = _parameter_files(folder, parameter_files)
    secrets = known_secrets(files)
    return VerifyReport(folder=folder, manifest=tuple(verify_manifest(folder)),
                        secrets=tuple(scan_dir(folder, secrets)), parameter_files=tuple(map(str, files)),
                        known_values=len(secrets))
