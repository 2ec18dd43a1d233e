"""``cucmkit watch``: the whole fleet's certificate expiry, one report, exit codes a scheduler acts on.

    cucmkit watch -f parameters/ [-f other.yaml ...] [--config watch.yaml] [--out DIR]
                  [--since DIR/watch.json] [--threshold DAYS] [--ticket T] [--no-notify]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path

from cucmkit.errors import CucmKitError
from cucmkit.watch.classify import classify_fleet
from cucmkit.watch.config import WatchConfig, load_config
from cucmkit.watch.model import Report, exit_code
from cucmkit.watch.notify import send_email, should_email, write_metrics
from cucmkit.watch.report import read_report, write_html, write_json
from cucmkit.watch.scan import load_fleet, parameter_files, scan_fleet
from cucmkit.watch.since import diff

__all__ = ["register", "watch", "WatchOutcome", "EPILOG"]

EPILOG = """exit codes (the highest that applies):
  0  nothing due
  4  something due (expires within the threshold)
  5  something expired
  6  a cluster, or a node of one, could not be read
  7  a notification (e-mail, metrics file) could not be delivered
  1  refused input (parameter or configuration file); 2  usage

cron:   17 6 * * *  cd /opt/cucmkit && .venv/bin/cucmkit watch -f parameters/ --config watch.yaml \\
                      --out /var/lib/cucmkit/watch --since /var/lib/cucmkit/watch/watch.json
See docs/watch.md (systemd timer, alerting rules)."""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cmd = subparsers.add_parser("watch", help="expiry watch for the whole fleet: one report, alerts, exit codes",
                                description=__doc__.splitlines()[0], epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    cmd.add_argument("-f", "--parameters", action="append", required=True, metavar="PARAMS",
                     help="a cluster parameter file, or a folder of them (repeatable)")
    cmd.add_argument("--config", metavar="FILE", help="watch configuration (YAML): output, e-mail, Prometheus")
    cmd.add_argument("--out", metavar="DIR", help="folder for watch.html and watch.json (default: the "
                     "configuration's output, else ./watch)")
    cmd.add_argument("--since", metavar="REPORT", help="an earlier watch.json: list what is newly due, renewed "
                     "since, newly unreachable (may be the file this run overwrites)")
    cmd.add_argument("--threshold", type=int, metavar="DAYS", help="due within DAYS (default: the configuration's "
                     "threshold_days, else each parameter file's expiry_threshold_days)")
    cmd.add_argument("--ticket", metavar="T", help="the ticket the printed cucmkit run commands name")
    cmd.add_argument("--no-notify", action="store_true", help="write the report only: no e-mail, no metrics")
    cmd.set_defaults(func=_run)


@dataclass(frozen=True)
class WatchOutcome:
    report: Report
    html: Path
    json: Path
    code: int
    problems: tuple[str, ...] = ()


def _settings(config: WatchConfig, args: argparse.Namespace) -> tuple[Path, int | None, str]:
    out = Path(args.out) if args.out else (config.output or Path("watch"))
    threshold = args.threshold if args.threshold is not None else config.threshold_days
    return out, threshold, args.ticket or config.ticket


def _notify(config: WatchConfig, report: Report, html: Path) -> tuple[str, ...]:
    """Each configured notification; the problems (their text holds no secret), none raised."""
    problems = []
    if config.prometheus is not None:
        try:
            write_metrics(report, config.prometheus.textfile)
        except CucmKitError as exc:
            problems.append(str(exc))
    if config.email is not None and should_email(config.email, report):
        try:
            send_email(config.email, report, report_path=str(html))
        except CucmKitError as exc:
            problems.append(str(exc))
    return tuple(problems)


def _previous(since: Path | None) -> tuple[Report | None, tuple[str, ...]]:
    """The earlier report; a missing file is the first run (a note), an unreadable or foreign one refused input."""
    if since is None:
        return None, ()
    if not since.exists():
        return None, (f"--since {since}: no earlier report yet (first run?): nothing to compare with",)
    return read_report(since), ()


def watch(sources: list[str], config: WatchConfig, *, out: Path, threshold: int | None = None,
          ticket: str = "<TICKET>", since: Path | None = None, notify: bool = True,
          now: dt.datetime | None = None) -> WatchOutcome:
    """Load every parameter file (refused input raises ParameterError before any network call), scan, report."""
    fleet = load_fleet(parameter_files(sources))
    previous, notes = _previous(since)
    scans = scan_fleet([(str(path), params) for path, params in fleet], workers=config.workers)
    report = classify_fleet(scans, now=now or dt.datetime.now(dt.UTC), threshold=threshold, ticket=ticket)
    if previous is not None:
        report = report.model_copy(update={"since": diff(previous, report)})
    html, json_path = out / "watch.html", out / "watch.json"
    problems = _notify(config, report, html) if notify else ()
    notes += tuple(f"notification failed: {p}" for p in problems)
    report = report.model_copy(update={"notes": notes})
    code = exit_code(report, notify_failed=bool(problems))
    write_json(report, json_path)
    write_html(report, html, code=code)
    return WatchOutcome(report=report, html=html, json=json_path, code=code, problems=problems)


def _print_summary(outcome: WatchOutcome) -> None:
    for cluster in outcome.report.clusters:
        problem = cluster.error or "; ".join(f"{n}: {e}" for n, e in cluster.node_errors.items())
        print(f"{cluster.name:20} {cluster.reach.value:11} {cluster.expired:3} expired {cluster.due:3} due"
              + (f"  {problem}" if problem else ""))
        for command in cluster.commands:
            print(f"    {command}")
    for note in outcome.report.notes:
        print(note, file=sys.stderr)
    print(f"report: {outcome.html} (JSON: {outcome.json}); exit {outcome.code}")


def _run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        out, threshold, ticket = _settings(config, args)
        outcome = watch(args.parameters, config, out=out, threshold=threshold, ticket=ticket,
                        since=Path(args.since) if args.since else None, notify=not args.no_notify)
    except CucmKitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _print_summary(outcome)
    return outcome.code
