"""What the lab says after a renewal: the assertions the lab tests share."""

from __future__ import annotations

from typing import Any

from cucmkit.cucm._http import fetch_server_certificate
from cucmkit.lab import pki
from cucmkit.renewal import RunResult

from .conftest import Env


def restart_times(env: Env, result: RunResult) -> list[tuple[str, str, float]]:
    """(node, service, started_at) per restart step, in the order the engine ran them."""
    rows = []
    for step in result.steps:
        if step.name != "restart":
            continue
        _, node, service = step.key.split(":", 2)
        started = env.lab.state.node(node).services()[service].started_at
        rows.append((node, service, started))
    return rows


def assert_renewed(env: Env, purpose: str, result: RunResult, *, self_signed: tuple[str, ...] = ()) -> dict[str, Any]:
    assert result.status == "done", str(result)
    ledger = env.ledger(purpose).data
    assert ledger["status"] == "completed"
    for node in ledger["nodes"]:
        own = env.lab.state.node(node).own()[purpose]
        cert = pki.load_cert(own.pem)
        assert pki.fingerprint(own.pem) == ledger["certificates"][node]["after"] != ledger["certificates"][node]["before"]
        assert own.active_pem == own.pem, f"{purpose} on {node} installed but not active"
        short = node.split(".")[0]
        if short in self_signed:
            assert cert.issuer == cert.subject
        else:
            assert cert.issuer != cert.subject
            assert ledger["csrs"][node]["fingerprint"]            # issued from the CSR the engine recorded
    rows = restart_times(env, result)
    assert rows, "no service was restarted"
    publisher = env.lab.state.publisher.fqdn
    assert rows[0][0] == publisher, "the publisher restarts first"
    times = [t for _, _, t in rows]
    assert all(a is not None and b is not None and a < b for a, b in zip(times, times[1:])), rows
    assert env.lab.state.phone_summary()["registered"] == env.lab.state.phone_summary()["total"]
    return ledger


def served_fingerprint(env: Env, node: str) -> str:
    ep = env.lab.endpoint(node)
    return pki.fingerprint(fetch_server_certificate(ep.address, ep.https_port, ep.fqdn)[0])
