"""``cucmkit params``: the parameter file's JSON Schema, and checking a file without touching a node.

    cucmkit params schema                # the JSON Schema (docs/parameters.schema.json is this output)
    cucmkit params check -f FILE         # load and validate FILE (secrets resolved); exit 0 ok, 1 refused
    cucmkit params backends              # the registered CA back-ends and their ca: keys
"""

from __future__ import annotations

import argparse
import json
import sys

from cucmkit.errors import ParameterError

__all__ = ["register", "schema_text"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("params", help="the parameter file: JSON Schema, check a file, CA back-ends")
    sub = parser.add_subparsers(dest="params_command", metavar="ACTION", required=True)
    sub.add_parser("schema", help="print the parameter file's JSON Schema").set_defaults(func=_schema)
    check = sub.add_parser("check", help="validate a parameter file (resolves secret references; no network)")
    check.add_argument("-f", "--parameters", required=True, metavar="PARAMS", help="cluster parameter file (YAML)")
    check.add_argument("--no-secrets", action="store_true", help="do not resolve the secret references")
    check.set_defaults(func=_check)
    sub.add_parser("backends", help="list the registered CA back-ends").set_defaults(func=_backends)


def schema_text() -> str:
    """The JSON Schema as committed in docs/parameters.schema.json (sorted keys, newline at the end)."""
    from cucmkit.params import json_schema

    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _schema(args: argparse.Namespace) -> int:
    sys.stdout.write(schema_text())
    return 0


def _check(args: argparse.Namespace) -> int:
    from cucmkit.params import load_parameters

    try:
        params = load_parameters(args.parameters, check_secrets=not args.no_secrets)
    except ParameterError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    print(f"ok: cluster {params.cluster}, {len(params.nodes)} node(s), CA back-end {params.ca.backend}")
    return 0


def _backends(args: argparse.Namespace) -> int:
    from cucmkit.ca.registry import describe

    print(describe())
    return 0
