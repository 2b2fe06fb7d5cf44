"""The `mlrepro` command: `mlrepro <noun> <verb>`, a thin shell over the library.

Each command's help text ends in an example. User errors print one line and exit non-zero.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from mlrepro import __version__
from mlrepro.compare.cli import add_commands as add_compare_commands
from mlrepro.core.errors import DataError, MlreproError
from mlrepro.core.files import read_json
from mlrepro.core.params import PARAMS_FILE, PARTS, SCHEMA_FILE
from mlrepro.history.cli import add_commands as add_history_commands
from mlrepro.remote.cli import add_commands as add_remote_commands
from mlrepro.snapshot.cli import add_commands as add_snapshot_commands
from mlrepro.verify.cli import add_commands as add_verify_commands

METRICS_FILE = "evaluate/metrics.json"  # dvc.yaml vars.paths.metrics; tests/test_docs.py checks it


def _params_check(args: argparse.Namespace) -> int:
    from mlrepro.checks import check_project

    summary = check_project(args.params, args.schema)
    for line in summary:
        print(line)
    return 0


def _metrics_show(args: argparse.Namespace) -> int:
    metrics = read_json(args.file)
    if (
        not isinstance(metrics, dict)
        or not metrics
        or not all(isinstance(part, dict) for part in metrics.values())
    ):
        raise DataError(
            f"{args.file}: no metrics to show: expected parts holding metrics, like "
            '{"test": {"roc_auc": 0.7}}'
        )
    print(render_metrics(metrics))
    return 0


def render_metrics(metrics: dict[str, Any]) -> str:
    """A terminal table: one row per metric, one column per part (valid, test, ...)."""
    parts = sorted(metrics, key=lambda p: (PARTS.index(p) if p in PARTS else len(PARTS), p))
    names = [n for n in metrics[parts[0]] if not isinstance(metrics[parts[0]][n], dict)]
    width = max((len(n) for n in names), default=len("metric"))
    lines = ["metric".ljust(width) + "".join(f"{p:>12}" for p in parts)]
    for name in names:
        cells = "".join(f"{_cell(metrics[p].get(name)):>12}" for p in parts)
        lines.append(name.ljust(width) + cells)
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "—" if value is None else str(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlrepro",
        description="Reproducible machine-learning pipelines on DVC and Git.",
        epilog="Example: mlrepro metrics show",
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

    add_snapshot_commands(nouns)
    add_compare_commands(nouns)
    add_history_commands(nouns)
    add_remote_commands(nouns)
    add_verify_commands(nouns)

    metrics = nouns.add_parser("metrics", help="the pipeline's metrics")
    verbs = metrics.add_subparsers(dest="verb", metavar="VERB", required=True)
    show = verbs.add_parser(
        "show",
        help="print the metrics file as a table, one column per part",
        description="Print the metrics file that the evaluate stage writes as a table.",
        epilog="Example: mlrepro metrics show evaluate/metrics.json",
    )
    show.add_argument("file", nargs="?", default=METRICS_FILE, help="default: %(default)s")
    show.set_defaults(func=_metrics_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except MlreproError as exc:
        print(f"mlrepro: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:  # Ctrl-C: the command has cleaned up after itself
        print("mlrepro: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps Python's exit-time flush quiet
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
