"""The renewal engine: plan, pre-checks and interlocks, persisted state, executor."""

from cucmkit.renewal.checks import CheckReport, CheckResult, MaintenanceWindow
from cucmkit.renewal.executor import CRASH_ENV, Renewal, RenewalOptions
from cucmkit.renewal.plan import Plan, Step
from cucmkit.renewal.results import PhaseResult, RunResult

__all__ = ["Renewal", "RenewalOptions", "Plan", "Step", "CheckReport", "CheckResult", "MaintenanceWindow",
           "PhaseResult", "RunResult", "CRASH_ENV"]
