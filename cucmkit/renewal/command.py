"""``cucmkit plan`` and ``cucmkit renew``: the renewal engine without a notebook.

    cucmkit plan tomcat -f parameters/lab.yaml            # dry run: the plan, nothing changes
    cucmkit renew tomcat -f parameters/lab.yaml --ticket CHG123 --ca lab --approve

    cucmkit lock status -f parameters/lab.yaml            # who holds the cluster lock, and what to do
    cucmkit lock release -f parameters/lab.yaml --reason "run on host X died"   # recorded

Without ``--approve``, ``renew`` shows the plan and stops. Exit codes (the same contract as
``cucmkit run``): 0 done or nothing due, 1 failed or refused (blocked by a pre-check or
interlock), 2 bad parameters or usage, 3 waiting (for the CA), 130 stopped at a step boundary
(a stop request or Ctrl-C; 143 for SIGTERM): the first signal stops the run at the next step
boundary, a second one at once; either way one line, no traceback, the lock is released, and a
run that did not finish prints where each node stands and the command that resumes it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cucmkit import catalogue
from cucmkit.ca.registry import kinds as ca_kinds
from cucmkit.errors import CucmKitError, ParameterError, StoppedError

if TYPE_CHECKING:
    from cucmkit.params import ClusterParams
    from cucmkit.renewal.lock import LockInfo
    from cucmkit.renewal.options import RenewalOptions

__all__ = ["register", "main", "EXIT_CODES", "add_distribution_flags", "override_argument", "overrides_of"]

EXIT_CODES = {"done": 0, "skipped": 0, "failed": 1, "waiting": 3, "blocked": 1, "stopped": 130}
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _purpose(value: str) -> str:
    try:
        return catalogue.get(value).name
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("purpose", type=_purpose, help=f"one of: {', '.join(catalogue.names())}")
    parser.add_argument("-f", "--parameters", required=True, type=Path, help="the cluster parameter file (YAML)")
    parser.add_argument("--nodes", nargs="+", default=(), metavar="NODE", help="renew these nodes even if not due")
    parser.add_argument("--state-dir", type=Path,
                        help="where the engine keeps its ledger (default <root>/.cucmkit-state, as cucmkit run)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_distribution_flags(parser)


def add_distribution_flags(parser: argparse.ArgumentParser) -> None:
    """``--multi-server`` / ``--per-node``: override the parameter file's ``multi_server:`` for this run."""
    names = ", ".join(p.name for p in catalogue.PURPOSES.values() if p.multi_server)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--multi-server", dest="multi_server", action="store_true", default=None,
                       help=f"one multi-server certificate for every node ({names}); default: the parameter "
                       "file's multi_server list")
    group.add_argument("--per-node", dest="multi_server", action="store_false",
                       help="one certificate per node, even if the parameter file lists the purpose under multi_server")


def override_argument(text: str) -> tuple[str, str]:
    """An argparse ``type`` for ``--override CHECK=REASON`` (the check must be one that may be overridden)."""
    from cucmkit.renewal.checks import validate_overrides

    name, sep, reason = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text[:40]!r}: write CHECK=REASON, e.g. convert_multi_server=\"CAB-12\"")
    try:
        validate_overrides({name.strip(): reason.strip()})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return name.strip(), reason.strip()


def overrides_of(args: argparse.Namespace) -> dict[str, str]:
    """``--override-window`` and every ``--override CHECK=REASON`` as the engine's overrides."""
    found = dict(getattr(args, "override", None) or ())
    if getattr(args, "override_window", None):
        found["maintenance_window"] = args.override_window
    return found


PLAN_DESCRIPTION = """\
Show what a renewal of PURPOSE would do on the cluster of the parameter file: which nodes are due,
every step in order (CSRs, CA, install, restarts, phone reset) and the pre-checks. Changes nothing.
"""
PLAN_EPILOG = """\
exit codes: 0 the plan was shown; 1 the cluster could not be read; 2 bad parameters or usage.

example:
  cucmkit plan tomcat -f parameters/lab.yaml
"""
RENEW_DESCRIPTION = """\
Run a renewal of PURPOSE end to end in this process, without a notebook (cucmkit run is the
notebook-and-evidence way). Resumes a run in progress from the engine's ledger. Without --approve it
shows the plan and stops.
"""
RENEW_EPILOG = """\
exit codes:
  0    done, or nothing was due
  1    failed, or refused by a pre-check or interlock (blocked)
  2    bad parameters or usage
  3    waiting for the CA (manual CA: sign the CSRs in the outbox, put the files in the inbox, re-run)
  130  stopped at a step boundary (Ctrl-C / SIGTERM): re-run the same command to resume

examples:
  cucmkit renew tomcat -f parameters/lab.yaml --ticket CHG123 --ca lab --approve
  cucmkit renew tomcat -f parameters/lab.yaml --ticket CHG123 --approve --override-window "P1 outage"
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    raw = argparse.RawDescriptionHelpFormatter
    plan = subparsers.add_parser("plan", help="show what a renewal would do (dry run)", description=PLAN_DESCRIPTION,
                                 epilog=PLAN_EPILOG, formatter_class=raw)
    _common(plan)
    plan.set_defaults(func=_plan_main)
    renew = subparsers.add_parser("renew", help="run a renewal end to end (resumes a run in progress)",
                                  description=RENEW_DESCRIPTION, epilog=RENEW_EPILOG, formatter_class=raw)
    _common(renew)
    renew.add_argument("--ticket", required=True, help="the change ticket this renewal belongs to")
    renew.add_argument("--ca", choices=ca_kinds(), help="CA back-end (default: the file's ca.backend)")
    renew.add_argument("--approve", action="store_true", help="really do it (without: show the plan only)")
    renew.add_argument("--force-csr", action="store_true", help="regenerate CSRs even if one was submitted to the CA")
    renew.add_argument("--override-window", metavar="REASON", help="restart outside the maintenance window (recorded)")
    renew.add_argument("--override", action="append", type=override_argument, metavar="CHECK=REASON",
                       help="confirm what a pre-check refuses, with a recorded reason (e.g. convert_multi_server=...)")
    renew.set_defaults(func=_renew_main)
    _register_lock(subparsers)


def _register_lock(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    lock = subparsers.add_parser("lock", help="show or release a cluster's run lock",
                                 description="The cluster lock: one run per cluster (docs/runbooks.md).")
    actions = lock.add_subparsers(dest="lock_action", metavar="ACTION", required=True)
    status = actions.add_parser("status", help="who holds the lock and whether it is live, stale or another host's")
    release = actions.add_parser("release", help="release a stale or another host's lock, with a recorded reason")
    for parser in (status, release):
        parser.add_argument("-f", "--parameters", required=True, type=Path, help="the cluster parameter file (YAML)")
        parser.add_argument("--state-dir", type=Path, help="the engine's state folder (default <root>/.cucmkit-state)")
    status.add_argument("--json", action="store_true", help="print JSON instead of text")
    status.set_defaults(func=_lock_status_main)
    release.add_argument("--reason", required=True, help="why the lock may go (recorded in the lock log and ledger)")
    release.set_defaults(func=_lock_release_main)


def _load(args: argparse.Namespace, *, check_secrets: bool = True) -> tuple[ClusterParams, Path]:
    from cucmkit.params import load_parameters
    from cucmkit.wiring import state_dir_for

    params = load_parameters(args.parameters, check_secrets=check_secrets)
    state_dir = Path(args.state_dir).resolve() if args.state_dir else state_dir_for(params)
    return params, state_dir


def _options(params: ClusterParams, args: argparse.Namespace, **kw: Any) -> RenewalOptions:
    from cucmkit.renewal.options import RenewalOptions

    return RenewalOptions.from_parameters(params, args.purpose, nodes=tuple(args.nodes), overrides=overrides_of(args),
                                          force_csr=bool(getattr(args, "force_csr", False)),
                                          multi_server=getattr(args, "multi_server", None), **kw)


def _print(obj: object, as_json: bool, payload: dict[str, Any]) -> None:
    print(json.dumps(payload, indent=2, default=str) if as_json else str(obj))


def _plan_main(args: argparse.Namespace) -> int:
    from cucmkit.renewal.plan import plan_summary
    from cucmkit.wiring import open_renewal

    try:
        params, state_dir = _load(args)
        with open_renewal(params, args.purpose, state_dir=state_dir, ticket="dry-run", with_ca=False,
                          options=_options(params, args, dry_run=True)) as renewal:
            plan = renewal.plan()
    except CucmKitError as exc:   # a refused parameter file included: 1, as every command (2 = usage only)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CODES["failed"]
    _print(plan, args.json, plan_summary(plan))
    return 0


def _renew_main(args: argparse.Namespace) -> int:
    from cucmkit import stopping

    stopping.reset()
    undo = stopping.install_signal_handlers(announce=_announce_stop)
    try:
        return _renew(args)
    except KeyboardInterrupt:
        print("interrupted: stopped at once (a second signal); re-run the same command to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        undo()


def _announce_stop(signal_name: str) -> None:
    """At the first signal: the step in flight finishes first (a restart may take minutes); say so at once."""
    import os

    os.write(2, (f"cucmkit renew: {signal_name}: stopping at the next step boundary (the step in flight "
                 f"finishes first); press Ctrl-C again to stop at once\n").encode())


def _renew(args: argparse.Namespace) -> int:
    from cucmkit import stopping
    from cucmkit.wiring import open_renewal

    try:
        params, state_dir = _load(args)
        options = _options(params, args, progress=None if args.json else _progress)
        with open_renewal(params, args.purpose, state_dir=state_dir, ticket=args.ticket, ca=args.ca,
                          with_ca=bool(args.approve), options=options) as renewal:
            if not args.approve:
                print(renewal.plan())
                print("not executed: add --approve to run it", file=sys.stderr)
                return 0
            result = renewal.run()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StoppedError as exc:
        signalled = _signal_of(stopping.reason())
        print(f"{'interrupted' if signalled else 'stopped'}: {exc.message}; re-run the same command to resume",
              file=sys.stderr)
        _where_it_stands(args)
        return 128 + signalled if signalled else EXIT_CODES["stopped"]
    except CucmKitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        _where_it_stands(args)
        return EXIT_CODES["failed"]
    _print(result, args.json, result.to_dict())
    if result.status not in ("done", "skipped"):
        _where_it_stands(args)
    return EXIT_CODES.get(result.status, 1)


def _lock_status_main(args: argparse.Namespace) -> int:
    from cucmkit.renewal.lock import ClusterLock

    try:
        params, state_dir = _load(args, check_secrets=False)     # the lock needs no secret
    except ParameterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CODES["failed"]                           # as plan, renew and inventory
    verdict = ClusterLock.for_cluster(state_dir, params.cluster).status()
    if args.json:
        holder = verdict.holder.to_json() if verdict.holder else None
        payload = {"cluster": params.cluster, "verdict": verdict.verdict, "reason": verdict.reason,
                   "remedy": verdict.remedy, "holder": holder}
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(f"cluster {params.cluster}: lock {verdict.describe()}")
        if verdict.remedy:
            print(f"  -> {verdict.remedy}")
    return 0


def _lock_release_main(args: argparse.Namespace) -> int:
    from cucmkit.renewal.lock import release_lock

    try:
        params, state_dir = _load(args, check_secrets=False)
        verdict = release_lock(state_dir, params.cluster, reason=args.reason, by=_operator(),
                               on_released=lambda holder: _note_release(state_dir, params.cluster, holder,
                                                                        args.reason))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ParameterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CODES["failed"]
    except CucmKitError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return EXIT_CODES["blocked"]
    if verdict.verdict == "free":
        print(f"cluster {params.cluster}: no lock to release")
        return 0
    print(f"cluster {params.cluster}: released the lock ({verdict.describe()}); reason recorded: {args.reason}")
    return 0


def _note_release(state_dir: Path, cluster: str, holder: LockInfo, reason: str) -> None:
    """Record an explicit release in the ledger of the run that held the lock (if that run is still open)."""
    from cucmkit.renewal.state import Ledger

    ledger_path = Path(state_dir) / cluster / f"{holder.purpose}.json"
    if not ledger_path.exists():
        return
    ledger = Ledger.open(state_dir, cluster, holder.purpose)
    if ledger.active:
        ledger.event(f"cluster lock released by {_operator()} ({reason}): {holder.describe()}")


def _operator() -> str:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _signal_of(reason: str | None) -> int:
    """The signal number a stop reason names ("SIGINT received"), 0 when a stop came from elsewhere."""
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        if reason and reason.startswith(sig.name):
            return int(sig)
    return 0


def _where_it_stands(args: argparse.Namespace) -> None:
    """Per node: installed / active / pending, from the ledger; and the command that resumes."""
    from cucmkit.renewal.standing import is_half_done, standing, standing_lines
    from cucmkit.renewal.state import Ledger

    try:
        params, state_dir = _load(args, check_secrets=False)     # the ledger needs no secret
        state = Ledger.open(state_dir, params.cluster, args.purpose).state
    except (CucmKitError, OSError, ValueError):
        return
    nodes = standing(state)
    if nodes:
        print("where the cluster stands:", *(f"  {line}" for line in standing_lines(nodes)), sep="\n",
              file=sys.stderr)
        if is_half_done(nodes):
            print("the cluster is half-activated: a re-run finishes it", file=sys.stderr)
    print(f"resume: {resume_command(args)}", file=sys.stderr)


def resume_command(args: argparse.Namespace) -> str:
    """The same ``cucmkit renew`` (without --force-csr: the CSRs it made are the ones to keep)."""
    words = ["cucmkit", "renew", args.purpose, "-f", str(args.parameters), "--ticket", args.ticket]
    words += ["--ca", args.ca] if args.ca else []
    words += ["--approve"]
    words += ["--override-window", args.override_window] if args.override_window else []
    words += [w for name, reason in (getattr(args, "override", None) or ()) for w in ("--override", f"{name}={reason}")]
    words += {True: ["--multi-server"], False: ["--per-node"], None: []}[getattr(args, "multi_server", None)]
    words += ["--nodes", *args.nodes] if args.nodes else []
    words += ["--state-dir", str(args.state_dir)] if args.state_dir else []
    return " ".join(shlex.quote(w) for w in words)


def _progress(text: str) -> None:
    print(f"  .. {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m cucmkit.renewal.command plan|renew ...``: the same commands without the other parts' imports."""
    parser = argparse.ArgumentParser(prog="cucmkit")
    register(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
