"""The renewal engine: Cisco's procedure as a resumable, interlocked run (CONTRACTS §5).

``Renewal.open(cluster, purpose, ...)`` gives an object whose phases a notebook
can call one by one (``csr``, ``ca``, ``install``, ``activate``, ``phones``)
or run end to end (``run``). The executor plans, checks and sequences; what each
step does is its handler (``cucmkit.renewal.steps``). Every step is persisted to
the ledger (``cucmkit.renewal.state``) before and after it runs; before a step
runs its handler consults the ledger AND the cluster (a node that already holds
the new certificate is not uploaded to again; a CSR already submitted to the CA
is never regenerated unless ``force_csr``), so re-running after a crash
anywhere resumes correctly.

At each step boundary the executor asks ``cucmkit.stopping.check``: a stop
request (a signal, a vanished runner) ends the phase with ``StoppedError``
between two steps, the ledger's status says ``stopped``, and a re-run resumes.
After each step outcome is persisted, the step observers are told
(``RenewalOptions.observers`` and ``cucmkit.renewal.hooks.on_step_recorded``);
``RenewalOptions.on_step_start`` hears of each step once it is recorded running
(the notebook journals it, so the terminal can show the step in flight).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from cucmkit import catalogue, stopping
from cucmkit.ca import CaBackend
from cucmkit.catalogue import Purpose
from cucmkit.certs.records import CertRecord
from cucmkit.errors import CucmKitError, InterlockError, ParameterError, StoppedError, WaitingError
from cucmkit.renewal import hooks
from cucmkit.renewal.checks import CheckReport
from cucmkit.renewal.interlocks import Interlocks
from cucmkit.renewal.lock import ClusterLock
from cucmkit.renewal.options import RenewalOptions
from cucmkit.renewal.plan import PHASES, NodeFacts, Plan, Step, build_plan
from cucmkit.renewal.ports import ClusterPort, NodePort
from cucmkit.renewal.results import PhaseResult, RunResult
from cucmkit.renewal.state import (
    CertChange,
    Ledger,
    PhoneGate,
    RunStatus,
    StepOutcome,
    StepRecord,
    StoredPlan,
    utcnow,
)
from cucmkit.renewal.steps import StepContext, StepKind, handler_for

__all__ = ["Renewal", "RenewalOptions"]

log = logging.getLogger(__name__)
_CSR_CHAIN = ("csr", "ca-submit", "ca-collect", "trust")   # what force_csr forgets for a node
PhaseBody = Callable[[tuple[Step, ...]], list[StepRecord]]


class Renewal:
    """One purpose's renewal on one cluster. Use ``Renewal.open``; close it (or use ``with``)."""

    def __init__(self, *, cluster: ClusterPort, purpose: Purpose, state_dir: Path, ticket: str,
                 ca: CaBackend | None, options: RenewalOptions,
                 on_close: Callable[[], None] | None = None) -> None:
        self.cluster = cluster
        self.purpose = purpose
        self.state_dir = Path(state_dir)
        self.ticket = ticket
        self.ca_backend = ca
        self.options = options
        self.cluster_name = cluster.name
        self.ledger = Ledger.open(self.state_dir, self.cluster_name, purpose.name)
        self.gate = PhoneGate.for_cluster(self.state_dir, self.cluster_name)
        self.lock = ClusterLock.for_cluster(self.state_dir, self.cluster_name)
        self.interlocks = Interlocks(cluster=cluster, purpose=purpose, ticket=ticket, options=options,
                                     ledger=self.ledger, gate=self.gate, lock=self.lock,
                                     on_mixed_mode=self._ensure_ctl_step, say=self._say, planned=self.plan)
        self._on_close = on_close
        self._plan: Plan | None = None
        self._forced: set[str] = set()

    @classmethod
    def open(cls, cluster: ClusterPort, purpose: str, *, state_dir: Path, ticket: str, ca: CaBackend | None = None,
             options: RenewalOptions | None = None, on_close: Callable[[], None] | None = None) -> Renewal:
        """``on_close``: called by ``close`` after the lock is released (the wiring closes the cluster it built)."""
        options = options if options is not None else RenewalOptions()
        if not ticket or not str(ticket).strip():
            raise ValueError("a renewal needs a change ticket")
        return cls(cluster=cluster, purpose=catalogue.get(purpose), state_dir=state_dir, ticket=str(ticket),
                   ca=ca, options=options, on_close=on_close)

    def __enter__(self) -> Renewal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.lock.release()
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()

    def __repr__(self) -> str:
        return f"Renewal(cluster={self.cluster_name!r}, purpose={self.purpose.name!r}, ticket={self.ticket!r})"

    def _say(self, text: str) -> None:
        log.info("%s %s: %s", self.cluster_name, self.purpose.name, text)
        if self.options.progress:
            self.options.progress(text)

    # ---- plan ----------------------------------------------------------------------------
    def plan(self, *, refresh: bool = False) -> Plan:
        """The plan: the stored one of a run in progress, else a fresh one from the cluster."""
        if self._plan is not None and not refresh:
            return self._plan
        self._plan = self._stored_plan() if self._resuming() else self._fresh_plan()
        return self._plan

    def _resuming(self) -> bool:
        """A run is in progress: started and changed something (a run refused before any step is re-planned)."""
        state = self.ledger.state
        if not state.active:
            return False
        return state.status != "blocked" or any(r.outcome != "blocked" for r in state.steps.values())

    def _fresh_plan(self) -> Plan:
        explicit = self.options.nodes
        state = self.ledger.state
        if state.status == "completed" and state.ticket == self.ticket:
            explicit = ()  # this ticket's explicit renewal is done: re-running changes nothing
        nodes = list(self.cluster.nodes)
        with ThreadPoolExecutor(max_workers=max(1, self.options.parallel)) as pool:
            facts = list(pool.map(self._node_facts, nodes))
            certs = dict(zip([n.name for n in nodes], pool.map(self._current_cert, nodes), strict=True))
        mode = self.cluster.security_mode() if self.purpose.ctl_update_in_mixed_mode else None
        interaction = self._phone_interaction()
        # plan.py's _Cert protocol declares settable attributes; CertRecord is frozen (same fields, read-only)
        if self.options.multi_server and not self.purpose.multi_server:
            raise ParameterError(f"{self.purpose.name} has no multi-server certificate", purpose=self.purpose.name,
                                 remedy="renew it per node (leave multi_server off for this purpose)")
        return build_plan(cluster=self.cluster_name, purpose=self.purpose, nodes=facts,
                          certificates=cast("Mapping[str, Any]", certs),
                          now=self.options.clock(), threshold_days=self.options.threshold_days,
                          security_mode=mode, explicit=explicit, self_signed=self.options.self_signed,
                          multi_server=self.options.multi_server,
                          version=self._version(), phone_interaction=interaction)

    def _version(self) -> str | None:
        """The cluster's CUCM version (None when it cannot be read: the plan then restarts every release's list)."""
        try:
            return self.cluster.version()
        except CucmKitError as exc:
            self._say(f"could not read the CUCM version ({exc.message}); planning every release's restarts")
            return None

    def _phone_interaction(self) -> bool | None:
        """"Phone Interaction on Certificate Update" (14+), read only for purposes it concerns."""
        if not self.purpose.auto_phone_reset:
            return None
        try:
            return self.cluster.phone_interaction()
        except CucmKitError as exc:
            self._say(f"could not read Phone Interaction on Certificate Update ({exc.message})")
            return None

    def _node_facts(self, node: NodePort) -> NodeFacts:
        running = {name for name, st in node.service_status().items() if st.activated and st.status == "Started"}
        return NodeFacts(name=node.name, short=node.short, role=node.role, kind=node.kind, services=frozenset(running))

    def _current_cert(self, node: NodePort) -> CertRecord | None:
        return next((r for r in node.own_certificates() if r.purpose == self.purpose.name), None)

    def _stored_plan(self) -> Plan:
        stored = self.ledger.state.plan
        if stored is None:
            raise CucmKitError(f"the ledger {self.ledger.path} has a run in progress but no plan",
                               purpose=self.purpose.name, remedy="move the ledger file away and re-plan")
        plan = Plan(cluster=self.cluster_name, purpose=self.purpose, now=self.options.clock(),
                    threshold_days=stored.threshold_days, security_mode=stored.security_mode,
                    nodes=stored.nodes, steps=stored.steps, resumed=True, notes=stored.notes, version=stored.version)
        self._same_distribution(plan)
        return plan

    def _same_distribution(self, plan: Plan) -> None:
        """A run started per node is never resumed as multi-server, nor the other way round."""
        if not self.purpose.multi_server or plan.multi_server == self.options.multi_server:
            return
        asked = "multi-server" if self.options.multi_server else "per-node"
        flag = "--multi-server" if plan.multi_server else "--per-node"
        state = self.ledger.state
        raise InterlockError(
            f"the run in progress ({self.ledger.path}, run {state.run_id}, ticket {state.ticket}) was started "
            f"{plan.distribution} and cannot be resumed {asked}", purpose=self.purpose.name,
            remedy=f"finish it as it was started (re-run with {flag}, or set the parameter file's multi_server list "
                   f"as it was), then renew {asked} in a new run; or discard it: move {self.ledger.path.name} into "
                   f"{self.ledger.path.parent / 'history'}/ (nothing already installed is undone)")

    def _begin(self, plan: Plan) -> None:
        before = {n.name: CertChange(before=n.fingerprint) for n in plan.nodes
                  if n.fingerprint and n.action in ("renew", "self-signed")}
        state = self.ledger.begin(ticket=self.ticket, plan=StoredPlan.of(plan), certificates=before,
                                  nodes=[n.name for n in plan.renew + plan.self_signed])
        self._say(f"run {state.run_id} started for ticket {self.ticket}")

    # ---- pre-checks ----------------------------------------------------------------------
    def prechecks(self, phase: str | None = None) -> CheckReport:
        """Evaluate the pre-checks and interlocks now (those guarding ``phase``, or all); overrides are recorded."""
        return self.interlocks.report(phase)

    def _ensure_ctl_step(self) -> None:
        plan = self.plan()
        if any(s.name == StepKind.CTL_UPDATE for s in plan.steps):
            return
        ctl = Step("ctl-update", "activate", StepKind.CTL_UPDATE.value, self.cluster.publisher.name,
                   detail="mixed mode (switched on since the plan): utils ctl update CTLFile before restarts")
        at = next(i for i, s in enumerate(plan.steps) if s.phase == "activate" and s.name == StepKind.RESTART)
        steps = plan.steps[:at] + (ctl,) + plan.steps[at:]
        self.ledger.set_plan_steps(steps, security_mode=1,
                                   why="the cluster is now in mixed mode: CTL update inserted before the restarts")
        self._plan = replace(plan, steps=steps, security_mode=1)

    # ---- phases --------------------------------------------------------------------------
    def csr(self) -> PhaseResult:
        return self._phase("csr", self._csr_phase)

    def ca(self) -> PhaseResult:
        if self.ca_backend is None and not self.options.dry_run:
            raise ValueError("this renewal was opened without a CA back-end (Renewal.open(..., ca=...))")
        return self._phase("ca", self._ca_phase)

    def install(self) -> PhaseResult:
        return self._phase("install", self._sequential)

    def activate(self) -> PhaseResult:
        return self._phase("activate", self._sequential)

    def phones(self) -> PhaseResult:
        return self._phase("phones", self._sequential)

    def run(self) -> RunResult:
        """All phases in order, resuming from the ledger; stops at the first phase that does not finish."""
        phases: dict[str, Callable[[], PhaseResult]] = {
            "csr": self.csr, "ca": self.ca, "install": self.install, "activate": self.activate, "phones": self.phones}
        results: list[PhaseResult] = []
        for name in PHASES:
            result = phases[name]()
            results.append(result)
            if result.status not in ("done", "skipped"):
                break
        return self._run_result(results)

    def status(self) -> RunResult:
        """What the ledger says, without touching the cluster."""
        return self._run_result([])

    def _run_result(self, phases: list[PhaseResult]) -> RunResult:
        state = self.ledger.state
        status = _run_status(phases, state.status)
        message = next((p.message for p in reversed(phases) if p.status not in ("done",)), "") if phases else ""
        if not phases and state.status == "running":
            message = "the ledger says running: the run is in progress elsewhere or was interrupted; re-run to resume"
        if not phases and state.status == "stopped":
            message = "the run was stopped at a step boundary; re-run to resume"
        if status == "done":
            message = f"{self.purpose.name} renewed on {', '.join(state.nodes) or 'no node'}"
        return RunResult(cluster=self.cluster_name, purpose=self.purpose.name, ticket=state.ticket or self.ticket,
                         run_id=state.run_id, status=status, message=message, phases=tuple(phases),
                         steps=state.records(), overrides=state.overrides, reminders=state.reminders())

    def _phase(self, phase: str, body: PhaseBody) -> PhaseResult:
        try:
            plan = self.plan()
        except InterlockError as exc:
            return PhaseResult(phase=phase, status="blocked", message=f"blocked: {exc.message}",
                               remedy=exc.remedy or "")
        except CucmKitError as exc:
            return PhaseResult(phase=phase, status="failed", message=f"could not plan: {exc}")
        early = self._before_steps(phase, plan)
        if early is not None:
            return early
        steps = self.plan().phase_steps(phase)      # the mixed-mode check may have added the CTL step
        if not steps:
            return self._finish_phase(phase, PhaseResult(phase=phase, status="skipped",
                                                         message=f"{phase}: no step for this purpose"))
        self.ledger.set_status("running")
        try:
            records = body(steps)
        except StoppedError as exc:
            self.ledger.set_status("stopped")
            self.ledger.event(f"{phase} stopped: {exc.message}")
            self._say(f"{phase}: stopped ({exc.message})")
            raise
        return self._finish_phase(phase, _phase_result(phase, records))

    def _before_steps(self, phase: str, plan: Plan) -> PhaseResult | None:
        """Why ``phase`` does not run its steps now (dry run, nothing due, lock, already done, a pre-check)."""
        if self.options.dry_run:
            return PhaseResult(phase=phase, status="skipped", message="dry run: nothing changed")
        if not plan.due:
            return PhaseResult(phase=phase, status="skipped", message=self._nothing_due(plan))
        lock = self.interlocks.take_lock()
        if lock.blocking:
            return PhaseResult(phase=phase, status="blocked", message=f"blocked: {lock.reason}", remedy=lock.remedy)
        if not self._resuming():
            self._begin(plan)
        elif self.ledger.state.ticket != self.ticket:
            self.ledger.event(f"resumed under ticket {self.ticket} (the run belongs to {self.ledger.state.ticket})")
        records = [self.ledger.step(s.key) for s in plan.phase_steps(phase)]
        done = tuple(r for r in records if r is not None and r.finished)
        if records and len(done) == len(records) and not (phase == "csr" and self._force_pending(plan)):
            return self._finish_phase(phase, PhaseResult(phase=phase, status="done", steps=done,
                                                         message=f"{phase}: already done"))
        return self._blocked(phase)

    def _nothing_due(self, plan: Plan) -> str:
        state = self.ledger.state
        within = f"no {self.purpose.name} certificate expires within {plan.threshold_days:g} days"
        if state.status == "completed":
            return f"nothing due: {self.purpose.name} was renewed (run {state.run_id}); {within}"
        return f"nothing due: {within}"

    def _blocked(self, phase: str) -> PhaseResult | None:
        report = self.prechecks(phase)
        if self.ledger.active:
            self.ledger.set_checks(report.checks)
        failing = report.blocking(phase)
        if not failing:
            return None
        text = "; ".join(f"{c.name}: {c.reason}" for c in failing)
        remedy = "; ".join(c.remedy for c in failing if c.remedy)
        if self.ledger.active:
            self.ledger.set_status("blocked")
            self.ledger.event(f"{phase} blocked: {text}")
        return PhaseResult(phase=phase, status="blocked", message=f"blocked: {text}", remedy=remedy, checks=report)

    def _finish_phase(self, phase: str, result: PhaseResult) -> PhaseResult:
        if result.status in ("waiting", "failed", "blocked"):
            self.ledger.set_status(_as_run_status(result.status))
        elif self.ledger.active and self._all_finished():
            self.ledger.set_status("completed")
            self._say("run completed")
            self._plan = None
            self.lock.release()
        self._say(f"{phase}: {result.status} {result.message}".strip())
        return result

    def _all_finished(self) -> bool:
        return all((r := self.ledger.step(s.key)) is not None and r.finished for s in self.plan().steps)

    # ---- step machinery --------------------------------------------------------------------
    def _step(self, step: Step) -> StepRecord:
        """Run one step unless the ledger says it finished: stop check, record running, handler, record outcome."""
        done = self.ledger.step(step.key)
        if done is not None and done.finished:
            return done
        stopping.check(where=step.key)
        started = utcnow()
        running = self.ledger.record(StepRecord(step.key, step.name, step.node, step.phase, "running", started,
                                                detail=step.detail))
        if self.options.on_step_start is not None:
            self.options.on_step_start(running)
        outcome, detail = self._attempt(step, self._context(done), started)
        record = self.ledger.record(StepRecord(step.key, step.name, step.node, step.phase, outcome, started,
                                               utcnow(), detail))
        self._say(f"{step.key}: {outcome} {detail}")
        hooks.notify(record, self.options.observers)
        return record

    def _attempt(self, step: Step, context: StepContext, started: datetime) -> tuple[StepOutcome, str]:
        handler = handler_for(step)
        try:
            return "done", handler(step, context)
        except WaitingError as exc:
            return "waiting", str(exc)
        except InterlockError as exc:
            return "blocked", str(exc)
        except CucmKitError as exc:
            return "failed", str(exc)
        except Exception as exc:
            self.ledger.record(StepRecord(step.key, step.name, step.node, step.phase, "failed", started,
                                          utcnow(), f"internal error: {type(exc).__name__}: {exc}"))
            raise

    def _context(self, previous: StepRecord | None) -> StepContext:
        return StepContext(cluster=self.cluster, purpose=self.purpose, ticket=self.ticket, ledger=self.ledger,
                           gate=self.gate, ca=self.ca_backend, options=self.options, previous=previous, say=self._say)

    def _sequential(self, steps: tuple[Step, ...]) -> list[StepRecord]:
        records: list[StepRecord] = []
        for step in steps:
            record = self._step(step)
            records.append(record)
            if not record.finished:
                break
        return records

    def _csr_phase(self, steps: tuple[Step, ...]) -> list[StepRecord]:
        if self.options.force_csr:
            for step in steps:
                self._force_reset(step.node)
        with ThreadPoolExecutor(max_workers=max(1, self.options.parallel)) as pool:
            return list(pool.map(self._step, steps))

    def _ca_phase(self, steps: tuple[Step, ...]) -> list[StepRecord]:
        records = [self._step(s) for s in steps if s.name == StepKind.CA_SUBMIT]
        if any(not r.finished for r in records):
            return records
        return records + [self._step(s) for s in steps if s.name == StepKind.CA_COLLECT]

    def _force_pending(self, plan: Plan) -> bool:
        """force_csr has CSRs to forget (a finished CSR phase runs again, e.g. after the CA refused the CSR)."""
        if not self.options.force_csr:
            return False
        for step in plan.phase_steps("csr"):
            identity = self.ledger.step(f"identity:{step.node}")
            if step.node not in self._forced and not (identity is not None and identity.finished):
                return True
        return False

    def _force_reset(self, node: str | None) -> None:
        """force_csr: forget this node's CSR and everything downstream that has not been installed."""
        if node is None or node in self._forced:
            return
        self._forced.add(node)
        identity = self.ledger.step(f"identity:{node}")
        if identity is not None and identity.finished:
            return
        self.ledger.forget(node, [f"{kind}:{node}" for kind in _CSR_CHAIN],
                           why=f"force_csr: a new CSR will be generated on {node}")


def _phase_result(phase: str, records: list[StepRecord]) -> PhaseResult:
    outcomes = [r.outcome for r in records]
    for status in ("failed", "blocked", "waiting"):
        if status in outcomes:
            every = [r.detail for r in records if r.outcome == status]   # every node's problem, not the first only
            return PhaseResult(phase=phase, status=status, steps=tuple(records), message=" | ".join(every))
    return PhaseResult(phase=phase, status="done", steps=tuple(records), message=f"{len(records)} step(s) done")


def _as_run_status(status: str) -> RunStatus:
    statuses: dict[str, RunStatus] = {"waiting": "waiting", "failed": "failed", "blocked": "blocked"}
    return statuses[status]


def _run_status(phases: list[PhaseResult], ledger_status: RunStatus) -> str:
    if not phases:
        mapped = {"completed": "done", "new": "skipped", "running": "failed"}
        return mapped.get(ledger_status, ledger_status)
    for p in phases:
        if p.status not in ("done", "skipped"):
            return p.status
    if all(p.status == "skipped" for p in phases):
        return "skipped"
    return "done"
