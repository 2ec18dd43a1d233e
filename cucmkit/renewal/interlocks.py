"""The pre-checks and interlocks as a run evaluates them: the facts come from the cluster, the
cluster lock, the phone gate and the clock; the verdicts are the pure functions of ``checks``.

``Interlocks.report(phase)`` answers the checks guarding ``phase`` (or all of them) and records
every override in the ledger with its reason. A check that cannot be evaluated (the cluster did
not answer) fails, naming the cause.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from cucmkit.catalogue import Purpose
from cucmkit.errors import CucmKitError, InterlockError
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
from cucmkit.renewal.lock import ClusterLock
from cucmkit.renewal.options import RenewalOptions
from cucmkit.renewal.plan import PHASES
from cucmkit.renewal.ports import ClusterPort
from cucmkit.renewal.state import Ledger, Override, PhoneGate, utcnow

__all__ = ["Interlocks", "CHANGING"]

CHANGING = ("csr", "install", "activate")   # phases that change a node's certificates or services
Evaluator = tuple[str, tuple[str, ...], Callable[[], CheckResult]]


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

    def report(self, phase: str | None = None) -> CheckReport:
        """Evaluate the checks guarding ``phase`` (or all) now; overrides are recorded in the ledger."""
        checks = [replace(_guarded(fn, name), guards=guards)
                  for name, guards, fn in self._evaluators() if phase is None or phase in guards]
        report = CheckReport(purpose=self.purpose.name, checks=tuple(checks))
        self._record_overrides(report)
        return report

    def _evaluators(self) -> list[Evaluator]:
        window, clock, overrides = self.options.maintenance_window, self.options.clock, self.options.overrides
        return [
            ("single_run", PHASES, self.take_lock),
            ("sso_disabled", CHANGING, lambda: check_sso(self.purpose, self._sso())),
            ("no_backup", CHANGING, lambda: check_backup(self.purpose, self._backups())),
            ("phones_gate", PHASES, lambda: check_conflict(self.purpose, self.gate.pending())),
            ("maintenance_window", ("activate", "phones"),
             lambda: check_window(window, clock(), overrides.get("maintenance_window"))),
            ("mixed_mode", ("activate",), self._mixed_mode),
        ]

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

    def _sso(self) -> bool | None:
        return self.cluster.sso_enabled() if "sso_disabled" in self.purpose.prechecks else None

    def _backups(self) -> dict[str, str]:
        """Node -> the DRS backup or restore running on it."""
        if "no_backup" not in self.purpose.prechecks:
            return {}
        running: dict[str, str] = {}
        for node in self.cluster.nodes:
            status = node.backup_status()
            if status.in_progress:
                running[node.name] = f"{status.operation or 'backup'} {status.status}".strip()
        return running

    def _mixed_mode(self) -> CheckResult:
        """Read the security mode again before restarts; a cluster switched to mixed mode gets its CTL step."""
        if not self.purpose.ctl_update_in_mixed_mode:
            return CheckResult("mixed_mode", "skipped", f"{self.purpose.name} needs no CTL update")
        mode = self.cluster.security_mode()
        if mode == 1 and self.ledger.active:
            self.on_mixed_mode()
        return check_mixed_mode(self.purpose, mode)

    def _record_overrides(self, report: CheckReport) -> None:
        if not self.ledger.active:
            return
        known = {(o.check, o.reason) for o in self.ledger.state.overrides}
        for check in report.checks:
            if check.status == "overridden" and (check.name, check.override_reason) not in known:
                self.ledger.add_override(Override(at=utcnow(), check=check.name, reason=check.override_reason,
                                                  detail=check.reason, ticket=self.ticket))


def _guarded(fn: Callable[[], CheckResult], name: str) -> CheckResult:
    try:
        return fn()
    except CucmKitError as exc:
        return CheckResult(name, "failed", f"could not evaluate: {exc}", "fix the cause and re-run")
