"""What the lab says after a renewal: the assertions the lab tests share.

Order and idempotence are proven from the lab's event log (``LabState.events``),
not from services' ``started_at``: events of the engine come through the lab's
doors (``cli``, ``https``, ``controlcenter``); a test's own direct calls are ``api``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from cucmkit import catalogue
from cucmkit.catalogue import NodeScope
from cucmkit.cucm._http import fetch_server_certificate
from cucmkit.lab import pki
from cucmkit.lab.soap import LAB_VERSION
from cucmkit.lab.state import LabEvent
from cucmkit.renewal import Renewal, RunResult
from cucmkit.renewal.state import Ledger, atomic_write_json

from .conftest import Env

RESTART_KINDS = ("restart_requested", "restart_completed", "restart_failed")


def rewrite_ledger(renewal: Renewal, edit: Callable[[dict[str, Any]], object]) -> Ledger:
    """Simulate a crash at a precise point: edit the ledger file's JSON as a crash would have left it, reload it."""
    raw = renewal.ledger.snapshot()
    edit(raw)
    atomic_write_json(renewal.ledger.path, raw)
    renewal.ledger.reload()
    return renewal.ledger


def engine_events(env: Env, kind: str | tuple[str, ...] | None = None) -> list[LabEvent]:
    """This test's lab events that came through a door (the engine's), oldest first."""
    return [e for e in env.lab.state.events(since=env.since, kind=kind) if e.get("door") != "api"]


def _in_scope(scope: NodeScope, node: Any) -> bool:
    """The catalogue's own scope rule (services: those activated on the lab node)."""
    running = frozenset(name for name, svc in node.services().items() if svc.activated)
    return scope.covers(kind=node.kind, role=node.role, services=running)


def expected_restarts(env: Env, purpose: str) -> dict[tuple[str, str], str]:
    """(node FQDN, service) -> door, for every node where a restarted service of the lab's release runs activated."""
    out = {}
    for restart in catalogue.get(purpose).restarts_for(LAB_VERSION):   # the lab's release chooses the list
        if restart.command is not None:
            continue                                 # a CLI reload (utils ipsec restart), not a service
        for node in env.lab.state.nodes.values():
            svc = next((s for name, s in node.services().items() if catalogue.same_service(name, restart.service)),
                       None)
            if _in_scope(restart.where, node) and svc is not None and svc.activated:
                out[(node.fqdn, restart.service)] = restart.via
    return out


def assert_restart_order(env: Env, purpose: str) -> list[str]:
    """Restarts exactly where the service is activated, publisher first, then one node at a time.

    A restart that failed (a fault) may be requested again; a completed one never is. Returns the
    node order.
    """
    events = sorted(engine_events(env, RESTART_KINDS), key=lambda e: (e.time, e.seq))
    assert events, "no service was restarted"
    expected = expected_restarts(env, purpose)
    completed = Counter((e.node, e.get("service")) for e in events if e.kind == "restart_completed")
    assert set(completed) == set(expected), (sorted(completed), sorted(expected))
    assert all(n == 1 for n in completed.values()), f"restarted twice: {completed}"
    for e in events:
        assert e.get("door") == expected[(e.node, e.get("service"))], (e, "restarted through the wrong door")
    blocks: list[list[LabEvent]] = []
    for e in events:
        if blocks and blocks[-1][0].node == e.node:
            blocks[-1].append(e)
        else:
            blocks.append([e])
    order = [b[0].node for b in blocks]
    assert len(order) == len(set(order)), f"a node's restarts were interleaved with another's: {order}"
    first_rank = catalogue.get(purpose).restart_order[0]
    first = next(n.fqdn for n in env.lab.state.nodes.values() if first_rank.matches(kind=n.kind, role=n.role))
    assert order[0] == first, f"the publisher restarts first: {order}"
    for before, after in zip(blocks, blocks[1:], strict=False):
        last_done = max(e.time for e in before if e.kind != "restart_requested")
        first_asked = min(e.time for e in after if e.kind == "restart_requested")
        assert last_done <= first_asked, f"{after[0].node} restarted before {before[0].node} was done"
    return order


def assert_ctl(env: Env, purpose: str) -> None:
    """Mixed mode: one CTL update, before any restart; otherwise none."""
    ctl = engine_events(env, "ctl_updated")
    if catalogue.get(purpose).ctl_update_in_mixed_mode and env.lab.state.security_mode == 1:
        assert len(ctl) == 1, ctl
        first = min(e.time for e in engine_events(env, "restart_requested"))
        assert ctl[0].time < first and ctl[0].node == env.lab.state.publisher.fqdn
    else:
        assert ctl == [], "a CTL update outside mixed mode (or for a purpose that needs none)"


def assert_installs(env: Env, purpose: str, ledger: dict[str, Any], *, csrs: int = 1) -> None:
    """One CSR and one identity upload per renewed node (trust uploads before it); one regeneration per
    self-signed node; no CSR, upload or regeneration anywhere else."""
    renewed = set(ledger["csrs"])
    unit_events = [e for e in engine_events(env) if e.get("purpose", "").lower() == purpose.lower()]
    per = Counter((e.kind, e.node) for e in unit_events)
    for node in ledger["nodes"]:
        after = ledger["certificates"][node]["after"]
        if node in renewed:
            assert per[("csr_generated", node)] == csrs, (node, per)
            [upload] = [e for e in unit_events if e.kind == "identity_uploaded" and e.node == node]
            assert upload.get("fingerprint") == after
            store = env.lab.state.node(node).store(purpose)
            trust = [e for e in engine_events(env, "trust_uploaded") if e.node == node and e.get("store") == store]
            assert all(t.seq < upload.seq for t in trust), f"a trust upload after the identity on {node}"
        else:
            [regen] = [e for e in unit_events if e.kind == "regenerated" and e.node == node]
            assert regen.get("fingerprint") == after
    touched = {node for _, node in per}
    assert touched <= set(ledger["nodes"]), f"nodes outside the run were changed: {touched - set(ledger['nodes'])}"


def assert_no_repeats(env: Env, purpose: str) -> None:
    """After crashes and resumes: never a second CSR or identity upload for a node."""
    per = Counter((e.kind, e.node) for e in engine_events(env, ("csr_generated", "identity_uploaded"))
                  if e.get("purpose", "").lower() == purpose.lower())
    assert per and all(n == 1 for n in per.values()), per


def assert_renewed(env: Env, purpose: str, result: RunResult, *, self_signed: tuple[str, ...] = (),
                   csrs: int = 1) -> dict[str, Any]:
    assert result.status == "done", str(result)
    state = env.ledger(purpose).state
    assert state.status == "completed"
    ledger = state.to_json()                      # the file's JSON form: what a tool reading the ledger sees
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
    assert_restart_order(env, purpose)
    assert_ctl(env, purpose)
    assert_installs(env, purpose, ledger, csrs=csrs)
    assert env.lab.state.phone_summary()["registered"] == env.lab.state.phone_summary()["total"]
    return ledger


def served_fingerprint(env: Env, node: str) -> str:
    ep = env.lab.endpoint(node)
    return pki.fingerprint(fetch_server_certificate(ep.address, ep.https_port, ep.fqdn)[0])
