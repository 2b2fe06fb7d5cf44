"""The `mlrepro` command: `mlrepro <noun> <verb>`, a thin shell over the library.

Each command's help text ends in an example. User errors print one line and exit non-zero.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mlrepro import __version__
from mlrepro.checks import check_project
from mlrepro.core.errors import MlreproError
from mlrepro.core.params import PARAMS_FILE
from mlrepro.schema import SCHEMA_FILE


def _params_check(args: argparse.Namespace) -> int:
    summary = check_project(args.params, args.schema)
    for line in summary:
        print(line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlrepro",
        description="Reproducible machine-learning pipelines on DVC and Git.",
        epilog="Example: mlrepro params check",
    )
    parser.add_argument("--version", action="version", version=f"mlrepro {__version__}")
    nouns = parser.add_subparsers(dest="noun", metavar="NOUN", required=True)

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
    check.set_defaults(func=_params_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except MlreproError as exc:
        print(f"mlrepro: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return code


if __name__ == "__main__":
    sys.exit(main())
