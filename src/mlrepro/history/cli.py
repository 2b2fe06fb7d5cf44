"""`mlrepro history`: parse, call `metric_history`, render a table, JSON or CSV (and a PNG plot).

Exit codes: 0 fine, 2 usage or input error (unknown revision, metric found at no commit).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mlrepro.history.core import metric_history
from mlrepro.history.render import RENDERERS, plot

HELP = "each metric's value at each of the last N commits, newest first"
DESCRIPTION = (
    "Each metric's value at each of the last N first-parent commits of a revision, newest first, "
    "read from the metrics files that dvc.yaml declares at the revision's tip. A commit where a "
    "file is missing or unreadable shows no value (JSON gives the reason). Keys are flattened "
    "(test.roc_auc); the default is every numeric key."
)
EXAMPLE = "Example: mlrepro history -n 20 test.roc_auc"


def add_commands(nouns: Any) -> None:
    cmd: argparse.ArgumentParser = nouns.add_parser(
        "history", help=HELP, description=DESCRIPTION, epilog=EXAMPLE
    )
    cmd.add_argument("metrics", nargs="*", metavar="METRIC", help="default: every numeric key")
    cmd.add_argument(
        "-n",
        dest="limit",
        metavar="N",
        type=count,
        default=50,
        help="commits, or 'all' (default: %(default)s)",
    )
    cmd.add_argument("--rev", default="HEAD", help="default: %(default)s")
    cmd.add_argument("--format", choices=tuple(RENDERERS), default="table")
    cmd.add_argument("--plot", metavar="PNG", help="also draw each metric over commit time")
    cmd.set_defaults(func=cmd_history)


def count(text: str) -> int | None:
    """A positive number of commits, or 'all' (None: no limit)."""
    if text.lower() == "all":
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: not a positive number or 'all'")
    return int(text)


def cmd_history(args: argparse.Namespace) -> int:
    history = metric_history(Path.cwd(), args.rev, limit=args.limit, metrics=args.metrics)
    sys.stdout.write(RENDERERS[args.format](history))
    if args.plot:
        plot(history, Path(args.plot))
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0
