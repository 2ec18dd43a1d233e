"""The pure parts of fleet runs: the --parallel default, "already completed" from the ledger, the end summary,
and a failed Tomcat restart that is not waited for again on resume."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from cucmkit.concurrency import CAP_PER_CORE, MIB, PER_RUN_MIB, choose_parallel, derive_parallel
from cucmkit.errors import ParameterError
from cucmkit.evidence.record import PapermillOutcome, ResultRecord
from cucmkit.renewal.interlocks import tomcat_in_flight
from cucmkit.renewal.plan import Step
from cucmkit.renewal.state import Ledger, StepRecord, StoredPlan, utcnow
from cucmkit.runner import RunOutcome, RunSpec, already_completed, summary_lines

GIB = 1024 * MIB
REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- --parallel default


def test_memory_decides_between_the_floor_and_the_cap() -> None:
    assert derive_parallel(available=10 * GIB, per_run_mib=512, cores=2, clusters=100) == 16   # 20 by memory, cap 16
    assert derive_parallel(available=3 * GIB, per_run_mib=512, cores=2, clusters=100) == 6
    assert derive_parallel(available=100 * MIB, per_run_mib=512, cores=2, clusters=100) == 1    # floor of 1
    assert derive_parallel(available=0, per_run_mib=512, cores=2, clusters=100) == 1
    assert derive_parallel(available=64 * GIB, per_run_mib=300, cores=4, clusters=500) == 4 * CAP_PER_CORE
    assert derive_parallel(available=64 * GIB, per_run_mib=300, cores=4, clusters=3) == 3       # never above the ask
    with pytest.raises(ValueError):
        derive_parallel(available=GIB, per_run_mib=0, cores=1, clusters=1)


def test_given_then_environment_then_memory() -> None:
    assert choose_parallel(3, clusters=20, environ={"CUCMKIT_PARALLEL": "7"}).parallel == 3
    env = choose_parallel(None, clusters=20, environ={"CUCMKIT_PARALLEL": "7"})
    assert (env.parallel, env.derived, env.source) == (7, False, "CUCMKIT_PARALLEL")
    derived = choose_parallel(None, clusters=20, environ={}, available=4 * GIB, cores=2)
    assert derived.derived and derived.parallel == min(4 * GIB // (PER_RUN_MIB * MIB), 16)
    assert derived.line() == (f"running {derived.parallel} clusters at a time (4.0 GiB available, "
                              f"~{PER_RUN_MIB} MiB per kernel)")
    larger = choose_parallel(None, clusters=20, environ={"CUCMKIT_KERNEL_MIB": "1024"}, available=4 * GIB, cores=2)
    assert larger.parallel == 4 and "~1024 MiB per kernel" in larger.line()
    assert choose_parallel(None, clusters=1, environ={}, available=0, cores=2).line().startswith(
        "running 1 cluster at a time")


@pytest.mark.parametrize("env", [{"CUCMKIT_PARALLEL": "0"}, {"CUCMKIT_PARALLEL": "many"},
                                 {"CUCMKIT_KERNEL_MIB": "-5"}])
def test_a_bad_setting_is_named_with_its_remedy(env: dict[str, str]) -> None:
    with pytest.raises(ParameterError) as caught:
        choose_parallel(None, clusters=2, environ=env, available=GIB, cores=2)
    assert next(iter(env)) in str(caught.value) and "Remedy" in str(caught.value)
    with pytest.raises(ParameterError, match="--parallel 0"):
        choose_parallel(0, clusters=2, environ={})


# ---------------------------------------------------------------- already completed


def _params(tmp_path: Path, cluster: str = "acme-prod") -> Path:
    (tmp_path / "parameters").mkdir(exist_ok=True)
    path = tmp_path / "parameters" / f"{cluster}.yaml"
    shutil.copy(REPO / "parameters" / "example-cluster.yaml", path)
    path.write_text(path.read_text().replace("cluster: acme-prod", f"cluster: {cluster}"))
    return path


def _ledger(state_dir: Path, *, status: str, ticket: str = "CHG-9", cluster: str = "acme-prod") -> Path:
    ledger = Ledger.open(state_dir, cluster, "tomcat")
    ledger.begin(ticket=ticket, plan=StoredPlan(nodes=(), steps=(), threshold_days=30), nodes=("cucm-pub.acme.example",))
    ledger.set_status(status)   # type: ignore[arg-type]
    return ledger.path


def _spec(params: Path, tmp_path: Path, **changes: object) -> RunSpec:
    spec = RunSpec(purpose="tomcat", parameters_file=params, ticket="CHG-9", ca="lab", approve=True,
                   evidence_root=tmp_path / "evidence", state_dir=str(tmp_path / "state"))
    return replace(spec, **changes)   # type: ignore[arg-type]


def test_a_completed_ledger_under_the_same_ticket_answers_without_a_run(tmp_path: Path) -> None:
    params = _params(tmp_path)
    ledger = _ledger(tmp_path / "state", status="completed")
    outcome = already_completed(_spec(params, tmp_path))
    assert outcome is not None and outcome.already
    assert outcome.record.status == "done" and outcome.record.cluster == "acme-prod"
    assert "already completed under CHG-9" in outcome.record.message and str(ledger) in outcome.record.message
    assert outcome.folder == ledger                     # no evidence folder of the done run: the ledger is named
    done = tmp_path / "evidence" / "acme-prod" / "CHG-9" / "20261127T100000Z-tomcat"
    done.mkdir(parents=True)
    (done / "result.json").write_text('{"purpose": "tomcat", "status": "done"}')
    again = already_completed(_spec(params, tmp_path))
    assert again is not None and again.folder == done   # ... else its evidence folder


@pytest.mark.parametrize("status", ["running", "failed", "stopped", "waiting", "blocked"])
def test_an_unfinished_ledger_runs_again(tmp_path: Path, status: str) -> None:
    params = _params(tmp_path)
    _ledger(tmp_path / "state", status=status)
    assert already_completed(_spec(params, tmp_path)) is None


@pytest.mark.parametrize("changes", [{"ticket": "CHG-10"}, {"dry_run": True}, {"force_csr": True},
                                     {"renew_nodes": ("cucm-pub.acme.example",)}, {"purpose": "inventory"}])
def test_another_ticket_or_an_explicit_ask_runs_again(tmp_path: Path, changes: dict[str, object]) -> None:
    params = _params(tmp_path)
    _ledger(tmp_path / "state", status="completed")
    assert already_completed(_spec(params, tmp_path, **changes)) is None


def test_no_ledger_or_an_unreadable_one_runs(tmp_path: Path) -> None:
    params = _params(tmp_path)
    assert already_completed(_spec(params, tmp_path)) is None
    bad = tmp_path / "state" / "acme-prod" / "tomcat.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    assert already_completed(_spec(params, tmp_path)) is None


# ---------------------------------------------------------------- the end summary


def _outcome(tmp_path: Path, cluster: str, status: str, message: str = "", *, already: bool = False) -> RunOutcome:
    spec = _spec(_params(tmp_path, cluster), tmp_path)
    record = ResultRecord(status=status, purpose="tomcat", cluster=cluster, ticket="CHG-9", ca="lab", approve=True,
                          dry_run=False, run_by="me", started="", ended="", parameters_files=(), notebook="",
                          papermill=PapermillOutcome(exit_code=1 if status == "failed" else 0),
                          last_cell_started=None, cells_run=0, cells_total=0, phases=(), certs_before=(),
                          certs_after=(), csrs=(), message=message,
                          resume=spec.resume_command() if status != "done" else "")
    return RunOutcome(spec=spec, folder=tmp_path, record=record, already=already)


def test_the_summary_names_each_unfinished_cluster_with_why_and_its_re_run(tmp_path: Path) -> None:
    outcomes = [_outcome(tmp_path, "east", "done"), _outcome(tmp_path, "west", "done", already=True),
                _outcome(tmp_path, "north", "failed", "[cucm-sub1 certmgr] cannot connect:\n reset by peer"),
                _outcome(tmp_path, "south", "waiting", "waiting for the CA")]
    lines = summary_lines(outcomes)
    assert lines[0] == "summary: 2 of 4 clusters finished (1 already completed, not contacted); 2 did not:"
    north = next(line for line in lines if line.startswith("  north "))
    assert "FAILED: [cucm-sub1 certmgr] cannot connect: reset by peer | re-run: cucmkit run tomcat -f " in north
    assert "--ticket CHG-9 --ca lab --approve" in north
    assert any(line.startswith("  south WAITING: waiting for the CA | re-run: ") for line in lines)
    assert lines[-1].startswith("the same command again runs only these 2")
    assert summary_lines(outcomes[:2]) == ["summary: 2 of 2 clusters finished (1 already completed, not contacted)."]


# ---------------------------------------------------------------- resume after a failed Tomcat restart


def test_a_failed_tomcat_restart_is_not_waited_for_until_its_deadline(tmp_path: Path) -> None:
    """A restart step that failed (Tomcat did not start) has ended: its node's HTTPS is not awaited past that end
    (a resume used to wait the whole restart timeout, 600 s, before going on to the restart step)."""
    key, node = "restart:cucm-sub2.x:Cisco Tomcat", "cucm-sub2.x"
    step = Step(key=key, name="restart", node=node, service="Cisco Tomcat", phase="activate")
    ledger = Ledger.open(tmp_path, "c", "tomcat")
    ledger.begin(ticket="T", plan=StoredPlan(nodes=(), steps=(step,), threshold_days=30), nodes=(node,))
    started = utcnow() - timedelta(seconds=30)
    ledger.record(StepRecord(key, "restart", node, "activate", "failed", started, started + timedelta(seconds=20)))
    ledger.set_status("failed")
    (flight,) = tomcat_in_flight(ledger.state)
    assert flight.deadline(600) == pytest.approx((started + timedelta(seconds=20)).timestamp())
    ledger.record(StepRecord(key, "restart", node, "activate", "running", started))
    (running,) = tomcat_in_flight(ledger.state)
    assert running.deadline(600) == pytest.approx(started.timestamp() + 600)
