"""A lab per test module for the trust tests (they add and delete trust certificates)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cucmkit.lab import LabCluster, Topology, pki


@pytest.fixture(scope="module")
def trust_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    with LabCluster(tmp_path_factory.mktemp("trustlab") / "state", topology=Topology(phones=4),
                    ports="ephemeral", speed=0.02) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def trust_params(trust_lab: LabCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trust_lab.write_parameters(tmp_path_factory.mktemp("trustparams") / "lab.yaml")


def run_cucmkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cucmkit", *args], capture_output=True, text=True, timeout=180,
                          env={**os.environ})


def partner_ca(cn: str, *, slot: int, days: float = 900, age: float = 10) -> str:
    """A self-signed CA certificate no identity of the lab chains to."""
    key = pki.pooled_key("rsa", 2048, slot)
    return pki.self_signed(cn=cn, key=key, days=days, not_before=pki.utcnow() - dt.timedelta(days=age), is_ca=True)
