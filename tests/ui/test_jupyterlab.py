"""A real browser: JupyterLab in Debian's Chromium, driven by Playwright, runs the tomcat runbook against the lab
cell by cell, with the approval widget (named approver) and a manual CA file uploaded through the widget.

Part of the default suite: it fails (never skips) without /usr/bin/chromium or playwright; scripts/setup installs
both. Never downloads a browser: Chromium comes from apt and is launched by ``executable_path``.

Cells run through JupyterLab's own command (``notebook:run-cell`` on ``window.jupyterapp``, exposed by the lab app's
``expose_app_in_browser``), and each wait is on the command's own completion and the kernel's idle state, not on
prompt text or a keystroke (a loaded machine loses keystrokes and a re-pressed Ctrl+Enter queues the cell twice).
The approval point's screenshot goes to the test's tmp folder; ``CUCMKIT_SCREENSHOTS=DIR`` also copies it to DIR
(scripts/screenshots refreshes docs/img/approval.png that way).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat
import pytest
import yaml

from cucmkit.lab import LabCluster
from cucmkit.runbooks import notebook_text
from tests.notebooks.conftest import REPO, child_env, write_params

playwright_api: ModuleType | None
try:
    from playwright import sync_api as playwright_api
except ImportError:                        # asserted in the test: a missing browser stack fails, never skips
    playwright_api = None

CHROMIUM = Path("/usr/bin/chromium")
REMEDY = "run scripts/setup (apt-get install chromium; pip install -e '.[test]' brings playwright)"
pytestmark = [pytest.mark.browser, pytest.mark.notebook, pytest.mark.timeout(1500)]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
# Generous on a loaded 2-core machine (the test's whole budget is the timeout mark above).
START_S, CELL_S = 600, 420
# Every cell in the DOM (no windowing: the nth .jp-Cell is cell n), no news or update checks from the page.
SETTINGS = {"@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
            "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}}


def test_browser_stack_installed() -> None:
    """The browser test's tools are there (a fast, clear failure with the remedy instead of a skip)."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: {REMEDY}"
    assert playwright_api is not None, f"playwright is not installed: {REMEDY}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _project(lab: LabCluster, root: Path) -> Path:
    """A folder with the tomcat runbook whose parameters cell points at the session lab and a manual CA."""
    params = write_params(lab, root / "parameters" / "lab.yaml")
    data = yaml.safe_load(params.read_text())
    data["ca"].update(outbox=str(root / "ca" / "outbox"), inbox=str(root / "ca" / "inbox"))
    params.write_text(yaml.safe_dump(data, sort_keys=False))
    nb = nbformat.reads(notebook_text("tomcat"), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source += (f'\nparameters_file = "{params}"\nca = "manual"\nticket = "CHG-UI"\n'
                    f'state_dir = "{root / "state"}"\nrenew_nodes = ["cucm-pub"]\n')
    nbformat.write(nb, root / "tomcat.ipynb")
    return root / "tomcat.ipynb"


def _settings(config_dir: Path) -> None:
    for name, values in SETTINGS.items():
        path = config_dir / "lab" / "user-settings" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _wait_up(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_S
    while True:
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except OSError:
            assert proc.poll() is None, f"jupyter lab exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"jupyter lab not up after {START_S} s:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def jupyter(nb_lab: LabCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("ui")
    _project(nb_lab, root)
    _settings(root / ".jupyter")
    port, token = _free_port(), secrets.token_hex(16)
    env = child_env(nb_lab, PYTHONPATH=str(REPO), JUPYTER_CONFIG_DIR=str(root / ".jupyter"),
                    JUPYTER_RUNTIME_DIR=str(root / ".runtime"), JUPYTER_DATA_DIR=str(root / ".data"))
    log_path = root / "jupyter.log"
    log = log_path.open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
                             "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", "--allow-root",
                             f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
                             "--ServerApp.disable_check_xsrf=False"],
                            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(proc, f"{base}/api/status?token={token}", log_path)
        yield f"{base}/lab/tree/tomcat.ipynb?token={token}", root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        log.close()


# The notebook panel JupyterLab shows (the one the test opened), from the app the page exposes.
_PANEL = "(() => { const w = window.jupyterapp.shell.currentWidget; return w && w.sessionContext ? w : null; })()"
_READY = f"""() => {{
    const panel = window.jupyterapp && {_PANEL};
    const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
    return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle'
        && panel.content.widgets.length > 0;
}}"""
_IDLE = f"() => {{ const k = {_PANEL}.sessionContext.session.kernel; return k.status === 'idle'; }}"
# Start notebook:run-cell on cell i (selected alone); the command's promise settles when the kernel has replied.
_START = f"""(i) => {{
    const panel = {_PANEL};
    const nb = panel.content;
    nb.deselectAll();
    nb.activeCellIndex = i;
    nb.mode = 'command';
    window.__cucmkit = window.__cucmkit || {{}};
    window.__cucmkit[i] = null;
    window.jupyterapp.commands.execute('notebook:run-cell').then(
        ok => {{ window.__cucmkit[i] = {{ ok: ok !== false }}; }},
        err => {{ window.__cucmkit[i] = {{ ok: false, error: String(err) }}; }});
    return nb.widgets[i].model.type;
}}"""
_RESULT = """(i) => {
    const cell = window.jupyterapp.shell.currentWidget.content.widgets[i];
    const outputs = cell.model.outputs ? cell.model.outputs.toJSON() : [];
    return { done: window.__cucmkit[i], count: cell.model.executionCount,
             errors: outputs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
             text: cell.node.innerText };
}"""


def _run_cell(page: Any, index: int, *, expect: str | None = None) -> str:
    """Run cell ``index`` with JupyterLab's own command; wait for its reply and the idle kernel; its text.

    ``expect``: the one error the cell is meant to end with (the manual CA's WaitingError), else none."""
    if page.evaluate(_START, index) != "code":
        return ""
    page.wait_for_function(f"() => window.__cucmkit[{index}] !== null", timeout=CELL_S * 1000)
    page.wait_for_function(_IDLE, timeout=CELL_S * 1000)
    result = page.evaluate(_RESULT, index)
    if expect is not None:
        assert [e.split(":")[0] for e in result["errors"]] == [expect], f"cell {index}: {result}"
    else:
        assert result["done"]["ok"] and not result["errors"] and result["count"], f"cell {index}: {result}"
    return str(result["text"])


def _run_cells(page: Any, start: int, stop: int) -> None:
    for index in range(start, stop):
        _run_cell(page, index)


def _cell(page: Any, index: int) -> Any:
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def _save_failure(page: Any, root: Path) -> None:
    page.screenshot(path=str(root / "failure.png"), full_page=True)
    texts = page.evaluate("() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')]"
                          ".map(c => c.innerText.slice(0, 600))")
    kernel = page.evaluate(f"() => {{ try {{ return {_PANEL}.sessionContext.session.kernel.status; }} "
                           "catch (e) { return String(e); } }")
    (root / "failure.txt").write_text(f"kernel: {kernel}\n----\n" + "\n----\n".join(texts))
    print(f"browser state saved in {root}/failure.png and failure.txt")


APPROVAL, CA, SUMMARY = 11, 15, 25     # the tomcat runbook's approval, CA and summary cells
INVENTORIES = (5, 23)                  # its certificate tables, before and after


def _approve(page: Any, root: Path) -> None:
    text = _run_cell(page, APPROVAL)
    assert "[MEDIUM] tomcat on lab" in text and "Restart on" in text, text
    assert "not renewed" in text, text                          # the reason for restarts outside the renewal
    button = page.get_by_role("button", name="Approve the tomcat renewal on lab")
    button.wait_for(timeout=CELL_S * 1000)
    page.get_by_placeholder("who approved the change").fill("J. Smith")
    shot = root / "approval.png"
    _cell(page, APPROVAL).screenshot(path=str(shot))
    if folder := os.environ.get("CUCMKIT_SCREENSHOTS"):          # scripts/screenshots: refresh the README's image
        shutil.copy(shot, Path(folder) / "approval.png")
    button.click()
    page.get_by_text("[APPROVED], approved by J. Smith").wait_for(timeout=CELL_S * 1000)
    page.wait_for_function(_IDLE, timeout=CELL_S * 1000)         # the click's comm message is handled


def _upload_ca(page: Any, root: Path, lab: LabCluster) -> None:
    """The CA cell waits with one upload button per node; each gets its signed file through the browser's file
    chooser (ipywidgets 8 keeps the file input out of the DOM: the button opens it); the cell then collects them."""
    assert "waiting for the CA" in _run_cell(page, CA, expect="WaitingError")
    buttons = _cell(page, CA).locator(".widget-upload")
    buttons.first.wait_for(timeout=CELL_S * 1000)
    csrs = sorted((root / "ca" / "outbox").glob("*.csr"))       # the widget's rows are sorted the same
    assert buttons.count() == len(csrs) >= 1
    for index, csr in enumerate(csrs):
        assert csr.stem.split("-tomcat")[0] in buttons.nth(index).inner_text()
        leaf, chain = lab.ca.issue(csr.read_text(), "tomcat")
        signed = root / f"{csr.stem}.pem"
        signed.write_text(leaf + "".join(chain))
        with page.expect_file_chooser(timeout=CELL_S * 1000) as chooser:
            buttons.nth(index).click()
        chooser.value.set_files(str(signed))
    deadline = time.monotonic() + CELL_S
    while len(list((root / "ca" / "inbox").rglob("*.pem"))) < len(csrs):
        assert time.monotonic() < deadline, "the widget did not save the uploads to the inbox"
        time.sleep(0.5)
    page.wait_for_function(_IDLE, timeout=CELL_S * 1000)
    text = _run_cell(page, CA)                                   # run the CA cell again: it collects the files
    assert "waiting for the CA" not in text, text


def test_runbook_in_jupyterlab_approve_and_upload(jupyter: tuple[str, Path], nb_lab: LabCluster) -> None:
    assert CHROMIUM.exists() and playwright_api is not None, REMEDY
    url, root = jupyter
    started = time.monotonic()
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(CELL_S * 1000)
        try:
            page.goto(url, timeout=START_S * 1000)
            page.wait_for_function(_READY, timeout=START_S * 1000)
            _run_cells(page, 0, APPROVAL)
            _approve(page, root)
            _run_cells(page, APPROVAL + 1, CA)
            _upload_ca(page, root, nb_lab)
            _run_cells(page, CA + 1, SUMMARY)
            summary = _run_cell(page, SUMMARY)
            assert re.search(r"\bdone\b", summary), summary
            for index in INVENTORIES:                                   # the Styler tables rendered
                assert _cell(page, index).locator(".jp-OutputArea-output table").count() >= 1, index
        except Exception:
            _save_failure(page, root)
            raise
        finally:
            context.close()
            browser.close()
    print(f"browser run: {time.monotonic() - started:.0f} s")
    journal_state = json.loads((root / "state" / "lab" / "tomcat.json").read_text())
    assert journal_state["status"] == "completed"
    shutil.rmtree(root / "ca", ignore_errors=True)
