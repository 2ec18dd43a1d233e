"""``cucmkit inventory`` and ``cucmkit trust fetch`` as a user runs them: subprocesses against the lab."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cucmkit.certs.records import record_from_pem
from cucmkit.cucm import Cluster
from cucmkit.cucm.command import COLUMNS, inventory_rows
from cucmkit.lab import LabCluster
from cucmkit.params import load_parameters


def _cucmkit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cucmkit", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def inventory_json(lab_params: Path) -> list[dict[str, object]]:
    result = _cucmkit("inventory", "-f", str(lab_params), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_json_lists_every_node_own_and_trust(inventory_json: list[dict[str, object]], lab: LabCluster) -> None:
    nodes = {row["node"] for row in inventory_json}
    assert nodes == {ep.fqdn for ep in lab.endpoints()}
    assert {"own", "tomcat-trust", "CallManager-trust"} <= {row["store"] for row in inventory_json}
    assert set(inventory_json[0]) == set(COLUMNS)
    own_tomcat = next(r for r in inventory_json if r["node"] == "cucm-pub.lab.example" and r["purpose"] == "tomcat"
                      and r["store"] == "own")
    lab_tomcat = record_from_pem(lab.state.node("cucm-pub").own()["tomcat"].pem)
    assert own_tomcat["fingerprint_sha256"] == lab_tomcat.fingerprint_sha256
    expected_days = lab_tomcat.days_left(dt.datetime.now(dt.UTC))
    assert abs(float(own_tomcat["days_left"]) - expected_days) < 0.2  # type: ignore[arg-type]
    assert expected_days < 60 and own_tomcat["flag"] == "EXPIRING"


def test_json_matches_facade(inventory_json: list[dict[str, object]], lab_params: Path) -> None:
    with Cluster.from_parameters(load_parameters(lab_params)) as cluster:
        records = cluster.inventory()
    assert sorted(r.fingerprint_sha256 + r.store + r.node for r in records) == \
        sorted(str(r["fingerprint_sha256"]) + str(r["store"]) + str(r["node"]) for r in inventory_json)


def test_expired_trust_flagged(inventory_json: list[dict[str, object]]) -> None:
    expired = [r for r in inventory_json if r["flag"] == "EXPIRED"]
    assert expired and all(float(r["days_left"]) < 0 for r in expired)  # type: ignore[arg-type]


def _in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from cucmkit.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_threshold_and_csv(lab_params: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _in_process(capsys, "inventory", "-f", str(lab_params), "--csv", "--threshold", "0")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and list(rows[0]) == list(COLUMNS)
    assert {r["flag"] for r in rows} <= {"", "EXPIRED"}
    assert any(r["flag"] == "EXPIRED" for r in rows)


def test_bad_parameter_file_is_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("cluster: x\nnodes: []\ncredentials: {}\n")
    code, _, err = _in_process(capsys, "inventory", "-f", str(path))
    assert code == 1 and err.startswith("error: nodes:")


def test_node_down_is_reported_and_others_listed(lab_params: Path, lab: LabCluster,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    lab.state.faults.set("imp-pub", "unreachable")
    try:
        code, out, err = _in_process(capsys, "inventory", "-f", str(lab_params), "--threshold", "60")
    finally:
        lab.state.faults.clear("imp-pub", "unreachable")
    assert code == 1
    assert "error: [imp-pub.lab.example certmgr snapshot] cannot connect" in err
    assert out.startswith("NODE") and "expired or expiring within 60 days" in out
    listed = {line.split()[0] for line in out.splitlines()[1:] if line.strip() and not line[0].isdigit()}
    assert listed == {"cucm-pub", "cucm-sub1", "cucm-sub2"}


def test_trust_fetch_shows_fingerprint_and_trust(lab_params: Path, lab: LabCluster) -> None:
    result = _cucmkit("trust", "fetch", "-f", str(lab_params))
    assert result.returncode == 0, result.stderr
    with Cluster.from_parameters(load_parameters(lab_params)) as cluster:
        served = cluster.publisher.served_certificate().fingerprint_sha256
    colon = ":".join(served[i:i + 2] for i in range(0, 64, 2)).upper()
    assert colon in result.stdout
    assert "trusted by tls.ca_bundle for cucm-pub.lab.example: yes" in result.stdout


def test_rows_flags_at_threshold_edges() -> None:
    from cucmkit.certs.records import CertRecord

    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def record(days: float) -> CertRecord:
        return CertRecord(node="n.example", purpose="tomcat", store="own", filename="tomcat.pem", subject="CN=n",
                          issuer="CN=ca", common_name="n", serial=255, sans=(), not_before=now - dt.timedelta(days=1),
                          not_after=now + dt.timedelta(days=days), key_type="RSA", key_size=2048,
                          fingerprint_sha256="00" * 32, self_signed=False, pem="")

    rows = inventory_rows([record(-0.0001), record(29.999), record(30)], now=now, threshold=30)
    assert [r["flag"] for r in rows] == ["EXPIRED", "EXPIRING", ""]
    assert rows[0]["serial"] == "ff"


def test_inventory_detects_multi_server_and_per_node_identities() -> None:
    import datetime as dt

    from cucmkit.certs.records import CertRecord
    from cucmkit.cucm.command import distribution

    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    nodes = ("pub.example", "sub.example")

    def record(cn: str, sans: tuple[str, ...], store: str = "own") -> CertRecord:
        return CertRecord(node="pub.example", purpose="tomcat", store=store, filename="tomcat.pem", subject=f"CN={cn}",
                          issuer="CN=ca", common_name=cn, serial=1, sans=sans, not_before=now,
                          not_after=now + dt.timedelta(days=9), key_type="RSA", key_size=2048,
                          fingerprint_sha256="00" * 32, self_signed=False, pem="")

    assert distribution(record("pub-ms.example", ("DNS:pub.example",)), nodes) == "multi-server"   # CUCM's -ms CN
    assert distribution(record("x.example", ("DNS:pub.example", "DNS:sub.example")), nodes) == "multi-server"
    assert distribution(record("pub.example", ("DNS:pub.example", "DNS:example")), nodes) == "this-server"
    assert distribution(record("ca", (), store="tomcat-trust"), nodes) == ""
    rows = inventory_rows([record("pub-ms.example", ())], now=now, threshold=30, cluster_fqdns=nodes)
    assert rows[0]["distribution"] == "multi-server"
