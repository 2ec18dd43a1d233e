"""The committed notebooks: generated, without outputs, one parameters cell, one call per step cell."""

from __future__ import annotations

import ast
import subprocess
import sys

import nbformat
import pytest

from cucmkit.evidence.stamp import REFERENCE_KEYS
from cucmkit.params import TOP_LEVEL_KEYS

from .conftest import NOTEBOOKS, REPO, assert_plain_text, unescaped

BOOKS = ["inventory", "trust", "trust-rotation", "tomcat", "ipsec", "capf", "callmanager", "tvs"]


def test_committed_notebooks_are_what_the_script_writes() -> None:
    run = subprocess.run([sys.executable, "scripts/make_notebooks.py", "--check"], cwd=REPO, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("name", BOOKS)
def test_notebook_shape(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "outputs committed"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    names = {t.id for t in ast.walk(ast.parse(params[0].source)) if isinstance(t, ast.Name)}
    assert set(TOP_LEVEL_KEYS) <= names and set(REFERENCE_KEYS) <= names
    assert 'parameters_file = "parameters/lab.yaml"' in params[0].source
    for cell in code:
        if cell is params[0]:
            continue
        body = [n for n in ast.parse(cell.source).body if not isinstance(n, (ast.Import, ast.ImportFrom))]
        assert len(body) == 1, f"step cell makes more than one call: {cell.source!r}"
        assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.For, ast.While, ast.If)) for n in ast.walk(body[0]))
        assert any(t.startswith("step-") for t in cell.metadata.get("tags", []))
    assert nb.cells[0].cell_type == "markdown"


@pytest.mark.parametrize("name", ["tomcat", "ipsec", "capf", "callmanager", "tvs"])
def test_runbook_markdown_warns(name: str) -> None:
    text = "\n".join(c.source for c in nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4).cells
                     if c.cell_type == "markdown")
    assert "Business impact" in text and "Risk:" in text and "Approval" in text
    assert "replaces the pending" in text          # the CSR warning
    if name in ("callmanager", "tvs"):
        assert "Never regenerate CallManager and TVS at the same time" in text
    if name == "tomcat":
        assert "SAML SSO must be disabled" in text and "publisher first" in text
    if name == "ipsec":
        assert "No DRS backup" in text


def test_no_emoji_in_generated_notebooks() -> None:
    """Text badges, not emoji (they render as boxes without an emoji font): every committed runbook."""
    books = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert len(books) >= len(BOOKS)
    for path in books:
        assert_plain_text(unescaped(path), path.name)
