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

# module path -> the sub-commands it registers (imported lazily so a broken
# optional part never breaks the others).
_COMMANDS = (
    "cucmkit.lab.command",        # lab start|status|stop|fault|...
    "cucmkit.certs.command",      # check
    "cucmkit.cucm.command",       # inventory, trust
    "cucmkit.renewal.command",    # plan, renew
    "cucmkit.runner",             # run
    "cucmkit.evidence.command",   # evidence verify
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cucmkit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in _COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # that part is not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
