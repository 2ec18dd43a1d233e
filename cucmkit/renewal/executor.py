"""The renewal engine: Cisco's procedure as a resumable, interlocked run (CONTRACTS §5).

``Renewal.open(cluster, purpose, ...)`` gives an object whose phases a notebook
can call one by one (``csr``, ``ca``, ``install``, ``activate``, ``phones``)
or run end to end (``run``). Every step is persisted to the ledger before and
after it runs; before a step runs the engine consults the ledger AND the
cluster (a node that already holds the new certificate is not uploaded to
again; a CSR already submitted to the CA is never regenerated unless
``force_csr``), so re-running after a crash anywhere resumes correctly.

Test hook: with the environment variable ``CUCMKIT_CRASH_AFTER_STEP=<n>`` the
process ends with ``os._exit(137)`` right after the n-th completed step of
that process was persisted. The crash tests use it to stop a run at every step.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cucmkit import catalogue
from cucmkit.ca import CaBackend
from cucmkit.catalogue import Purpose
from cucmkit.errors import CertificateError, CucmKitError, InterlockError, ThrottledError, WaitingError
from cucmkit.renewal.checks import (
    CheckReport,
    CheckResult,
    MaintenanceWindow,
    check_backup,
    check_conflict,
    check_lock,
    check_mixed_mode,
    check_sso,
    check_window,
    validate_overrides,
)
from cucmkit.renewal.plan import PHASES, NodeFacts, Plan, PlannedNode, Step, build_plan
from cucmkit.renewal.results import PhaseResult, RunResult
from cucmkit.renewal.state import ClusterLock, Ledger, PhoneGate, StepRecord, utcnow

__all__ = ["Renewal", "RenewalOptions", "CRASH_ENV"]

log = logging.getLogger(__name__)
CRASH_ENV = "CUCMKIT_CRASH_AFTER_STEP"
_CHANGING = ("csr", "install", "activate")   # phases that change a node's certificates or services
_completed_in_process = 0
_crash_lock = threading.Lock()


@dataclass(frozen=True)
class RenewalOptions:
    """How a renewal runs. Build from a parameter file with ``RenewalOptions.from_parameters``."""

    nodes: tuple[str, ...] = ()              # renew these even when not due (FQDN or short name)
    threshold_days: float = 60.0
    force_csr: bool = False                  # regenerate CSRs even if one was submitted to the CA
    self_signed: bool = True                 # offer self-signed regeneration where the catalogue says so
    dry_run: bool = False                    # plan only; every phase answers "skipped"
    overrides: Mapping[str, str] = field(default_factory=dict)  # check name -> recorded reason
    maintenance_window: MaintenanceWindow = MaintenanceWindow()
    restart_timeout: float = 600.0
    tls_timeout: float = 60.0
    registration_timeout: float = 1800.0
    registration_tolerance: int = 0
    poll_interval: float = 5.0
    lock_max_age: float = 6 * 3600.0
    key_size: int = 2048                     # RSA purposes
    ec_key_size: int = 256                   # -ECDSA purposes
    parallel: int = 4
    progress: Callable[[str], None] | None = None
    clock: Callable[[], datetime] = utcnow

    def __post_init__(self) -> None:
        validate_overrides(self.overrides)
        if isinstance(self.nodes, str):
            raise TypeError("nodes must be a sequence of node names")

    @classmethod
    def from_parameters(cls, params: Any, **kw: Any) -> RenewalOptions:
        timeouts = getattr(params, "timeouts", None)
        registration = getattr(params, "registration", None)
        base: dict[str, Any] = {
            "threshold_days": float(getattr(params, "expiry_threshold_days", 60) or 60),
            "maintenance_window": MaintenanceWindow.from_any(getattr(params, "maintenance_window", None)),
        }
        for key, source, name, kind in (("restart_timeout", timeouts, "restart", float),
                                        ("registration_timeout", timeouts, "registration", float),
                                        ("registration_tolerance", registration, "tolerance", int)):
            value = source.get(name) if isinstance(source, Mapping) else getattr(source, name, None)
            if value is not None:
                base[key] = kind(value)
        base.update(kw)
        return cls(**base)


def _public_key_fingerprint(pem: str) -> str:
    if "CERTIFICATE REQUEST" in pem:
        key = x509.load_pem_x509_csr(pem.encode()).public_key()
    else:
        key = x509.load_pem_x509_certificate(pem.encode()).public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _cert_fingerprint(pem: str) -> str:
    cert = x509.load_pem_x509_certificate(pem.encode())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _crash_hook() -> None:
    """The test hook: end the process right after the n-th completed step was persisted."""
    global _completed_in_process
    with _crash_lock:
        _completed_in_process += 1
        count = _completed_in_process
    target = os.environ.get(CRASH_ENV)
    if target and target.isdigit() and count == int(target):
        os._exit(137)


class Renewal:
    """One purpose's renewal on one cluster. Use ``Renewal.open``; close it (or use ``with``)."""

    def __init__(self, *, cluster: Any, purpose: Purpose, state_dir: Path, ticket: str,
                 ca: CaBackend | None, options: RenewalOptions) -> None:
        self.cluster = cluster
        self.purpose = purpose
        self.state_dir = Path(state_dir)
        self.ticket = ticket
        self.ca_backend = ca
        self.options = options
        self.cluster_name = str(getattr(cluster, "name", "cluster"))
        self.ledger = Ledger.open(self.state_dir, self.cluster_name, purpose.name)
        self.gate = PhoneGate.for_cluster(self.state_dir, self.cluster_name)
        self.lock = ClusterLock.for_cluster(self.state_dir, self.cluster_name, max_age=options.lock_max_age)
        self._plan: Plan | None = None
        self._forced: set[str] = set()
        self._previous: dict[str, StepRecord | None] = {}

    @classmethod
    def open(cls, cluster: Any, purpose: str, *, state_dir: Path, ticket: str, ca: CaBackend | None = None,
             options: RenewalOptions = RenewalOptions()) -> Renewal:
        if not ticket or not str(ticket).strip():
            raise ValueError("a renewal needs a change ticket")
        return cls(cluster=cluster, purpose=catalogue.get(purpose), state_dir=state_dir, ticket=str(ticket),
                   ca=ca, options=options)

    def __enter__(self) -> Renewal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.lock.release()

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
        if not self.ledger.active:
            return False
        return self.ledger.data.get("status") != "blocked" or any(r.outcome != "blocked" for r in self.ledger.steps())

    def _fresh_plan(self) -> Plan:
        explicit = self.options.nodes
        if self.ledger.data.get("status") == "completed" and self.ledger.data.get("ticket") == self.ticket:
            explicit = ()  # this ticket's explicit renewal is done: re-running changes nothing
        nodes = list(self.cluster.nodes)
        with ThreadPoolExecutor(max_workers=max(1, self.options.parallel)) as pool:
            facts = list(pool.map(self._node_facts, nodes))
            certs = dict(zip([n.name for n in nodes], pool.map(self._current_cert, nodes)))
        mode = self.cluster.security_mode() if self.purpose.ctl_update_in_mixed_mode else None
        return build_plan(cluster=self.cluster_name, purpose=self.purpose, nodes=facts, certificates=certs,
                          now=self.options.clock(), threshold_days=self.options.threshold_days,
                          security_mode=mode, explicit=explicit, self_signed=self.options.self_signed)

    def _node_facts(self, node: Any) -> NodeFacts:
        running = {name for name, st in node.service_status().items()
                   if getattr(st, "activated", True) and getattr(st, "status", "") == "Started"}
        return NodeFacts(name=node.name, short=node.short, role=node.role, kind=node.kind, services=frozenset(running))

    def _current_cert(self, node: Any) -> Any:
        return next((r for r in node.own_certificates() if r.purpose == self.purpose.name), None)

    def _stored_plan(self) -> Plan:
        raw = self.ledger.data["plan"]
        nodes = tuple(PlannedNode(**{**n, "not_after": None}) for n in raw["nodes"])
        steps = tuple(Step(**s) for s in raw["steps"])
        return Plan(cluster=self.cluster_name, purpose=self.purpose, now=self.options.clock(),
                    threshold_days=raw["threshold_days"], security_mode=raw["security_mode"],
                    nodes=nodes, steps=steps, resumed=True, notes=tuple(raw.get("notes", ())))

    def _begin(self, plan: Plan) -> None:
        stored = {"nodes": [{**asdict(n), "not_after": None} for n in plan.nodes],
                  "steps": [asdict(s) for s in plan.steps], "threshold_days": plan.threshold_days,
                  "security_mode": plan.security_mode, "notes": list(plan.notes)}
        before = {n.name: {"before": n.fingerprint} for n in plan.nodes
                  if n.fingerprint and n.action in ("renew", "self-signed")}
        self.ledger.begin(ticket=self.ticket, nodes=[n.name for n in plan.renew + plan.self_signed],
                          order=[s.key for s in plan.steps], extra={"plan": stored, "certificates": before})
        self._say(f"run {self.ledger.data['run_id']} started for ticket {self.ticket}")

    # ---- pre-checks ----------------------------------------------------------------------
    def prechecks(self, phase: str | None = None) -> CheckReport:
        """Evaluate the pre-checks and interlocks now (those guarding ``phase``, or all); overrides are recorded."""
        window = self.options.maintenance_window
        evaluators: list[tuple[str, tuple[str, ...], Callable[[], CheckResult]]] = [
            ("single_run", PHASES, self._lock_check),
            ("sso_disabled", _CHANGING, lambda: check_sso(self.purpose, self._sso())),
            ("no_backup", _CHANGING, lambda: check_backup(self.purpose, self._backups())),
            ("phones_gate", PHASES, lambda: check_conflict(self.purpose, self.gate.pending())),
            ("maintenance_window", ("activate", "phones"),
             lambda: check_window(window, self.options.clock(), self.options.overrides.get("maintenance_window"))),
            ("mixed_mode", ("activate",), self._mixed_check),
        ]
        checks = [replace(self._guarded(fn, name), guards=guards)
                  for name, guards, fn in evaluators if phase is None or phase in guards]
        report = CheckReport(purpose=self.purpose.name, checks=tuple(checks))
        self._record_overrides(report)
        return report

    def _guarded(self, fn: Callable[[], CheckResult], name: str) -> CheckResult:
        try:
            return fn()
        except CucmKitError as exc:
            return CheckResult(name, "failed", f"could not evaluate: {exc}", "fix the cause and re-run")

    def _lock_check(self) -> CheckResult:
        try:
            self.lock.acquire(purpose=self.purpose.name, ticket=self.ticket)
        except InterlockError as exc:
            return check_lock(exc.message)
        if self.lock.took_over and self.ledger.active:
            self.ledger.event(f"took over a stale lock ({self.lock.stale}) of pid {self.lock.took_over.pid}")
            self.lock.took_over = None
        return check_lock(None)

    def _sso(self) -> bool | None:
        return self.cluster.sso_enabled() if "sso_disabled" in self.purpose.prechecks else None

    def _backups(self) -> dict[str, str]:
        if "no_backup" not in self.purpose.prechecks:
            return {}
        running: dict[str, str] = {}
        for node in self.cluster.nodes:
            status = node.backup_status()
            if getattr(status, "in_progress", False):
                running[node.name] = f"{status.operation or 'backup'} {status.status}".strip()
        return running

    def _mixed_check(self) -> CheckResult:
        """Read the security mode again before restarts; a cluster switched to mixed mode gets its CTL step."""
        if not self.purpose.ctl_update_in_mixed_mode:
            return CheckResult("mixed_mode", "skipped", f"{self.purpose.name} needs no CTL update")
        mode = self.cluster.security_mode()
        if mode == 1 and self.ledger.active:
            self._ensure_ctl_step()
        return check_mixed_mode(self.purpose, mode)

    def _ensure_ctl_step(self) -> None:
        plan = self.plan()
        if any(s.name == "ctl-update" for s in plan.steps):
            return
        ctl = Step("ctl-update", "activate", "ctl-update", self.cluster.publisher.name,
                   detail="mixed mode (switched on since the plan): utils ctl update CTLFile before restarts")
        at = next(i for i, s in enumerate(plan.steps) if s.phase == "activate" and s.name == "restart")
        steps = plan.steps[:at] + (ctl,) + plan.steps[at:]
        self.ledger.data["plan"]["steps"] = [asdict(s) for s in steps]
        self.ledger.data["order"] = [s.key for s in steps]
        self.ledger.event("the cluster is now in mixed mode: CTL update inserted before the restarts")
        self.ledger.save()
        self._plan = replace(plan, steps=steps, security_mode=1)

    def _record_overrides(self, report: CheckReport) -> None:
        if not self.ledger.active:
            return
        known = {(o.get("check"), o.get("reason")) for o in self.ledger.data.get("overrides") or ()}
        for check in report.checks:
            if check.status == "overridden" and (check.name, check.override_reason) not in known:
                self.ledger.append("overrides", {"at": utcnow().isoformat(), "check": check.name,
                                                 "reason": check.override_reason, "detail": check.reason,
                                                 "ticket": self.ticket})

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
        results: list[PhaseResult] = []
        for name in PHASES:
            result = getattr(self, name)()
            results.append(result)
            if result.status not in ("done", "skipped"):
                break
        return self._run_result(results)

    def status(self) -> RunResult:
        """What the ledger says, without touching the cluster."""
        return self._run_result([])

    def _run_result(self, phases: list[PhaseResult]) -> RunResult:
        data = self.ledger.data
        status = _run_status(phases, data.get("status"))
        message = next((p.message for p in reversed(phases) if p.status not in ("done",)), "") if phases else ""
        if not phases and data.get("status") == "running":
            message = "the ledger says running: the run is in progress elsewhere or was interrupted; re-run to resume"
        if status == "done":
            message = f"{self.purpose.name} renewed on {', '.join(data.get('nodes') or []) or 'no node'}"
        return RunResult(cluster=self.cluster_name, purpose=self.purpose.name, ticket=data.get("ticket") or self.ticket,
                         run_id=data.get("run_id"), status=status, message=message, phases=tuple(phases),
                         steps=tuple(self._ordered_records()), overrides=tuple(data.get("overrides") or ()),
                         reminders=tuple(self._reminders()))

    def _reminders(self) -> list[str]:
        steps = (self.ledger.data.get("plan") or {}).get("steps") or []
        return [s["detail"] for s in steps if s.get("name") == "reminder"]

    def _ordered_records(self) -> list[StepRecord]:
        order = self.ledger.data.get("order") or []
        return [r for r in (self.ledger.step(k) for k in order) if r is not None]

    def _phase(self, phase: str, body: Callable[[str, tuple[Step, ...]], list[StepRecord]]) -> PhaseResult:
        try:
            plan = self.plan()
        except CucmKitError as exc:
            return PhaseResult(phase=phase, status="failed", message=f"could not plan: {exc}")
        if self.options.dry_run:
            return PhaseResult(phase=phase, status="skipped", message="dry run: nothing changed")
        if not plan.due:
            if self.ledger.data.get("status") == "completed" and not self.ledger.active:
                msg = f"nothing due: {self.purpose.name} was renewed (run {self.ledger.data.get('run_id')}); no certificate expires within {plan.threshold_days:g} days"
            else:
                msg = f"nothing due: no {self.purpose.name} certificate expires within {plan.threshold_days:g} days"
            return PhaseResult(phase=phase, status="skipped", message=msg)
        lock = self._lock_check()
        if lock.blocking:
            return PhaseResult(phase=phase, status="blocked", message=f"blocked: {lock.reason}", remedy=lock.remedy)
        if not self._resuming():
            self._begin(plan)
        elif self.ledger.data.get("ticket") != self.ticket:
            self.ledger.event(f"resumed under ticket {self.ticket} (the run belongs to {self.ledger.data.get('ticket')})")
        steps = plan.phase_steps(phase)
        if steps and all((r := self.ledger.step(s.key)) is not None and r.finished for s in steps):
            records = [self.ledger.step(s.key) for s in steps]
            return self._finish_phase(phase, PhaseResult(phase=phase, status="done", steps=tuple(records),
                                                         message=f"{phase}: already done"))
        blocked = self._blocked(phase)
        if blocked is not None:
            return blocked
        steps = self.plan().phase_steps(phase)      # the mixed-mode check may have added the CTL step
        if not steps:
            return self._finish_phase(phase, PhaseResult(phase=phase, status="skipped", message=f"{phase}: no step for this purpose"))
        self.ledger.set_status("running")
        records = body(phase, steps)
        return self._finish_phase(phase, _phase_result(phase, records))

    def _blocked(self, phase: str) -> PhaseResult | None:
        report = self.prechecks(phase)
        if self.ledger.active:
            self.ledger.data["checks"] = [c.to_json() for c in report.checks]
            self.ledger.save()
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
            self.ledger.set_status(result.status)
        elif self.ledger.active and all((r := self.ledger.step(s.key)) and r.finished for s in self.plan().steps):
            self.ledger.set_status("completed")
            self._say("run completed")
            self._plan = None
            self.lock.release()
        self._say(f"{phase}: {result.status} {result.message}".strip())
        return result

    # ---- step machinery --------------------------------------------------------------------
    def _step(self, step: Step, fn: Callable[[], str]) -> StepRecord:
        done = self.ledger.step(step.key)
        if done is not None and done.finished:
            return done
        started = utcnow()
        self._previous[step.key] = done        # what the ledger said before this attempt (a crash leaves "running")
        self.ledger.record(StepRecord(step.key, step.name, step.node, step.phase, "running", started,
                                      detail=step.detail, data=(done.data if done else {})))
        try:
            outcome, detail = "done", fn()
        except WaitingError as exc:
            outcome, detail = "waiting", str(exc)
        except InterlockError as exc:
            outcome, detail = "blocked", str(exc)
        except CucmKitError as exc:
            outcome, detail = "failed", str(exc)
        except Exception as exc:
            self.ledger.record(StepRecord(step.key, step.name, step.node, step.phase, "failed", started, utcnow(),
                                          f"internal error: {type(exc).__name__}: {exc}"))
            raise
        record = self.ledger.record(StepRecord(step.key, step.name, step.node, step.phase, outcome, started,
                                               utcnow(), detail))
        self._say(f"{step.key}: {outcome} {detail}")
        if record.finished:
            _crash_hook()
        return record

    def _node(self, name: str | None) -> Any:
        return self.cluster.node(name) if name else self.cluster.publisher

    def _sequential(self, phase: str, steps: tuple[Step, ...]) -> list[StepRecord]:
        records: list[StepRecord] = []
        for step in steps:
            record = self._step(step, lambda s=step: self._dispatch(s))
            records.append(record)
            if not record.finished:
                break
        return records

    def _dispatch(self, step: Step) -> str:
        handler = getattr(self, "_do_" + step.name.replace("-", "_"))
        return handler(step)

    # ---- CSR ---------------------------------------------------------------------------------
    def _csr_phase(self, phase: str, steps: tuple[Step, ...]) -> list[StepRecord]:
        if self.options.force_csr:
            for step in steps:
                self._force_reset(step.node)
        with ThreadPoolExecutor(max_workers=max(1, self.options.parallel)) as pool:
            return list(pool.map(lambda s: self._step(s, lambda: self._do_csr(s)), steps))

    def _force_reset(self, node: str | None) -> None:
        """force_csr: forget this node's CSR and everything downstream that has not been installed."""
        if node is None or node in self._forced:
            return
        self._forced.add(node)
        identity = self.ledger.step(f"identity:{node}")
        if identity is not None and identity.finished:
            return
        for key in (f"csr:{node}", f"ca-submit:{node}", f"ca-collect:{node}", f"trust:{node}"):
            self.ledger.data["steps"].pop(key, None)
        for section in ("csrs", "requests", "issued"):
            self.ledger.data.get(section, {}).pop(node, None)
        self.ledger.event(f"force_csr: a new CSR will be generated on {node}")
        self.ledger.save()

    def _do_csr(self, step: Step) -> str:
        node = self._node(step.node)
        known = self.ledger.get("csrs", step.node)
        pending = node.get_csr(self.purpose.name)
        if known and pending and _public_key_fingerprint(pending) == known["fingerprint"]:
            return f"CSR already on the node (public key {known['fingerprint'][:16]}...)"
        if known and self.ledger.get("requests", step.node):
            raise CertificateError(
                "the CSR submitted to the CA is no longer pending on the node (regenerated elsewhere?)",
                node=step.node, purpose=self.purpose.name,
                remedy="re-run with force_csr to generate a new CSR and submit it again")
        record = self._previous.get(step.key)
        if pending and record is not None and record.outcome == "running" and not known:
            pem, how = pending, "adopted the CSR generated before an interruption"
        else:
            size = self.options.key_size if self.purpose.key_type == "rsa" else self.options.ec_key_size
            node.generate_csr(self.purpose.name, key_type=self.purpose.key_type, key_size=size)
            pem, how = node.get_csr(self.purpose.name), "generated and downloaded"
            if pending:
                how += ("; WARNING: it replaced a pending CSR this run did not create "
                        "(a certificate issued from that one will no longer upload)")
        if not pem:
            raise CertificateError("the node reports no pending CSR right after generating one", node=step.node)
        fp = _public_key_fingerprint(pem)
        self.ledger.put("csrs", step.node, {"pem": pem, "fingerprint": fp, "at": utcnow().isoformat()})
        return f"CSR {how}; public key sha256 {fp}"

    # ---- CA ----------------------------------------------------------------------------------
    def _ca_phase(self, phase: str, steps: tuple[Step, ...]) -> list[StepRecord]:
        records = [self._step(s, lambda s=s: self._do_ca_submit(s)) for s in steps if s.name == "ca-submit"]
        if any(not r.finished for r in records):
            return records
        return records + [self._step(s, lambda s=s: self._do_ca_collect(s)) for s in steps if s.name == "ca-collect"]

    def _do_ca_submit(self, step: Step) -> str:
        known = self.ledger.get("requests", step.node)
        if known:
            return f"already submitted as request {known['id']}"
        csr = self.ledger.get("csrs", step.node)
        request_id = self.ca_backend.submit(step.node, self.purpose.name, csr["pem"])
        self.ledger.put("requests", step.node, {"id": request_id, "backend": getattr(self.ca_backend, "kind", "?"),
                                                "csr_fingerprint": csr["fingerprint"], "at": utcnow().isoformat()})
        return f"submitted to the {getattr(self.ca_backend, 'kind', '')} CA as request {request_id}"

    def _do_ca_collect(self, step: Step) -> str:
        if self.ledger.get("issued", step.node):
            return "already collected"
        request = self.ledger.get("requests", step.node)
        files = self.ca_backend.collect(request["id"])
        if files is None:
            raise WaitingError(f"waiting for the CA: request {request['id']} for {step.node} has no answer yet",
                               node=step.node, purpose=self.purpose.name,
                               remedy=self._waiting_remedy(request["id"]))
        pems = _certificates_from(files)
        csr = self.ledger.get("csrs", step.node)
        # Validate now: files that will not upload (a missing intermediate, another CSR's certificate)
        # are not recorded, so a re-run reads the inbox again once they are fixed.
        _validated(self.purpose, pems, csr["pem"], self._node(step.node), self.options.clock())
        self.ledger.put("issued", step.node, {"pems": pems, "at": utcnow().isoformat()})
        return f"collected {len(pems)} certificate(s) for request {request['id']}; they pass validation"

    def _waiting_remedy(self, request_id: str) -> str:
        inbox = getattr(self.ca_backend, "inbox_for", None)
        if inbox is not None:
            return f"drop the CA's files into {inbox(request_id)} and re-run"
        return "have the request approved at the CA, then re-run"

    # ---- install -----------------------------------------------------------------------------
    def _material(self, node_name: str) -> tuple[str, list[str]]:
        """(leaf PEM, CA PEMs root first) validated against the pending CSR and the node's trust store."""
        issued = self.ledger.get("issued", node_name)
        csr = self.ledger.get("csrs", node_name)
        return _validated(self.purpose, issued["pems"], csr["pem"], self._node(node_name), self.options.clock())

    def _do_trust(self, step: Step) -> str:
        node = self._node(step.node)
        leaf, cas = self._material(step.node)
        present = {r.fingerprint_sha256 for r in node.trust_certificates(self.purpose.trust_store)}
        uploaded = 0
        for pem in cas:
            if _cert_fingerprint(pem) in present:
                continue
            node.upload_trust(self.purpose.name, pem, description=f"cucmkit {self.ticket}")
            uploaded += 1
        return f"{uploaded} CA certificate(s) uploaded to {self.purpose.trust_store}, {len(cas) - uploaded} already there"

    def _own_fingerprint(self, node: Any) -> str | None:
        cert = self._current_cert(node)
        return cert.fingerprint_sha256 if cert is not None else None

    def _do_identity(self, step: Step) -> str:
        node = self._node(step.node)
        leaf, _ = self._material(step.node)
        new_fp = _cert_fingerprint(leaf)
        self._note_cert(step.node, after=new_fp)
        if self._own_fingerprint(node) == new_fp:
            return f"the node already holds the new certificate ({new_fp[:16]}...): not uploaded again"
        self._open_gate("identity installed")
        node.upload_identity(self.purpose.name, leaf)
        if self._own_fingerprint(node) != new_fp:
            raise CertificateError("after the upload the node does not hold the new certificate",
                                   node=step.node, purpose=self.purpose.name)
        return f"identity uploaded; node holds sha256 {new_fp}"

    def _do_self_signed(self, step: Step) -> str:
        node = self._node(step.node)
        before = (self.ledger.get("certificates", step.node) or {}).get("before")
        now_fp = self._own_fingerprint(node)
        if before and now_fp and now_fp != before:
            self._note_cert(step.node, after=now_fp)
            return "already regenerated"
        self._open_gate("self-signed certificate regenerated")
        node.regenerate_self_signed(self.purpose.name)
        after = self._own_fingerprint(node)
        self._note_cert(step.node, after=after)
        return f"regenerated as self-signed; sha256 {after}"

    def _note_cert(self, node: str | None, **values: Any) -> None:
        current = dict(self.ledger.get("certificates", node) or {})
        current.update(values)
        self.ledger.put("certificates", node, current)

    def _open_gate(self, reason: str) -> None:
        if self.purpose.resets_phones:
            self.gate.open(self.purpose.name, reason=reason, ticket=self.ticket)

    # ---- activate ----------------------------------------------------------------------------
    def _do_phones_baseline(self, step: Step) -> str:
        if self.ledger.data.get("baseline"):
            return "baseline already taken"
        summary = self.cluster.registration()
        registered = sorted(d.name for d in summary.devices if d.registered)
        self.ledger.data["baseline"] = {"registered": summary.registered, "total": summary.total, "names": registered}
        self.ledger.save()
        return f"{summary.registered} of {summary.total} phones registered"

    def _do_ctl_update(self, step: Step) -> str:
        self._open_gate("CTL updated")
        output = self.cluster.ctl_update()
        return "CTL file updated: " + " ".join(str(output).split())[:200]

    def _do_restart(self, step: Step) -> str:
        self._open_gate("services restarted")
        state = self._node(step.node).restart_service(step.service, timeout=self.options.restart_timeout)
        if getattr(state, "status", "") != "Started":
            raise CucmKitError(f"{step.service} did not start ({state.status}: {getattr(state, 'reason', '')})",
                               node=step.node, operation="restart", purpose=self.purpose.name,
                               remedy="check the service on the node (utils service list), then re-run")
        return f"{step.service} restarted and Started"

    def _do_verify_tls(self, step: Step) -> str:
        node = self._node(step.node)
        expected = (self.ledger.get("certificates", step.node) or {}).get("after")
        deadline = time.monotonic() + self.options.tls_timeout
        while True:
            try:
                served = node.served_certificate().fingerprint_sha256
            except CucmKitError as exc:
                served, error = None, exc
            if served == expected:
                return f"serves the new certificate (sha256 {expected[:16]}...)"
            if time.monotonic() >= deadline:
                what = f"sha256 {served}" if served else f"nothing ({error})"
                raise CertificateError(f"still serves {what}, expected {expected}", node=step.node,
                                       operation="verify-tls", purpose=self.purpose.name,
                                       remedy="restart Cisco Tomcat on the node again and re-run")
            time.sleep(min(1.0, self.options.poll_interval))

    # ---- phones ------------------------------------------------------------------------------
    def _do_phones_reset(self, step: Step) -> str:
        self.cluster.reset_all_devices()
        return "all devices reset"

    def _do_phones_wait(self, step: Step) -> str:
        baseline = self.ledger.data.get("baseline") or {"registered": 0, "names": []}
        target = max(0, int(baseline["registered"]) - self.options.registration_tolerance)
        deadline = time.monotonic() + self.options.registration_timeout
        summary = None
        while True:
            summary = self._registration_or_none(summary)
            if summary is not None and summary.registered >= target:
                self.gate.clear(self.purpose.name, detail=f"{summary.registered} registered (baseline {baseline['registered']})")
                return f"{summary.registered} phones registered (baseline {baseline['registered']}, tolerance {self.options.registration_tolerance})"
            if time.monotonic() >= deadline:
                raise CucmKitError(self._missing_text(summary, baseline), operation="phones-wait",
                                   purpose=self.purpose.name,
                                   remedy="check the phones listed (StatusReason 13 = ITL mismatch: delete the ITL on the phone), then re-run")
            self._say(f"phones: {summary.registered if summary else '?'} of {target} back")
            time.sleep(self.options.poll_interval)

    def _registration_or_none(self, last: Any) -> Any:
        try:
            return self.cluster.registration()
        except ThrottledError as exc:
            self._say(f"RisPort throttled, backing off: {exc.message}")
            return last

    def _missing_text(self, summary: Any, baseline: Mapping[str, Any]) -> str:
        if summary is None:
            return "phones did not come back before the deadline: RisPort gave no answer"
        back = {d.name for d in summary.devices if d.registered}
        missing = [n for n in baseline.get("names", []) if n not in back]
        reasons = {d.name: d.reason for d in summary.devices if not d.registered}
        listed = ", ".join(f"{n} ({reasons.get(n, 'unknown')})" for n in missing[:50])
        more = f" and {len(missing) - 50} more" if len(missing) > 50 else ""
        return (f"phones did not come back before the deadline: {summary.registered} registered, "
                f"baseline {baseline['registered']}; not back: {listed}{more}")

    def _do_reminder(self, step: Step) -> str:
        return f"REMINDER: {step.detail}"


def _certificates_from(files: Iterable[bytes]) -> list[str]:
    from cucmkit.certs.intake import load_bytes

    material = None
    for index, blob in enumerate(files):
        loaded = load_bytes(blob, name=f"ca-file-{index}")
        material = loaded if material is None else material.merged(loaded)
    if material is None or not len(material):
        raise CertificateError("the CA's files hold no certificate", operation="ca-collect")
    return [c.pem for c in material.certificates]


def _validated(purpose: Purpose, pems: list[str], csr_pem: str, node: Any, now: datetime) -> tuple[str, list[str]]:
    from cucmkit.certs import intake

    material = intake.load_bytes("".join(pems).encode(), name="issued")
    trust = node.trust_certificates(purpose.trust_store)
    report = _validate(material, purpose=purpose.name, now=now, csr=csr_pem, trust_store=trust)
    if not report.ok:
        failed = "; ".join(f"{c.name}: {c.message}" for c in report.failed)
        raise CertificateError(f"the issued certificate fails validation: {failed}", node=node.name,
                               purpose=purpose.name, remedy="have the CA re-issue from the pending CSR")
    leaf = next(s.pem for s in report.upload_plan if s.kind == "leaf")
    cas = [s.pem for s in report.upload_plan if s.kind != "leaf"]
    return leaf, cas


def _validate(material: Any, **kw: Any) -> Any:
    from cucmkit.certs import validate

    return validate(material, **kw)


def _phase_result(phase: str, records: list[StepRecord]) -> PhaseResult:
    outcomes = [r.outcome for r in records]
    for status in ("failed", "blocked", "waiting"):
        if status in outcomes:
            first = next(r for r in records if r.outcome == status)
            return PhaseResult(phase=phase, status=status, steps=tuple(records), message=first.detail)
    return PhaseResult(phase=phase, status="done", steps=tuple(records), message=f"{len(records)} step(s) done")


def _run_status(phases: list[PhaseResult], ledger_status: str | None) -> str:
    if not phases:
        mapped = {"completed": "done", "new": "skipped", None: "skipped", "running": "failed"}
        return mapped.get(ledger_status, ledger_status or "skipped")
    for p in phases:
        if p.status not in ("done", "skipped"):
            return p.status
    if all(p.status == "skipped" for p in phases):
        return "skipped"
    return "done"
