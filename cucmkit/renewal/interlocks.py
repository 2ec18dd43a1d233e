"""The pre-checks and interlocks as a run evaluates them: the facts come from the cluster, the
cluster lock, the phone gate and the clock; the verdicts are the pure functions of ``checks``.

``Interlocks.report(phase)`` answers the checks guarding ``phase`` (or all of them) and records
every override in the ledger with its reason. A check that cannot be evaluated (the cluster did
not answer) fails, naming the cause.

A resumed run whose ledger shows a Cisco Tomcat restart started and not finished (the previous
attempt died mid-restart) first waits for those nodes' HTTPS to answer again, until that
restart's deadline (its start plus ``restart_timeout``). A node still down then (its Tomcat was
left stopped) is said so, and the checks read over HTTPS (SSO, the security mode) that this run
already passed are taken from the ledger instead of failing: the step in flight restarts Tomcat.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from cucmkit.catalogue import RELEASES, Purpose, release
from cucmkit.errors import CucmKitError, InterlockError, TransportError
from cucmkit.renewal.checks import (
    CheckReport,
    CheckResult,
    check_backup,
    check_conflict,
    check_lock,
    check_mixed_mode,
    check_sso,
    check_window,
)
from cucmkit.renewal.distribution import CONVERT_OVERRIDE, GUARDS, check_distribution, distribution_of
from cucmkit.renewal.lock import ClusterLock
from cucmkit.renewal.options import RenewalOptions
from cucmkit.renewal.plan import PHASES, Plan
from cucmkit.renewal.ports import ClusterPort
from cucmkit.renewal.state import Ledger, Override, PhoneGate, RunState, utcnow
from cucmkit.renewal.uploadpath import GUARDS as UPLOAD_GUARDS
from cucmkit.renewal.uploadpath import UPLOAD_PATH, check_upload_path, holder_of

__all__ = ["Interlocks", "CHANGING", "HTTPS_SERVICE", "InFlight", "tomcat_in_flight"]

CHANGING = ("csr", "install", "activate")   # phases that change a node's certificates or services
HTTPS_SERVICE = "Cisco Tomcat"              # every HTTPS interface of a node runs inside it (CONTRACTS 1)
OVER_HTTPS = frozenset({"sso_disabled", "mixed_mode"})   # checks that read the publisher over HTTPS
Evaluator = tuple[str, tuple[str, ...], Callable[[], CheckResult]]


def _quiet(text: str) -> None:
    return None


@dataclass(frozen=True)
class InFlight:
    """A Cisco Tomcat restart step the ledger shows started and not finished."""

    key: str
    node: str
    started: float          # seconds since the epoch
    ended: float | None = None   # a failed restart step ended here: its outcome is known, nothing to wait for

    def deadline(self, restart_timeout: float) -> float:
        """Until when its HTTPS may still come back: the restart's deadline, or the failed step's end."""
        limit = self.started + restart_timeout
        return limit if self.ended is None else min(limit, self.ended)


def tomcat_in_flight(state: RunState) -> tuple[InFlight, ...]:
    """Tomcat restarts an earlier attempt started and did not finish (it died or failed mid-restart)."""
    if state.plan is None or not state.active:
        return ()
    found: list[InFlight] = []
    for step in state.plan.steps:
        record = state.steps.get(step.key)
        if (step.name == "restart" and step.service == HTTPS_SERVICE and step.node and record is not None
                and record.outcome in ("running", "failed") and record.started is not None):
            ended = record.ended.timestamp() if record.outcome == "failed" and record.ended is not None else None
            found.append(InFlight(step.key, step.node, record.started.timestamp(), ended))
    return tuple(found)


@dataclass(frozen=True)
class Interlocks:
    """The checks of one renewal. ``on_mixed_mode``: called when a running run finds the cluster in mixed mode."""

    cluster: ClusterPort
    purpose: Purpose
    ticket: str
    options: RenewalOptions
    ledger: Ledger
    gate: PhoneGate
    lock: ClusterLock
    on_mixed_mode: Callable[[], None]
    say: Callable[[str], None] = field(default=_quiet)
    planned: Callable[[], Plan] | None = None    # the run's plan (the distribution check reads its nodes)

    def report(self, phase: str | None = None) -> CheckReport:
        """Evaluate the checks guarding ``phase`` (or all) now; overrides are recorded in the ledger."""
        down = self.await_restarts()
        checks = [replace(self._evaluate(name, fn, down), guards=guards)
                  for name, guards, fn in self._evaluators() if phase is None or phase in guards]
        report = CheckReport(purpose=self.purpose.name, checks=tuple(checks))
        self._record_overrides(report)
        return report

    def _evaluators(self) -> list[Evaluator]:
        window, clock, overrides = self.options.maintenance_window, self.options.clock, self.options.overrides
        return [
            ("single_run", PHASES, self.take_lock),
            ("sso_disabled", CHANGING, self._sso),
            ("no_backup", CHANGING, lambda: check_backup(self.purpose, self._backups())),
            ("phones_gate", PHASES, lambda: check_conflict(self.purpose, self.gate.pending())),
            ("maintenance_window", ("activate", "phones"),
             lambda: check_window(window, clock(), overrides.get("maintenance_window"))),
            ("mixed_mode", ("activate",), self._mixed_mode),
            (UPLOAD_PATH, UPLOAD_GUARDS, self._upload_path),
            ("distribution", GUARDS, self._distribution),
        ]

    def await_restarts(self) -> tuple[str, ...]:
        """Wait for the HTTPS of nodes with a Tomcat restart in flight, each until its restart deadline.

        Returns the nodes still not answering (their Tomcat was left stopped).
        """
        down: list[str] = []
        for flight in tomcat_in_flight(self.ledger.state):
            deadline = flight.deadline(self.options.restart_timeout)
            if not self._answers(flight.node, deadline, flight.key):
                down.append(flight.node)
                self.say(f"{flight.node}: HTTPS does not answer and its Tomcat restart ({flight.key}) is past its "
                         "deadline: Cisco Tomcat was left stopped; the restart step will start it")
        return tuple(down)

    def _answers(self, node: str, deadline: float, key: str) -> bool:
        said = False
        while True:
            try:
                self.cluster.node(node).served_certificate()
                return True
            except CucmKitError as exc:
                left = deadline - time.time()
                if left <= 0:
                    return False
                if not said:
                    self.say(f"{node}: Cisco Tomcat is restarting ({key} was in flight when the last attempt "
                             f"ended: {exc.message}); waiting up to {left:.0f} s for its HTTPS to answer")
                    said = True
                time.sleep(min(self.options.poll_interval, left))

    def _evaluate(self, name: str, fn: Callable[[], CheckResult], down: tuple[str, ...]) -> CheckResult:
        """The check now; an HTTPS check this run passed before is taken from the ledger while Tomcat is down."""
        try:
            return fn()
        except TransportError as exc:
            recorded = self._recorded(name) if down and name in OVER_HTTPS else None
            if recorded is None:
                return CheckResult(name, "failed", f"could not evaluate: {exc}", "fix the cause and re-run")
            result = replace(recorded, reason=f"not re-read (Cisco Tomcat is stopped on {', '.join(down)}; the "
                                              f"restart step in flight starts it); as checked earlier in this run: "
                                              f"{recorded.reason}")
            self.say(f"{name}: {result.reason}")
            return result
        except CucmKitError as exc:
            return CheckResult(name, "failed", f"could not evaluate: {exc}", "fix the cause and re-run")

    def _recorded(self, name: str) -> CheckResult | None:
        return next((c for c in self.ledger.state.checks if c.name == name and c.status in ("passed", "skipped")),
                    None)

    def take_lock(self) -> CheckResult:
        """One run per cluster: take the lock (a stale one is taken over, with an event saying so)."""
        try:
            self.lock.acquire(purpose=self.purpose.name, ticket=self.ticket)
        except InterlockError as exc:
            return check_lock(exc.message, exc.remedy or "")
        if self.lock.took_over and self.ledger.active:
            was = self.lock.took_over
            self.ledger.event(f"took over a stale cluster lock ({self.lock.stale}): {was.describe()}")
            self.lock.took_over = None
        return check_lock(None)

    def _sso(self) -> CheckResult:
        """Every node's SSO state (web API, CLI, tkssomode): enabled anywhere blocks; unreadable anywhere fails."""
        if "sso_disabled" not in self.purpose.prechecks:
            return check_sso(self.purpose, None)
        nodes = self.cluster.sso_by_node()
        states = [n.enabled for n in nodes]
        enabled = True if any(states) else (None if None in states or not states else False)
        cluster_wide = bool(nodes) and all(n.known and all(n.known) for n in nodes)
        return check_sso(self.purpose, enabled, {n.node: n.describe() for n in nodes}, cluster_wide=cluster_wide,
                         multi_server=self.options.multi_server, release_allows=cluster_wide and self._since_14())

    def _since_14(self) -> bool:
        """The cluster runs CUCM 14 or later (unknown: False, the procedure's rule applies)."""
        try:
            version = release(self.cluster.version())
        except CucmKitError:
            return False
        return version is not None and version >= RELEASES["14"]

    def _backups(self) -> dict[str, str]:
        """Node -> the DRS backup or restore running on it."""
        if "no_backup" not in self.purpose.prechecks:
            return {}
        running: dict[str, str] = {}
        for node in self.cluster.nodes:
            busy = [f"{status.operation or kind} {status.status}".strip()
                    for kind, status in (("backup", node.backup_status()), ("restore", node.restore_status()))
                    if status.in_progress]
            if busy:
                running[node.name] = ", ".join(busy)
        return running

    def _mixed_mode(self) -> CheckResult:
        """Read the security mode again before restarts; a cluster switched to mixed mode gets its CTL step."""
        if not self.purpose.ctl_update_in_mixed_mode:
            return CheckResult("mixed_mode", "skipped", f"{self.purpose.name} needs no CTL update")
        mode = self.cluster.security_mode()
        if mode == 1 and self.ledger.active:
            self.on_mixed_mode()
        return check_mixed_mode(self.purpose, mode)

    def _upload_path(self) -> CheckResult:
        """Multi-server: the holder's certificate REST API answers (``renewal/uploadpath.py``)."""
        holder = holder_of(self.purpose, self.cluster.nodes) if self.options.multi_server else None
        return check_upload_path(self.purpose, holder, multi_server=self.options.multi_server)

    def _distribution(self) -> CheckResult:
        """Multi-server or per node as asked, against what the renewed nodes have today (before the first change)."""
        if not self.purpose.multi_server:
            return check_distribution(self.purpose, multi_server=False, current={})
        if any(r.outcome == "done" for r in self.ledger.state.steps.values()):
            return CheckResult("distribution", "passed", "decided when this run started (a run keeps its choice)",
                               guards=GUARDS)
        plan = self.planned() if self.planned is not None else None
        names = [n.name for n in plan.renew] if plan is not None else []
        fqdns = [n.name for n in self.cluster.nodes]
        current: dict[str, str] = {}
        for name in names:
            own = next((r for r in self.cluster.node(name).own_certificates() if r.purpose == self.purpose.name),
                       None)
            if own is not None:
                current[name] = distribution_of(own, fqdns)
        return check_distribution(self.purpose, multi_server=self.options.multi_server, current=current,
                                  override=self.options.overrides.get(CONVERT_OVERRIDE))

    def _record_overrides(self, report: CheckReport) -> None:
        if not self.ledger.active:
            return
        known = {(o.check, o.reason) for o in self.ledger.state.overrides}
        for check in report.checks:
            if check.status == "overridden" and (check.name, check.override_reason) not in known:
                self.ledger.add_override(Override(at=utcnow(), check=check.name, reason=check.override_reason,
                                                  detail=check.reason, ticket=self.ticket))
