"""classify: pure, clock passed in; one second each side of expiry and of the threshold."""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType

import pytest

from cucmkit import catalogue
from cucmkit.watch.classify import classify_cluster, classify_fleet, clean_command, run_command
from cucmkit.watch.model import EXIT_DUE, EXIT_EXPIRED, EXIT_NOTIFY_FAILED, EXIT_OK, EXIT_UNREACHABLE, Reach, Status, exit_code
from cucmkit.watch.scan import ClusterScan

from .material import NOW, make, params, record

PUB, SUB, IMP = "pub.c1.example", "sub.c1.example", "imp.c1.example"
SECOND = dt.timedelta(seconds=1)
DAY = dt.timedelta(days=1)


def _scan(*records, errors=None, cluster_params=None) -> ClusterScan:
    return ClusterScan(params=cluster_params or params(), parameters_file="parameters/c1.yaml", records=tuple(records),
                       node_errors=MappingProxyType(errors or {}))


@pytest.fixture(scope="module")
def pki():
    root = make("Corp Root CA", not_after=NOW + 3000 * DAY, ca=True, slot=1)
    inter = make("Corp Issuing CA", not_after=NOW + 2000 * DAY, issuer=root, ca=True, slot=2)
    stray = make("Stray Partner CA", not_after=NOW + 900 * DAY, ca=True, slot=3)
    return root, inter, stray


@pytest.mark.parametrize(("offset", "status"), [(-SECOND, Status.EXPIRED), (SECOND, Status.DUE),
                                                 (60 * DAY - SECOND, Status.DUE), (60 * DAY + SECOND, Status.OK)])
def test_status_one_second_each_side_of_expiry_and_threshold(pki, offset, status) -> None:
    _, inter, _ = pki
    leaf = make(PUB, not_after=NOW + offset, issuer=inter, slot=4)
    _, items = classify_cluster(_scan(record(leaf, node=PUB, purpose="tomcat")), now=NOW)
    assert items[0].status is status


def test_threshold_override_beats_the_parameter_file(pki) -> None:
    _, inter, _ = pki
    leaf = make(PUB, not_after=NOW + 20 * DAY, issuer=inter, slot=4)
    result, items = classify_cluster(_scan(record(leaf, node=PUB, purpose="tomcat")), now=NOW, threshold=10)
    assert items[0].status is Status.OK and result.threshold_days == 10 and result.commands == ()


def test_due_ca_signed_identity_names_its_runbook_and_the_exact_command(pki) -> None:
    _, inter, _ = pki
    leaf = make(PUB, not_after=NOW + 20 * DAY, issuer=inter, slot=4)
    result, [item] = classify_cluster(_scan(record(leaf, node=PUB, purpose="tomcat")), now=NOW, ticket="CHG42")
    assert item.ca_signed and item.kind == "identity" and item.runbook == catalogue.runbook_for("tomcat")
    assert item.command == "cucmkit run tomcat -f parameters/c1.yaml --ticket CHG42"
    assert result.commands == (item.command,) and result.due == 1 and result.reach is Reach.UP
    assert item.key == f"c1|{PUB}|own|tomcat"


def test_fine_identity_has_no_command_but_keeps_its_runbook(pki) -> None:
    _, inter, _ = pki
    leaf = make(PUB, not_after=NOW + 400 * DAY, issuer=inter, slot=4)
    _, [item] = classify_cluster(_scan(record(leaf, node=PUB, purpose="CallManager")), now=NOW)
    assert item.status is Status.OK and item.command is None and item.action == ""
    assert item.runbook == catalogue.runbook_for("CallManager")


def test_variant_purpose_is_run_by_its_own_name() -> None:
    leaf = make(PUB, not_after=NOW + 5 * DAY, slot=5)
    _, [item] = classify_cluster(_scan(record(leaf, node=PUB, purpose="tomcat-ECDSA")), now=NOW)
    assert not item.ca_signed
    assert item.command == run_command("tomcat-ECDSA", "parameters/c1.yaml")
    assert item.runbook == catalogue.get("tomcat-ECDSA").runbook.notebook


def test_purpose_without_runbook_says_so() -> None:
    leaf = make("ITLRecovery-pub", not_after=NOW + 5 * DAY, slot=5)
    result, [item] = classify_cluster(_scan(record(leaf, node=PUB, purpose="ITLRecovery")), now=NOW)
    assert item.runbook is None and item.command is None and result.commands == ()
    assert "no runbook renews ITLRecovery" in item.action


def test_subscriber_capf_is_regenerated_self_signed_not_renewed() -> None:
    leaf = make("CAPF-sub", not_after=NOW + 5 * DAY, slot=5)
    _, [item] = classify_cluster(_scan(record(leaf, node=SUB, purpose="CAPF")), now=NOW)
    assert item.command is None and item.action == ("regenerate it self-signed: CAPF is CA-signed on the CUCM "
                                                    "publisher only, not on this node")


def test_commands_one_per_purpose_in_the_safe_order(pki) -> None:
    _, inter, _ = pki
    records = [record(make(n, not_after=NOW + 9 * DAY, issuer=inter, slot=6), node=n, purpose=p)
               for n, p in ((PUB, "TVS"), (PUB, "CallManager"), (SUB, "CallManager"), (PUB, "tomcat"), (IMP, "tomcat"))]
    result, _ = classify_cluster(_scan(*records), now=NOW)
    assert [c.split()[2] for c in result.commands] == ["tomcat", "CallManager", "TVS"]


def test_trust_nothing_chains_to_is_unused_and_the_chain_is_used(pki) -> None:
    root, inter, stray = pki
    leaf = make(PUB, not_after=NOW + 300 * DAY, issuer=inter, slot=4)
    expired = make("Expired Partner CA", not_after=NOW - DAY, ca=True, slot=7)
    records = [record(leaf, node=PUB, purpose="tomcat")] + [
        record(c, node=n, store="tomcat-trust", purpose="tomcat") for c in (root, inter, stray, expired)
        for n in (PUB, SUB)]
    result, items = classify_cluster(_scan(*records), now=NOW, ticket="CHG9")
    by_cn = {i.common_name: i for i in items if i.kind == "trust"}
    assert not by_cn["Corp Root CA"].unused and not by_cn["Corp Issuing CA"].unused
    assert by_cn["Stray Partner CA"].unused and by_cn["Stray Partner CA"].status is Status.OK
    gone = by_cn["Expired Partner CA"]
    assert gone.unused and gone.status is Status.EXPIRED and "delete it from tomcat-trust" in gone.action
    fingerprint = gone.fingerprint_sha256
    assert gone.command == f"cucmkit trust clean -f parameters/c1.yaml --only {fingerprint} --ticket CHG9"
    assert gone.key.endswith(fingerprint)
    assert result.commands == (clean_command([fingerprint], "parameters/c1.yaml", "CHG9"),)   # once for both nodes
    assert result.expired == 2 and result.ok == 7


def test_trust_pinned_in_keep_is_never_offered_for_deletion() -> None:
    expired = make("Partner LDAP CA", not_after=NOW - DAY, ca=True, slot=7)
    pinned = params(keep=[expired.fingerprint])
    result, [item] = classify_cluster(_scan(record(expired, node=PUB, store="tomcat-trust"), cluster_params=pinned),
                                      now=NOW)
    assert item.status is Status.EXPIRED and item.command is None and "trust.keep" in item.action
    assert result.commands == ()


def test_a_peers_self_signed_identity_in_trust_is_used() -> None:
    peer = make(SUB, not_after=NOW + 30 * DAY, slot=8)
    _, items = classify_cluster(_scan(record(peer, node=SUB, purpose="tomcat"),
                                      record(peer, node=PUB, store="tomcat-trust")), now=NOW)
    trust = next(i for i in items if i.kind == "trust")
    assert trust.unused is False and trust.status is Status.DUE and trust.command is None


def test_chain_to_an_expiring_ca_says_to_put_its_successor_in(pki) -> None:
    root, _, _ = pki
    short = make("Short Issuing CA", not_after=NOW + 10 * DAY, issuer=root, ca=True, slot=9)
    leaf = make(PUB, not_after=NOW + 9 * DAY, issuer=short, slot=4)
    _, items = classify_cluster(_scan(record(leaf, node=PUB, purpose="ipsec"),
                                      record(short, node=PUB, store="ipsec-trust")), now=NOW)
    trust = next(i for i in items if i.kind == "trust")
    assert trust.status is Status.DUE and trust.unused is False and "successor" in trust.action


def test_reach_up_partial_unreachable_and_never_dropped(pki) -> None:
    _, inter, _ = pki
    leaf = record(make(PUB, not_after=NOW + 300 * DAY, issuer=inter, slot=4), node=PUB, purpose="tomcat")
    partial, _ = classify_cluster(_scan(leaf, errors={SUB: "cannot connect", IMP: "timed out"}), now=NOW)
    assert partial.reach is Reach.PARTIAL and partial.node_errors == {SUB: "cannot connect", IMP: "timed out"}
    down = _scan(errors={n: "cannot connect to https://x:1" for n in (PUB, SUB, IMP)})
    report = classify_fleet([down, _scan(leaf, cluster_params=params("c2"))], now=NOW)
    assert [c.name for c in report.clusters] == ["c1", "c2"]
    assert report.clusters[0].reach is Reach.UNREACHABLE and report.clusters[0].error == "cannot connect to https://x:1"
    assert exit_code(report) == EXIT_UNREACHABLE


def test_exit_codes_highest_wins(pki) -> None:
    _, inter, _ = pki
    ok = record(make(PUB, not_after=NOW + 300 * DAY, issuer=inter, slot=4), node=PUB, purpose="tomcat")
    due = record(make(PUB, not_after=NOW + 3 * DAY, issuer=inter, slot=4), node=PUB, purpose="tomcat")
    dead = record(make("Old", not_after=NOW - DAY, slot=10), node=PUB, store="tomcat-trust")
    assert exit_code(classify_fleet([_scan(ok)], now=NOW)) == EXIT_OK
    assert exit_code(classify_fleet([_scan(ok, due)], now=NOW)) == EXIT_DUE
    assert exit_code(classify_fleet([_scan(due, dead)], now=NOW)) == EXIT_EXPIRED
    partial = classify_fleet([_scan(due, dead, errors={SUB: "down"})], now=NOW)
    assert exit_code(partial) == EXIT_UNREACHABLE
    assert exit_code(partial, notify_failed=True) == EXIT_NOTIFY_FAILED


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        classify_fleet([], now=dt.datetime(2026, 1, 1))
