"""Where a cluster stands after a run ended early: per node, installed / active / pending.

Read from the engine's typed run state (``cucmkit.renewal.state.RunState``) only, so the runner, the
evidence and ``cucmkit renew`` say the same thing after a Ctrl-C, a timeout or a failure:

    cucm-pub   installed, active
    cucm-sub1  installed, NOT active until restart; pending: restart Cisco CallManager, verify-tls

``installed``: the node's new certificate was uploaded (identity or self-signed step done); ``active``:
every restart planned on the node is done after that (None for a node that only restarts, not renewed).
"""

from __future__ import annotations

from dataclasses import dataclass

from cucmkit.renewal.state import RunState

__all__ = ["NodeStanding", "standing", "standing_lines", "is_half_done"]

_INSTALL_STEPS = ("identity", "self-signed")
CLUSTER = "cluster"                    # the row of the steps that have no node (phones, reminders)


@dataclass(frozen=True)
class NodeStanding:
    """One node (or ``cluster`` for steps without a node) after the run stopped."""

    node: str
    renewed: bool                      # the plan renews this node's certificate
    installed: bool                    # the new certificate is on the node
    active: bool | None                # every planned restart done (None: nothing to activate here)
    pending: tuple[str, ...]           # planned steps not finished, in plan order
    running: str | None = None         # the step that was in flight when the run ended

    def text(self) -> str:
        if self.node == CLUSTER:
            state = "cluster-wide steps"
        elif self.renewed:
            state = "installed" if self.installed else "NOT installed"
            if self.installed and self.active is not None:
                state += ", active" if self.active else ", NOT active until restart"
        else:
            state = "not renewed" + ("" if self.active is None else
                                     (", restarted" if self.active else ", restart pending"))
        if self.running:
            state += f"; interrupted in {self.running}"
        return state + (f"; pending: {', '.join(self.pending)}" if self.pending else "; nothing pending")


def _label(name: str, service: str | None) -> str:
    return f"{name} {service}" if service else name


def standing(state: RunState | None) -> tuple[NodeStanding, ...]:
    """Per node of the stored plan, in plan order; empty when no run was planned."""
    if state is None or state.plan is None:
        return ()
    renewed = {n.name for n in state.plan.nodes if n.action in ("renew", "self-signed")}
    order: list[str] = []
    for step in state.plan.steps:
        key = step.node or CLUSTER
        if key not in order:
            order.append(key)
    return tuple(_one(state, node, node in renewed) for node in order)


def _one(state: RunState, node: str, renewed: bool) -> NodeStanding:
    steps = [s for s in state.plan.steps if (s.node or CLUSTER) == node] if state.plan else []
    done = {s.key for s in steps if (r := state.steps.get(s.key)) is not None and r.finished}
    installed = any(s.key in done for s in steps if s.name in _INSTALL_STEPS)
    restarts = [s for s in steps if s.name == "restart"]
    active = None if not restarts else all(s.key in done for s in restarts)
    pending = tuple(_label(s.name, s.service) for s in steps if s.key not in done)
    running = next((_label(s.name, s.service) for s in steps
                    if (r := state.steps.get(s.key)) is not None and r.outcome == "running"), None)
    return NodeStanding(node=node, renewed=renewed, installed=installed, active=active, pending=pending,
                        running=running)


def standing_lines(nodes: tuple[NodeStanding, ...]) -> list[str]:
    """One line per node, names aligned."""
    width = max((len(n.node.split(".")[0]) for n in nodes), default=0)
    return [f"{n.node.split('.')[0]:{width}}  {n.text()}" for n in nodes]


def is_half_done(nodes: tuple[NodeStanding, ...]) -> bool:
    """Some node holds the new certificate while something is still pending (a re-run finishes it)."""
    return any(n.installed for n in nodes) and any(n.pending for n in nodes)
