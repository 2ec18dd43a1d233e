"""The trust inventory on the lab: key ids, dependents by chain, and each stale reason."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import yaml

from cucmkit.certs.records import record_from_pem
from cucmkit.cucm import Cluster
from cucmkit.lab import LabCluster, pki
from cucmkit.lab.starting import EXPIRED_CN, OLD_LABEL
from cucmkit.params import load_parameters
from cucmkit.trust.cleanup import read_inventory
from cucmkit.trust.inventory import build_inventory, key_ids

from .conftest import partner_ca, run_cucmkit

NOW = dt.datetime.now(dt.UTC)


def _inventory(params_path: Path, keep: tuple[str, ...] = ()):
    params = load_parameters(params_path)
    with Cluster.from_parameters(params) as cluster:
        return read_inventory(cluster, keep=keep or params.trust.keep, now=dt.datetime.now(dt.UTC))


def test_starting_lab_expired_partner_and_old_ca_in_use(trust_lab: LabCluster, trust_params: Path) -> None:
    inventory = _inventory(trust_params)
    expired = inventory.named(EXPIRED_CN)[0]
    assert expired.stale == ("expired", "orphaned") and not expired.in_use and expired.deletable
    assert len(expired.locations) == len(trust_lab.endpoints())          # tomcat-trust of every node
    root = inventory.named(f"{OLD_LABEL} Root CA")[0]
    issuing = inventory.named(f"{OLD_LABEL} Issuing CA")[0]
    assert not root.stale and root.in_use and not root.deletable
    pub_tomcat = trust_lab.state.node("cucm-pub").own()["tomcat"].pem
    assert record_from_pem(pub_tomcat).fingerprint_sha256 in {d.fingerprint for d in root.dependents}
    assert {d.fingerprint for d in root.dependents} == {d.fingerprint for d in issuing.dependents}
    assert issuing.aki == root.ski and root.ski is not None
    assert int(issuing.serial, 16) == pki.load_cert(issuing.pem).serial_number


def test_orphaned_and_kept(trust_lab: LabCluster, trust_params: Path, tmp_path: Path) -> None:
    orphan = partner_ca("Retired Partner CA", slot=950)
    trust_lab.state.node("cucm-sub1").upload_trust("tomcat-trust", orphan)
    entry = _inventory(trust_params).named("Retired Partner CA")[0]
    assert entry.stale == ("orphaned",) and entry.deletable
    data = yaml.safe_load(trust_params.read_text())
    data["trust"] = {"keep": [entry.fingerprint.upper()]}
    pinned = tmp_path / "pinned.yaml"
    pinned.write_text(yaml.safe_dump(data))
    kept = _inventory(pinned).named("Retired Partner CA")[0]
    assert kept.kept and kept.stale == () and not kept.deletable
    trust_lab.state.node("cucm-sub1").delete_trust("tomcat-trust", "Retired_Partner_CA.pem")


def test_same_cn_newer_key_supersedes_but_in_use_is_kept(trust_lab: LabCluster, trust_params: Path) -> None:
    """A newer root with the old root's CN on one node: the old copy elsewhere is superseded, yet still in use."""
    old_root_cn = f"{OLD_LABEL} Root CA"
    newer = pki.self_signed(cn=old_root_cn, key=pki.pooled_key("rsa", 2048, 951), ou="PKI", days=3000, is_ca=True)
    node = trust_lab.state.node("cucm-sub2")
    before = node.trust("ipsec-trust")[old_root_cn.replace(" ", "_") + ".pem"]
    node.upload_trust("ipsec-trust", newer)      # CUCM keeps one per CN: the newer replaces the older there
    try:
        inventory = _inventory(trust_params)
        old = inventory.get(record_from_pem(before).fingerprint_sha256)
        assert "superseded" in old.stale and old.superseded_by == record_from_pem(newer).fingerprint_sha256
        assert old.in_use and not old.deletable
        assert "orphaned" in inventory.get(old.superseded_by).stale    # nothing is signed by the new key
    finally:
        node.delete_trust("ipsec-trust", old_root_cn.replace(" ", "_") + ".pem")
        node.upload_trust("ipsec-trust", before)


def test_pure_build_needs_aware_clock_and_reads_key_ids() -> None:
    root_pem = partner_ca("Pure Root", slot=952)
    record = record_from_pem(root_pem, node="n1", store="tomcat-trust")
    inventory = build_inventory([record], now=NOW)
    assert inventory.entries[0].ski == key_ids(pki.load_cert(root_pem))[0]
    try:
        build_inventory([record], now=dt.datetime.now())
    except ValueError as exc:
        assert "timezone-aware" in str(exc)
    else:
        raise AssertionError("a naive clock must be refused")


def test_cli_list_and_stale(trust_params: Path) -> None:
    listed = run_cucmkit("trust", "list", "-f", str(trust_params), "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert {"ski", "aki", "serial", "dependents", "stale", "locations"} <= set(rows[0])
    stale = run_cucmkit("trust", "stale", "-f", str(trust_params))
    assert stale.returncode == 0, stale.stderr
    assert EXPIRED_CN in stale.stdout and "expired, orphaned" in stale.stdout
    assert f"{OLD_LABEL} Root CA" not in stale.stdout
