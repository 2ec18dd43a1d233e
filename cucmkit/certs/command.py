"""``cucmkit check``: validate what the CA returned before uploading it to CUCM.

Exit codes (the contract every cucmkit command keeps): 0 done (uploadable); 1 refused or failed (not
uploadable: the report says why); 2 usage (a bad option, an unreadable or unusable input, a --write-plan
destination that cannot be written); 3 waiting (never for check: it waits for nothing); 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from cucmkit import catalogue
from cucmkit.certs.budgets import shorten
from cucmkit.certs.intake import load_csr, load_files, load_trust_store
from cucmkit.certs.report import Report
from cucmkit.certs.validate import validate
from cucmkit.errors import CertificateError

__all__ = [
    "register", "run_check", "non_negative_days", "EXIT_OK", "EXIT_NOT_UPLOADABLE", "EXIT_UNUSABLE", "EXIT_USAGE",
    "EXIT_REFUSED", "EXIT_WAITING", "EXIT_INTERRUPTED", "EXIT_CODES_HELP",
]

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_WAITING, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_NOT_UPLOADABLE, EXIT_UNUSABLE = EXIT_REFUSED, EXIT_USAGE  # check's names for the same codes
EXIT_CODES_HELP = (
    "exit codes: 0 uploadable; 1 not uploadable (the report says why); 2 usage error or unusable input "
    "(the file and the problem are named); 3 waiting (not used by check); 130 interrupted"
)
_MAX_DAYS = 36_500


def _purpose(value: str) -> str:
    try:
        return catalogue.get(value).name
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from exc
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a time zone, e.g. {value}+00:00")
    return moment


def non_negative_days(value: str) -> int:
    """An argparse type: a whole number of days, 0 to 36500 (a usage error otherwise)."""
    try:
        days = int(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of days: {shorten(value, 40)!r}") from None
    if not 0 <= days <= _MAX_DAYS:
        raise argparse.ArgumentTypeError(f"days must be between 0 and {_MAX_DAYS}, not {days}")
    return days


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check",
        help="validate CA-returned certificates for a purpose before uploading them",
        description=__doc__.splitlines()[0],
        epilog=EXIT_CODES_HELP,
    )
    parser.add_argument("--purpose", required=True, type=_purpose, help=f"one of: {', '.join(catalogue.names())}")
    parser.add_argument("--csr", type=Path, help="the pending CSR the certificate was issued from")
    parser.add_argument("--trust-store", type=Path, help="the node's <purpose>-trust certificates (a directory or file)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--now", type=_moment, help="check at this time (ISO 8601 with zone) instead of now")
    parser.add_argument("--expiry-warning-days", type=non_negative_days, default=30, metavar="DAYS",
                        help="warn when the leaf expires sooner (default 30)")
    parser.add_argument("--write-plan", type=Path, metavar="DIR",
                        help="when uploadable, write each upload step as a PEM file into this folder "
                             "(created if its parent exists)")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="PEM, DER, PKCS#7 or ZIP files from the CA")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    return run_check(
        args.files, purpose=args.purpose, csr=args.csr, trust_store=args.trust_store, as_json=args.json,
        now=args.now, expiry_warning_days=args.expiry_warning_days, write_plan=args.write_plan,
    )


def run_check(
    files: Sequence[str | Path],
    *,
    purpose: str,
    csr: str | Path | None = None,
    trust_store: str | Path | None = None,
    as_json: bool = False,
    now: datetime | None = None,
    expiry_warning_days: int = 30,
    write_plan: Path | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """What ``cucmkit check`` does; returns the exit code (see ``EXIT_CODES_HELP``)."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        if expiry_warning_days < 0:
            raise CertificateError(f"--expiry-warning-days must be 0 or more, not {expiry_warning_days}")
        if write_plan is not None:
            _plan_destination(Path(write_plan))
        report = _report(files, purpose, csr, trust_store, now or datetime.now(UTC), expiry_warning_days)
        out.write(report.to_json() + "\n" if as_json else report.to_text())
        if report.ok and write_plan is not None and not _write_plan(report, Path(write_plan), err):
            return EXIT_REFUSED
    except CertificateError as exc:
        print(f"cucmkit check: {exc}", file=err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("cucmkit check: interrupted", file=err)
        return EXIT_INTERRUPTED
    return EXIT_OK if report.ok else EXIT_REFUSED


def _report(files: Sequence[str | Path], purpose: str, csr: str | Path | None, trust_store: str | Path | None,
            now: datetime, warning_days: int) -> Report:
    material = load_files(list(files))
    the_csr = load_csr(Path(csr)) if csr is not None else None
    store = load_trust_store(Path(trust_store)) if trust_store is not None else None
    return validate(material, purpose=purpose, now=now, csr=the_csr, trust_store=store, expiry_warning_days=warning_days)


def _plan_destination(directory: Path) -> None:
    """Refuse a --write-plan folder that cannot take the plan, before any verdict is printed."""
    problem = _destination_problem(directory)
    if problem:
        raise CertificateError(f"--write-plan {directory}: {problem}",
                               remedy="Name a folder you can write to (its parent must exist).")


def _destination_problem(directory: Path) -> str | None:
    if directory.exists() and not directory.is_dir():
        return "exists and is not a folder"
    if directory.is_dir():
        return None if os.access(directory, os.W_OK | os.X_OK) else "is not writable"
    parent = directory.parent
    if not parent.is_dir():
        return f"its parent folder {parent} does not exist"
    return None if os.access(parent, os.W_OK | os.X_OK) else f"cannot be created: {parent} is not writable"


def _write_plan(report: Report, directory: Path, err: TextIO) -> bool:
    """Write the plan's PEM files (replacing files of the same names); False, with the reason said, on failure."""
    try:
        directory.mkdir(exist_ok=True)
        for step in report.upload_plan:
            (directory / step.filename).write_text(step.pem, encoding="ascii")
    except OSError as exc:
        print(f"cucmkit check: --write-plan {directory}: the plan was not written ({exc.strerror or exc})", file=err)
        return False
    print(f"upload plan written to {directory} ({len(report.upload_plan)} PEM files)", file=err)
    return True
