"""cucmkit: renew the CA-signed certificates of Cisco Unified CM clusters, with evidence.

Every command has its own help (``cucmkit COMMAND --help``) with a description, its exit
codes and an example. One exit-code contract for all of them: 0 done, 1 failed or
refused, 2 usage, 3 waiting (an approval or the CA), 130 interrupted.

Each sub-command lives beside the code it drives and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (a callable taking the parsed namespace and
returning the exit code).
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


DESCRIPTION = """\
Renew the CA-signed certificates of Cisco Unified CM clusters from runbook notebooks, with evidence
for each change ticket. Start with an inventory, then run one purpose at a time in the safe order.
"""
EPILOG = """\
exit codes (every command): 0 done, 1 failed or refused, 2 usage, 3 waiting (an approval or the CA),
130 interrupted (Ctrl-C / SIGTERM; re-run the same command to resume).

examples:
  cucmkit lab start --ephemeral                     # a lab cluster on loopback to try it on
  cucmkit run inventory -f parameters/lab.yaml --ticket CHG100
  cucmkit run tomcat -f parameters/lab.yaml --ticket CHG123 --ca lab --approve --approver "J. Smith"
  cucmkit evidence verify evidence/lab/CHG123/<run>

see 'cucmkit COMMAND --help' for each command.
"""


# What every command's --help ends with when its module gives no epilog: the exit codes and an example.
_EXAMPLES: dict[str, str] = {
    "lab": "cucmkit lab start --ephemeral --detach    then    cucmkit lab status",
    "check": "cucmkit check --purpose tomcat --csr outbox/cucm-pub.csr returned/cucm-pub.pem chain.pem",
    "inventory": "cucmkit inventory -f parameters/lab.yaml --threshold 60",
    "trust": "cucmkit trust fetch -f parameters/lab.yaml",
    "plan": "cucmkit plan tomcat -f parameters/lab.yaml",
    "renew": "cucmkit renew tomcat -f parameters/lab.yaml --ticket CHG123 --ca lab --approve",
    "run": "cucmkit run tomcat -f parameters/lab.yaml --ticket CHG123 --ca lab --approve",
    "evidence": "cucmkit evidence verify evidence/lab/CHG123/20261127T100000Z-tomcat",
    "params": "cucmkit params check -f parameters/lab.yaml",
}
_DESCRIPTIONS: dict[str, str] = {
    "inventory": "List every certificate of every node of the cluster (identity and trust stores), with days "
                 "left; read-only.",
    "trust": "Fetch what each node serves (TLS chain, SSH host key fingerprints) to check out of band, then "
             "accept the SSH host keys into the parameter file's known_hosts.",
    "evidence": "Check an evidence folder: every file's SHA-256 against the manifest, and a scan for secrets.",
    "params": "The parameter file: print its JSON Schema, check a file against it, list the CA back-ends.",
}
EXIT_CODES_TEXT = "exit codes: 0 done, 1 failed or refused, 2 usage, 3 waiting, 130 interrupted."


def _teach(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Give every command's help a description, the exit codes and an example (unless its module did)."""
    for name, command in sub.choices.items():
        command.formatter_class = argparse.RawDescriptionHelpFormatter
        if not command.description and name in _DESCRIPTIONS:
            command.description = _DESCRIPTIONS[name]
        epilog = command.epilog or EXIT_CODES_TEXT
        if "example" not in epilog:
            epilog += f"\n\nexample:\n  {_EXAMPLES.get(name, f'cucmkit {name} --help')}"
        command.epilog = epilog


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command`` known, only that command's module is imported."""
    parser = argparse.ArgumentParser(prog="cucmkit", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = [_COMMANDS[command]] if command in _COMMANDS else list(dict.fromkeys(_COMMANDS.values()))
    for module_name in wanted:
        importlib.import_module(module_name).register(sub)
    _teach(sub)
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
