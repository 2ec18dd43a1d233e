"""Notebooks that stay clean. Findings: an interactively edited notebooks/tomcat.ipynb was executed by the next
`cucmkit run` (the session's ticket and parameter file in batch evidence); merely opening a notebook in JupyterLab
rewrote its metadata and broke `make_notebooks.py --check`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cucmkit.lab import LabCluster
from cucmkit.runbooks import build, notebook_text, same_notebook
from tests.notebooks.conftest import REPO, child_env, evidence_folders, write_params


def _as_jupyterlab_saves(text: str) -> str:
    nb = json.loads(text)
    nb["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb["metadata"]["language_info"] = {"name": "python", "version": "3.12.3", "mimetype": "text/x-python",
                                       "codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py"}
    for index, cell in enumerate(nb["cells"]):
        cell["id"] = f"a1b2c3-{index}"
        if cell["cell_type"] == "code":
            cell["execution_count"] = None
    return json.dumps(nb, indent=1) + "\n"


def test_check_ignores_what_jupyterlab_rewrites_but_not_an_edit() -> None:
    text = notebook_text("tomcat")
    assert same_notebook(_as_jupyterlab_saves(text), text)
    edited = json.loads(text)
    params = next(c for c in edited["cells"] if "parameters" in c["metadata"].get("tags", []))
    params["source"] = "".join(params["source"]).replace('ticket = "LAB-CHANGE"', 'ticket = "INTERACTIVE-1"')
    assert not same_notebook(json.dumps(edited), text)


def test_make_notebooks_check_passes_after_a_jupyterlab_save(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "make_notebooks.py", tmp_path / "scripts")
    (tmp_path / "notebooks").mkdir()
    for name, text in build().items():
        (tmp_path / "notebooks" / name).write_text(_as_jupyterlab_saves(text))
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "scripts/make_notebooks.py", "--check"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


@pytest.mark.notebook
def test_run_executes_a_pristine_copy_not_the_edited_file(nb_lab: LabCluster, tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    edited = nbformat.reads(notebook_text("inventory"), as_version=4)
    params = next(c for c in edited.cells if "parameters" in c.metadata.get("tags", []))
    params.source += '\nticket = "INTERACTIVE-SESSION"\nraise RuntimeError("the edited notebook ran")\n'
    nbformat.write(edited, root / "notebooks" / "inventory.ipynb")
    params_file = write_params(nb_lab, root / "parameters" / "lab.yaml")
    run = subprocess.run([sys.executable, "-m", "cucmkit", "run", "inventory", "-f", str(params_file), "--ticket",
                          "CHG-BATCH", "--evidence-root", str(root / "evidence"), "--timeout", "120"], cwd=root,
                         env=child_env(nb_lab, CUCMKIT_ROOT=str(root)), text=True, capture_output=True, timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr
    (folder,) = evidence_folders(root / "evidence")
    text = (folder / "inventory.ipynb").read_text()
    assert "INTERACTIVE-SESSION" not in text and "the edited notebook ran" not in text
    assert json.loads((folder / "result.json").read_text())["ticket"] == "CHG-BATCH"
