"""notebooks/watch.ipynb: generated, one parameters cell pointing at the lab, one call per step; runs on a lab fleet."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from .conftest import Fleet

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "watch.ipynb"


def test_watch_notebook_shape() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    [params] = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert 'parameters_files = ["parameters/lab.yaml"]' in params.source
    for cell in code:
        if cell is params:
            continue
        body = [n for n in ast.parse(cell.source).body if not isinstance(n, (ast.Import, ast.ImportFrom))]
        assert len(body) == 1 and any(t.startswith("step-") for t in cell.metadata["tags"])


@pytest.mark.notebook
@pytest.mark.timeout(600)
def test_watch_notebook_runs_on_a_lab_fleet(lab_fleet: Fleet, tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"parameters_files": [str(lab_fleet.files["fleet000"]),
                                                           str(lab_fleet.files["down"])], "ticket": "CHG-7"}))
    out = tmp_path / "watch.ipynb"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "papermill", str(NOTEBOOK), str(out), "-f", str(params),
                          "--no-progress-bar"], cwd=REPO, env=env, text=True, capture_output=True, timeout=540)
    assert run.returncode == 0, run.stderr[-3000:]
    text = json.dumps(nbformat.read(out, as_version=4).cells)
    assert "image/png" in text                                             # the timeline
    assert f"cucmkit run tomcat -f {lab_fleet.files['fleet000']} --ticket CHG-7" in text
    assert "unreachable" in text and "Expired Partner CA" in text
