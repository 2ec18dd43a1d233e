"""``cucmkit evidence verify DIR [DIR ...] [-f PARAMS]``: hashes and secret scan."""

from __future__ import annotations

import argparse
from pathlib import Path

from cucmkit.evidence.verify import verify

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("evidence", help="check evidence folders")
    sub = parser.add_subparsers(dest="evidence_command", metavar="ACTION", required=True)
    check = sub.add_parser("verify", help="check every file's SHA-256 and scan every file for secrets")
    check.add_argument("folders", nargs="+", type=Path, metavar="DIR")
    check.add_argument("-f", "--parameters", action="append", type=Path, default=[], metavar="PARAMS",
                       help="parameter file whose secret values to look for (default: those named in result.json)")
    check.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    failed = False
    for folder in args.folders:
        if not folder.is_dir():
            print(f"FAILED {folder}\n  not a folder")
            failed = True
            continue
        report = verify(folder, parameter_files=args.parameters)
        print("\n".join(report.lines()))
        failed |= not report.ok
    return 1 if failed else 0
