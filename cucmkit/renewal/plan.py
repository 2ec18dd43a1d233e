"""The renewal plan: which nodes, which of them are due, which steps, in the procedure's order.

``build_plan`` is pure: it takes what the engine observed (nodes, each node's
current certificate for the purpose, the services activated per node, the
security mode) and the clock, and returns a frozen ``Plan``. A dry run is just
this plan: nothing on the cluster changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from cucmkit.catalogue import TVS_SERVICE, NodeRank, NodeScope, Purpose, Restart, Verify, same_service

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["NodeFacts", "PlannedNode", "Step", "Plan", "build_plan", "in_scope", "PHASES", "TVS_SERVICE",
           "MULTI_SERVER_NOTE", "PER_NODE_NOTE"]

PHASES = ("csr", "ca", "install", "activate", "phones")
MULTI_SERVER_NOTE, PER_NODE_NOTE = "multi-server:", "per-node:"   # how the plan says which it is (stored with it)
_VERIFY_DETAIL = {Verify.TLS: "confirm over TLS that the node serves the new certificate"}


class _Cert(Protocol):
    fingerprint_sha256: str
    not_after: datetime
    self_signed: bool

    def days_left(self, now: datetime) -> float: ...


@dataclass(frozen=True)
class NodeFacts:
    """What the plan needs to know about one node."""

    name: str                          # FQDN
    short: str
    role: str                          # "publisher" | "subscriber"
    kind: str                          # "CUCM" | "IM&P"
    services: frozenset[str] = frozenset()  # activated and running services

    @property
    def is_cucm_publisher(self) -> bool:
        return self.kind == "CUCM" and self.role == "publisher"

    def runs(self, service: str) -> bool:
        """The service is activated and running here, matched as CUCM matches names (case-insensitive)."""
        return any(same_service(service, name) for name in self.services)


@dataclass(frozen=True)
class PlannedNode:
    name: str
    short: str
    role: str
    kind: str
    action: str          # "renew" | "self-signed" | "ok" | "out of scope"
    reason: str
    days_left: float | None = None
    not_after: datetime | None = None
    fingerprint: str | None = None


@dataclass(frozen=True)
class Step:
    key: str             # unique in a run, e.g. "csr:cucm-pub.lab.example"
    phase: str
    name: str            # "csr", "ca-submit", "trust", "identity", "restart", ...
    node: str | None = None
    service: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Plan:
    cluster: str
    purpose: Purpose
    now: datetime
    threshold_days: float
    security_mode: int | None
    nodes: tuple[PlannedNode, ...]
    steps: tuple[Step, ...]
    resumed: bool = False
    notes: tuple[str, ...] = field(default=())
    version: str | None = None           # the cluster's CUCM version the restarts were chosen for

    @property
    def renew(self) -> tuple[PlannedNode, ...]:
        return tuple(n for n in self.nodes if n.action == "renew")

    @property
    def self_signed(self) -> tuple[PlannedNode, ...]:
        return tuple(n for n in self.nodes if n.action == "self-signed")

    @property
    def due(self) -> bool:
        return bool(self.steps)

    @property
    def multi_server(self) -> bool:
        """True when this plan renews one multi-server certificate (its notes say so; they are stored with it)."""
        return any(note.startswith(MULTI_SERVER_NOTE) for note in self.notes)

    @property
    def distribution(self) -> str:
        """``multi-server`` or ``per-node``: what the plan, the approval and the evidence call this run."""
        return "multi-server" if self.multi_server else "per-node"

    def restart_reasons(self) -> tuple[str, ...]:
        """Each service (or reload) the plan restarts, once, with why it is there (the approval text)."""
        seen: dict[str, str] = {}
        for step in self.steps:
            if step.name in ("restart", "reload") and step.service and step.service not in seen:
                seen[step.service] = step.detail.split(": ", 1)[1] if ": " in step.detail else step.detail
        return tuple(f"{service}: {why}" for service, why in seen.items())

    def phase_steps(self, phase: str) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.phase == phase)

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        rows = [{"#": i, "phase": s.phase, "step": s.name, "node": s.node or "", "service": s.service or "",
                 "detail": s.detail} for i, s in enumerate(self.steps, 1)]
        return pd.DataFrame(rows, columns=["#", "phase", "step", "node", "service", "detail"])

    def nodes_frame(self) -> pd.DataFrame:
        import pandas as pd

        from cucmkit.tables import whole_days

        rows = [{"node": n.name, "role": n.role, "kind": n.kind, "action": n.action, "expires": n.not_after,
                 "days left": whole_days(n.days_left), "reason": n.reason} for n in self.nodes]
        frame = pd.DataFrame(rows, columns=["node", "role", "kind", "action", "expires", "days left", "reason"])
        frame["expires"] = pd.to_datetime(frame["expires"], utc=True)
        frame["days left"] = frame["days left"].astype("Int64")
        return frame

    def describe(self) -> str:
        p = self.purpose
        lines = [f"{p.name} on {self.cluster}: risk {p.risk.value}, window: {p.window}"]
        lines.append(f"CUCM version: {self.version or 'unknown (every release restart planned)'}")
        if p.multi_server:
            lines.append(f"distribution: {self.distribution}")
        lines += [f"impact: {item}" for item in p.impact]
        lines += [f"note: {item}" for item in p.notes + self.notes]
        if not self.due:
            lines.append(f"nothing due: no {p.name} certificate expires within {self.threshold_days:g} days")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        from cucmkit.tables import styled

        head = "<br>".join(html.escape(line) for line in self.describe().splitlines())
        body = styled(self.nodes_frame(), dates=("expires",), days="days left", threshold=self.threshold_days).to_html()
        if self.due:
            body += styled(self.to_frame()).to_html()
        return f"<div><p>{head}</p>{body}</div>"

    def __str__(self) -> str:
        out = [self.describe()]
        out += [f"  {n.action:12} {n.name} ({n.reason})" for n in self.nodes]
        out += [f"  {i:3}. [{s.phase}] {s.name} {s.node or ''} {s.service or ''} {s.detail}".rstrip()
                for i, s in enumerate(self.steps, 1)]
        return "\n".join(out)


def in_scope(scope: NodeScope, node: NodeFacts) -> bool:
    """The catalogue's rule for ``scope`` applied to ``node``."""
    return scope.covers(kind=node.kind, role=node.role, services=node.services)


def _ordered(nodes: Sequence[NodeFacts], ranks: Sequence[NodeRank]) -> list[NodeFacts]:
    """Nodes matching the first rank first, then the second, ..., then the rest; cluster order within each."""
    def rank(node: NodeFacts) -> int:
        return next((i for i, r in enumerate(ranks) if r.matches(kind=node.kind, role=node.role)), len(ranks))

    return sorted(nodes, key=rank)


def _assess(purpose: Purpose, node: NodeFacts, cert: _Cert | None, *, now: datetime,
            threshold: float, explicit: set[str], locked: set[str] | None) -> PlannedNode:
    days = cert.days_left(now) if cert is not None else None

    def planned(action: str, reason: str) -> PlannedNode:
        return PlannedNode(node.name, node.short, node.role, node.kind, action, reason, days_left=days,
                           not_after=cert.not_after if cert is not None else None,
                           fingerprint=cert.fingerprint_sha256 if cert is not None else None)

    if in_scope(purpose.scope, node):
        action = "renew" if purpose.ca_signed else "self-signed"
    elif purpose.self_signed_elsewhere is not None and in_scope(purpose.self_signed_elsewhere, node):
        action = "self-signed"
    else:
        return planned("out of scope", f"{purpose.name} is not used on this node")
    if locked is not None:
        return planned(action, "in the run being resumed") if node.name in locked else \
            planned("ok", "not part of the run being resumed")
    if node.name in explicit or node.short in explicit:
        return planned(action, "listed explicitly")
    if days is None:
        return planned(action, "no certificate found")
    if days < threshold:
        return planned(action, f"expires in {days:.0f} days (< {threshold:g})")
    return planned("ok", f"{days:.0f} days left")


def _cert_steps(purpose: Purpose, planned: Sequence[PlannedNode], holder: str | None = None) -> list[Step]:
    """Per node: CSR, CA, trust, identity. Multi-server (``holder``): those on the holder only, then each
    other node's confirmation that CUCM distributed the certificate to it."""
    steps: list[Step] = []
    renew = [n for n in planned if n.action == "renew" and holder in (None, n.name)]
    for n in renew:
        steps.append(Step(f"csr:{n.name}", "csr", "csr", n.name, detail="generate and download the CSR"))
    for n in renew:
        steps.append(Step(f"ca-submit:{n.name}", "ca", "ca-submit", n.name, detail="submit the CSR to the CA"))
    for n in renew:
        steps.append(Step(f"ca-collect:{n.name}", "ca", "ca-collect", n.name, detail="collect the signed certificate"))
    stores = " and ".join(purpose.trust_stores)
    for n in renew:
        steps.append(Step(f"trust:{n.name}", "install", "trust", n.name,
                          detail=f"upload root and intermediates to {stores}"))
        steps.append(Step(f"identity:{n.name}", "install", "identity", n.name,
                          detail=f"upload the {purpose.name} identity, confirm by fingerprint"))
    for n in planned:
        if holder is not None and n.action == "renew" and n.name != holder:
            steps.append(Step(f"trust:{n.name}", "install", "trust", n.name,
                              detail=f"root and intermediates in {stores} (each only if missing)"))
            steps.append(Step(f"distributed:{n.name}", "install", "distributed", n.name,
                              detail=f"confirm the node holds the multi-server certificate uploaded on {holder}"))
    for n in planned:
        if n.action == "self-signed":
            steps.append(Step(f"self-signed:{n.name}", "install", "self-signed", n.name, detail=_regen_detail(purpose)))
    return steps


def _regen_detail(purpose: Purpose) -> str:
    if not purpose.ca_signed:
        return f"regenerate {purpose.name} on the node ({purpose.regenerate_command}); it is never CA-signed"
    return f"regenerate {purpose.name} as self-signed (not CA-signed on this node)"


def _baseline_step(early: bool) -> Step:
    if early:
        return Step("phones-baseline", "install", "phones-baseline",
                    detail="registration baseline (RisPort) before the upload: Phone Interaction on Certificate "
                           "Update resets phones as soon as the certificate changes")
    return Step("phones-baseline", "activate", "phones-baseline", detail="registration baseline (RisPort) before restarts")


def _restart_step(node: NodeFacts, restart: Restart) -> Step | None:
    """The step for ``restart`` on ``node``, or None (out of its scope, or a service not activated and running)."""
    if not in_scope(restart.where, node):
        return None
    why = f": {restart.why}" if restart.why else ""
    if restart.command is not None:
        return Step(f"reload:{node.name}:{restart.service}", "activate", "reload", node.name, restart.service,
                    detail=f"{restart.command}{why}")
    if not node.runs(restart.service):
        return None
    return Step(f"restart:{node.name}:{restart.service}", "activate", "restart", node.name, restart.service,
                detail=f"via {restart.via}, wait until started{why}")


def _activate_steps(purpose: Purpose, nodes: Sequence[NodeFacts], planned: Sequence[PlannedNode],
                    security_mode: int | None, version: str | None, early_baseline: bool) -> list[Step]:
    steps: list[Step] = []
    changed = {n.name for n in planned if n.action in ("renew", "self-signed")}
    if purpose.resets_phones and not early_baseline:
        steps.append(_baseline_step(early=False))
    if purpose.ctl_update_in_mixed_mode and security_mode == 1:
        pub = next((n.name for n in nodes if n.is_cucm_publisher), None)
        steps.append(Step("ctl-update", "activate", "ctl-update", pub,
                          detail="mixed mode: utils ctl update CTLFile before restarts"))
    restarts = purpose.restarts_for(version)
    for node in _ordered(nodes, purpose.restart_order):
        steps += [step for restart in restarts if (step := _restart_step(node, restart)) is not None]
        if node.name in changed:
            steps += [Step(f"{check.value}:{node.name}", "activate", check.value, node.name,
                           detail=_VERIFY_DETAIL[check]) for check in purpose.verify]
    return steps


def _closing_steps(purpose: Purpose) -> list[Step]:
    steps: list[Step] = []
    if purpose.resets_phones:
        steps.append(Step("phones-reset", "phones", "phones-reset", detail="reset all devices (AXL resetEnterpriseParameters)"))
        steps.append(Step("phones-wait", "phones", "phones-wait", detail="wait until registration is back to the baseline"))
    steps += [Step(f"reminder:{check.reminder_key}", "phones", "reminder", detail=check.reminder)
              for check in purpose.prechecks_facts()]
    steps += [Step(f"reminder:{r.key}", "phones", "reminder", detail=r.text) for r in purpose.reminders]
    return steps


def build_plan(*, cluster: str, purpose: Purpose, nodes: Sequence[NodeFacts],
               certificates: Mapping[str, _Cert | None], now: datetime, threshold_days: float,
               security_mode: int | None = None, explicit: Iterable[str] = (),
               locked: Iterable[str] | None = None, self_signed: bool = True, multi_server: bool = False,
               version: str | None = None, phone_interaction: bool | None = None) -> Plan:
    """The plan for ``purpose`` on ``cluster``.

    ``certificates``: node FQDN -> that node's current certificate for the purpose.
    ``locked``: the node set of a run being resumed (its nodes stay in the plan
    even though their new certificates are no longer due).
    ``multi_server``: one certificate for every node in scope (the catalogue's ``multi_server`` purposes only):
    one CSR, CA request and upload on the first node of the restart order, CUCM distributes it.
    ``version``: the cluster's CUCM version; it chooses the release's restarts (None: every entry).
    ``phone_interaction``: the "Phone Interaction on Certificate Update" enterprise parameter (None: not read).
    """
    if multi_server and not purpose.multi_server:
        raise ValueError(f"{purpose.name} has no multi-server certificate; multi-server purposes: "
                         f"{', '.join(sorted(p for p in _multi_server_purposes()))}")
    explicit_set, locked_set = set(explicit), (set(locked) if locked is not None else None)
    planned = [_assess(purpose, n, certificates.get(n.name), now=now, threshold=threshold_days,
                       explicit=explicit_set, locked=locked_set) for n in nodes]
    if not self_signed and purpose.ca_signed:
        planned = [PlannedNode(**{**p.__dict__, "action": "ok", "reason": "self-signed regeneration not requested"})
                   if p.action == "self-signed" else p for p in planned]
    holder = _multi_server_holder(purpose, nodes, planned) if multi_server else None
    if holder is not None:
        planned = [_whole_scope(p, purpose, n) for p, n in zip(planned, nodes, strict=True)]
    early = bool(phone_interaction) and purpose.auto_phone_reset and purpose.resets_phones
    steps: list[Step] = []
    if any(p.action in ("renew", "self-signed") for p in planned):
        steps = _cert_steps(purpose, planned, holder)
        if early:
            at = next(i for i, s in enumerate(steps) if s.name in ("identity", "self-signed"))
            steps.insert(at, _baseline_step(early=True))
        steps += _activate_steps(purpose, nodes, planned, security_mode, version, early) + _closing_steps(purpose)
    notes = _notes(purpose, security_mode, version, phone_interaction)
    if holder is not None:
        notes += (f"{MULTI_SERVER_NOTE} one CSR on {holder} with every node's FQDN in the SAN, one CA request, one "
                  "upload; CUCM distributes the certificate to every node",)
    elif purpose.multi_server and steps:
        notes += (f"{PER_NODE_NOTE} one CSR, CA request and certificate per node (multi-server is a parameter "
                  "file choice: multi_server)",)
    return Plan(cluster=cluster, purpose=purpose, now=now, threshold_days=threshold_days, security_mode=security_mode,
                nodes=tuple(planned), steps=tuple(steps), resumed=locked_set is not None,
                notes=notes, version=version)


def _notes(purpose: Purpose, security_mode: int | None, version: str | None,
           phone_interaction: bool | None) -> tuple[str, ...]:
    notes: list[str] = []
    if security_mode == 1 and purpose.ctl_update_in_mixed_mode:
        notes.append("the cluster is in mixed mode: the CTL file is updated before the restarts")
    if version is None and any(r.since or r.until for r in purpose.restarts):
        notes.append("the CUCM version is unknown: every release's restarts are planned (where the service runs)")
    if purpose.auto_phone_reset and phone_interaction:
        notes.append("Phone Interaction on Certificate Update is on: CUCM resets phones itself when this certificate "
                     "changes; the registration baseline is taken before the upload and the phone gate waits for "
                     "every phone to re-register after the change")
    elif purpose.auto_phone_reset and phone_interaction is None:
        notes.append("Phone Interaction on Certificate Update could not be read: if it is on, phones reset as soon "
                     "as the certificate changes")
    return tuple(notes)


def _multi_server_purposes() -> list[str]:
    from cucmkit import catalogue

    return [p.name for p in catalogue.PURPOSES.values() if p.multi_server]


def _multi_server_holder(purpose: Purpose, nodes: Sequence[NodeFacts], planned: Sequence[PlannedNode]) -> str | None:
    """The node that generates and receives the multi-server certificate (first in restart order), if any is due."""
    if not any(p.action == "renew" for p in planned):
        return None
    in_scope_nodes = [n for n in nodes if in_scope(purpose.scope, n)]
    ordered = _ordered(in_scope_nodes, purpose.restart_order)
    return ordered[0].name if ordered else None


def _whole_scope(planned: PlannedNode, purpose: Purpose, node: NodeFacts) -> PlannedNode:
    """Multi-server: every node in scope changes with the holder."""
    if planned.action == "renew" or not in_scope(purpose.scope, node):
        return planned
    return PlannedNode(**{**planned.__dict__, "action": "renew",
                          "reason": "multi-server: the certificate covers every node"})


def plan_summary(plan: Plan) -> dict[str, Any]:
    return {"purpose": plan.purpose.name, "distribution": plan.distribution, "renew": [n.name for n in plan.renew],
            "self_signed": [n.name for n in plan.self_signed], "steps": [s.key for s in plan.steps]}
