"""Secret references and the values they resolve to.

A parameter file never holds a password. It holds a *reference*:

    {env: CUCM_OS_ADMIN_PASSWORD}       an environment variable
    {file: .lab/secrets/os_admin}       a file (first line, trailing newline dropped)
    {keyring: "cucmkit/admin"}          an OS keyring entry "service/user"

``resolve(ref)`` turns a reference into a ``Secret``. A ``Secret`` shows only
where it came from (``Secret(env:CUCM_OS_ADMIN_PASSWORD)``) in ``repr``,
``str`` and f-strings; ``.reveal()`` returns the value for the one place that
sends it (HTTP Basic auth, the SSH password). Errors name the reference that
failed and how to fix it, never a value.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TypeGuard

from cucmkit.errors import ParameterError

__all__ = ["Secret", "resolve", "describe", "is_reference", "REFERENCE_KINDS"]

REFERENCE_KINDS = ("env", "file", "keyring")
log = logging.getLogger(__name__)
_HOW = "reference it as {env: VAR}, {file: PATH} or {keyring: \"service/user\"}"


class Secret:
    """A secret value that never shows itself. Compare with ``==``; read with ``reveal()``."""

    __slots__ = ("_value", "_source")

    def __init__(self, value: str, *, source: str = "literal") -> None:
        if not isinstance(value, str):
            raise TypeError("Secret value must be a str")
        self._value = value
        self._source = source

    @property
    def source(self) -> str:
        """Where the value came from, e.g. ``env:VAR`` or ``file:/path``."""
        return self._source

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self._source})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self._source))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Secret:
        return self

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled; pass the reference instead")


def is_reference(value: object) -> TypeGuard[Mapping[str, object]]:
    """True when ``value`` looks like a secret reference mapping (one known key)."""
    return isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in REFERENCE_KINDS


def describe(ref: object) -> str:
    """A safe one-line description of a reference (never the value)."""
    if is_reference(ref):
        kind, target = next(iter(ref.items()))
        return f"{kind}:{target}"
    return f"<{type(ref).__name__}>"


def resolve(ref: object, *, base: Path | None = None, where: str = "secret") -> Secret:
    """Resolve ``{env: ..}``, ``{file: ..}`` or ``{keyring: ..}`` into a ``Secret``.

    ``base`` is the folder relative ``file`` references are resolved against
    (default: the working directory). ``where`` names the parameter key for
    error messages (e.g. ``credentials.os_admin.password``).
    """
    if isinstance(ref, Secret):
        return ref
    if not is_reference(ref):
        raise ParameterError(
            f"{where}: a plain value is not allowed here (got {type(ref).__name__})",
            remedy=_HOW + "; never write the password itself into the parameter file.",
        )
    kind, target = next(iter(ref.items()))
    if not isinstance(target, str) or not target.strip():
        raise ParameterError(f"{where}: {kind} reference needs a non-empty string", remedy=_HOW + ".")
    resolver = {"env": _from_env, "file": _from_file, "keyring": _from_keyring}[kind]
    return resolver(target.strip(), base=base, where=where)


def _from_env(name: str, *, base: Path | None, where: str) -> Secret:
    value = os.environ.get(name)
    if value is None or value == "":
        raise ParameterError(
            f"{where}: environment variable {name} is not set (or empty)",
            remedy=f"export {name}=... in the shell (or the kernel's environment) before running.",
        )
    return Secret(value, source=f"env:{name}")


def _from_file(path_text: str, *, base: Path | None, where: str) -> Secret:
    path = Path(path_text).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParameterError(
            f"{where}: secret file {path} does not exist",
            remedy="create it (mode 0600) holding only the password, or fix the path "
            "(relative paths resolve against $CUCMKIT_ROOT or the folder holding parameters/).",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(
            f"{where}: secret file {path} cannot be read ({type(exc).__name__})",
            remedy="check the file's permissions and that it holds UTF-8 text.",
        ) from None
    _warn_if_shared(path)
    value = text.splitlines()[0] if text.strip() else ""
    if not value:
        raise ParameterError(f"{where}: secret file {path} is empty", remedy="write the password into it.")
    return Secret(value, source=f"file:{path}")


def _warn_if_shared(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & 0o077:
        log.warning("secret file %s is readable by other users (mode %o); run: chmod 600 %s",
                    path, mode & 0o777, path)


def _from_keyring(entry: str, *, base: Path | None, where: str) -> Secret:
    service, sep, user = entry.rpartition("/")
    if not sep or not service or not user:
        raise ParameterError(
            f"{where}: keyring reference {entry!r} must be \"service/user\"",
            remedy="write it as {keyring: \"cucmkit/admin\"}.",
        )
    value = _keyring_get(service, user, where=where)
    if not value:
        raise ParameterError(
            f"{where}: keyring has no entry for service {service!r} user {user!r}",
            remedy=f"store it with: keyring set {service} {user}",
        )
    return Secret(value, source=f"keyring:{entry}")


def _keyring_get(service: str, user: str, *, where: str) -> str | None:
    try:
        import keyring
        import keyring.errors
    except ImportError:
        raise ParameterError(
            f"{where}: keyring references need the 'keyring' package",
            remedy="pip install 'cucmkit[keyring]', or use an {env: ...} or {file: ...} reference.",
        ) from None
    try:
        return keyring.get_password(service, user)
    except keyring.errors.KeyringError as exc:
        raise ParameterError(
            f"{where}: the keyring backend failed ({type(exc).__name__})",
            remedy="configure a keyring backend, or use an {env: ...} or {file: ...} reference.",
        ) from None
