"""Find secrets in evidence: the known values behind a parameter file, and patterns.

``known_secrets(files)`` resolves every secret reference in the given parameter
files (``{env:}``, ``{file:}``, ``{keyring:}``) to its value, in memory only.
``scan_dir`` looks for those values (raw, JSON-escaped, base64, Basic-auth and
URL-encoded forms) and for patterns that are secrets whatever their value
(private keys, Basic-auth headers, literal passwords). A ``Finding`` names the
file and the kind of match, never the matched text.
"""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from cucmkit.errors import ParameterError
from cucmkit.secrets import is_reference, resolve

__all__ = ["Finding", "known_secrets", "secret_forms", "scan_text", "scan_dir", "redact", "redact_patterns",
           "REDACTED", "project_root"]

REDACTED = "[REDACTED]"
_MIN_SECRET_LEN = 4  # shorter "secrets" would match everywhere and mean nothing

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private key", re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")),
    ("basic auth header", re.compile(r"Authorization:\s*Basic\s+[A-Za-z0-9+/=]{8,}", re.I)),
    ("literal password", re.compile(
        r"""["']?(?:password|passwd|secret)["']?\s*[:=]\s*["']([^"'{}\s\[\]]{4,})["']""", re.I)),
)
# literal-password matches that are references or our own redaction marks, not secrets
_HARMLESS = re.compile(r"^(?:None|null|\*+|\[REDACTED\]|REDACTED|env|file|keyring)$", re.I)


@dataclass(frozen=True)
class Finding:
    path: str      # file, relative to the scanned folder
    kind: str      # "known secret" or a pattern name
    offset: int    # character offset of the match

    def __str__(self) -> str:
        return f"{self.path}: {self.kind} at offset {self.offset}"


def project_root(start: Path | None = None) -> Path:
    """$CUCMKIT_ROOT, else the nearest ancestor of ``start`` (cwd) holding ``parameters/``."""
    env = os.environ.get("CUCMKIT_ROOT")
    if env:
        return Path(env)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "parameters").is_dir():
            return folder
    return here


def known_secrets(parameter_files: Iterable[Path | str]) -> frozenset[str]:
    """Every secret value the parameter files reference (unresolvable ones are skipped)."""
    values: set[str] = set()
    for file in parameter_files:
        path = Path(file)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        bases = {project_root(), project_root(path.resolve().parent)}
        for ref in _references(data):
            for base in bases:
                try:
                    values.add(resolve(ref, base=base).reveal())
                except (ParameterError, TypeError):
                    continue
    return frozenset(v for v in values if len(v) >= _MIN_SECRET_LEN)


def _references(data: object) -> Iterator[Mapping[str, str]]:
    if is_reference(data):
        yield data  # type: ignore[misc]
    elif isinstance(data, Mapping):
        for value in data.values():
            yield from _references(value)
    elif isinstance(data, list):
        for value in data:
            yield from _references(value)


def secret_forms(secret: str) -> set[str]:
    """The ways a secret value can show up in text files."""
    forms = {secret, json.dumps(secret)[1:-1], urllib.parse.quote(secret, safe=""),
             base64.b64encode(secret.encode()).decode().rstrip("=")}
    for user in ("admin", "ccmadmin", "causer"):
        forms.add(base64.b64encode(f"{user}:{secret}".encode()).decode().rstrip("="))
    return {f for f in forms if len(f) >= _MIN_SECRET_LEN}


def scan_text(text: str, secrets: Iterable[str] = (), *, path: str = "") -> list[Finding]:
    findings = []
    for secret in secrets:
        for form in secret_forms(secret):
            index = text.find(form)
            if index >= 0:
                findings.append(Finding(path, "known secret", index))
                break
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            if match.groups() and _HARMLESS.match(match.group(1)):
                continue
            findings.append(Finding(path, kind, match.start()))
    return findings


def scan_dir(folder: Path, secrets: Iterable[str] = ()) -> list[Finding]:
    """Scan every file under ``folder`` (text and binary alike, decoded leniently)."""
    secrets = tuple(secrets)
    findings: list[Finding] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", errors="replace")
        findings.extend(scan_text(text, secrets, path=path.relative_to(folder).as_posix()))
    return findings


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of every known secret replaced by ``[REDACTED]``."""
    for secret in secrets:
        for form in sorted(secret_forms(secret), key=len, reverse=True):
            text = text.replace(form, REDACTED)
    return text


_KEY_BLOCK = re.compile(r"-----BEGIN ((?:[A-Z]+ )?)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|$)", re.S)
_BASIC = re.compile(r"(Authorization:\s*Basic\s+)[A-Za-z0-9+/=]{8,}", re.I)


def redact_patterns(text: str) -> str:
    """``text`` with private-key blocks, Basic-auth header values and literal passwords replaced."""
    text = _KEY_BLOCK.sub(f"{REDACTED} private key", text)
    text = _BASIC.sub(lambda m: m.group(1) + REDACTED, text)
    return _PATTERNS[2][1].sub(
        lambda m: m.group(0) if _HARMLESS.match(m.group(1)) else m.group(0).replace(m.group(1), REDACTED), text)
