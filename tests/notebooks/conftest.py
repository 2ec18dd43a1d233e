"""Fixtures for running the real notebooks against a lab (one lab per test process).

Secrets: the lab's passwords are random per state dir; the tests hand them to
the kernel by reference ({env: ..} for the OS admin, {file: ..} for the
others) and treat every one of them as a sentinel that must appear in no
artifact: notebook, HTML, result record, manifest, stdout or stderr.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cucmkit.lab import LabCluster, Topology

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
ENV_VAR = "CUCMKIT_TEST_OS_ADMIN"


def make_lab(state_dir: Path) -> LabCluster:
    return LabCluster(state_dir, topology=Topology(phones=8), ports="ephemeral", speed=0.02)


@pytest.fixture(scope="session")
def nb_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    """One lab per test process; each purpose is renewed by one test only, so they do not interfere."""
    with make_lab(tmp_path_factory.mktemp("nblab") / "state") as lab:
        yield lab


def write_params(lab: LabCluster, path: Path, *, os_admin_env: str = ENV_VAR, threshold: float | None = None,
                 extra: dict | None = None) -> Path:
    """The lab's parameter file, with the OS admin password referenced through an environment variable
    (``extra``: more top-level keys, e.g. ``multi_server``)."""
    data = yaml.safe_load(lab.write_parameters(path).read_text()) | (extra or {})
    data["credentials"]["os_admin"]["password"] = {"env": os_admin_env}
    if threshold is not None:              # e.g. make the lab's long-lived IM&P certificates due
        data["expiry_threshold_days"] = threshold
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    os.environ[os_admin_env] = lab.state.secret("os_admin")   # `evidence verify` here must resolve it too (never OK
    return path                                               # when it cannot look for a secret)


def sentinels(lab: LabCluster) -> list[str]:
    return [lab.state.secret(name) for name in ("os_admin", "app_user", "ca_user")]


def child_env(lab: LabCluster, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env[ENV_VAR] = lab.state.secret("os_admin")
    env.update(extra)
    return env


def cucmkit_run(args: list[str], *, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cucmkit", "run", *args], cwd=REPO, env=env, text=True,
                          capture_output=True, timeout=timeout)


def papermill(notebook: str, out: Path, params: Path, *options: str, env: dict[str, str],
              timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "papermill", str(NOTEBOOKS / notebook), str(out), "-f", str(params),
                           "--no-progress-bar", *options], cwd=REPO, env=env, text=True, capture_output=True,
                          timeout=timeout)


def assert_nowhere(secrets: list[str], *, folder: Path | None = None, texts: tuple[str, ...] = ()) -> None:
    """No secret in any file under ``folder`` nor in ``texts`` (stdout, stderr)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder else []
    assert not folder or files, "no artifact to check"
    for secret in secrets:
        assert len(secret) >= 8
        for path in files:
            assert secret not in path.read_text(encoding="utf-8", errors="replace"), f"secret in {path.name}"
        for text in texts:
            assert secret not in text, "secret in process output"


# What renders as a box without an emoji font: outside the Basic Multilingual Plane, the misc-symbol and dingbat
# blocks, and the emoji variation selector. The kit writes text badges ([HIGH], [APPROVED], **Warning:**) instead.
NOT_PLAIN = re.compile("[\U00010000-\U0010FFFF\u2600-\u27BF\uFE0F]")


def assert_plain_text(text: str, where: str) -> None:
    """``text`` has no emoji (nor any character that needs an emoji font); ``where`` names it in the failure."""
    found = sorted({f"U+{ord(c):04X}" for c in NOT_PLAIN.findall(text)})
    assert not found, f"{where}: {', '.join(found)} (write a text badge instead)"


def unescaped(path: Path) -> str:
    """A file's text; a notebook's JSON with its \\u escapes resolved (so an escaped emoji is seen too)."""
    text = path.read_text(encoding="utf-8")
    return json.dumps(json.loads(text), ensure_ascii=False) if path.suffix == ".ipynb" else text


def evidence_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/*/*") if p.is_dir())


def run_purpose(lab: LabCluster, tmp_path: Path, purpose: str, *extra: str, threshold: float | None = None,
                params_extra: dict | None = None) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """``cucmkit run PURPOSE`` on the lab with approval; (evidence folder, process). Checks the secrets."""
    params = write_params(lab, tmp_path / "parameters" / "lab.yaml", threshold=threshold, extra=params_extra)
    root = tmp_path / "evidence"
    run = cucmkit_run([purpose, "-f", str(params), "--ticket", "CHG-100", "--evidence-root", str(root),
                       "--state-dir", str(tmp_path / "state"), "--timeout", "120", *extra], env=child_env(lab))
    folders = evidence_folders(root)
    assert len(folders) == 1, run.stdout + run.stderr
    assert str(folders[0]) in run.stdout
    assert_nowhere(sentinels(lab), folder=root, texts=(run.stdout, run.stderr))
    assert_plain_text(run.stdout + run.stderr, f"cucmkit run {purpose}: output")
    for path in sorted(folders[0].glob("*.html")) + sorted(folders[0].glob("*.ipynb")):
        assert_plain_text(unescaped(path), path.name)
    return folders[0], run


@pytest.fixture(scope="module")
def manual_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    """A lab of its own for the manual CA's runs (their CSRs and inbox files stay apart from other tests')."""
    with make_lab(tmp_path_factory.mktemp("manuallab") / "state") as lab:
        yield lab


def manual_ca_params(lab: LabCluster, tmp_path: Path) -> tuple[Path, Path]:
    """The lab's parameter file with the manual CA's outbox and inbox under ``tmp_path``; (file, exchange folder)."""
    params = write_params(lab, tmp_path / "lab.yaml")
    data = yaml.safe_load(params.read_text())
    exchange = tmp_path / "ca-exchange"
    data["ca"].update(outbox=str(exchange / "outbox"), inbox=str(exchange / "inbox"))
    params.write_text(yaml.safe_dump(data, sort_keys=False))
    return params, exchange


def run_manual_ca(lab: LabCluster, tmp_path: Path, params: Path, ticket: str,
                  *extra: str) -> subprocess.CompletedProcess[str]:
    """`cucmkit run tomcat --ca manual` from ``tmp_path`` as working directory (the project named by CUCMKIT_ROOT)."""
    args = ["tomcat", "-f", str(params), "--ticket", ticket, "--ca", "manual", "--approve", "--timeout", "120",
            "--evidence-root", str(tmp_path / "evidence"), "--state-dir", str(tmp_path / "state"), *extra]
    return subprocess.run([sys.executable, "-m", "cucmkit", "run", *args], cwd=tmp_path, text=True,
                          capture_output=True, env=child_env(lab, CUCMKIT_ROOT=str(REPO)), timeout=240)


@pytest.fixture(scope="module")
def slow_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    """A lab of its own whose service restarts hang (so a cell can time out or a kernel be killed mid-restart)."""
    with make_lab(tmp_path_factory.mktemp("slowlab") / "state") as lab:
        lab.state.faults.set("*", "slow_restart", 2000)
        yield lab


def run_plain_papermill(lab: LabCluster, tmp_path: Path, notebook: str, options: tuple[str, ...]) -> None:
    """`papermill notebooks/<notebook> out -f <lab params> ...` runs every cell and leaks no secret."""
    import nbformat

    params = write_params(lab, tmp_path / "parameters" / "lab.yaml")
    out = tmp_path / "out" / notebook
    out.parent.mkdir()
    run = papermill(notebook, out, params, "-p", "state_dir", str(tmp_path / "state"), *options,
                    env=child_env(lab))
    assert run.returncode == 0, run.stderr[-3000:]
    nb = nbformat.read(out, as_version=4)
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code"), "a cell did not run"
    assert_nowhere(sentinels(lab), folder=out.parent, texts=(run.stdout, run.stderr))
