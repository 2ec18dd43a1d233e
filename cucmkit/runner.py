"""``cucmkit run``: execute a runbook notebook with papermill, once per cluster, into evidence.

    cucmkit run PURPOSE -f parameters/<cluster>.yaml [-f ...] --ticket CHANGE
                [--ca lab|manual|adcs] [--approve] [--dry-run] [--parallel N]
                [--multi-server | --per-node] [--override CHECK=REASON]
                [--evidence-root DIR] [--timeout S]

The runner only executes: it runs a pristine copy of the runbook built from the
catalogue (``cucmkit.runbooks``; never an interactively edited notebooks/*.ipynb,
unless ``--notebooks DIR`` names the folder to run). Each run happens in a child process
(``python -m cucmkit.runner --child``) that calls papermill with references
only (the parameter file's path, the ticket, the CA back-end name, approve,
dry_run): the kernel resolves secrets itself. Whatever happens to papermill
(cell error, timeout, dead kernel, the child killed), the parent then hands an
``Execution`` to ``cucmkit.evidence.file_evidence`` in a ``finally``, which
writes the whole evidence folder.

Signals (the parent owns its children): SIGINT (Ctrl-C) or SIGTERM to the
runner forwards a stop request to the notebook kernel (SIGTERM, which the
kernel turns into ``cucmkit.stopping.request``), so the engine stops at its
next step boundary; if the kernel has not ended after ``STOP_GRACE`` seconds
(or at a second signal) it is killed, a crash the engine's ledger resumes
from. Either way the evidence is written and the exit code is 130. The
kernel also watches the runner (``CUCMKIT_RUNNER_PID``): if the runner is
SIGKILLed, the kernel stops at the next step boundary and the papermill child,
now an orphan, files the evidence itself.

Exit code (the one contract of every command): 0 all done, 1 any run failed or
was blocked, 2 usage, 3 some run waiting (on an approval or the CA) and none
failed, 130 interrupted. After each run the terminal says where the cluster
stands (``cucmkit.renewal.standing``) and the command that resumes it; the
result record carries both (``standing``, ``resume``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from cucmkit import catalogue
from cucmkit.ca.registry import kinds as ca_kinds
from cucmkit.concurrency import CAP_PER_CORE, KERNEL_MIB_ENV, PARALLEL_ENV, PER_RUN_MIB, choose_parallel
from cucmkit.errors import ParameterError
from cucmkit.evidence.filing import Execution, file_evidence, read_notebook, safe_name
from cucmkit.evidence.journal import read_journal, utc_now, who
from cucmkit.evidence.record import PapermillOutcome, ResultRecord, read_record
from cucmkit.evidence.secrets import project_root
from cucmkit.live import LiveView
from cucmkit.params import find_root
from cucmkit.renewal.command import add_distribution_flags, override_argument
from cucmkit.renewal.standing import is_half_done, standing_lines
from cucmkit.renewal.state import RunState, load_state
from cucmkit.stopping import RUNNER_PID_ENV, process_gone

__all__ = ["register", "RunSpec", "RunOutcome", "run_one", "run_batch", "notebook_for", "exit_code", "EXIT_WAITING",
           "EXIT_INTERRUPTED", "EXIT_USAGE", "STOP_GRACE", "report_lines", "summary_lines", "already_completed"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_WAITING = 0, 1, 2, 3
DEAD_KERNEL_EXIT = 138          # what the papermill CLI exits with for DeadKernelError
KERNEL_START_ATTEMPTS = 3
KERNEL_START_TIMEOUT = 60.0
DEFAULT_CELL_TIMEOUT = 3600.0
DEFAULT_STATE_DIR = ".cucmkit-state"
STOP_GRACE = float(os.environ.get("CUCMKIT_STOP_GRACE", "60"))  # seconds a kernel gets to reach a step boundary
MESSAGE_LIMIT = 2000            # characters of an error kept (every node of a WAITING or a bad CA return)
KILL_GRACE = 20.0               # seconds papermill gets to notice a killed kernel before its process is killed
EXIT_INTERRUPTED = 130
_OUT, _JOURNAL, _STATUS, _SPEC = "out.ipynb", "journal.jsonl", "status.json", "spec.json"
_STOP = threading.Event()       # the operator asked the batch to stop (first SIGINT/SIGTERM)
_KILL = threading.Event()       # ... and asked again: kill the kernels now


@dataclass(frozen=True)
class RunSpec:
    """One notebook run for one cluster. Holds references only, never a secret value."""

    purpose: str                 # catalogue name, or "inventory"
    parameters_file: Path
    ticket: str
    ca: str | None = None        # lab | manual | adcs; None: the parameter file's ca.backend
    approve: bool = False
    dry_run: bool = False
    evidence_root: Path = Path("evidence")
    timeout: float | None = None  # per cell (papermill execution timeout)
    state_dir: str = DEFAULT_STATE_DIR
    notebooks_dir: Path | None = None
    kernel_name: str = "python3"
    start_timeout: float = KERNEL_START_TIMEOUT
    approver: str | None = None             # the named approver, recorded beside the OS user
    override_window: str | None = None      # reason to restart outside the maintenance window
    renew_nodes: tuple[str, ...] = ()       # renew these nodes even if not due
    force_csr: bool = False
    multi_server: bool | None = None        # --multi-server / --per-node; None: the parameter file's multi_server
    overrides: tuple[tuple[str, str], ...] = ()   # --override CHECK=REASON (recorded)

    @property
    def renew_as(self) -> str | None:
        """The notebook's ``renew_as``: ``multi-server``, ``per-node`` or None (as the parameter file says)."""
        return {True: "multi-server", False: "per-node", None: None}[self.multi_server]

    def all_overrides(self) -> dict[str, str]:
        """Check -> the operator's reason: ``--override-window`` and every ``--override``."""
        found = dict(self.overrides)
        if self.override_window:
            found["maintenance_window"] = self.override_window
        return found

    def resume_command(self) -> str:
        """The exact ``cucmkit run`` that resumes this run (the engine's ledger picks up where it stopped)."""
        words = ["cucmkit", "run", self.purpose, "-f", _reference(self.parameters_file), "--ticket", self.ticket]
        words += ["--ca", self.ca] if self.ca else []
        words += ["--approve"]             # resuming changes the cluster: only once the change is approved
        words += ["--approver", self.approver] if self.approver else []
        words += ["--override-window", self.override_window] if self.override_window else []
        words += [w for name, reason in self.overrides for w in ("--override", f"{name}={reason}")]
        words += [f"--{self.renew_as}"] if self.renew_as else []
        words += ["--nodes", *self.renew_nodes] if self.renew_nodes else []
        words += ["--state-dir", self.state_dir] if self.state_dir != DEFAULT_STATE_DIR else []
        words += ["--evidence-root", str(self.evidence_root)] if self.evidence_root != Path("evidence") else []
        return " ".join(shlex.quote(w) for w in words)


@dataclass(frozen=True)
class RunOutcome:
    spec: RunSpec
    folder: Path
    record: ResultRecord
    already: bool = False     # answered from the ledger ("already completed"): no kernel, no contact with the cluster


def purpose_name(purpose: str) -> str:
    """The catalogue spelling of ``purpose`` (``capf`` -> ``CAPF``), or ``inventory``.

    ValueError for an unknown purpose or one no runbook renews (``no runbook for ITLRecovery``).
    """
    if purpose.lower() == "inventory":
        return "inventory"
    catalogue.runbook_for(purpose)
    return catalogue.get(purpose).name


def notebook_for(purpose: str, notebooks_dir: Path | None = None) -> Path:
    """``notebooks/<the catalogue's runbook notebook>.ipynb`` (tomcat-ECDSA -> tomcat.ipynb)."""
    folder = notebooks_dir or _default_notebooks()
    name = "inventory" if purpose.lower() == "inventory" else catalogue.runbook_for(purpose)
    return folder / f"{name}.ipynb"


def _default_notebooks() -> Path:
    here = project_root() / "notebooks"
    return here if here.is_dir() else Path(__file__).resolve().parent.parent / "notebooks"


def cluster_name(parameters_file: Path) -> str:
    """The ``cluster`` key of a parameter file (else the file's stem), safe as a folder name."""
    try:
        data = yaml.safe_load(parameters_file.read_text(encoding="utf-8")) or {}
        name = str(data.get("cluster") or parameters_file.stem)
    except (OSError, yaml.YAMLError, AttributeError):
        name = parameters_file.stem
    return safe_name(name)


def _reference(path: Path) -> str:
    """The parameter file as the kernel resolves it: relative to the project root if inside it, else absolute."""
    absolute = path.resolve()
    try:
        return absolute.relative_to(find_root()).as_posix()
    except ValueError:
        return str(absolute)


def _parameters(spec: RunSpec, staging: Path) -> dict[str, Any]:
    return {
        "parameters_file": _reference(spec.parameters_file),
        "purpose": spec.purpose,
        "ticket": spec.ticket,
        "ca": spec.ca,
        "approve": spec.approve,
        "dry_run": spec.dry_run,
        "state_dir": spec.state_dir,
        "journal_file": str(staging / _JOURNAL),
        "approver": spec.approver,
        "override_window": spec.override_window,
        "renew_nodes": list(spec.renew_nodes),
        "force_csr": spec.force_csr,
        "renew_as": spec.renew_as,
        "overrides": dict(spec.overrides),
    }


# ---------------------------------------------------------------- the child process


def _child(spec_path: Path) -> int:
    """Run papermill in this process and write how it ended to ``status.json``.

    If the runner is gone by then (SIGKILLed), nobody else will file the
    evidence: this orphan files it and removes the staging folder.
    """
    job = json.loads(spec_path.read_text(encoding="utf-8"))
    status = _execute(job)
    Path(job["status"]).write_text(json.dumps(status), encoding="utf-8")
    runner = int(job["runner_pid"])
    if os.getppid() != runner or process_gone(runner):
        _file_as_orphan(job, status)
    return int(status["exit_code"])


def _file_as_orphan(job: dict[str, Any], status: dict[str, Any]) -> None:
    message = f"the runner (pid {job['runner_pid']}) was gone when papermill ended; its papermill child filed this. " \
              + status["message"]
    outcome = PapermillOutcome(**{**status, "message": message[:500]}, kernel_start_attempts=int(job["attempt"]))
    execution = Execution.from_json({**job["execution"], "papermill": asdict(outcome), "ended": utc_now()})
    file_evidence(execution, Path(job["evidence_root"]))
    shutil.rmtree(Path(job["status"]).parent, ignore_errors=True)


def _execute(job: dict[str, Any]) -> dict[str, Any]:
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    try:
        pm.execute_notebook(job["input"], job["output"], parameters=job["parameters"],
                            kernel_name=job["kernel_name"], execution_timeout=job["timeout"],
                            start_timeout=job["start_timeout"], progress_bar=False, log_output=False)
    except pm.PapermillExecutionError as exc:
        return _status(1, exc, "cell-error", error_name=exc.ename, message=exc.evalue)
    except CellTimeoutError as exc:
        return _status(1, exc, "timeout", message=f"a cell ran longer than {job['timeout']} s")
    except DeadKernelError as exc:
        return _status(DEAD_KERNEL_EXIT, exc, "kernel-died", message="the kernel died while a cell ran")
    except Exception as exc:  # papermill/nbclient/zmq raise many types; classified below, never re-shown
        kind = "kernel-start" if not _any_cell_started(Path(job["output"])) else "runner"
        return _status(1, exc, kind, message=f"{type(exc).__name__} while running the notebook")
    return _status(0, None, None)


def _status(code: int, exc: BaseException | None, failure: str | None, *, error_name: str | None = None,
            message: str = "") -> dict[str, Any]:
    return {"exit_code": code, "exception": type(exc).__name__ if exc else None, "failure": failure,
            "error_name": error_name, "message": (message or "")[:MESSAGE_LIMIT]}


def _any_cell_started(output: Path) -> bool:
    try:
        nb = read_notebook(output)
    except (OSError, ValueError):
        return False
    return any(c.get("metadata", {}).get("papermill", {}).get("start_time") for c in nb.cells
               if "injected-parameters" not in c.get("metadata", {}).get("tags", []))


# ---------------------------------------------------------------- the parent process


def _execution(spec: RunSpec, staging: Path, notebook: Path, started: str) -> Execution:
    """What the evidence needs to know about this run, before papermill's outcome is known."""
    pending = PapermillOutcome(exit_code=None, failure="runner", message="the runner stopped before papermill ended")
    return Execution(purpose=spec.purpose, ticket=spec.ticket, cluster=cluster_name(spec.parameters_file),
                     parameters_file=spec.parameters_file.resolve(), parameters_ref=_reference(spec.parameters_file),
                     source_notebook=notebook.resolve(), executed_notebook=staging / _OUT,
                     journal=staging / _JOURNAL, papermill=pending, started=started, ca=spec.ca,
                     approve=spec.approve, dry_run=spec.dry_run, resume=spec.resume_command(),
                     approver=spec.approver, nodes=spec.renew_nodes, force_csr=spec.force_csr,
                     overrides=spec.all_overrides())


def _launch(spec: RunSpec, staging: Path, execution: Execution, attempt: int) -> PapermillOutcome:
    """One papermill child; its status file, or a ``killed``/``interrupted`` outcome if it had to be stopped."""
    status_path = staging / _STATUS
    status_path.unlink(missing_ok=True)
    job = {"input": str(execution.source_notebook), "output": str(staging / _OUT),
           "parameters": _parameters(spec, staging), "kernel_name": spec.kernel_name,
           "timeout": spec.timeout or DEFAULT_CELL_TIMEOUT, "start_timeout": spec.start_timeout,
           "status": str(status_path), "runner_pid": os.getpid(), "attempt": attempt,
           "execution": execution.to_json(), "evidence_root": str(spec.evidence_root.resolve())}
    (staging / _SPEC).write_text(json.dumps(job), encoding="utf-8")
    stopper = _Stopper(staging)
    code = _wait_child(staging, _watchdog(spec, execution.source_notebook), stopper)
    status = json.loads(status_path.read_text(encoding="utf-8")) if status_path.is_file() else None
    return replace(_outcome(code, status, stopper), kernel_start_attempts=attempt)


def _outcome(code: int, status: dict[str, Any] | None, stopper: _Stopper) -> PapermillOutcome:
    if status is not None:
        outcome = PapermillOutcome(**status)
        if stopper.since is not None and outcome.failure == "kernel-died":
            return replace(outcome, failure="interrupted", message=stopper.why())
        return outcome
    if stopper.since is not None:
        return PapermillOutcome(exit_code=code, exception="KeyboardInterrupt", failure="interrupted",
                                message=stopper.why())
    return PapermillOutcome(exit_code=code, exception=None, failure="killed",
                            message="the papermill process ended without reporting (killed or timed out)")


def _watchdog(spec: RunSpec, notebook: Path) -> float:
    cells = len(read_notebook(notebook).cells)
    per_cell = spec.timeout or DEFAULT_CELL_TIMEOUT
    return per_cell * (cells + 1) + spec.start_timeout * KERNEL_START_ATTEMPTS + 60


def _kernel_pid(staging: Path, child: int) -> int | None:
    """The kernel's pid: as the kernel journaled it, else the papermill child's own child process."""
    for event in reversed(read_journal(staging / _JOURNAL)):
        if event.get("event") == "kernel" and isinstance(event.get("pid"), int):
            return int(event["pid"])
    import psutil

    try:
        children = psutil.Process(child).children()
    except psutil.Error:
        return None
    return children[0].pid if children else None


def _signal(pid: int | None, sig: int) -> None:
    if pid is None:
        return
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class _Stopper:
    """How one papermill child is stopped once the operator asked: stop request, then kill after a grace."""

    def __init__(self, staging: Path) -> None:
        self.staging = staging
        self.since: float | None = None       # when the stop was first seen
        self.killed: float | None = None      # when the kernel (or the child) was killed
        self.told: set[int] = set()

    def why(self) -> str:
        if self.killed is None:
            return "stopped by the operator (SIGINT/SIGTERM): the kernel ended before it reached a step boundary"
        return (f"stopped by the operator (SIGINT/SIGTERM): the kernel was killed after {STOP_GRACE:g} s (or a "
                "second signal) without reaching a step boundary; the ledger resumes the step it was in")

    def tick(self, proc: subprocess.Popen[bytes]) -> None:
        now = time.monotonic()
        self.since = self.since if self.since is not None else now
        kernel = _kernel_pid(self.staging, proc.pid)
        if kernel is not None and kernel not in self.told:
            self.told.add(kernel)
            _signal(kernel, signal.SIGTERM)      # the kernel's handler: stop at the next step boundary
        if self.killed is None and (_KILL.is_set() or now - self.since > STOP_GRACE):
            self.killed = now
            _signal(kernel, signal.SIGKILL) if kernel is not None else _signal_group(proc.pid, signal.SIGKILL)
        elif self.killed is not None and now - self.killed > KILL_GRACE:
            _signal_group(proc.pid, signal.SIGKILL)


def _wait_child(staging: Path, deadline: float, stopper: _Stopper) -> int:
    """Wait for the papermill child; kill it past ``deadline``; stop it when the operator stops the batch."""
    log = (staging / "child.log").open("wb")
    env = {**os.environ, RUNNER_PID_ENV: str(os.getpid())}
    proc = subprocess.Popen([sys.executable, "-m", "cucmkit.runner", "--child", str(staging / _SPEC)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    end = time.monotonic() + deadline
    try:
        while (code := proc.poll()) is None:
            if _STOP.is_set():
                stopper.tick(proc)
                time.sleep(0.2)
            elif time.monotonic() > end:
                return _kill_all(proc, staging)
            else:
                _STOP.wait(0.2)           # wakes at once when the operator stops the batch
        return code
    except BaseException:
        _kill_all(proc, staging)
        raise
    finally:
        log.close()


def _kill_all(proc: subprocess.Popen[bytes], staging: Path) -> int:
    """SIGKILL the kernel (its own session) and the papermill child's group."""
    _signal(_kernel_pid(staging, proc.pid), signal.SIGKILL)
    _signal_group(proc.pid, signal.SIGKILL)
    return proc.wait()


def _execute_with_retry(spec: RunSpec, staging: Path, execution: Execution) -> PapermillOutcome:
    outcome = execution.papermill
    for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
        (staging / _JOURNAL).unlink(missing_ok=True)
        outcome = _launch(spec, staging, execution, attempt)
        if outcome.failure != "kernel-start" or _STOP.is_set():
            break
        time.sleep(attempt)
    return outcome


def run_one(spec: RunSpec, view: LiveView | None = None) -> RunOutcome:
    """Run one notebook for one cluster; the evidence folder is written whatever happens.

    With a ``view``, the run's journal is followed live while papermill runs (the terminal's progress).
    """
    spec = replace(spec, purpose=purpose_name(spec.purpose))
    done = already_completed(spec)
    if done is not None:
        if view is not None:
            view.note(f"{done.record.cluster} {spec.purpose}", f"already completed under {spec.ticket}: nothing to do")
        return done
    notebook = notebook_for(spec.purpose, spec.notebooks_dir)
    if spec.notebooks_dir is not None and not notebook.is_file():
        raise FileNotFoundError(f"no runbook notebook for {spec.purpose}: {notebook}")
    staging = Path(tempfile.mkdtemp(prefix="cucmkit-run-"))
    notebook = _pristine(spec, notebook, staging)
    execution = _execution(spec, staging, notebook, utc_now())
    outcome = execution.papermill
    try:
        with view.following(f"{execution.cluster} {spec.purpose}", staging / _JOURNAL) if view else nullcontext():
            outcome = _execute_with_retry(spec, staging, execution)
    finally:
        filed = file_evidence(replace(execution, papermill=outcome, ended=utc_now()), spec.evidence_root)
        shutil.rmtree(staging, ignore_errors=True)
    return RunOutcome(spec=spec, folder=filed.path, record=filed.record)


def already_completed(spec: RunSpec) -> RunOutcome | None:
    """The answer for a run its engine ledger already holds as completed under the same ticket, else None.

    Read from ``<state dir>/<cluster>/<purpose>.json`` only: no kernel starts and the cluster is not contacted,
    so re-running a fleet's command touches only the clusters that did not finish. A dry run, ``--nodes``,
    ``--force-csr``, ``inventory``, another ticket or a ledger that cannot be read run the notebook as always.
    """
    if spec.dry_run or spec.renew_nodes or spec.force_csr or spec.purpose == "inventory":
        return None
    found = _completed_ledger(spec)
    if found is None:
        return None
    state, ledger = found
    when = state.finished.strftime("%Y-%m-%d %H:%M:%S UTC") if state.finished else "earlier"
    message = (f"already completed under {spec.ticket} at {when} (engine ledger {ledger}); nothing was run and "
               "the cluster was not contacted")
    folder = _done_evidence(spec, state.cluster) or ledger
    now = utc_now()
    record = ResultRecord(
        status="done", purpose=spec.purpose, cluster=state.cluster, ticket=spec.ticket, ca=spec.ca,
        approve=spec.approve, dry_run=False, run_by=who(), started=now, ended=now,
        parameters_files=(_reference(spec.parameters_file),), notebook="",
        papermill=PapermillOutcome(exit_code=None, message="not run: already completed"), last_cell_started=None,
        cells_run=0, cells_total=0, phases=(), certs_before=(), certs_after=(), csrs=(), message=message,
        verdict="done")
    return RunOutcome(spec=spec, folder=folder, record=record, already=True)


def _completed_ledger(spec: RunSpec) -> tuple[RunState, Path] | None:
    from cucmkit.errors import CucmKitError
    from cucmkit.params import load_parameters
    from cucmkit.wiring import state_dir_for

    try:
        params = load_parameters(spec.parameters_file, check_secrets=False)
        ledger = state_dir_for(params, spec.state_dir) / params.cluster / f"{spec.purpose}.json"
        state = load_state(ledger)
    except (CucmKitError, OSError, ValueError):
        return None
    if state is None or state.status != "completed" or state.ticket != spec.ticket:
        return None
    return state, ledger


def _done_evidence(spec: RunSpec, cluster: str) -> Path | None:
    """The newest evidence folder of this cluster, ticket and purpose whose record says done."""
    ticket_dir = spec.evidence_root / safe_name(cluster) / safe_name(spec.ticket)
    if not ticket_dir.is_dir():
        return None
    for folder in sorted((p for p in ticket_dir.iterdir() if p.is_dir()), reverse=True):
        body = read_record(folder) or {}
        if body.get("purpose") == spec.purpose and body.get("status") == "done":
            return folder
    return None


def _pristine(spec: RunSpec, notebook: Path, staging: Path) -> Path:
    """The runbook to execute: a pristine copy built from the catalogue (``cucmkit.runbooks``), so that an
    interactively edited notebooks/*.ipynb never leaks into batch evidence; ``--notebooks DIR`` runs DIR's files."""
    if spec.notebooks_dir is not None:
        return notebook
    from cucmkit.runbooks import notebook_text

    copy = staging / "runbook" / notebook.name
    copy.parent.mkdir()
    copy.write_text(notebook_text(notebook.stem), encoding="utf-8")
    return copy


def _cluster_groups(specs: Sequence[RunSpec]) -> list[list[RunSpec]]:
    """Runs grouped by cluster, so one cluster never has two runs at a time."""
    groups: dict[str, list[RunSpec]] = {}
    for spec in specs:
        groups.setdefault(cluster_name(spec.parameters_file), []).append(spec)
    return list(groups.values())


def _run_group(group: list[RunSpec], view: LiveView | None) -> list[RunOutcome]:
    return [run_one(spec, view) for spec in group if not _STOP.is_set()]


def run_batch(specs: Sequence[RunSpec], *, parallel: int = 1, view: LiveView | None = None) -> list[RunOutcome]:
    """Every spec, clusters in parallel up to ``parallel``, each cluster's runs one after another.

    SIGINT (Ctrl-C) or SIGTERM stops the batch: running notebooks are asked to
    stop at their next step boundary (killed after ``STOP_GRACE`` s or at a
    second signal) and get their evidence; runs not started yet are skipped.
    """
    _STOP.clear()
    _KILL.clear()
    undo = _install_handlers()
    pool = ThreadPoolExecutor(max_workers=max(1, parallel))
    futures = [pool.submit(_run_group, group, view) for group in _cluster_groups(specs)]
    try:
        wait(futures)
    except KeyboardInterrupt:   # no handler could be installed (not the main thread): Ctrl-C still stops
        _STOP.set()
    finally:
        pool.shutdown(wait=True)
        undo()
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors and not _STOP.is_set():
        raise errors[0]   # type: ignore[misc]  # the runner itself broke: never hide it behind a clean exit code
    return [outcome for future in futures if future.exception() is None for outcome in future.result()]


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """First SIGINT/SIGTERM: stop at the next step boundary; the second: kill the kernels now."""
    if _STOP.is_set():
        _KILL.set()
        print(f"cucmkit run: {signal.Signals(signum).name} again: killing the running kernels", file=sys.stderr)
        return
    _STOP.set()
    print(f"cucmkit run: {signal.Signals(signum).name}: stopping at the next step boundary "
          f"(the kernel is killed after {STOP_GRACE:g} s, or at a second signal)", file=sys.stderr)


def _install_handlers() -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def undo() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return undo


def exit_code(outcomes: Sequence[RunOutcome]) -> int:
    statuses = {o.record.status for o in outcomes}
    if statuses & {"failed", "blocked"}:
        return EXIT_FAILED
    if "stopped" in statuses:
        return EXIT_INTERRUPTED
    if "waiting" in statuses:
        return EXIT_WAITING
    return EXIT_OK


# ---------------------------------------------------------------- the command


RUN_DESCRIPTION = """\
Run the runbook notebook of PURPOSE once per cluster parameter file, with papermill, into an evidence
folder per run (<evidence-root>/<cluster>/<ticket>/<UTC start>-<purpose>/). While it runs, the terminal
shows the phase, the step and node in flight, restarts done of planned and phones back; one line per
finished step. A run that stops early (Ctrl-C, SIGTERM, a timeout, a failure) prints per node what is
installed, what is active and what is pending, and the exact command that resumes it.
"""

RUN_EPILOG = f"""\
exit codes:
  0    every run done (or nothing was due, or a dry run)
  1    a run failed, or a pre-check or interlock refused it (blocked)
  2    usage: unknown purpose, missing parameter file, bad option
  3    waiting: for an approval (add --approve) or for the CA (manual CA: the outbox/inbox are printed)
  130  interrupted (Ctrl-C / SIGTERM): running notebooks stopped at a step boundary; re-run to resume

fleets:
  --parallel defaults to ${PARALLEL_ENV}, else to available memory / ~{PER_RUN_MIB} MiB per kernel
  (${KERNEL_MIB_ENV}), at least 1 and at most {CAP_PER_CORE} x cores; the number is printed once.
  A cluster its ledger holds completed under the same ticket answers "already completed" without
  contacting it, so the same command re-run after failures touches only the clusters that failed.
  The end summary names each cluster that did not finish, why, and its re-run command.

examples:
  cucmkit run inventory -f parameters/lab.yaml --ticket CHG100
  cucmkit run tomcat -f parameters/lab.yaml --ticket CHG123 --ca lab --dry-run
  cucmkit run tomcat -f parameters/lab.yaml --ticket CHG123 --ca lab --approve --approver "J. Smith"
  cucmkit run CallManager -f parameters/east.yaml -f parameters/west.yaml --ticket CHG124 --approve --parallel 2
  cucmkit run tomcat -f parameters/lab.yaml --ticket CHG125 --approve --override-window "P1 outage, CAB-77"
  cucmkit run tomcat -f parameters/lab.yaml --ticket CHG126 --approve --multi-server \\
      --override convert_multi_server="CAB-78: one multi-server tomcat for cluster-wide SSO"
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("run", help="run a runbook notebook per cluster with papermill, into evidence",
                                   description=RUN_DESCRIPTION, epilog=RUN_EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("purpose", metavar="PURPOSE", help=f"inventory or one of: {', '.join(catalogue.names())}")
    parser.add_argument("-f", "--parameters", action="append", type=Path, required=True, metavar="PARAMS",
                        help="a cluster parameter file (repeat for more clusters)")
    parser.add_argument("--ticket", required=True, metavar="CHANGE", help="the change ticket this run belongs to")
    parser.add_argument("--ca", choices=ca_kinds(), help="CA back-end (default: the parameter file's)")
    parser.add_argument("--approve", action="store_true", help="approve the steps that change the cluster")
    parser.add_argument("--approver", metavar="NAME", help="who approved the change (recorded beside the OS user)")
    parser.add_argument("--dry-run", action="store_true", help="plan and pre-check only; change nothing")
    parser.add_argument("--override-window", metavar="REASON",
                        help="restart outside the maintenance window; the reason is recorded in the evidence")
    parser.add_argument("--override", action="append", type=override_argument, metavar="CHECK=REASON",
                        help="confirm what a pre-check refuses, with a reason recorded in the evidence "
                        "(e.g. convert_multi_server=\"CAB-12\")")
    parser.add_argument("--nodes", nargs="+", default=(), metavar="NODE", help="renew these nodes even if not due")
    parser.add_argument("--force-csr", action="store_true",
                        help="regenerate CSRs even if one was submitted to the CA (recorded)")
    add_distribution_flags(parser)
    parser.add_argument("--parallel", type=int, default=None, metavar="N",
                        help=f"clusters run at the same time (default: ${PARALLEL_ENV}, else available memory / "
                             f"~{PER_RUN_MIB} MiB per kernel (${KERNEL_MIB_ENV}), at least 1, at most "
                             f"{CAP_PER_CORE} x cores; printed when derived)")
    parser.add_argument("--evidence-root", type=Path, default=Path("evidence"), metavar="DIR")
    parser.add_argument("--timeout", type=float, metavar="S", help="longest a single cell may run (seconds)")
    parser.add_argument("--state-dir", default=DEFAULT_STATE_DIR, metavar="DIR", help="the renewal engine's state")
    parser.add_argument("--notebooks", type=Path, metavar="DIR", help="folder of the runbook notebooks "
                        "(default: notebooks/ of the project)")
    parser.set_defaults(func=_command)


def _command(args: argparse.Namespace) -> int:
    try:
        purpose = purpose_name(args.purpose)
    except ValueError as exc:
        print(f"cucmkit run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    missing = [str(p) for p in args.parameters if not p.is_file()]
    if missing:
        print(f"cucmkit run: no such parameter file: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    try:
        chosen = choose_parallel(args.parallel, clusters=len({cluster_name(p) for p in args.parameters}))
    except ParameterError as exc:
        print(f"cucmkit run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    specs = [RunSpec(purpose=purpose, parameters_file=p, ticket=args.ticket, ca=args.ca, approve=args.approve,
                     dry_run=args.dry_run, evidence_root=args.evidence_root, timeout=args.timeout,
                     state_dir=args.state_dir, notebooks_dir=args.notebooks, approver=args.approver,
                     override_window=args.override_window, renew_nodes=tuple(args.nodes),
                     force_csr=args.force_csr, multi_server=args.multi_server,
                     overrides=tuple(args.override or ())) for p in args.parameters]
    if chosen.derived and len(args.parameters) > 1:
        print(chosen.line(), file=sys.stderr)
    with LiveView() as view:
        outcomes = run_batch(specs, parallel=chosen.parallel, view=view)
    for outcome in outcomes:
        _report(outcome)
    if len(outcomes) > 1:
        print("\n".join(summary_lines(outcomes)))
    if _STOP.is_set():
        print("interrupted: runs not started were skipped", file=sys.stderr)
        return EXIT_INTERRUPTED
    return exit_code(outcomes)


def report_lines(outcome: RunOutcome) -> list[str]:
    """What the operator reads at the end of one run: status, evidence, message, where the cluster stands."""
    record = outcome.record
    lines = [f"{record.status.upper():8} {record.cluster} {record.purpose}: evidence in {outcome.folder}"]
    if record.message:
        lines.append(f"         {record.message}")
    if record.standing and any(n.pending for n in record.standing):
        lines.append("         where the cluster stands:")
        lines += [f"           {line}" for line in standing_lines(record.standing)]
        if is_half_done(record.standing):
            lines.append("         the cluster is half-activated: a re-run finishes it")
    if record.resume and record.status in ("stopped", "failed", "waiting", "blocked"):
        lines.append(f"         resume: {record.resume}")
    return lines


def summary_lines(outcomes: Sequence[RunOutcome]) -> list[str]:
    """The end of a batch: how many clusters finished, then one line per cluster that did not (why, re-run)."""
    done = [o for o in outcomes if o.record.status in ("done", "dry-run", "nothing-due")]
    already = sum(1 for o in done if o.already)
    left = [o for o in outcomes if o not in done]
    head = f"summary: {len(done)} of {len(outcomes)} clusters finished"
    head += f" ({already} already completed, not contacted)" if already else ""
    if not left:
        return [head + "."]
    lines = [head + f"; {len(left)} did not:"]
    for outcome in left:
        record = outcome.record
        why = " ".join((record.message or record.papermill.message or "no message").split())[:200]
        rerun = record.resume or outcome.spec.resume_command()
        lines.append(f"  {record.cluster} {record.status.upper()}: {why} | re-run: {rerun}")
    which = "this one" if len(left) == 1 else f"these {len(left)}"
    lines.append(f"the same command again runs only {which}: the finished ones answer \"already completed\" "
                 "from their engine ledgers without contacting their clusters")
    return lines


def _report(outcome: RunOutcome) -> None:
    print("\n".join(report_lines(outcome)))


def _main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--child":
        return _child(Path(argv[1]))
    from cucmkit.cli import main

    return main(["run", *argv])


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
