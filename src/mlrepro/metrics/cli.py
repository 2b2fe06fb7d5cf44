"""`mlrepro metrics show [FILE]`: read the metrics file, check its shape, render it."""

from __future__ import annotations

import argparse
from typing import Any

from mlrepro.core.errors import DataError
from mlrepro.core.files import read_json
from mlrepro.metrics.render import render_metrics

METRICS_FILE = "evaluate/metrics.json"  # dvc.yaml vars.paths.metrics; tests/test_docs.py checks it


def add_commands(nouns: Any) -> None:
    metrics = nouns.add_parser("metrics", help="the pipeline's metrics")
    verbs = metrics.add_subparsers(dest="verb", metavar="VERB", required=True)
    show = verbs.add_parser(
        "show",
        help="print the metrics file as a table, one column per part",
        description="Print the metrics file that the evaluate stage writes as a table.",
        epilog="Example: mlrepro metrics show evaluate/metrics.json",
    )
    show.add_argument("file", nargs="?", default=METRICS_FILE, help="default: %(default)s")
    show.set_defaults(func=cmd_show)


def cmd_show(args: argparse.Namespace) -> int:
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
