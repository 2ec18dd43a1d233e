"""The HTML page: renders with nothing to show, escapes what certificates and errors say, sorts in the browser."""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType

from cucmkit.watch.classify import classify_fleet
from cucmkit.watch.model import ClusterResult, Reach, Report
from cucmkit.watch.report import render_html
from cucmkit.watch.scan import ClusterScan

from .material import NOW, make, params, record

PUB = "pub.c1.example"


def test_an_unreachable_cluster_alone_renders_with_its_error() -> None:
    down = ClusterResult(name="east", parameters_file="east.yaml", threshold_days=30, reach=Reach.UNREACHABLE,
                         error="cannot connect to https://10.0.0.1:8443")
    page = render_html(Report(generated_at=NOW, clusters=(down,), items=()))
    assert "cannot connect to https://10.0.0.1:8443" in page and "exit 6" in page
    assert "No runbook needs to run." in page


def test_hostile_names_are_escaped() -> None:
    leaf = make("<script>alert(1)</script>", not_after=NOW + dt.timedelta(days=3), slot=30)
    scan = ClusterScan(params=params(), parameters_file="c1.yaml", records=(record(leaf, node=PUB, purpose="tomcat"),),
                       node_errors=MappingProxyType({"sub.c1.example": "<img src=x onerror=alert(2)>"}))
    page = render_html(classify_fleet([scan], now=NOW))
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert "<img src=x" not in page and "&lt;img src=x" in page
    assert page.count("<script>") == 1                      # only the sort script
