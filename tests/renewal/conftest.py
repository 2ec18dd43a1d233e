"""Fixtures for the renewal engine's lab tests.

``rlab``: a module-scoped lab of its own (renewals change certificates, so the
session lab is left alone), fast (speed 0.01) and with few phones.
``env``: per test, a unique cluster name (so RisPort's per-cluster rate budget
and the engine's state start empty), a parameter file, a Cluster, a state dir.
``imp2_rlab`` / ``imp2_env``: the same on a lab with a second IM&P node (imp-sub1).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cucmkit.ca import make_backend
from cucmkit.ca.manual import ManualCa
from cucmkit.cucm.node import Cluster
from cucmkit.lab import LabCluster, Topology, pki
from cucmkit.params import ClusterParams, load_parameters
from cucmkit.renewal import Renewal, RenewalOptions
from cucmkit.renewal.state import Ledger

SPEED = 0.01
PHONES = 12
FAST = dict(poll_interval=0.1, registration_timeout=20.0, restart_timeout=15.0, tls_timeout=10.0)


def _renewal_lab(tmp_path_factory: pytest.TempPathFactory, name: str, topology: Topology) -> Iterator[LabCluster]:
    with LabCluster(tmp_path_factory.mktemp(name) / "state", topology=topology, ports="ephemeral", speed=SPEED) as lab:
        # Every test gets its own cluster name, hence its own client-side RisPort budget (14/min);
        # the lab's cluster-wide limit would otherwise add up across the tests of a module.
        lab.state.knobs.set("risport_rate", 1000)
        yield lab


@pytest.fixture(scope="module")
def rlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    yield from _renewal_lab(tmp_path_factory, "rlab", Topology(phones=PHONES))


@pytest.fixture(scope="module")
def imp2_rlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    """The default lab plus one IM&P subscriber (imp-sub1; imp-pub stays the IM&P database publisher)."""
    yield from _renewal_lab(tmp_path_factory, "imp2rlab", Topology.with_imp_subscribers(1, phones=PHONES))


@dataclass
class Env:
    lab: LabCluster
    params: ClusterParams
    params_file: Path
    cluster: Cluster
    state_dir: Path
    tmp: Path
    since: float = field(default_factory=time.time)  # the lab's events from here on are this test's

    def options(self, **kw: Any) -> RenewalOptions:
        return RenewalOptions.from_parameters(self.params, **{**FAST, **kw})

    def lab_ca(self) -> Any:
        return make_backend(self.params, "lab")

    def manual_ca(self) -> ManualCa:
        return ManualCa(folder=self.tmp / "ca")

    def open(self, purpose: str, *, ca: Any = None, ticket: str = "CHG0001", **kw: Any) -> Renewal:
        return Renewal.open(self.cluster, purpose, state_dir=self.state_dir, ticket=ticket,
                            ca=ca if ca is not None else self.lab_ca(), options=self.options(**kw))

    def ledger(self, purpose: str) -> Ledger:
        return Ledger.open(self.state_dir, self.params.cluster, purpose)


def reset_lab(lab: LabCluster) -> None:
    state = lab.state
    state.set_sso(False)
    state.set_backup(False)
    state.set_security_mode(0)
    for node in list(state.faults.list()):
        state.faults.clear(node)
    state.settle()
    if state.phone_summary()["registered"] != state.phone_summary()["total"]:
        names = [v.name for v in state.phone_views() if v.status != "Registered"]
        state.delete_itl(names)
    deadline = time.monotonic() + 10
    while state.phone_summary()["registered"] != state.phone_summary()["total"] and time.monotonic() < deadline:
        time.sleep(0.05)


def _env(lab: LabCluster, tmp_path: Path) -> Iterator[Env]:
    reset_lab(lab)
    name = f"lab-{uuid.uuid4().hex[:8]}"
    params_file = lab.write_parameters(tmp_path / "parameters" / f"{name}.yaml", cluster=name)
    params = load_parameters(params_file)
    cluster = Cluster.from_parameters(params)
    try:
        yield Env(lab, params, params_file, cluster, tmp_path / "state", tmp_path)
    finally:
        try:
            cluster.close()
        except EOFError:  # paramiko on an SSH session the lab already dropped (AdminCli.close lets it through)
            pass
        reset_lab(lab)


@pytest.fixture
def env(rlab: LabCluster, tmp_path: Path) -> Iterator[Env]:
    yield from _env(rlab, tmp_path)


@pytest.fixture
def imp2_env(imp2_rlab: LabCluster, tmp_path: Path) -> Iterator[Env]:
    """``env`` on the lab with two IM&P nodes (``imp2_rlab``)."""
    yield from _env(imp2_rlab, tmp_path)


class CaPlayer(threading.Thread):
    """A person at the CA: picks CSRs from the outbox, issues them with the lab CA, drops them into the inbox."""

    def __init__(self, ca: ManualCa, lab: LabCluster, purpose: str, **overrides: Any) -> None:
        """``overrides`` go to the lab CA's ``issue`` (e.g. ``key_usage=``: a CA template that drops a usage)."""
        super().__init__(daemon=True)
        self.ca, self.lab, self.purpose, self.overrides = ca, lab, purpose, overrides
        self.answered: list[str] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            for name in self.ca.pending():
                csr = self.ca.csr_path(name).read_text()
                leaf, chain = self.lab.ca.issue(csr, self.purpose, **self.overrides)
                folder = self.ca.inbox_for(name)
                (folder / "chain.pem").write_text("".join(chain))
                (folder / "certnew.cer").write_text(leaf)
                self.answered.append(name)
            time.sleep(0.05)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def answer_all(self, *, timeout: float) -> CaPlayer:
        """Start, answer every CSR waiting in the outbox (up to ``timeout`` seconds), stop; the player (``answered``)."""
        self.start()
        try:
            deadline = time.monotonic() + timeout
            while self.ca.pending() and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            self.stop()
        return self


def fingerprint(pem: str) -> str:
    return pki.fingerprint(pem)
