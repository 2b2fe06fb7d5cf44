"""`mlrepro params check`: parse, call `check_project`, print its summary."""

from __future__ import annotations

import argparse
from typing import Any

from mlrepro.core.params import PARAMS_FILE, SCHEMA_FILE


def add_commands(nouns: Any) -> None:
    params = nouns.add_parser("params", help="params.yaml and the schema file")
    verbs = params.add_subparsers(dest="verb", metavar="VERB", required=True)
    check = verbs.add_parser(
        "check",
        help="check params.yaml and the schema file without running the pipeline",
        description=(
            "Check params.yaml and the schema file without running the pipeline: every key and "
            "value, every source resolvable, every feature produced by the declared table, joins "
            "or datetime parts, and no excluded column used as a feature."
        ),
        epilog="Example: mlrepro params check --params params.yaml --schema schema.yaml",
    )
    check.add_argument("--params", default=PARAMS_FILE, help="default: %(default)s")
    check.add_argument("--schema", default=SCHEMA_FILE, help="default: %(default)s")
    check.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    from mlrepro.params.check import check_project

    for line in check_project(args.params, args.schema):
        print(line)
    return 0
