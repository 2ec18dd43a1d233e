"""A cell that prints a secret with HTML-special characters in every encoding: nothing survives into the evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from cucmkit.evidence import verify

from ._encodings import SPECIALS, encodings, inner
from ._notebooks import _run

NASTY = f"CaPass{SPECIALS}&w\"k-5e1d"

_LEAK = """import base64, html, json, urllib.parse
from IPython.display import HTML, display
secret = password.reveal()
print("raw", secret)
print("json", json.dumps({"password_is": secret}))
print("url", urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret))
print("basic", base64.b64encode(("causer:" + secret).encode()).decode())
print("hex", secret.encode().hex(), secret.encode().hex().upper())
for shift in range(3):
    print("b64", base64.b64encode(b"x" * shift + secret.encode() + b"yyy").decode())
display(HTML("<b>" + html.escape(secret) + "</b>"))
display({"text/plain": repr(secret)}, raw=True)
"""


@pytest.fixture
def nasty_params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CUCMKIT_TEST_CA_PASSWORD", NASTY)
    path = tmp_path / "c1.yaml"
    path.write_text("cluster: c1\ncredentials:\n"
                    "  os_admin: {username: causer, password: {env: CUCMKIT_TEST_CA_PASSWORD}}\n")
    return path


def test_every_encoding_printed_by_a_cell_is_redacted_and_fails_the_run(tmp_path: Path, nasty_params: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from . import _notebooks

    monkeypatch.setitem(_notebooks.BODIES, "nasty", _LEAK)
    outcome = _run(tmp_path, nasty_params, "nasty", timeout=60)
    assert outcome.record.status == "failed"
    assert {f.split(":")[0] for f in outcome.record.secret_scan} >= {"inventory.html", "inventory.ipynb"}
    html_text = (outcome.folder / "inventory.html").read_text()
    assert "[REDACTED]" in html_text and "<b>[REDACTED]</b>" in html_text.replace("&lt;", "<").replace("&gt;", ">")
    for path in outcome.folder.iterdir():
        text = path.read_text(encoding="utf-8")
        for name, encoded in encodings(NASTY, user="causer").items():
            assert inner(name, encoded) not in text, (name, path.name)
    report = verify(outcome.folder, parameter_files=[nasty_params])
    assert report.ok, report.lines()
