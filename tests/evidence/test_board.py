"""The evidence a change board reads: first screen in headless Chromium, one ticket's index, signature, pack.

One story under ticket CHG-7 on cluster c1: a WAITING run (no approval), a FAILED run (a node error in
activate), a DONE run, then a re-run that found NOTHING DUE. Chromium is Debian's package (scripts/setup
installs it): a missing chromium fails these tests, never skips them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cucmkit.cli import main
from cucmkit.evidence import verify
from cucmkit.lab.signing import SigningPair, write_signing_pair

from ._board import NEW_SERIALS, NODES, OLD_SERIALS, SENTINEL, fingerprint, run

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
# The screenshots linked from docs/runbooks.md are refreshed only on request
# (CUCMKIT_UPDATE_SCREENSHOTS=1); an ordinary run keeps them in its tmp folder.
UPDATE_SCREENSHOTS = os.environ.get("CUCMKIT_UPDATE_SCREENSHOTS") == "1"
ORDER = ("waiting", "failed", "done", "nothing-due")


def _params(folder: Path, pair: SigningPair) -> Path:
    path = folder / "c1.yaml"
    path.write_text(
        "cluster: c1\n"
        "credentials:\n  os_admin: {username: admin, password: {env: CUCMKIT_TEST_BOARD}}\n"
        "maintenance_window: {start: '2026-11-27T22:00:00+00:00', end: '2026-11-28T02:00:00+00:00'}\n"
        f"evidence: {{signing_key: {{file: {pair.key}}}, signing_cert: {pair.cert}, signing_ca: {pair.ca}}}\n")
    return path


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The four runs of CHG-7, oldest first: verdict -> run folder (plus 'ticket', 'params', 'ca')."""
    base = tmp_path_factory.mktemp("board")
    pair = write_signing_pair(base / "keys")
    params = _params(base, pair)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CUCMKIT_TEST_BOARD", SENTINEL)
        folders = {mode: run(base, params, mode, root=base / "evidence").folder for mode in ORDER}
        yield {**folders, "ticket": base / "evidence" / "c1" / "CHG-7", "params": params, "ca": pair.ca}


def _chromium(*args: str) -> str:
    assert Path(CHROMIUM).is_file(), "chromium is missing: scripts/setup installs Debian's chromium"
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--disable-dev-shm-usage", "--hide-scrollbars", *args],
                          capture_output=True, text=True, timeout=240, check=True)
    return done.stdout


def _first_screen(dom: str) -> str:
    match = re.search(r"<section id=\"cucmkit-board\".*?</section>", dom, re.S)
    assert match, "the page has no first screen"
    return match.group(0)


@pytest.mark.parametrize("mode", ["done", "waiting", "failed"])
def test_first_screen_in_chromium(story: dict[str, Path], mode: str, tmp_path: Path) -> None:
    page = story[mode] / "tomcat.html"
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = _chromium(*profile, "--dump-dom", page.as_uri())
    folder = DOCS_IMG if UPDATE_SCREENSHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    shot = folder / f"evidence-{mode}.png"
    _chromium(*profile, f"--screenshot={shot}", "--window-size=1280,1000", page.as_uri())
    assert shot.stat().st_size > 10_000
    screen = _first_screen(dom)
    label = {"done": "DONE", "waiting": "WAITING", "failed": "FAILED"}[mode]
    assert f'data-verdict="{mode}"' in screen and f"<b>{label}</b>" in screen
    assert re.search(rf"<title>{label}: tomcat on c1, ticket CHG-7</title>", dom)
    for fact in ("c1", "CHG-7", "2026-11-27 22:00:00 UTC to 2026-11-28 02:00:00 UTC", "signed by"):
        assert fact in screen, fact
    for node, old in zip(NODES, OLD_SERIALS, strict=True):
        assert node in screen and f"{old:X}" in screen
        assert "CN=" + node + ",OU=Voice,O=Example Corp,L=Zurich,ST=ZH,C=CH" in screen
    assert "An Exception was encountered" not in dom                   # papermill's red banner is gone
    assert mode == "failed" or "PapermillExecutionError" not in dom     # a pause is not a crash
    assert "cucmkit-run-" not in dom and "journal.jsonl" not in dom   # no internal temporary path
    assert "LAB-CHANGE" not in dom                                     # no parameter defaults before the injected
    assert not re.search(r"\d\d:\d\d:\d\d\.\d{6}", screen)           # no microsecond timestamps


def test_done_screen_shows_what_changed(story: dict[str, Path]) -> None:
    screen = _first_screen((story["done"] / "tomcat.html").read_text())
    for node, old, new in zip(NODES, OLD_SERIALS, NEW_SERIALS, strict=True):
        assert f"<code class=old>{old:X}</code> &rarr; <code>{new:X}</code>" in screen
        assert f"<code>{fingerprint(node, 'after')}</code>" in screen   # full, copyable
    assert "restart Cisco Tomcat" in screen and "RSA 2048" in screen
    assert "approver: <b>Jane Doe (CAB)</b>" in screen
    assert "Re-enable SAML SSO" in screen
    assert "Earlier attempts of ticket CHG-7" in screen
    assert f'href="../{story["waiting"].name}/tomcat.html"' in screen
    assert f'href="../{story["failed"].name}/tomcat.html"' in screen


def test_waiting_screen_reads_as_a_pause(story: dict[str, Path]) -> None:
    page = (story["waiting"] / "tomcat.html").read_text()
    screen = _first_screen(page)
    assert "Paused on purpose" in screen and "not approved yet" in screen
    assert "WAITING: approval required" in page and "Traceback" not in page
    numbers = re.findall(r"In \[(\d+)\]", screen)
    assert numbers and all(f"In&nbsp;[{n}]" in page or f"In [{n}]" in page for n in numbers)


def test_ticket_index_tells_one_story(story: dict[str, Path]) -> None:
    index = json.loads((story["ticket"] / "index.json").read_text())
    assert [r["verdict"] for r in index["runs"]] == list(ORDER)
    assert [r["folder"] for r in index["runs"]] == [story[m].name for m in ORDER]
    assert index["attach"] == story["done"].name              # a later NOTHING DUE run does not replace it
    html = (story["ticket"] / "index.html").read_text()
    assert "attach this one" in html and "NOTHING DUE" in html
    record = json.loads((story["nothing-due"] / "result.json").read_text())
    assert (record["status"], record["verdict"]) == ("done", "nothing-due")
    assert "NOTHING DUE" in _first_screen((story["nothing-due"] / "tomcat.html").read_text())


def test_every_run_is_signed_and_openssl_verifies_it(story: dict[str, Path]) -> None:
    for mode in ORDER:
        folder = story[mode]
        subprocess.run(["openssl", "cms", "-verify", "-binary", "-content", "manifest.json", "-in",
                        "manifest.json.p7s", "-inform", "PEM", "-CAfile", str(story["ca"]), "-out", "/dev/null"],
                       cwd=folder, check=True, capture_output=True)
        report = verify(folder, parameter_files=[story["params"]])
        assert report.ok and report.signature.state == "signed", report.lines()


def test_pack_is_one_verifiable_attachment(story: dict[str, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "CHG-7.zip"
    assert main(["evidence", "pack", "CHG-7", "--root", str(story["ticket"].parents[1]), "-o", str(out)]) == 0
    assert "attach this one file" in capsys.readouterr().out
    names = set(zipfile.ZipFile(out).namelist())
    assert {"c1/CHG-7/index.html", "c1/CHG-7/index.json"} <= names
    for mode in ORDER:
        for file in ("tomcat.html", "result.json", "manifest.json", "manifest.json.p7s"):
            assert f"c1/CHG-7/{story[mode].name}/{file}" in names
    zipfile.ZipFile(out).extractall(tmp_path / "unpacked")
    report = verify(tmp_path / "unpacked" / "c1" / "CHG-7" / story["done"].name, parameter_files=[story["params"]])
    assert report.ok, report.lines()


def test_no_secret_in_any_new_file(story: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "all.zip"
    assert main(["evidence", "pack", str(story["ticket"]), "-o", str(out)]) == 0
    files = [p for p in story["ticket"].rglob("*") if p.is_file()]
    assert {"index.html", "index.json", "manifest.json.p7s"} <= {p.name for p in files}
    for path in [*files, out]:
        data = path.read_bytes()
        assert SENTINEL.encode() not in data and b"PRIVATE KEY" not in data, path
    for member in zipfile.ZipFile(out).namelist():
        assert SENTINEL.encode() not in zipfile.ZipFile(out).read(member), member
