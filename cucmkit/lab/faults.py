"""Faults the lab can inject, per node, at start and at runtime.

Names: ``unreachable`` (HTTPS and SSH drop every connection), ``tls_fail``
(HTTPS aborts the handshake), ``hang_ssh`` (the SSH session hangs after login),
``service_fail`` (value: a service name that fails to start), ``slow_restart``
(value: factor on restart durations, default 5), ``risport_throttle`` (RisPort
answers with the throttle fault), ``axl_503`` (AXL answers HTTP 503 to writes
and resets; value ``all``: to every request), ``certmgr_down`` (the
certificate REST API answers 404, as when it is not running).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["FAULTS", "Faults"]

FAULTS: dict[str, str] = {
    "unreachable": "every connection to the node is dropped",
    "tls_fail": "the HTTPS listener aborts the TLS handshake",
    "hang_ssh": "the SSH session hangs after login",
    "service_fail": "the named service fails to start (value: service name)",
    "slow_restart": "restarts take longer (value: factor, default 5)",
    "risport_throttle": "RisPort answers every request with the throttle fault",
    "axl_503": "AXL answers HTTP 503 to writes and resets (value 'all': to every request)",
    "certmgr_down": "the certificate REST API (/platformcom/api/v1/certmgr) answers HTTP 404: not running",
}


class Faults:
    """node short name -> fault name -> value (True or a string/number)."""

    def __init__(self, data: dict[str, dict[str, Any]] | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        self._data: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (data or {}).items()}
        self._lock = threading.RLock()
        self._on_change = on_change

    def set(self, node: str, fault: str, value: Any = True) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; valid: {', '.join(FAULTS)}")
        with self._lock:
            self._data.setdefault(node, {})[fault] = value
        self._changed()

    def clear(self, node: str, fault: str | None = None) -> None:
        with self._lock:
            if fault is None:
                self._data.pop(node, None)
            else:
                self._data.get(node, {}).pop(fault, None)
        self._changed()

    def get(self, node: str, fault: str) -> Any:
        """The fault's value on ``node`` (also honours node ``*``), or None when off."""
        with self._lock:
            for key in (node, "*"):
                value = self._data.get(key, {}).get(fault)
                if value not in (None, False):
                    return value
        return None

    def active(self, node: str, fault: str) -> bool:
        return self.get(node, fault) is not None

    def list(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self._data.items() if v}

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return self.list()

    def _changed(self) -> None:
        if self._on_change:
            self._on_change()
