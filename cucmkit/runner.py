"""``cucmkit run``: execute a runbook notebook with papermill, once per cluster, into evidence.

    cucmkit run PURPOSE -f parameters/<cluster>.yaml [-f ...] --ticket CHANGE
                [--ca lab|manual|adcs] [--approve] [--dry-run] [--parallel N]
                [--evidence-root DIR] [--timeout S]

Each run happens in a child process (``python -m cucmkit.runner --child``)
that calls papermill with references only (the parameter file's path, the
ticket, the CA back-end name, approve, dry_run): the kernel resolves secrets
itself. Whatever happens to papermill (cell error, timeout, dead kernel, the
child killed), the parent then writes the evidence folder in a ``finally``:
the result record, the executed notebook stamped with cucmkit's verdict and
with papermill's metadata corrected and cut down to references, its HTML, the
manifest, and a secret scan. Exit code: 0 all done, 3 some run waiting (on an
approval or the CA) and none failed, 1 any run failed or was blocked, 130
interrupted (Ctrl-C: running notebooks are stopped and still get evidence).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import nbformat
import yaml

from cucmkit import catalogue
from cucmkit.errors import CucmKitError
from cucmkit.evidence.html import render_html
from cucmkit.evidence.journal import read_journal, utc_now, who
from cucmkit.evidence.manifest import write_manifest
from cucmkit.evidence.record import PapermillOutcome, ResultRecord, build_record, read_ledger, write_record
from cucmkit.evidence.secrets import known_secrets, project_root, redact, redact_patterns, scan_dir
from cucmkit.evidence.stamp import cell_infos, correct_statuses, scrub_parameters, stamp_verdict
from cucmkit.params import find_root

__all__ = ["register", "RunSpec", "RunOutcome", "run_one", "run_batch", "notebook_for", "EXIT_WAITING"]

EXIT_OK, EXIT_FAILED, EXIT_WAITING = 0, 1, 3
DEAD_KERNEL_EXIT = 138          # what the papermill CLI exits with for DeadKernelError
KERNEL_START_ATTEMPTS = 3
KERNEL_START_TIMEOUT = 60.0
DEFAULT_CELL_TIMEOUT = 3600.0
DEFAULT_STATE_DIR = ".cucmkit-state"
INTERRUPT_GRACE = 20.0          # seconds papermill gets to stop after SIGINT
EXIT_INTERRUPTED = 130
_OUT, _JOURNAL, _STATUS, _SPEC = "out.ipynb", "journal.jsonl", "status.json", "spec.json"
_STOP = threading.Event()       # set when the operator interrupts a batch


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


@dataclass(frozen=True)
class RunOutcome:
    spec: RunSpec
    folder: Path
    record: ResultRecord


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
    return _safe(name)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "unnamed"


def _evidence_folder(spec: RunSpec, cluster: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = spec.evidence_root / cluster / _safe(spec.ticket)
    folder = base / f"{stamp}-{spec.purpose}"
    counter = 2
    while folder.exists():
        folder = base / f"{stamp}-{spec.purpose}-{counter}"
        counter += 1
    folder.mkdir(parents=True)
    return folder


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
    }


# ---------------------------------------------------------------- the child process


def _child(spec_path: Path) -> int:
    """Run papermill in this process and write how it ended to ``status.json``."""
    job = json.loads(spec_path.read_text(encoding="utf-8"))
    status = _execute(job)
    Path(job["status"]).write_text(json.dumps(status), encoding="utf-8")
    return int(status["exit_code"])


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
            "error_name": error_name, "message": (message or "")[:500]}


def _any_cell_started(output: Path) -> bool:
    try:
        nb = nbformat.read(output, as_version=4)
    except (OSError, ValueError):
        return False
    return any(c.get("metadata", {}).get("papermill", {}).get("start_time") for c in nb.cells
               if "injected-parameters" not in c.get("metadata", {}).get("tags", []))


# ---------------------------------------------------------------- the parent process


def _launch(spec: RunSpec, staging: Path, notebook: Path) -> PapermillOutcome:
    """One papermill child; its status file, or a ``killed`` outcome if it had to be stopped."""
    status_path = staging / _STATUS
    status_path.unlink(missing_ok=True)
    job = {"input": str(notebook), "output": str(staging / _OUT), "parameters": _parameters(spec, staging),
           "kernel_name": spec.kernel_name, "timeout": spec.timeout or DEFAULT_CELL_TIMEOUT,
           "start_timeout": spec.start_timeout, "status": str(status_path)}
    (staging / _SPEC).write_text(json.dumps(job), encoding="utf-8")
    code = _wait_child(staging, _watchdog(spec, notebook))
    if status_path.is_file():
        status = json.loads(status_path.read_text(encoding="utf-8"))
        return PapermillOutcome(exit_code=status["exit_code"], exception=status["exception"],
                                error_name=status["error_name"], message=status["message"],
                                failure=status["failure"])
    if _STOP.is_set():
        return PapermillOutcome(exit_code=code, exception="KeyboardInterrupt", failure="interrupted",
                                message="stopped by the operator (Ctrl-C): cells after the last started one never ran")
    return PapermillOutcome(exit_code=code, exception=None, failure="killed",
                            message="the papermill process ended without reporting (killed or timed out)")


def _watchdog(spec: RunSpec, notebook: Path) -> float:
    cells = len(nbformat.read(notebook, as_version=4).cells)
    per_cell = spec.timeout or DEFAULT_CELL_TIMEOUT
    return per_cell * (cells + 1) + spec.start_timeout * KERNEL_START_ATTEMPTS + 60


def _wait_child(staging: Path, deadline: float) -> int:
    """Wait for the papermill child; kill it past ``deadline``; interrupt it when the operator stops the batch."""
    log = (staging / "child.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "cucmkit.runner", "--child", str(staging / _SPEC)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    end = time.monotonic() + deadline
    try:
        while True:
            try:
                return proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                if _STOP.is_set():
                    return _interrupt(proc)
                if time.monotonic() > end:
                    return _kill_group(proc)
    except BaseException:
        _kill_group(proc)
        raise
    finally:
        log.close()


def _interrupt(proc: subprocess.Popen[bytes]) -> int:
    """SIGINT first (papermill stops the kernel and saves), SIGKILL if it does not end soon."""
    try:
        os.killpg(proc.pid, signal.SIGINT)
        return proc.wait(timeout=INTERRUPT_GRACE)
    except subprocess.TimeoutExpired:
        return _kill_group(proc)
    except ProcessLookupError:
        return proc.wait()


def _kill_group(proc: subprocess.Popen[bytes]) -> int:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return proc.wait()


def _execute_with_retry(spec: RunSpec, staging: Path, notebook: Path) -> PapermillOutcome:
    outcome = PapermillOutcome(exit_code=None, failure="runner", message="papermill never ran")
    for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
        (staging / _JOURNAL).unlink(missing_ok=True)
        outcome = replace(_launch(spec, staging, notebook), kernel_start_attempts=attempt)
        if outcome.failure != "kernel-start" or _STOP.is_set():
            break
        time.sleep(attempt)
    return outcome


def run_one(spec: RunSpec) -> RunOutcome:
    """Run one notebook for one cluster; the evidence folder is written whatever happens."""
    spec = replace(spec, purpose=purpose_name(spec.purpose))
    notebook = notebook_for(spec.purpose, spec.notebooks_dir)
    if not notebook.is_file():
        raise FileNotFoundError(f"no runbook notebook for {spec.purpose}: {notebook}")
    folder = _evidence_folder(spec, cluster_name(spec.parameters_file))
    staging = Path(tempfile.mkdtemp(prefix="cucmkit-run-"))
    started = utc_now()
    outcome = PapermillOutcome(exit_code=None, failure="runner", message="the runner stopped before papermill ended")
    try:
        outcome = _execute_with_retry(spec, staging, notebook)
    finally:
        record = _finish(spec, staging, notebook, folder, outcome, started)
        shutil.rmtree(staging, ignore_errors=True)
    return RunOutcome(spec=spec, folder=folder, record=record)


def _finish(spec: RunSpec, staging: Path, notebook: Path, folder: Path, outcome: PapermillOutcome,
            started: str) -> ResultRecord:
    """Record, stamp, scrub, render, scan, hash: the evidence folder, from what really happened."""
    secrets = known_secrets([spec.parameters_file])
    nb = _executed_or_source(staging / _OUT, notebook)
    outcome = replace(outcome, message=redact(outcome.message, secrets))
    record = _record(spec, staging, nb, outcome, started)
    correct_statuses(nb, failure=outcome.failure)
    scrub_parameters(nb)
    nb.metadata["papermill"].update(input_path=f"notebooks/{notebook.name}", output_path=f"{spec.purpose}.ipynb")
    stamp_verdict(nb, record)
    leaked = _write_artifacts(nb, record, folder, spec.purpose, secrets)
    findings = [str(f) for f in scan_dir(folder, secrets)] + leaked
    if findings:
        record = replace(record, status="failed", secret_scan=tuple(findings),
                         message="secret scan: a secret reached the evidence (redacted where known)")
        stamp_verdict(nb, record)
        _write_artifacts(nb, record, folder, spec.purpose, secrets)
    write_manifest(folder)
    return record


def _executed_or_source(executed: Path, notebook: Path) -> Any:
    """The executed notebook; the unexecuted source if papermill never wrote a readable one."""
    try:
        return nbformat.read(executed, as_version=4)
    except (OSError, ValueError):
        return nbformat.read(notebook, as_version=4)


def _record(spec: RunSpec, staging: Path, nb: Any, outcome: PapermillOutcome, started: str) -> ResultRecord:
    events = read_journal(staging / _JOURNAL)
    return build_record(
        events=events, ledger=read_ledger(events), outcome=outcome, cells=cell_infos(nb), purpose=spec.purpose,
        ticket=spec.ticket, ca=spec.ca, approve=spec.approve, dry_run=spec.dry_run, run_by=who(),
        started=started, ended=utc_now(), parameters_files=(_reference(spec.parameters_file),),
        notebook=f"{spec.purpose}.ipynb", cluster=cluster_name(spec.parameters_file),
    )


def _write_artifacts(nb: Any, record: ResultRecord, folder: Path, purpose: str, secrets: frozenset[str]) -> list[str]:
    """Write notebook, HTML and record with known secrets redacted; name each file that needed it."""
    texts = {f"{purpose}.ipynb": nbformat.writes(nb)}
    html = folder / f"{purpose}.html"
    try:
        render_html(nb, html)
        texts[html.name] = html.read_text(encoding="utf-8")
    except CucmKitError as exc:  # the evidence is still written; the page says why it is bare
        texts[html.name] = f"<html><body><h1>{escape(record.status.upper())}</h1><p>{escape(str(exc))}</p>" \
                           "<p>See result.json and the .ipynb.</p></body></html>"
    write_record(record, folder)
    texts["result.json"] = (folder / "result.json").read_text(encoding="utf-8")
    leaked = []
    for name, text in texts.items():
        clean = redact_patterns(redact(text, secrets))
        if clean != text:
            leaked.append(f"{name}: secret redacted")
        (folder / name).write_text(clean, encoding="utf-8")
    return leaked


def _cluster_groups(specs: Sequence[RunSpec]) -> list[list[RunSpec]]:
    """Runs grouped by cluster, so one cluster never has two runs at a time."""
    groups: dict[str, list[RunSpec]] = {}
    for spec in specs:
        groups.setdefault(cluster_name(spec.parameters_file), []).append(spec)
    return list(groups.values())


def _run_group(group: list[RunSpec]) -> list[RunOutcome]:
    return [run_one(spec) for spec in group if not _STOP.is_set()]


def run_batch(specs: Sequence[RunSpec], *, parallel: int = 1) -> list[RunOutcome]:
    """Every spec, clusters in parallel up to ``parallel``, each cluster's runs one after another.

    Ctrl-C stops the batch: running notebooks are interrupted (and get their
    evidence, marked ``interrupted``), runs not started yet are skipped.
    """
    _STOP.clear()
    pool = ThreadPoolExecutor(max_workers=max(1, parallel))
    futures = [pool.submit(_run_group, group) for group in _cluster_groups(specs)]
    try:
        wait(futures)
    except KeyboardInterrupt:
        _STOP.set()
    finally:
        pool.shutdown(wait=True)
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors and not _STOP.is_set():
        raise errors[0]   # the runner itself broke (not a notebook): never hide it behind a clean exit code
    return [outcome for future in futures if future.exception() is None for outcome in future.result()]


def exit_code(outcomes: Sequence[RunOutcome]) -> int:
    statuses = {o.record.status for o in outcomes}
    if statuses & {"failed", "blocked"}:
        return EXIT_FAILED
    if "waiting" in statuses:
        return EXIT_WAITING
    return EXIT_OK


# ---------------------------------------------------------------- the command


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("run", help="run a runbook notebook per cluster with papermill, into evidence")
    parser.add_argument("purpose", metavar="PURPOSE", help=f"inventory or one of: {', '.join(catalogue.names())}")
    parser.add_argument("-f", "--parameters", action="append", type=Path, required=True, metavar="PARAMS",
                        help="a cluster parameter file (repeat for more clusters)")
    parser.add_argument("--ticket", required=True, metavar="CHANGE", help="the change ticket this run belongs to")
    parser.add_argument("--ca", choices=("lab", "manual", "adcs"), help="CA back-end (default: the parameter file's)")
    parser.add_argument("--approve", action="store_true", help="approve the steps that change the cluster")
    parser.add_argument("--dry-run", action="store_true", help="plan and pre-check only; change nothing")
    parser.add_argument("--parallel", type=int, default=1, metavar="N", help="clusters run at the same time")
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
        return 2
    missing = [str(p) for p in args.parameters if not p.is_file()]
    if missing:
        print(f"cucmkit run: no such parameter file: {', '.join(missing)}", file=sys.stderr)
        return 2
    specs = [RunSpec(purpose=purpose, parameters_file=p, ticket=args.ticket, ca=args.ca, approve=args.approve,
                     dry_run=args.dry_run, evidence_root=args.evidence_root, timeout=args.timeout,
                     state_dir=args.state_dir, notebooks_dir=args.notebooks) for p in args.parameters]
    outcomes = run_batch(specs, parallel=args.parallel)
    for outcome in outcomes:
        _report(outcome)
    if _STOP.is_set():
        print("interrupted: runs not started were skipped", file=sys.stderr)
        return EXIT_INTERRUPTED
    return exit_code(outcomes)


def _report(outcome: RunOutcome) -> None:
    record = outcome.record
    print(f"{record.status.upper():8} {record.cluster} {record.purpose}: evidence in {outcome.folder}")
    if record.message:
        print(f"         {record.message}")


def _main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--child":
        return _child(Path(argv[1]))
    from cucmkit.cli import main

    return main(["run", *argv])


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
