"""The renewal engine: plan, pre-checks and interlocks, persisted state, executor.

    from cucmkit.wiring import open_renewal

    with open_renewal(params, "tomcat", state_dir=Path(".cucmkit-state"), ticket="CHG123", ca="lab") as renewal:
        renewal.plan()          # dry: which nodes, which steps (a table in a notebook)
        renewal.prechecks()     # SSO, DRS backup, phone gate, lock, window, mixed mode
        renewal.run()           # or .csr() .ca() .install() .activate() .phones() one by one

A run that stops (waiting for the CA, blocked, failed, stopped or killed)
resumes where it stopped the next time; ``RunResult.raise_for_status()`` turns
a stop into ``WaitingError`` / ``InterlockError`` / ``StoppedError`` / ``CucmKitError``.

Seams: ``ports`` (what the engine needs from a cluster and a node), ``state``
(the versioned run state), ``steps`` (one handler per step kind), ``hooks``
(step observers).
"""

from cucmkit.renewal.checks import CheckReport, CheckResult, MaintenanceWindow
from cucmkit.renewal.executor import Renewal
from cucmkit.renewal.hooks import StepObserver, on_step_recorded
from cucmkit.renewal.options import RenewalOptions
from cucmkit.renewal.plan import Plan, Step
from cucmkit.renewal.ports import ClusterPort, NodePort
from cucmkit.renewal.results import PhaseResult, RunResult
from cucmkit.renewal.state import RunState

__all__ = ["Renewal", "RenewalOptions", "Plan", "Step", "CheckReport", "CheckResult", "MaintenanceWindow",
           "PhaseResult", "RunResult", "RunState", "ClusterPort", "NodePort", "StepObserver", "on_step_recorded"]
