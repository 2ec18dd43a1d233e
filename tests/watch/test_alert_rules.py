"""The alerting rules in docs/: the same in docs/watch.md and docs/prometheus/, naming only metrics the watch writes."""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType

import yaml

from cucmkit.watch.classify import classify_fleet
from cucmkit.watch.notify import metrics_registry
from cucmkit.watch.scan import ClusterScan

from .material import NOW, make, params, record

DOCS = Path(__file__).resolve().parents[2] / "docs"
RULES = DOCS / "prometheus" / "cucmkit-alerts.yml"


def test_watch_md_shows_the_rule_file() -> None:
    text = (DOCS / "watch.md").read_text()
    block = text.split("# /etc/prometheus/rules/cucmkit.yml  (= docs/prometheus/cucmkit-alerts.yml)\n", 1)[1]
    assert block.split("```", 1)[0] == RULES.read_text()


def test_rules_name_only_metrics_the_watch_writes() -> None:
    leaf = record(make("pub.c1.example", not_after=NOW, slot=40), node="pub.c1.example", purpose="tomcat")
    scan = ClusterScan(params=params(), parameters_file="c1.yaml", records=(leaf,), node_errors=MappingProxyType({}))
    written = {family.name for family in metrics_registry(classify_fleet([scan], now=NOW)).collect()}
    rules = [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    named = {name for rule in rules for name in re.findall(r"\bcucm_[a-z_]+", rule["expr"])}
    assert named and named <= written, named - written
    assert {r["alert"] for r in rules} == {"CucmCertificateExpired", "CucmCertificateDue", "CucmClusterNotRead",
                                          "CucmWatchNotRunning"}
