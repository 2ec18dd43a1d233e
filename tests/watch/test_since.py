"""--since: newly due, renewed since, resolved, newly unreachable, reachable again (pure)."""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType

import pytest

from cucmkit.watch.classify import classify_fleet
from cucmkit.watch.report import read_report, write_json
from cucmkit.watch.scan import ClusterScan
from cucmkit.watch.since import diff

from .material import NOW, make, params, record

PUB, SUB, IMP = "pub.c1.example", "sub.c1.example", "imp.c1.example"
DAY = dt.timedelta(days=1)
LATER = NOW + 7 * DAY


def _scan(cluster: str, *records, down: bool = False) -> ClusterScan:
    p = params(cluster)
    errors = {n.fqdn: "cannot connect" for n in p.nodes} if down else {}
    return ClusterScan(params=p, parameters_file=f"{cluster}.yaml", records=tuple(records),
                       node_errors=MappingProxyType(errors))


@pytest.fixture(scope="module")
def certs():
    return {
        "tomcat_old": make(PUB, not_after=NOW + 20 * DAY, slot=11),
        "tomcat_new": make(PUB, not_after=NOW + 720 * DAY, slot=12),
        "cm": make(PUB, not_after=NOW + 65 * DAY, slot=13),        # fine at NOW, due a week later (60-day threshold)
        "trust_dead": make("Dead CA", not_after=NOW - DAY, ca=True, slot=14),
    }


def test_diff_names_newly_due_renewed_resolved_and_reachability(certs) -> None:
    r = lambda name, **kw: record(certs[name], node=PUB, **kw)  # noqa: E731
    before = classify_fleet([
        _scan("c1", r("tomcat_old", purpose="tomcat"), r("cm", purpose="CallManager"),
              r("trust_dead", store="tomcat-trust")),
        _scan("c2", r("tomcat_old", purpose="tomcat")),
        _scan("c3", down=True),
    ], now=NOW)
    after = classify_fleet([
        _scan("c1", r("tomcat_new", purpose="tomcat"), r("cm", purpose="CallManager")),   # renewed; trust deleted
        _scan("c2", down=True),
        _scan("c3", r("tomcat_old", purpose="tomcat")),
    ], now=LATER, threshold=None)
    change = diff(before, after)
    assert change.previous_generated_at == NOW
    assert change.renewed == (f"c1|{PUB}|own|tomcat",)
    assert change.newly_due == tuple(sorted([f"c1|{PUB}|own|CallManager", f"c3|{PUB}|own|tomcat"]))
    dead = before.items[2].key
    assert change.resolved == (dead,)                    # c2's tomcat is unknown (unreachable), not resolved
    assert change.newly_unreachable == ("c2",) and change.reachable_again == ("c3",)


def test_nothing_changed_is_an_empty_diff(certs) -> None:
    scan = _scan("c1", record(certs["tomcat_old"], node=PUB, purpose="tomcat"))
    change = diff(classify_fleet([scan], now=NOW), classify_fleet([scan], now=NOW + DAY))
    assert (change.newly_due, change.renewed, change.resolved, change.newly_unreachable) == ((), (), (), ())


def test_report_round_trips_through_json_and_a_foreign_file_is_refused(tmp_path, certs) -> None:
    report = classify_fleet([_scan("c1", record(certs["tomcat_old"], node=PUB, purpose="tomcat"))], now=NOW)
    path = write_json(report, tmp_path / "watch.json")
    assert read_report(path) == report
    (tmp_path / "other.json").write_text('{"hello": 1}')
    from cucmkit.errors import ParameterError
    with pytest.raises(ParameterError, match="not a cucmkit watch report"):
        read_report(tmp_path / "other.json")
    with pytest.raises(ParameterError, match="cannot be read"):
        read_report(tmp_path / "missing.json")
