"""notebooks/trust-rotation.ipynb on a fresh lab: a partner without the new chain stops it before any change to
CUCM; once the partner has the chain, the next run resumes and finishes (stage, renew, verify, retire)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import papermill
import pytest
import yaml

from cucmkit.evidence import known_secrets, scan_dir
from cucmkit.lab import LabCluster, Topology
from cucmkit.lab.control import apply_action
from cucmkit.lab.partner import LabPartner
from cucmkit.lab.starting import OLD_LABEL
from tests.notebooks.conftest import assert_plain_text, unescaped

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "trust-rotation.ipynb"
CHANGES = ("trust_uploaded", "trust_deleted", "identity_uploaded", "csr_generated")
pytestmark = pytest.mark.notebook


@pytest.fixture
def nb_rot_lab(tmp_path: Path) -> Iterator[LabCluster]:
    with LabCluster(tmp_path / "state", topology=Topology(phones=4), ports="ephemeral", speed=0.02) as lab:
        yield lab


def _run(out: Path, params: Path, root: Path) -> None:
    papermill.execute_notebook(str(NOTEBOOK), str(out), progress_bar=False, kernel_name="python3",
                               parameters={"parameters_file": str(params), "new_chain_file": str(root / "new.pem"),
                                           "ticket": "CHG-NB", "approve": True, "state_dir": str(root / "st")})


def test_rotation_runbook_stops_on_partner_then_resumes(nb_rot_lab: LabCluster, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUCMKIT_ROOT", str(tmp_path))
    old_root = nb_rot_lab.ca.old.root_pem if nb_rot_lab.ca.old else ""
    apply_action(nb_rot_lab.state, "ca_rollover", {"label": "Lab G2"}, ca=nb_rot_lab.ca, running=True)
    (tmp_path / "new.pem").write_text("".join(nb_rot_lab.ca.chain()))
    with LabPartner("uccx", trusted=[old_root]) as partner:
        data = yaml.safe_load(nb_rot_lab.write_parameters(tmp_path / "lab.yaml").read_text())
        data["partners"] = [{"name": "uccx", "kind": "uccx", "address": "127.0.0.1", "port": partner.port}]
        params = tmp_path / "lab.yaml"
        params.write_text(yaml.safe_dump(data))
        before = len(nb_rot_lab.state.events(kind=CHANGES))
        with pytest.raises(papermill.PapermillExecutionError, match="do not trust the new chain"):
            _run(tmp_path / "first.ipynb", params, tmp_path)
        assert len(nb_rot_lab.state.events(kind=CHANGES)) == before
        partner.trust(nb_rot_lab.ca.root_pem)
        _run(tmp_path / "second.ipynb", params, tmp_path)
    [evidence, *_] = sorted((tmp_path / "evidence" / "lab" / "CHG-NB").glob("*-trust-rotation.json"), reverse=True)
    body = json.loads(evidence.read_text())
    assert body["status"] == "done" and body["renewals"] and body["deletions"]
    assert "Resuming: done already: collisions" in (tmp_path / "second.ipynb").read_text()
    assert "[APPROVED] by parameter" in (tmp_path / "second.ipynb").read_text()    # a text badge, no emoji
    assert_plain_text(unescaped(tmp_path / "second.ipynb"), "trust-rotation.ipynb executed")
    assert scan_dir(tmp_path / "evidence", known_secrets([params])) == []    # no password, no private key
    remaining = {f for node in nb_rot_lab.state.nodes.values() for store in node.trust_stores().values() for f in store}
    assert f"{OLD_LABEL.replace(' ', '_')}_Root_CA.pem" not in remaining
