"""Shared fixtures: a running lab cluster on ephemeral ports.

- ``lab``: session-scoped LabCluster (40 phones, speed 0.02: restarts take
  0.2-0.4 s, phones re-register in ~0.6 s). Tests that use it must leave it
  as they found it (or use ``fresh_lab``).
- ``lab_params``: path of ``lab.write_parameters(...)`` for the session lab.
- ``fresh_lab``: a function-scoped LabCluster for tests that mutate badly.
- ``lab_https(lab, node)``: a requests.Session that connects to 127.0.0.1 and
  verifies the node's certificate by FQDN against the lab's CA bundle.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests
from requests.adapters import HTTPAdapter

from cucmkit.lab import LabCluster, Topology

LAB_SPEED = 0.02
LAB_PHONES = 40


class FqdnAdapter(HTTPAdapter):
    """Connect to an address, send SNI and verify the certificate for ``fqdn``."""

    def __init__(self, fqdn: str, **kw: object) -> None:
        self._fqdn = fqdn
        super().__init__(**kw)  # type: ignore[arg-type]

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        kwargs["server_hostname"] = self._fqdn
        kwargs["assert_hostname"] = self._fqdn
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]


def https_session(lab: LabCluster, node: str, *, auth: str | tuple[str, str] | None = "os_admin") -> tuple[requests.Session, str]:
    """(session, base URL) for ``node`` of ``lab``; auth names a lab secret or is a (user, password) pair."""
    ep = lab.endpoint(node)
    base = f"https://{ep.address}:{ep.https_port}"
    session = requests.Session()
    session.mount(base, FqdnAdapter(ep.fqdn))
    session.verify = str(lab.ca_bundle)
    session.trust_env = False  # else REQUESTS_CA_BUNDLE in the environment overrides session.verify
    users = {"os_admin": "admin", "app_user": "ccmadmin", "ca_user": "causer"}
    if isinstance(auth, str):
        session.auth = (users[auth], lab.state.secret(auth))
    elif auth is not None:
        session.auth = auth
    return session, base


def wait_until(predicate: Callable[[], object], *, timeout: float = 10.0, interval: float = 0.05) -> object:
    """Poll ``predicate`` until truthy; its last value (AssertionError on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def _make_lab(state_dir: Path) -> LabCluster:
    return LabCluster(state_dir, topology=Topology(phones=LAB_PHONES), ports="ephemeral", speed=LAB_SPEED)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    cluster = _make_lab(tmp_path_factory.mktemp("lab") / "state")
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def lab_params(lab: LabCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lab.write_parameters(tmp_path_factory.mktemp("params") / "lab.yaml")


@pytest.fixture
def fresh_lab(tmp_path: Path) -> Iterator[LabCluster]:
    cluster = _make_lab(tmp_path / "state")
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def lab_https() -> Callable[..., tuple[requests.Session, str]]:
    return https_session
