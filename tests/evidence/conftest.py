"""The parameter file of the small-notebook runner tests: one sentinel secret, referenced through the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._notebooks import SENTINEL


@pytest.fixture
def params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CUCMKIT_TEST_SENTINEL", SENTINEL)
    path = tmp_path / "c1.yaml"
    path.write_text("cluster: c1\ncredentials:\n  os_admin: {username: admin, password: {env: CUCMKIT_TEST_SENTINEL}}\n")
    return path
