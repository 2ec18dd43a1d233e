"""Expiry watch for the whole fleet (``cucmkit watch``; docs/watch.md).

    scan.py      read every cluster concurrently through Cluster.inventory
    classify.py  pure, ``now`` passed in: expired / due / ok, CA- or self-signed, runbook and command, unused trust
    model.py     the report as frozen pydantic values (its JSON twin), exit codes
    since.py     ``--since``: newly due, renewed, resolved, newly unreachable
    report.py    the HTML page (pandas Styler tables, matplotlib timeline) and the JSON file
    notify.py    e-mail over SMTP with STARTTLS, Prometheus textfile
    config.py    the watch configuration file
    command.py   the ``cucmkit watch`` command
"""

from __future__ import annotations

from cucmkit.watch.classify import classify_fleet
from cucmkit.watch.config import WatchConfig, load_config
from cucmkit.watch.model import ClusterResult, Diff, Item, Reach, Report, Status, exit_code
from cucmkit.watch.scan import ClusterScan, load_fleet, parameter_files, scan_fleet

__all__ = [
    "classify_fleet",
    "WatchConfig",
    "load_config",
    "ClusterResult",
    "Diff",
    "Item",
    "Reach",
    "Report",
    "Status",
    "exit_code",
    "ClusterScan",
    "load_fleet",
    "parameter_files",
    "scan_fleet",
]
