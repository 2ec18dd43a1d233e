"""Helpers for tests that talk to a lab over the wire (requests, verify by FQDN, polling).

Kept in the package (not in a conftest) so any test module can import them by
a unique name: ``from cucmkit.lab.testing import https_session, wait_until``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter

__all__ = ["FqdnAdapter", "https_session", "wait_until", "USERS"]

USERS = {"os_admin": "admin", "app_user": "ccmadmin", "ca_user": "causer"}


class FqdnAdapter(HTTPAdapter):
    """Connect to an address, send SNI and verify the certificate for ``fqdn``."""

    def __init__(self, fqdn: str, **kw: Any) -> None:
        self._fqdn = fqdn
        super().__init__(**kw)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["server_hostname"] = self._fqdn
        kwargs["assert_hostname"] = self._fqdn
        super().init_poolmanager(*args, **kwargs)


def https_session(lab: Any, node: str, *, auth: str | tuple[str, str] | None = "os_admin") -> tuple[requests.Session, str]:
    """(session, base URL) for ``node`` of a LabCluster; auth names a lab secret or is a (user, password) pair.

    ``trust_env`` is off: REQUESTS_CA_BUNDLE in the environment would otherwise override ``verify``.
    """
    ep = lab.endpoint(node)
    base = f"https://{ep.address}:{ep.https_port}"
    session = requests.Session()
    session.trust_env = False
    session.mount(base, FqdnAdapter(ep.fqdn))
    session.verify = str(lab.ca_bundle)
    if isinstance(auth, str):
        session.auth = (USERS[auth], lab.state.secret(auth))
    elif auth is not None:
        session.auth = auth
    return session, base


def wait_until(predicate: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until truthy and return its value; AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
