"""Helpers: the runner's evidence for every way papermill can end, on small notebooks (no lab needed).

Each notebook resolves a sentinel secret in the kernel (as the runbooks do) and
journals a phase; the evidence must be truthful and hold the sentinel nowhere.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from cucmkit.evidence import verify
from cucmkit.runner import RunSpec, run_one

SENTINEL = "SENTINEL-runner-5b9e0c"

_PARAMS = """parameters_file = None
purpose = None
ticket = None
ca = "lab"
approve = False
dry_run = False
state_dir = None
journal_file = None"""

_OPEN = """from pathlib import Path
from cucmkit.evidence.journal import Journal
from cucmkit.params import load_yaml
from cucmkit.secrets import resolve
journal = Journal(Path(journal_file) if journal_file else None)
password = resolve(load_yaml(Path(parameters_file))["credentials"]["os_admin"]["password"])
journal.write("open", cluster="c1")
journal.write("phase-start", phase="csr")"""

_END_CSR = """journal.write("phase-end", phase="csr", status="done",
              steps=[{"name": "csr", "node": "n1", "started": "a", "ended": "b", "outcome": "done"}])"""

BODIES = {
    "done": "x = 1",
    "error": "from cucmkit.errors import CucmError\nraise CucmError('node said no', node='n1')",
    "waiting": "from cucmkit.errors import WaitingError\nraise WaitingError('approval required')",
    "timeout": "import time\ntime.sleep(120)",
    "die": "import os\nos._exit(9)",
}


def _notebook(folder: Path, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(_PARAMS)
    params.metadata["tags"] = ["parameters"]
    steps = [nbformat.v4.new_code_cell(_OPEN), nbformat.v4.new_code_cell(body),
             nbformat.v4.new_code_cell(_END_CSR), nbformat.v4.new_code_cell('journal.write("end", status="done")')]
    steps[1].metadata["tags"] = ["step-risky"]
    nb.cells = [nbformat.v4.new_markdown_cell("# test"), params, *steps]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / "inventory.ipynb")
    return folder


def _run(tmp_path: Path, params: Path, mode: str, **kw: object):
    spec = RunSpec(purpose="inventory", parameters_file=params, ticket="CHG-1", evidence_root=tmp_path / "ev",
                   notebooks_dir=_notebook(tmp_path / "nb", BODIES[mode]), **kw)  # type: ignore[arg-type]
    return run_one(spec)


def _assert_clean(folder: Path, params: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == ["inventory.html", "inventory.ipynb", "manifest.json",
                                                        "result.json"]
    for path in [*folder.iterdir(), folder.parent / "index.html", folder.parent / "index.json"]:
        assert SENTINEL not in path.read_text(encoding="utf-8"), path.name
    report = verify(folder, parameter_files=[params])
    assert report.ok, report.lines()
    assert "  signature: unsigned (no signing key in the parameter file)" in report.lines()


