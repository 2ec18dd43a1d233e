"""What an approval approves: the plan restated for the person who clicks (pure; the notebook shows it).

``ApprovalScope.of(plan, ...)`` counts what will happen: the nodes renewed, the services restarted
and on which nodes (with the reason for a restart on a node whose certificate is not renewed), the
phone reset and how many phones it touches, and how long it may take at most (the parameter file's
restart and registration deadlines: a bound, not a forecast).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cucmkit.catalogue import Purpose
from cucmkit.renewal.plan import Plan, Step

__all__ = ["ApprovalScope", "RestartLine", "RISK_BADGES", "badge"]

RISK_BADGES = {"high": "[HIGH]", "medium": "[MEDIUM]", "low": "[LOW]"}


def badge(risk: str) -> str:
    """A text badge for a risk level (renders without an emoji font)."""
    return RISK_BADGES.get(risk, f"[{risk.upper()}]")


@dataclass(frozen=True)
class RestartLine:
    node: str
    services: tuple[str, ...]
    renewed: bool
    reason: str = ""           # why a node whose certificate is not renewed restarts


@dataclass(frozen=True)
class ApprovalScope:
    purpose: str
    risk: str
    cluster: str
    renewed: tuple[str, ...]
    self_signed: tuple[str, ...]
    restarts: tuple[RestartLine, ...]
    phone_reset: bool
    phones: int | None                 # registered phones now (None: not known)
    max_seconds: float
    distribution: str = ""             # "multi-server" | "per-node" (purposes that can be either), else ""

    @property
    def restart_count(self) -> int:
        return sum(len(line.services) for line in self.restarts)

    @classmethod
    def of(cls, plan: Plan, *, restart_limit: float, registration_limit: float,
           phones: int | None = None) -> ApprovalScope:
        purpose = plan.purpose
        changed = {n.name for n in plan.nodes if n.action in ("renew", "self-signed")}
        restarts = _restart_lines(purpose, plan.steps, changed)
        resets = any(s.name == "phones-reset" for s in plan.steps)
        seconds = sum(len(line.services) for line in restarts) * restart_limit + (registration_limit if resets else 0)
        return cls(purpose=purpose.name, risk=purpose.risk.value, cluster=plan.cluster,
                   renewed=tuple(n.short for n in plan.renew), self_signed=tuple(n.short for n in plan.self_signed),
                   restarts=restarts, phone_reset=resets, phones=phones, max_seconds=seconds,
                   distribution=plan.distribution if purpose.multi_server else "")

    def button_label(self) -> str:
        return f"Approve the {self.purpose} renewal on {self.cluster}"

    def headline(self) -> str:
        phones = ""
        if self.phone_reset:
            phones = f" and a reset of {self.phones} phones" if self.phones is not None else " and a reset of all phones"
        nodes = len(self.restarts)
        how = " (multi-server)" if self.distribution == "multi-server" else ""   # per node: the markdown's bullet
        return (f"{badge(self.risk)} {self.purpose}{how} on {self.cluster}: {len(self.renewed)} node(s) renewed, "
                f"{self.restart_count} restart(s) on {nodes} node(s){phones}; at most {_duration(self.max_seconds)}")

    def markdown(self) -> str:
        lines = [f"**{self.headline()}**", ""]
        lines.append(f"- Renewed (CA-signed): {', '.join(self.renewed) or 'none'}")
        if self.distribution == "multi-server":
            lines.append("- Multi-server: one CSR and one certificate with every node in its SAN, uploaded once; "
                         "CUCM distributes it to every node listed")
        elif self.distribution:
            lines.append("- Per node: one CSR and one certificate for each node listed")
        if self.self_signed:
            lines.append(f"- Regenerated self-signed: {', '.join(self.self_signed)}")
        for line in self.restarts:
            why = "" if line.renewed else f" (not renewed: {line.reason})"
            lines.append(f"- Restart on {line.node}: {', '.join(line.services)}{why}")
        if self.phone_reset:
            count = f"{self.phones} registered phones" if self.phones is not None else "every phone"
            lines.append(f"- Reset of all devices: {count} restart and re-register")
        lines.append(f"- Longest it may take: {_duration(self.max_seconds)} (the parameter file's restart and "
                     "registration deadlines)")
        return "\n".join(lines)


def _restart_lines(purpose: Purpose, steps: Sequence[Step], changed: set[str]) -> tuple[RestartLine, ...]:
    per_node: dict[str, list[str]] = {}
    for step in steps:
        if step.name == "restart" and step.node:
            per_node.setdefault(step.node, []).append(step.service or "")
    return tuple(RestartLine(node=node.split(".")[0], services=tuple(services), renewed=node in changed,
                             reason="" if node in changed else _reason(purpose, services))
                 for node, services in per_node.items())


def _reason(purpose: Purpose, services: Sequence[str]) -> str:
    """Why a node whose certificate stays restarts: the procedure restarts the services on every node in scope."""
    return (f"the {purpose.name} procedure restarts {', '.join(services)} on every node where it runs, so that "
            f"each node loads the new root and intermediates of {purpose.trust_store}")


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    return f"{seconds:.0f} s" if seconds < 120 else f"{minutes:.0f} min"
