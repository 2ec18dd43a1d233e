"""The renewal engine: plan, pre-checks and interlocks, persisted state, executor.

    with Cluster.from_parameters(params) as cluster:
        options = RenewalOptions.from_parameters(params)
        with Renewal.open(cluster, "tomcat", state_dir=Path(".cucmkit-state"), ticket="CHG123",
                          ca=make_backend(params, "lab"), options=options) as renewal:
            renewal.plan()          # dry: which nodes, which steps (a table in a notebook)
            renewal.prechecks()     # SSO, DRS backup, phone gate, lock, window, mixed mode
            renewal.run()           # or .csr() .ca() .install() .activate() .phones() one by one

A run that stops (waiting for the CA, blocked, failed, or killed) resumes where
it stopped the next time; ``RunResult.raise_for_status()`` turns a stop into
``WaitingError`` / ``InterlockError`` / ``CucmKitError``.
"""

from cucmkit.renewal.checks import CheckReport, CheckResult, MaintenanceWindow
from cucmkit.renewal.executor import CRASH_ENV, Renewal, RenewalOptions
from cucmkit.renewal.plan import Plan, Step
from cucmkit.renewal.results import PhaseResult, RunResult

__all__ = ["Renewal", "RenewalOptions", "Plan", "Step", "CheckReport", "CheckResult", "MaintenanceWindow",
           "PhaseResult", "RunResult", "CRASH_ENV"]
