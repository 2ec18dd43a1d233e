"""notebooks/trust.ipynb under papermill against the lab: inventory, plot, stale list, approved clean-up."""

from __future__ import annotations

import json
from pathlib import Path

import papermill
import pytest

from cucmkit.lab import LabCluster
from cucmkit.lab.starting import EXPIRED_CN
from tests.notebooks.conftest import assert_plain_text

from .conftest import partner_ca

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "trust.ipynb"
pytestmark = pytest.mark.notebook


def _run(out: Path, params: Path, **extra: object) -> dict[str, object]:
    papermill.execute_notebook(str(NOTEBOOK), str(out), parameters={"parameters_file": str(params), **extra},
                               progress_bar=False, kernel_name="python3")
    return json.loads(out.read_text())


def test_notebook_lists_plots_and_cleans_with_approval(trust_lab: LabCluster, trust_params: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUCMKIT_ROOT", str(tmp_path))
    trust_lab.state.node("cucm-sub2").upload_trust("CallManager-trust", partner_ca("Notebook Orphan CA", slot=960))
    with pytest.raises(papermill.PapermillExecutionError, match="not approved"):
        _run(tmp_path / "refused.ipynb", trust_params, ticket="NB-1")
    assert "Notebook_Orphan_CA.pem" in trust_lab.state.node("cucm-sub2").trust("CallManager-trust")
    nb = _run(tmp_path / "done.ipynb", trust_params, ticket="NB-1", approve=True)
    text = json.dumps(nb)
    assert "[APPROVED] by parameter" in text                      # a text badge, no emoji
    assert_plain_text(json.dumps(nb, ensure_ascii=False), "trust.ipynb executed")
    assert "image/png" in text and EXPIRED_CN in text and "deleted" in text
    assert "Notebook_Orphan_CA.pem" not in trust_lab.state.node("cucm-sub2").trust("CallManager-trust")
    assert list((tmp_path / "evidence" / "lab" / "NB-1").glob("*-trust-cleanup.json"))
