"""A kernel that fails to start is retried."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ._notebooks import SENTINEL, _assert_clean, _run


def test_kernel_that_fails_to_start_is_retried(tmp_path: Path, params: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel whose first launch dies at once; the second attempt runs the notebook."""
    counter = tmp_path / "launches"
    wrapper = tmp_path / "flaky.py"
    wrapper.write_text(
        "import os, sys, runpy\n"
        f"c = {str(counter)!r}\n"
        "n = int(open(c).read()) if os.path.exists(c) else 0\n"
        "open(c, 'w').write(str(n + 1))\n"
        "if n == 0:\n    sys.exit(1)\n"
        "sys.argv = ['ipykernel_launcher'] + sys.argv[1:]\n"
        "runpy.run_module('ipykernel_launcher', run_name='__main__')\n")
    spec_dir = tmp_path / "jupyter" / "kernels" / "flaky"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps(
        {"argv": [sys.executable, str(wrapper), "-f", "{connection_file}"], "display_name": "flaky", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    outcome = _run(tmp_path, params, "done", timeout=30, kernel_name="flaky", start_timeout=5)
    assert outcome.record.status == "done"
    assert outcome.record.papermill.kernel_start_attempts == 2
    assert counter.read_text() == "2"


def test_a_secret_printed_by_a_cell_is_redacted_and_fails_the_run(tmp_path: Path, params: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from . import _notebooks

    monkeypatch.setitem(_notebooks.BODIES, "leak", "print('oops', password.reveal())\n"
                        "print('-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\n-----END PRIVATE KEY-----')")
    outcome = _run(tmp_path, params, "leak", timeout=30)
    assert outcome.record.status == "failed"
    assert any("secret redacted" in f for f in outcome.record.secret_scan)
    for path in outcome.folder.iterdir():
        text = path.read_text()
        assert SENTINEL not in text and "MIIEvQIBADANBg" not in text, path.name
    _assert_clean(outcome.folder, params)
