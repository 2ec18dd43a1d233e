"""Which door of the lab is calling, and how CUCM refuses.

- ``LabRefusal``: CUCM refused (its message, HTTP status, Control Center code).
- ``current_door`` / ``door``: which door (``cli``, ``https``, ``controlcenter``, ``api``) is calling, for the
  event log.
"""

from __future__ import annotations

import threading

__all__ = ["LabRefusal", "current_door", "door"]


class LabRefusal(Exception):
    """CUCM refused: ``message`` is CUCM's text, ``status`` the HTTP status, ``code`` a Control Center reason."""

    def __init__(self, message: str, status: int = 400, *, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


_DOOR = threading.local()


def current_door() -> str:
    """Which door is calling, for the event log: the innermost ``door(...)`` block.

    The SSH listener wraps each session in ``door("cli")``, the HTTPS listener each
    request in ``door("https")`` (``"controlcenter"`` for Control Center); anything
    else is a direct call (``api``: a test, the control endpoint).
    """
    return str(getattr(_DOOR, "name", None) or "api")


class _DoorBlock:
    def __init__(self, name: str) -> None:
        self._name: str = name
        self._saved: str | None = None

    def __enter__(self) -> None:
        self._saved = getattr(_DOOR, "name", None)
        _DOOR.name = self._name

    def __exit__(self, *exc: object) -> None:
        _DOOR.name = self._saved


def door(name: str) -> _DoorBlock:
    """``with door("cli"): ...`` names the door for the events recorded in the block."""
    return _DoorBlock(name)
