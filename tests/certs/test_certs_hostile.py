"""The hostile-input corpus (tests/certs/hostile.py) through intake + validation, bounded in time and memory.

All cases run in one worker process (tests/certs/hostile_worker.py) under RLIMIT_AS and a per-case alarm;
each case is then its own test here. A sample also runs through the real ``cucmkit check`` command line.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from .hostile import Case, corpus

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("hostile_worker.py")
CASE_SECONDS = 5.0          # per case, on a loaded 2-core box
MESSAGE_CHARS = 1200        # no message may be longer (values in messages are shortened)
CLI_MEMORY = 1536 * 1024 * 1024
NOW_ARG = "2026-11-26T12:00:00+00:00"

CASES = {case.name: case for case in corpus()}


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _write(case: Case, folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, (name, data) in enumerate(case.files):
        path = folder / f"{index}-{name}"
        path.write_bytes(data)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    base = tmp_path_factory.mktemp("hostile")
    manifest = [{"name": c.name, "purpose": c.purpose, "files": _write(c, base / c.name)} for c in CASES.values()]
    (base / "manifest.json").write_text(json.dumps(manifest))
    run = subprocess.run([sys.executable, str(WORKER), str(base / "manifest.json"), str(base / "results.json")],
                         capture_output=True, text=True, timeout=240, env=_env(), cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    return {o["name"]: o for o in json.loads((base / "results.json").read_text())}


def test_the_corpus_is_large_and_varied():
    kinds = {c.expect for c in CASES.values()}
    assert len(CASES) >= 150 and kinds == {"ok", "refused", "unusable", "any"}


def _flagged(outcome: dict, names: tuple[str, ...], statuses: tuple[str, ...]) -> str:
    found = [c for c in outcome["checks"] if c[0] in names and c[1] in statuses]
    assert {c[0] for c in found} == set(names), (names, outcome["checks"])
    return " ".join(" ".join(c[2:]) for c in found)


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_case(outcomes: dict[str, dict], name: str) -> None:
    case, outcome = CASES[name], outcomes[name]
    assert outcome["kind"] not in ("crash", "timeout"), outcome.get("traceback") or outcome
    assert outcome["seconds"] < CASE_SECONDS, outcome["seconds"]
    if outcome["kind"] == "unusable":
        message = outcome["message"]
        assert case.expect in ("unusable", "any"), message
        assert case.word in message and "Traceback" not in message and len(message) < MESSAGE_CHARS
        assert case.files[0][0] in message  # the file is named
        return
    assert case.expect in ("ok", "refused", "any"), outcome["text"]
    assert all(len(c[2]) < MESSAGE_CHARS for c in outcome["checks"])
    if case.expect == "ok":
        assert outcome["ok"], outcome["text"]
        text = _flagged(outcome, case.checks, ("warn",)) if case.checks else outcome["text"]
        assert case.word in text
    elif case.expect == "refused":
        assert not outcome["ok"], outcome["text"]
        assert case.word in _flagged(outcome, case.checks, ("fail", "warn"))


def test_no_private_key_material_reaches_the_report(outcomes: dict[str, dict]) -> None:
    for name in ("private-key-in-bundle", "private-key-in-zip"):
        body = CASES[name].extra.get("key_body")
        assert isinstance(body, str) and len(body) > 40
        assert body not in outcomes[name]["json"] and body not in outcomes[name]["text"]


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CLI_MEMORY, CLI_MEMORY))


def _cli(purpose: str, files: list[str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cucmkit", "check", "--purpose", purpose, "--now", NOW_ARG, *extra, *files],
                          capture_output=True, text=True, timeout=60, env=_env(), cwd=ROOT, preexec_fn=_limit_memory)


CLI_SAMPLE = ("zip-nested-bomb", "zip-flat-bomb", "same-name-mesh-48", "cycle-a-b", "md5-leaf", "private-key-in-bundle",
              "issuer-name-spaces", "garbage-3")
EXIT = {"ok": 0, "refused": 1, "unusable": 2}


@pytest.mark.slow
@pytest.mark.parametrize("name", CLI_SAMPLE)
def test_cli_sample(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    run = _cli(case.purpose, _write(case, tmp_path))
    assert "Traceback" not in run.stderr, run.stderr
    if case.expect == "any":
        assert run.returncode in (0, 1, 2)
    else:
        assert run.returncode == EXIT[case.expect], (run.stdout, run.stderr)
    if run.returncode == 2:
        assert run.stderr.startswith("cucmkit check: ") and run.stdout == ""


def test_cli_reads_dev_zero_without_running_out_of_memory() -> None:
    run = _cli("tomcat", ["/dev/zero"])
    assert (run.returncode, run.stderr) == (2, "cucmkit check: /dev/zero: is larger than 8 MiB; not a certificate bundle\n")
