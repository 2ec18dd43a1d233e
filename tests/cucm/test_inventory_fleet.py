"""A fleet's inventory: concurrent reading changes no record; the speed-ups (shared TLS contexts, cached
records) return exactly what the slow path did."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cucmkit.certs import records
from cucmkit.certs.records import record_from_pem
from cucmkit.cucm import _http
from cucmkit.cucm.inventory import inventory_files, inventory_fleet, read_cluster
from cucmkit.cucm.node import Cluster
from cucmkit.errors import ParameterError
from cucmkit.lab.fleet import LabFleet
from cucmkit.params import load_parameters


@pytest.mark.timeout(300)
def test_serial_and_concurrent_fleet_inventories_are_identical(tmp_path: Path) -> None:
    with LabFleet(tmp_path, clusters=3, nodes=3) as fleet:
        params = [load_parameters(p) for p in fleet.parameters()]
        serial = []
        for p in params:                                   # one node after the other, a fresh Cluster each
            with Cluster.from_parameters(p) as cluster:
                serial.append((p.cluster, cluster.inventory(workers=1)))
        concurrent = list(inventory_fleet(params, in_flight=6))   # two clusters at once, nodes in parallel
        again = list(inventory_fleet(params, in_flight=1000))     # every node at once, records now cached
        alone = [(p.cluster, read_cluster(p)) for p in params]
    assert [name for name, _ in concurrent] == [p.cluster for p in params]
    assert concurrent == serial and again == serial and alone == serial
    assert all(len(found) > 10 for _, found in serial)
    assert {r.node for _, found in serial for r in found} == {n.fqdn for p in params for n in p.nodes}


@pytest.mark.timeout(300)
def test_worker_processes_read_the_same_records_in_the_order_of_the_files(tmp_path: Path) -> None:
    with LabFleet(tmp_path / "fleet", clusters=5, nodes=2) as fleet:
        files = [_written(tmp_path / f"cluster{i}.yaml", data) for i, data in enumerate(fleet.parameters())]
        alone = [(p.cluster, read_cluster(p)) for p in map(load_parameters, files)]
        sharded = list(inventory_files(files, in_flight=4, processes=2))      # shards of 3 and 2 files
        single = list(inventory_files(files, in_flight=4, processes=1))
        bad = tmp_path / "broken.yaml"
        bad.write_text("cluster: [unclosed\n")
        with pytest.raises(ParameterError, match="broken.yaml"):             # named before any worker starts
            inventory_files([*files, bad], processes=2)
    assert [name for name, _ in sharded] == [load_parameters(f).cluster for f in files]
    assert sharded == alone and single == alone and all(len(found) > 10 for _, found in alone)
    with pytest.raises(ValueError, match="processes must be >= 1"):
        inventory_files(files, processes=0)


def _written(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_in_flight_must_be_positive() -> None:
    with pytest.raises(ValueError, match="in_flight must be >= 1"):
        inventory_fleet([], in_flight=0)
    assert list(inventory_fleet([])) == []


def _ca_pem(name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_tls_contexts_are_shared_by_bundle_text_and_rebuilt_when_it_changes(tmp_path: Path) -> None:
    one, two = tmp_path / "one.pem", tmp_path / "two.pem"
    text = _ca_pem("Shared Root")
    one.write_text(text)
    two.write_text(text)                                   # other file, same text: same trust, same context
    first = _http._ssl_context((one,), None, node="a.example")
    assert _http._ssl_context((two,), None, node="b.example") is first
    assert first.cert_store_stats()["x509_ca"] == 1
    one.write_text(text + _ca_pem("Added Root"))           # the bundle changed: a new context trusts both
    changed = _http._ssl_context((one,), None, node="a.example")
    assert changed is not first and changed.cert_store_stats()["x509_ca"] == 2
    pinned = _http._ssl_context((one,), "ab" * 32, node="a.example")
    assert pinned.verify_mode.name == "CERT_NONE" and pinned is not changed


def test_cached_records_equal_a_fresh_parse() -> None:
    pem = _ca_pem("Cached Root")
    first = record_from_pem(pem, node="n1", purpose="tomcat", store="tomcat-trust", filename="a.pem")
    second = record_from_pem(pem, node="n2", purpose="CallManager", store="CallManager-trust", filename="b.pem")
    assert second == replace(first, node="n2", purpose="CallManager", store="CallManager-trust", filename="b.pem")
    assert first.node == "n1" and second.node == "n2"                    # placing never changes the template
    with records._cache_lock:
        records._cache.clear()
        records._digests.clear()
    fresh = record_from_pem(pem, node="n2", purpose="CallManager", store="CallManager-trust", filename="b.pem")
    assert fresh == second and hash(fresh) == hash(second)
    assert record_from_pem(pem.encode(), node="n2", purpose="CallManager", store="CallManager-trust",
                           filename="b.pem") == fresh
