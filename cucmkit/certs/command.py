"""``cucmkit check``: validate what the CA returned before uploading it to CUCM.

Exit codes: 0 uploadable, 1 not uploadable (the report says why), 2 unusable input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from cucmkit import catalogue
from cucmkit.certs.intake import load_csr, load_files, load_trust_store
from cucmkit.certs.report import Report
from cucmkit.certs.validate import validate
from cucmkit.errors import CertificateError

__all__ = ["register", "run_check", "EXIT_OK", "EXIT_NOT_UPLOADABLE", "EXIT_UNUSABLE"]

EXIT_OK, EXIT_NOT_UPLOADABLE, EXIT_UNUSABLE = 0, 1, 2


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


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="validate CA-returned certificates for a purpose before uploading them",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--purpose", required=True, type=_purpose, help=f"one of: {', '.join(catalogue.names())}")
    parser.add_argument("--csr", type=Path, help="the pending CSR the certificate was issued from")
    parser.add_argument("--trust-store", type=Path, help="the node's <purpose>-trust certificates (a directory or file)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--now", type=_moment, help="check at this time (ISO 8601 with zone) instead of now")
    parser.add_argument("--expiry-warning-days", type=int, default=30, help="warn when the leaf expires sooner (default 30)")
    parser.add_argument("--write-plan", type=Path, metavar="DIR", help="when uploadable, write each upload step as a PEM file here")
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
    """What ``cucmkit check`` does; returns the exit code."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        report = _report(files, purpose, csr, trust_store, now or datetime.now(UTC), expiry_warning_days)
    except CertificateError as exc:
        print(f"cucmkit check: {exc}", file=err)
        return EXIT_UNUSABLE
    out.write(report.to_json() + "\n" if as_json else report.to_text())
    if report.ok and write_plan is not None:
        _write_plan(report, write_plan, err)
    return EXIT_OK if report.ok else EXIT_NOT_UPLOADABLE


def _report(files: Sequence[str | Path], purpose: str, csr: str | Path | None, trust_store: str | Path | None,
            now: datetime, warning_days: int) -> Report:
    material = load_files(list(files))
    the_csr = load_csr(Path(csr)) if csr is not None else None
    store = load_trust_store(Path(trust_store)) if trust_store is not None else None
    return validate(material, purpose=purpose, now=now, csr=the_csr, trust_store=store, expiry_warning_days=warning_days)


def _write_plan(report: Report, directory: Path, err: TextIO) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for step in report.upload_plan:
        (directory / step.filename).write_text(step.pem)
    print(f"upload plan written to {directory} ({len(report.upload_plan)} PEM files)", file=err)
