"""Check an evidence folder: every hash in the manifest, and no secret in any file.

The report names every secret it looked for (by reference, never the value)
and refuses to say OK when it could not look for one: a parameter file it
cannot find from here, or a reference it cannot resolve (an unset ``{env:}``
variable, a missing ``{file:}``). Relative parameter paths in ``result.json``
are project-relative, so they are looked up from the working directory, the
project root ($CUCMKIT_ROOT or the nearest folder holding ``parameters/``) and
the project the evidence folder sits in.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from cucmkit.errors import ParameterError
from cucmkit.evidence.manifest import ManifestProblem, manifest_says_signed, verify_manifest
from cucmkit.evidence.record import read_record
from cucmkit.evidence.secrets import Finding, SecretSearch, project_root, scan_dir, search_for
from cucmkit.evidence.signing import SignatureCheck, check_signature

__all__ = ["VerifyReport", "verify", "find_parameter_file"]


@dataclass(frozen=True)
class VerifyReport:
    folder: Path
    manifest: tuple[ManifestProblem, ...]
    secrets: tuple[Finding, ...]
    parameter_files: tuple[str, ...]   # the files whose secret values were looked for
    search: SecretSearch = SecretSearch()
    signature: SignatureCheck = SignatureCheck("unsigned", ("signature: unsigned",))

    @property
    def known_values(self) -> int:
        """How many secret values the references resolved to."""
        return len(self.search.values)

    @property
    def complete(self) -> bool:
        """The scan could look for every secret the run's parameter files reference."""
        return self.search.complete

    @property
    def ok(self) -> bool:
        return not self.manifest and not self.secrets and self.complete and self.signature.ok

    @property
    def verdict(self) -> str:
        if self.manifest or self.secrets or not self.signature.ok:
            return "FAILED"
        return "OK" if self.complete else "INCOMPLETE"

    def lines(self) -> list[str]:
        body = [f"  tampered: {p}" for p in self.manifest] + [f"  secret: {f}" for f in self.secrets]
        body += [f"  {line}" for line in self.signature.lines]
        looked = [f"  {line}" for line in self.search.lines()]
        known = ", ".join(self.parameter_files) or "no parameter file (patterns only)"
        tail = [f"  secrets looked for: {self.known_values} value(s) from {known}, and patterns"]
        if not self.complete:
            tail.append("  not OK: a secret could not be looked for; set its variable or file (or give the "
                        "parameter file with -f) and verify again")
        return [f"{self.verdict} {self.folder}", *body, *looked, *tail]


def find_parameter_file(name: str, folder: Path) -> Path | None:
    """``name`` as recorded (project-relative or absolute), looked up from here and from the evidence's project."""
    path = Path(name)
    if path.is_absolute():
        return path if path.is_file() else None
    bases = [Path.cwd(), project_root(), project_root(folder.resolve())]
    if os.environ.get("CUCMKIT_ROOT"):
        bases.insert(0, Path(os.environ["CUCMKIT_ROOT"]))
    return next((base / path for base in bases if (base / path).is_file()), None)


def _parameter_files(folder: Path, given: Iterable[Path]) -> tuple[tuple[Path, ...], tuple[str, ...]]:
    """The files to read secrets from, and the recorded ones that could not be found (when none was given)."""
    files = [Path(p) for p in given]
    missing = []
    record = read_record(folder) or {}
    recorded = record.get("parameters_files") or ()
    for name in recorded if isinstance(recorded, (list, tuple)) else ():
        found = find_parameter_file(str(name), folder)
        if found is not None:
            files.append(found)
        elif not files:
            missing.append(f"{name} (not found from {Path.cwd()}: give it with -f)")
    return tuple(dict.fromkeys(files)), tuple(missing)


def verify(folder: Path, *, parameter_files: Iterable[Path] = (), ca: Path | None = None) -> VerifyReport:
    """Hashes from ``manifest.json``, the signature over it, and a secret scan (values from the run's parameter
    files). ``ca``: the team CA the signer must be issued by (default: ``evidence.signing_ca`` of those files)."""
    files, missing = _parameter_files(folder, parameter_files)
    search = search_for(files)
    search = SecretSearch(search.refs, search.unreadable + missing)
    signature = _signature(folder, ca, files)
    return VerifyReport(folder=folder, manifest=tuple(verify_manifest(folder)),
                        secrets=tuple(scan_dir(folder, search.values, usernames=search.usernames)),
                        parameter_files=tuple(map(str, files)), search=search, signature=signature)


def _signature(folder: Path, ca: Path | None, files: Iterable[Path]) -> SignatureCheck:
    expected = manifest_says_signed(folder)
    try:
        trusted = _team_ca(ca, files)
    except (OSError, ValueError, ParameterError) as exc:
        return SignatureCheck("bad", (f"signature: cannot read the team CA ({exc})",))
    return check_signature(folder, trusted=trusted, expected=expected)


def _team_ca(ca: Path | None, files: Iterable[Path]) -> x509.Certificate | None:
    """The team CA certificate: given, else the first parameter file's ``evidence.signing_ca``."""
    from cucmkit.params import evidence_section

    if ca is None:
        for file in files:
            section = evidence_section(file)
            if section.signing_ca is not None:
                ca = section.signing_ca
                break
    return x509.load_pem_x509_certificate(ca.read_bytes()) if ca is not None else None
