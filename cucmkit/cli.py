"""The ``cucmkit`` command: a thin dispatcher.

Each sub-command lives beside the code it drives and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (a callable
taking the parsed namespace and returning the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "build_parser"]

# sub-command -> the module that registers it. Only the module of the
# command being run is imported, so `cucmkit lab status` does not pay for
# papermill's imports; `--help` imports them all.
_COMMANDS: dict[str, str] = {
    "lab": "cucmkit.lab.command",
    "check": "cucmkit.certs.command",
    "inventory": "cucmkit.cucm.command",
    "trust": "cucmkit.cucm.command",
    "plan": "cucmkit.renewal.command",
    "renew": "cucmkit.renewal.command",
    "lock": "cucmkit.renewal.command",
    "run": "cucmkit.runner",
    "evidence": "cucmkit.evidence.command",
    "params": "cucmkit.params_command",
    "watch": "cucmkit.watch.command",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command`` known, only that command's module is imported."""
    parser = argparse.ArgumentParser(prog="cucmkit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = [_COMMANDS[command]] if command in _COMMANDS else list(dict.fromkeys(_COMMANDS.values()))
    for module_name in wanted:
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
