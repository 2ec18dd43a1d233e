"""Find secrets in evidence: the known values behind a parameter file, and patterns.

``known_secrets(files)`` resolves every secret reference in the given parameter
files (``{env:}``, ``{file:}``, ``{keyring:}``) to its value, in memory only.
``search_for(files)`` does the same and also names every reference it could
not resolve, so a scan can say what it looked for (by reference) and what it
could not. ``scan_dir`` looks for those values in every encoding a file can
hold them (``secret_forms``) and for patterns that are secrets whatever their value
(private keys, Basic-auth headers, literal passwords). A ``Finding`` names the
file and the kind of match, never the matched text.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cucmkit.errors import ParameterError
from cucmkit.secrets import Secret, describe, is_reference, resolve

__all__ = ["Finding", "SecretRef", "SecretSearch", "search_for", "known_secrets", "secret_forms", "b64_aligned",
           "scan_text", "scan_dir", "redact", "redact_patterns", "REDACTED", "project_root"]

REDACTED = "[REDACTED]"
_MIN_SECRET_LEN = 4  # shorter "secrets" would match everywhere and mean nothing
_MIN_FORM_LEN = 6    # an encoded form shorter than this would match inside any base64 image

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


@dataclass(frozen=True)
class SecretRef:
    """One secret reference of a parameter file: where it sits, what it names, and whether it resolved.

    ``value`` is a ``Secret`` (it never shows itself); ``problem`` says why it
    could not be resolved (then the scan could not look for it).
    """

    file: str                      # the parameter file, as given
    where: str                     # key path, e.g. credentials.os_admin.password
    reference: str                 # e.g. env:CUCM_OS_ADMIN_PASSWORD (never the value)
    value: Secret | None = field(default=None, repr=False, compare=False)
    username: str | None = None    # the sibling ``username``, for Basic-auth forms
    problem: str | None = None

    def __str__(self) -> str:
        text = f"{self.where} ({self.reference})"
        return f"{text}: NOT looked for, {self.problem}" if self.problem else text


@dataclass(frozen=True)
class SecretSearch:
    """What a secret scan looks for: every reference of the parameter files, resolved or not."""

    refs: tuple[SecretRef, ...] = ()
    unreadable: tuple[str, ...] = ()   # parameter files that could not be read (or found)

    @property
    def values(self) -> frozenset[str]:
        return frozenset(r.value.reveal() for r in self.refs
                         if r.value is not None and len(r.value.reveal()) >= _MIN_SECRET_LEN)

    @property
    def usernames(self) -> frozenset[str]:
        return frozenset(r.username for r in self.refs if r.username)

    @property
    def complete(self) -> bool:
        """True when every reference was resolved and every file read: nothing could hide from the scan."""
        return not self.unreadable and all(r.problem is None for r in self.refs)

    def lines(self) -> list[str]:
        """Which secrets were looked for, by reference, never by value."""
        return ([f"looked for: {r}" if r.problem is None else f"could not look for: {r}" for r in self.refs]
                + [f"could not look for the secrets of {f}" for f in self.unreadable])


def search_for(parameter_files: Iterable[Path | str]) -> SecretSearch:
    """Resolve every secret reference of the parameter files, in memory; unresolvable ones are named."""
    refs: list[SecretRef] = []
    unreadable: list[str] = []
    for file in parameter_files:
        path = Path(file)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            unreadable.append(f"{file} ({type(exc).__name__})")
            continue
        bases = (project_root(), project_root(path.resolve().parent))
        refs.extend(_resolved(str(file), where, ref, user, bases) for where, ref, user in _references(data))
    return SecretSearch(tuple(refs), tuple(unreadable))


def _resolved(file: str, where: str, ref: Mapping[str, object], user: str | None, bases: tuple[Path, ...]) -> SecretRef:
    problem = "unresolvable"
    for base in dict.fromkeys(bases):
        try:
            value = resolve(ref, base=base, where=where)
        except ParameterError as exc:
            problem = exc.message
            continue
        return SecretRef(file, where, describe(ref), value, user)
    return SecretRef(file, where, describe(ref), None, user, problem)


def known_secrets(parameter_files: Iterable[Path | str]) -> frozenset[str]:
    """Every secret value the parameter files reference (unresolvable ones are skipped: see ``search_for``)."""
    return search_for(parameter_files).values


def _references(data: object, where: str = "") -> Iterator[tuple[str, Mapping[str, object], str | None]]:
    """(key path, reference, sibling username) of every secret reference in ``data``."""
    if isinstance(data, Mapping):
        user = data.get("username")
        for key, value in data.items():
            path = f"{where}.{key}" if where else str(key)
            if is_reference(value):
                yield path, value, user if isinstance(user, str) else None
            else:
                yield from _references(value, path)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            if is_reference(value):
                yield f"{where}[{index}]", value, None
            else:
                yield from _references(value, f"{where}[{index}]")


_BASIC_USERS = ("admin", "ccmadmin", "causer", "administrator")


def _entities(text: str, quot: str, apos: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', quot).replace("'", apos)


def _escaped_forms(secret: str) -> set[str]:
    """Text escapings: raw, HTML and XML (every quote spelling), Python repr, then each of those JSON-escaped."""
    marked = [secret, html.escape(secret, quote=False), html.escape(secret, quote=True),
              _entities(secret, "&quot;", "&apos;"), _entities(secret, "&#34;", "&#39;"), repr(secret)[1:-1]]
    forms = set(marked)
    for text in marked:
        forms.add(json.dumps(text)[1:-1])
        forms.add(json.dumps(text, ensure_ascii=False)[1:-1])
    return forms


def _url_forms(secret: str) -> set[str]:
    forms = {urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret), urllib.parse.quote_plus(secret),
             urllib.parse.quote_plus(secret, safe="/")}
    return forms | {f.lower() for f in forms if "%" in f} | {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), f)
                                                            for f in forms}


def b64_aligned(data: bytes) -> set[str]:
    """The base64 characters that depend only on ``data``, at each of the 3 alignments in a longer stream."""
    forms = set()
    for shift, skip in ((0, 0), (1, 2), (2, 3)):
        encoded = base64.b64encode(b"\0" * shift + data).decode()
        total = shift + len(data)
        end = total // 3 * 4 + total % 3
        forms.add(encoded[skip:end])
        forms.add(encoded[skip:end].translate(str.maketrans("+/", "-_")))
    return forms


def _b64_whole(data: bytes) -> set[str]:
    """A value base64-encoded on its own (with and without its ``=`` padding)."""
    encoded = base64.b64encode(data).decode()
    return {encoded, encoded.rstrip("=")}


def secret_forms(secret: str, usernames: Iterable[str] = ()) -> set[str]:
    """Every way a secret value can show up in a text file the kit writes.

    Raw; JSON string escaping; HTML and XML escaping; Python repr; URL encoding
    (``%20`` and ``+``, upper and lower case hex); base64 (standard and URL-safe)
    at each of the 3 alignments; Basic-auth ``user:password`` base64; hex.
    """
    data = secret.encode()
    forms = _escaped_forms(secret) | _url_forms(secret) | b64_aligned(data) | {data.hex(), data.hex().upper()}
    for user in {*_BASIC_USERS, *usernames}:
        forms |= b64_aligned(f"{user}:{secret}".encode()) | _b64_whole(f"{user}:{secret}".encode())
    forms |= _b64_whole(data)
    return {f for f in forms if len(f) >= (_MIN_SECRET_LEN if f == secret else _MIN_FORM_LEN)}


def _matcher(secrets: Iterable[str], usernames: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern matching every form of every secret, longest first (so a form is never half-replaced)."""
    users = tuple(usernames)
    forms = {form for secret in secrets for form in secret_forms(secret, users)}
    if not forms:
        return None
    return re.compile("|".join(re.escape(f) for f in sorted(forms, key=lambda f: (-len(f), f))))


def scan_text(text: str, secrets: Iterable[str] = (), *, path: str = "", usernames: Iterable[str] = ()
              ) -> list[Finding]:
    """Known secrets (any form: see ``secret_forms``) and secret patterns in ``text``; never the matched text."""
    return _scan(text, _matcher(secrets, usernames), path)


def _scan(text: str, matcher: re.Pattern[str] | None, path: str) -> list[Finding]:
    findings = []
    match = matcher.search(text) if matcher else None
    if match:
        findings.append(Finding(path, "known secret", match.start()))
    for kind, pattern in _PATTERNS:
        for found in pattern.finditer(text):
            if found.groups() and _HARMLESS.match(found.group(1)):
                continue
            findings.append(Finding(path, kind, found.start()))
    return findings


def scan_dir(folder: Path, secrets: Iterable[str] = (), *, usernames: Iterable[str] = ()) -> list[Finding]:
    """Scan every file under ``folder`` (text and binary alike, decoded leniently)."""
    matcher = _matcher(secrets, usernames)
    findings: list[Finding] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", errors="replace")
        findings.extend(_scan(text, matcher, path.relative_to(folder).as_posix()))
    return findings


def redact(text: str, secrets: Iterable[str], *, usernames: Iterable[str] = ()) -> str:
    """``text`` with every form of every known secret replaced by ``[REDACTED]``."""
    matcher = _matcher(secrets, usernames)
    return matcher.sub(REDACTED, text) if matcher else text


_KEY_BLOCK = re.compile(r"-----BEGIN ((?:[A-Z]+ )?)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|$)", re.S)
_BASIC = re.compile(r"(Authorization:\s*Basic\s+)[A-Za-z0-9+/=]{8,}", re.I)


def redact_patterns(text: str) -> str:
    """``text`` with private-key blocks, Basic-auth header values and literal passwords replaced."""
    text = _KEY_BLOCK.sub(f"{REDACTED} private key", text)
    text = _BASIC.sub(lambda m: m.group(1) + REDACTED, text)
    return _PATTERNS[2][1].sub(
        lambda m: m.group(0) if _HARMLESS.match(m.group(1)) else m.group(0).replace(m.group(1), REDACTED), text)
