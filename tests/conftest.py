"""Shared fixtures: a running lab cluster on ephemeral ports.

- ``lab``: session-scoped LabCluster (40 phones, speed 0.02: restarts take
  0.2-0.4 s, phones re-register in ~0.6 s). Tests that use it must leave it
  as they found it (or use ``fresh_lab``).
- ``lab_params``: path of ``lab.write_parameters(...)`` for the session lab.
- ``fresh_lab``: a function-scoped LabCluster for tests that mutate badly.
- ``lab_https(lab, node)``: a requests.Session that connects to 127.0.0.1 and
  verifies the node's certificate by FQDN against the lab's CA bundle
  (``cucmkit.lab.testing.https_session``; import helpers from there, not from
  ``conftest``: several test folders have a conftest).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from cucmkit.lab import LabCluster, Topology
from cucmkit.lab.testing import FqdnAdapter, https_session, wait_until

__all__ = ["FqdnAdapter", "https_session", "wait_until"]

LAB_SPEED = 0.02
LAB_PHONES = 40


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
