"""``cucmkit evidence verify DIR [DIR ...] [-f PARAMS] [--ca team-ca.pem]``: hashes, signature, secret scan;
``cucmkit evidence pack TICKET [--root evidence] [-o FILE.zip]``: the ticket's one attachment."""

from __future__ import annotations

import argparse
from pathlib import Path

from cucmkit.evidence.ticket import find_ticket_dirs, pack
from cucmkit.evidence.verify import verify

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("evidence", help="check evidence folders")
    sub = parser.add_subparsers(dest="evidence_command", metavar="ACTION", required=True)
    check = sub.add_parser("verify", help="check every file's SHA-256 and scan every file for secrets")
    check.add_argument("folders", nargs="+", type=Path, metavar="DIR")
    check.add_argument("-f", "--parameters", action="append", type=Path, default=[], metavar="PARAMS",
                       help="parameter file whose secret values to look for (default: those named in result.json)")
    check.add_argument("--ca", type=Path, metavar="PEM", help="the team CA the signer must be issued by "
                       "(default: evidence.signing_ca of the parameter file)")
    check.set_defaults(func=_verify)
    bundle = sub.add_parser("pack", help="write one zip of a ticket's evidence (index, every run) to attach")
    bundle.add_argument("ticket", metavar="TICKET", help="the ticket (or its folder evidence/<cluster>/<ticket>)")
    bundle.add_argument("--root", type=Path, default=Path("evidence"), metavar="DIR", help="the evidence root")
    bundle.add_argument("-o", "--output", type=Path, metavar="FILE", help="the zip (default: <ticket>.zip here)")
    bundle.set_defaults(func=_pack)


def _verify(args: argparse.Namespace) -> int:
    failed = False
    for folder in args.folders:
        if not folder.is_dir():
            print(f"FAILED {folder}\n  not a folder")
            failed = True
            continue
        report = verify(folder, parameter_files=args.parameters, ca=args.ca)
        print("\n".join(report.lines()))
        failed |= not report.ok
    return 1 if failed else 0


def _pack(args: argparse.Namespace) -> int:
    folders = find_ticket_dirs(args.ticket, args.root)
    if not folders:
        print(f"cucmkit evidence pack: no evidence for ticket {args.ticket} under {args.root} "
              "(give the folder evidence/<cluster>/<ticket>, or --root)")
        return 2
    out = pack(folders, args.output or Path(f"{folders[0].name}.zip"))
    print(f"packed {len(folders)} ticket folder(s) into {out}: attach this one file")
    return 0
