"""Pure trust logic on generated certificates: dependents, stale reasons, clean-up plan, rotation plan."""

from __future__ import annotations

import datetime as dt

from cucmkit.certs.records import CertRecord, record_from_pem
from cucmkit.lab import pki
from cucmkit.trust.cleanup import plan_cleanup
from cucmkit.trust.inventory import build_inventory
from cucmkit.trust.rotation import collision_error, plan_rotation

NOW = dt.datetime.now(dt.UTC)


def _records(ca: pki.CaPair, *, nodes: tuple[str, ...] = ("pub.example", "sub.example")) -> list[CertRecord]:
    records = []
    for index, node in enumerate(nodes):
        key = pki.pooled_key("rsa", 2048, 980 + index)
        leaf = pki.sign_with(ca, subject=pki.subject_name(node), public_key=key.public_key(), unit="tomcat",
                             sans=(f"DNS:{node}",))
        records.append(record_from_pem(leaf, node=node, store="own", purpose="tomcat"))
        records += [record_from_pem(p, node=node, store="tomcat-trust", purpose="tomcat") for p in
                    (ca.root_pem, ca.inter_pem)]
    return records


def test_dependents_and_unknown_fingerprint_refused() -> None:
    ca = pki.make_ca("Pure A", slot=80)
    inventory = build_inventory(_records(ca), now=NOW)
    assert all(len(e.dependents) == 2 and not e.stale for e in inventory.entries)
    plan = plan_cleanup(inventory, only=["ab" * 32, inventory.entries[0].fingerprint])
    assert not plan.candidates
    assert {r.reason.split(" ")[0] for r in plan.refused} == {"no", "2"}


def test_issuing_only_rotation_retires_the_old_issuing_ca_and_keeps_the_root() -> None:
    ca = pki.make_ca("Pure B", slot=84)
    inventory = build_inventory(_records(ca), now=NOW)
    new = pki.roll_ca(ca, label="Pure B2", new_root=False, slot=88)
    plan = plan_rotation(inventory, [new.inter_pem, new.root_pem])
    assert [e.common_name for e in plan.retire] == ["Pure B Issuing CA"]
    assert plan.renew == (("tomcat", ("pub.example", "sub.example")),) and not plan.collisions
    assert plan.new_chain[0] == new.root_pem                     # root first
    assert set(plan.stage) == {("pub.example", "tomcat-trust"), ("sub.example", "tomcat-trust")}


def test_a_cross_certificate_is_not_staged() -> None:
    ca = pki.make_ca("Pure D", slot=100)
    new = pki.roll_ca(ca, label="Pure D2", cross_sign=True, slot=104)
    plan = plan_rotation(build_inventory(_records(ca), now=NOW), [new.cross_pem, new.inter_pem, new.root_pem])
    assert plan.new_chain == (new.root_pem, new.inter_pem) and not plan.collisions


def test_same_cn_new_key_collides_and_an_older_one_too() -> None:
    ca = pki.make_ca("Pure C", slot=92)
    inventory = build_inventory(_records(ca), now=NOW)
    same = pki.roll_ca(ca, label="Pure C", same_cn=True, slot=96)
    plan = plan_rotation(inventory, [same.inter_pem, same.root_pem])
    assert {c.common_name for c in plan.collisions} == {"Pure C Root CA", "Pure C Issuing CA"}
    error = collision_error(plan.collisions)
    assert "Nothing was changed" in str(error) and "distinct CN" in (error.remedy or "")
    older_key = pki.pooled_key("rsa", 2048, 97)
    older = pki.self_signed(cn="Pure C Root CA", key=older_key, is_ca=True, not_before=NOW - dt.timedelta(days=3000))
    only_root = [r for r in _records(ca) if r.common_name == "Pure C Root CA"]
    [collision] = plan_rotation(build_inventory(only_root, now=NOW), [older]).collisions
    assert collision.older and "not newer" in str(collision_error([collision]))


def test_expired_superseded_orphaned() -> None:
    key = pki.pooled_key("rsa", 2048, 98)
    old = pki.self_signed(cn="Partner", key=key, is_ca=True, days=-1, not_before=NOW - dt.timedelta(days=400))
    newer = pki.self_signed(cn="PARTNER", key=pki.pooled_key("rsa", 2048, 99), is_ca=True)
    records = [record_from_pem(old, node="a", store="tomcat-trust"), record_from_pem(newer, node="b", store="tomcat-trust")]
    inventory = build_inventory(records, now=NOW)
    by_cn = {e.fingerprint: e for e in inventory.entries}
    assert by_cn[record_from_pem(old).fingerprint_sha256].stale == ("expired", "superseded", "orphaned")
    assert by_cn[record_from_pem(newer).fingerprint_sha256].stale == ("orphaned",)
