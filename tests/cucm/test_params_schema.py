"""The parameter file's JSON Schema: committed, current, and agreeing with the loader."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from cucmkit.ca import registry
from cucmkit.cli import main
from cucmkit.params import EVIDENCE_KEYS, TOP_LEVEL_KEYS, TRUST_KEYS, load_parameters
from cucmkit.params_command import schema_text

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "docs" / "parameters.schema.json"


def test_committed_schema_is_current() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == schema_text(), \
        "docs/parameters.schema.json is stale: run `cucmkit params schema > docs/parameters.schema.json`"


def test_cli_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert set(schema["properties"]) == {*TOP_LEVEL_KEYS, *TRUST_KEYS, *EVIDENCE_KEYS}
    assert schema["additionalProperties"] is False and schema["required"] == ["cluster", "nodes", "credentials"]
    kinds = [option["properties"]["backend"]["const"] for option in schema["$defs"]["CaSection"]["oneOf"]]
    assert kinds == list(registry.kinds())


@pytest.mark.parametrize("name", ["lab.yaml", "example-cluster.yaml"])
def test_repository_files_point_at_and_satisfy_the_schema(name: str) -> None:
    path = REPO / "parameters" / name
    assert path.read_text().splitlines()[0] == "# yaml-language-server: $schema=../docs/parameters.schema.json"
    data = yaml.safe_load(path.read_text())
    jsonschema.validate(json.loads(json.dumps(data, default=str)), json.loads(COMMITTED.read_text()))


@pytest.mark.parametrize(("edit", "where"), [
    (lambda d: d["nodes"][0].update(https_port=70000), "nodes[0].https_port"),
    (lambda d: d.update(clustr="typo"), "clustr"),
    (lambda d: d["ca"].update(backend="letsencrypt"), "ca.backend"),
    (lambda d: d["ca"].update(password="plain"), "ca.password"),
    (lambda d: d["timeouts"].update(connect=-1), "timeouts.connect"),
])
def test_schema_and_loader_refuse_the_same_mistakes(edit: Any, where: str) -> None:
    data = yaml.safe_load((REPO / "parameters" / "example-cluster.yaml").read_text())
    edit(data)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(json.dumps(data, default=str)), json.loads(COMMITTED.read_text()))
    with pytest.raises(Exception, match=re.escape(where)):
        load_parameters(data, root=REPO, check_secrets=False)


def test_docs_list_the_registered_backends() -> None:
    text = (REPO / "docs" / "parameters.md").read_text()
    listed = text.split("<!-- ca-backends:start -->\n", 1)[1].split("\n<!-- ca-backends:end -->", 1)[0]
    assert listed == registry.describe(), "docs/parameters.md's CA back-end list is stale: paste `cucmkit params backends`"


def test_params_check_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "check", "--no-secrets", "-f", str(REPO / "parameters" / "example-cluster.yaml")]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster: x\n")
    assert main(["params", "check", "--no-secrets", "-f", str(bad)]) == 1
    assert "nodes: is required" in capsys.readouterr().err
