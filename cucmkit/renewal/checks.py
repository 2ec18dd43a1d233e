"""Pre-checks and interlocks of the procedure, as pure functions over observed facts.

Each check returns a ``CheckResult`` (passed / failed / overridden / skipped,
reason, remedy) and names the phases it guards. The executor gathers the facts
(SSO status, DRS status, the phone gate, the lock, the clock, the security
mode) and refuses a phase while a check that guards it has failed.

Only the maintenance window and a per-node <-> multi-server conversion may be
overridden, and only with a reason that is recorded in the ledger (PROCEDURE.md
allows an emergency restart outside the window; it never allows ipsec during a
backup, or CallManager and TVS in flight together; a conversion is a planned
choice the engineer confirms, ``renewal/distribution.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cucmkit.catalogue import Purpose
from cucmkit.params import MaintenanceWindow  # the kit's one window type (re-exported here)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CheckResult",
    "CheckReport",
    "OVERRIDABLE",
    "CONVERT_OVERRIDE",
    "MaintenanceWindow",
    "check_sso",
    "check_backup",
    "check_conflict",
    "check_window",
    "check_lock",
    "check_mixed_mode",
    "validate_overrides",
]

CONVERT_OVERRIDE = "convert_multi_server"   # confirms a per-node <-> multi-server conversion (renewal/distribution)
OVERRIDABLE = frozenset({"maintenance_window", CONVERT_OVERRIDE})
MUTATING = ("csr", "ca", "install", "activate", "phones")


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str                       # "passed" | "failed" | "overridden" | "skipped"
    reason: str
    remedy: str = ""
    guards: tuple[str, ...] = MUTATING  # phases this check blocks when failed
    override_reason: str = ""

    @property
    def blocking(self) -> bool:
        return self.status == "failed"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "status": self.status, "reason": self.reason,
            "remedy": self.remedy, "guards": list(self.guards), "override_reason": self.override_reason,
        }


@dataclass(frozen=True)
class CheckReport:
    purpose: str
    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return not any(c.blocking for c in self.checks)

    def blocking(self, phase: str | None = None) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.blocking and (phase is None or phase in c.guards))

    def get(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([c.to_json() for c in self.checks], columns=list(CheckResult.__dataclass_fields__))

    def _repr_html_(self) -> str:
        verdict = "all pre-checks passed" if self.ok else "BLOCKED"
        from cucmkit.tables import styled

        table = str(styled(self.to_frame()).to_html())
        return f"<p><b>Pre-checks for {self.purpose}: {verdict}</b></p>" + table

    def __str__(self) -> str:
        lines = [f"pre-checks for {self.purpose}: {'ok' if self.ok else 'BLOCKED'}"]
        lines += [f"  {c.status:10} {c.name}: {c.reason}" + (f" -> {c.remedy}" if c.blocking and c.remedy else "")
                  for c in self.checks]
        return "\n".join(lines)


def validate_overrides(overrides: Mapping[str, str]) -> None:
    """Raise ValueError for an override the procedure does not allow or one without a reason."""
    for name, reason in overrides.items():
        if name not in OVERRIDABLE:
            raise ValueError(f"the check {name!r} cannot be overridden; only {', '.join(sorted(OVERRIDABLE))} can")
        if not str(reason or "").strip():
            raise ValueError(f"overriding {name!r} needs a reason that will be recorded")


def check_sso(purpose: Purpose, sso_enabled: bool | None, nodes: Mapping[str, str] | None = None, *,
              cluster_wide: bool = False, multi_server: bool = False, release_allows: bool = False) -> CheckResult:
    """``sso_enabled``: True when any node says enabled, None when some node could not be read.

    ``nodes``: node -> what it said (its web API, CLI and ``processnode.tkssomode``), for the report.
    ``cluster_wide``: every source of every node says enabled (CONTRACTS 5.0c). Cluster-wide SSO needs a
    multi-server certificate (TAC 217268): a per-node run is refused whatever the release. ``release_allows``:
    the cluster runs CUCM 14+, whose sources renew tomcat with SSO on (re-export the SP metadata afterwards);
    there a multi-server run on a cluster-wide SSO cluster passes. Otherwise SSO must be disabled (PROCEDURE.md).
    """
    if "sso_disabled" not in purpose.prechecks:
        return CheckResult("sso_disabled", "skipped", f"{purpose.name} does not depend on SAML SSO")
    per_node = f" ({'; '.join(nodes[n] for n in sorted(nodes))})" if nodes else ""
    if sso_enabled is None:
        return CheckResult("sso_disabled", "failed", f"could not read the SAML SSO status of every node{per_node}",
                           "check that every node answers /ssosp/ws/public/singleSignOn and `utils sso status`")
    if sso_enabled and cluster_wide and not multi_server:
        return CheckResult(
            "sso_disabled", "failed",
            f"SAML SSO is enabled cluster-wide{per_node}: cluster-wide SSO needs a multi-server {purpose.name} "
            "certificate (TAC 217268), and this run renews per node",
            f"renew {purpose.name} multi-server: add it to the parameter file's multi_server list (or run with "
            "--multi-server); or disable SAML SSO (CM Administration > System > SAML Single Sign-On) for a per-node "
            "renewal and re-enable it afterwards")
    if sso_enabled and cluster_wide and release_allows:
        return CheckResult(
            "sso_disabled", "passed",
            f"SAML SSO is enabled cluster-wide{per_node}: on CUCM 14+ the multi-server {purpose.name} certificate is "
            "renewed with SSO on; afterwards re-export the SP metadata to the IdP and run the SSO test")
    if sso_enabled:
        return CheckResult(
            "sso_disabled", "failed", f"SAML SSO is enabled{per_node or ' cluster-wide'}",
            "disable SAML SSO (CM Administration > System > SAML Single Sign-On) before renewing tomcat; "
            "if the GUI says disabled while a node's CLI or tkssomode says enabled, run `utils sso disable` "
            "on that node; re-enable it when the whole renewal is done",
        )
    return CheckResult("sso_disabled", "passed",
                       f"SAML SSO is disabled on every node{per_node} (re-enable it at the end)")


def check_backup(purpose: Purpose, running: Mapping[str, str]) -> CheckResult:
    """``running``: node -> description of a DRS backup/restore in progress (empty = none)."""
    if "no_backup" not in purpose.prechecks:
        return CheckResult("no_backup", "skipped", f"{purpose.name} does not touch DRS")
    if running:
        where = "; ".join(f"{node}: {what}" for node, what in sorted(running.items()))
        return CheckResult("no_backup", "failed", f"a DRS backup or restore is running ({where})",
                           "wait until it completes (utils disaster_recovery status backup | restore), then re-run")
    return CheckResult("no_backup", "passed", "no DRS backup or restore is running")


def check_conflict(purpose: Purpose, pending: Mapping[str, Any]) -> CheckResult:
    """Refuse while another phone-affecting purpose changed the cluster and phones have not caught up.

    ``pending``: purpose name -> its gate entry (``GateState`` or a reason). CallManager
    vs TVS is the ITL trap; any other pending purpose also blocks, as the procedure
    moves to the next certificate type only once all phones have re-registered.
    """
    others = {name: gate for name, gate in pending.items() if name != purpose.name}
    if not others:
        return CheckResult("phones_gate", "passed", "no other purpose is waiting for phones to re-register")
    conflicting = [n for n in others if n in purpose.conflicts_with]
    names = ", ".join(sorted(others))
    reason = f"{names} changed the cluster and the phones have not re-registered since"
    if conflicting:
        reason += (f"; renewing {purpose.name} now would leave phones with an ITL that matches neither "
                   "certificate (they stay unregistered until the ITL is deleted on each phone)")
    return CheckResult(
        "phones_gate", "failed", reason,
        f"finish the {names} renewal's phone phase (reset all devices, wait for re-registration), then start {purpose.name}",
    )


def check_window(window: MaintenanceWindow, now: datetime, override: str | None = None) -> CheckResult:
    guards = ("activate", "phones")
    if window.contains(now):
        return CheckResult("maintenance_window", "passed", f"inside the maintenance window ({window.describe()})", guards=guards)
    if override:
        return CheckResult("maintenance_window", "overridden", f"outside the maintenance window ({window.describe()})",
                           guards=guards, override_reason=override)
    return CheckResult(
        "maintenance_window", "failed", f"outside the maintenance window ({window.describe()}); now {now:%Y-%m-%d %H:%M} UTC",
        "run the restarts inside the window, or override with a recorded reason (options.overrides)", guards=guards,
    )


def check_lock(holder: str | None, remedy: str = "") -> CheckResult:
    """``holder``: why another run holds the cluster lock (None: this run holds it); ``remedy``: the lock's own."""
    if holder:
        return CheckResult("single_run", "failed", holder, remedy or "wait for the other run to finish")
    return CheckResult("single_run", "passed", "this run holds the cluster lock")


def check_mixed_mode(purpose: Purpose, security_mode: int | None) -> CheckResult:
    guards = ("activate",)
    if security_mode is None:
        return CheckResult("mixed_mode", "failed", "could not read ClusterSecurityMode from AXL",
                           "check AXL on the publisher and re-run", guards=guards)
    if security_mode == 1 and purpose.ctl_update_in_mixed_mode:
        return CheckResult("mixed_mode", "passed", "mixed mode: a CTL update is inserted before the restarts", guards=guards)
    mode = "mixed mode" if security_mode == 1 else "non-secure mode"
    return CheckResult("mixed_mode", "passed", f"{mode}: no CTL update needed for {purpose.name}", guards=guards)
