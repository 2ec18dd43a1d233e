"""Make an executed notebook truthful and reference-only before it becomes evidence.

papermill marks cells ``completed`` that never ran after a timeout or a dead
kernel, leaves ``metadata.papermill.exception`` null, and stores every
injected parameter under ``metadata.papermill.parameters``. These functions
correct the first two from cucmkit's own knowledge, cut the third down to
references, and put cucmkit's verdict in a first markdown cell.
"""

from __future__ import annotations

from typing import Any

import nbformat

from cucmkit.evidence.board import verdict_of, when
from cucmkit.evidence.record import CellInfo, ResultRecord

__all__ = ["REFERENCE_KEYS", "VERDICT_TAG", "cell_infos", "correct_statuses", "scrub_parameters", "stamp_verdict",
           "drop_papermill_banners", "number_cells", "calm_errors", "hide_internal_paths"]

# The only parameters the evidence keeps: references and run options, never values.
REFERENCE_KEYS = ("parameters_file", "purpose", "ticket", "ca", "approve", "dry_run", "state_dir", "approver",
                  "override_window", "force_csr")
VERDICT_TAG = "cucmkit-verdict"
STEP_TAG_PREFIX = "step-"


def _pm(cell: Any) -> dict[str, Any]:
    return cell.get("metadata", {}).get("papermill", {}) or {}


def _step(cell: Any) -> str | None:
    for tag in cell.get("metadata", {}).get("tags", []):
        if tag.startswith(STEP_TAG_PREFIX):
            return str(tag[len(STEP_TAG_PREFIX):])
    return None


PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"
_NOT_OURS = (VERDICT_TAG, PAPERMILL_ERROR_TAG)   # cells added after the run, not cells of the runbook
# the errors a runbook raises on purpose to pause or stop: shown as what they are, not as a crash
_CALM = {"WaitingError": "WAITING", "StoppedError": "STOPPED", "InterlockError": "BLOCKED"}


def _cells(nb: Any) -> list[tuple[int, Any]]:
    return [(i, c) for i, c in enumerate(nb.cells)
            if not set(_NOT_OURS) & set(c.get("metadata", {}).get("tags", []))]


def drop_papermill_banners(nb: Any) -> None:
    """Remove papermill's red "An Exception was encountered" cells: the verdict says where the run stopped, and the
    cells keep one numbering (their position)."""
    nb.cells = [c for c in nb.cells if PAPERMILL_ERROR_TAG not in c.get("metadata", {}).get("tags", [])]


def number_cells(nb: Any) -> None:
    """Number every cell that ran by its position (In [n] = the n-th cell of the runbook), one numbering for all."""
    for index, cell in _cells(nb):
        if cell.get("cell_type") != "code":
            continue
        number = index + 1 if _pm(cell).get("start_time") else None
        cell["execution_count"] = number
        for output in cell.get("outputs", []):
            if "execution_count" in output:
                output["execution_count"] = number


def calm_errors(nb: Any) -> None:
    """A WaitingError/StoppedError/InterlockError output becomes a plain line (``WAITING: ...``), not a traceback."""
    for _, cell in _cells(nb):
        outputs = cell.get("outputs", [])
        for i, output in enumerate(outputs):
            label = _CALM.get(str(output.get("ename"))) if output.get("output_type") == "error" else None
            if label:
                outputs[i] = nbformat.v4.new_output(  # type: ignore[no-untyped-call]
                    "stream", name="stdout", text=f"{label}: {output.get('evalue', '')}\n")


def hide_internal_paths(nb: Any) -> None:
    """The injected ``journal_file`` (a temporary path of the runner) is not part of the record."""
    for _, cell in _cells(nb):
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            lines = str(cell.get("source", "")).splitlines()
            cell["source"] = "\n".join(line for line in lines if not line.startswith("journal_file"))


def cell_infos(nb: Any) -> list[CellInfo]:
    """Every cell with the time papermill says it started (None: it never ran)."""
    return [CellInfo(index=i, step=_step(c), started=_pm(c).get("start_time")) for i, c in _cells(nb)]


def correct_statuses(nb: Any, *, failure: str | None) -> None:
    """Cells that never started become ``not-run``; the cell a timeout/death hit becomes ``failed``."""
    started = [c for _, c in _cells(nb) if _pm(c).get("start_time")]
    for _, cell in _cells(nb):
        meta = cell.setdefault("metadata", {})
        ran = bool(_pm(cell).get("start_time"))
        meta["cucmkit"] = {"ran": ran}
        if not ran and "papermill" in meta:
            meta["papermill"].update(status="not-run", exception=None)
    if failure and failure != "cell-error" and started:
        last = started[-1]
        last["metadata"]["papermill"].update(status="failed", exception=True)
        last["metadata"]["cucmkit"]["interrupted_by"] = failure
    if failure:
        nb.metadata.setdefault("papermill", {})["exception"] = True


def scrub_parameters(nb: Any) -> list[str]:
    """Keep only reference keys in papermill's parameter metadata; return the dropped names."""
    meta = nb.metadata.setdefault("papermill", {})
    dropped: list[str] = []
    for key in ("parameters", "default_parameters"):
        given = meta.get(key) or {}
        kept = {k: v for k, v in given.items() if k in REFERENCE_KEYS and _scalar(v)}
        dropped += [k for k in given if k not in kept]
        meta[key] = kept
    meta["environment_variables"] = {}
    nb.metadata.setdefault("cucmkit", {})["parameters_dropped"] = sorted(set(dropped))
    return sorted(set(dropped))


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, (str, bool, int, float))


def _verdict_text(record: ResultRecord) -> str:
    outcome = record.papermill
    last = record.last_cell_started
    lines = [
        f"# cucmkit verdict: **{verdict_of(record).label}**",
        "",
        f"- purpose **{record.purpose}**, cluster **{record.cluster or '?'}**, ticket **{record.ticket}**",
        f"- run by {record.run_by}, {when(record.started)} to {when(record.ended)}",
        f"- cells run: {record.cells_run} of {record.cells_total}"
        + (f"; last cell started: In [{last.index + 1}]" + (f" (step `{last.step}`)" if last.step else "")
           if last else ""),
    ]
    if record.status == "failed":
        lines.append(f"- papermill exit code {outcome.exit_code}"
                     + (f", exception `{outcome.exception}`" if outcome.exception else "")
                     + (f" (`{outcome.error_name}` in a cell)" if outcome.error_name else ""))
    if outcome.failure in ("timeout", "kernel-died", "killed", "kernel-start", "interrupted"):
        lines.append(f"- **{outcome.failure}**: cells after In [{last.index + 1 if last else '-'}] never ran, "
                     "whatever papermill's cell metadata said (corrected to `not-run`).")
    if record.status == "stopped":
        lines.append("- **stopped** at a step boundary (a signal, or the runner was gone): re-run the same command "
                     "to resume; completed steps are not repeated.")
    if record.message:
        lines.append(f"- {record.message}")
    for phase in record.phases:
        lines.append(f"- phase `{phase.name}`: {phase.status} ({len(phase.steps)} steps)")
    lines.append("")
    lines.append("The result record (`result.json`) is the authority; `manifest.json` holds every file's SHA-256.")
    return "\n".join(lines)


def stamp_verdict(nb: Any, record: ResultRecord) -> None:
    """Insert (or replace) cucmkit's verdict as the notebook's first cell."""
    nb.cells = [c for c in nb.cells if VERDICT_TAG not in c.get("metadata", {}).get("tags", [])]
    cell = nbformat.v4.new_markdown_cell(_verdict_text(record))  # type: ignore[no-untyped-call]
    cell.metadata["tags"] = [VERDICT_TAG]
    cell.metadata["cucmkit"] = {"verdict": record.status}
    nb.cells.insert(0, cell)
    nb.metadata.setdefault("cucmkit", {})["verdict"] = record.status
