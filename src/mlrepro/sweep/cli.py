"""`mlrepro sweep -S KEY=VALUES ...`: parse, call `core.sweep`, print progress and the summary.

Exit codes: 0 every configuration Success, 1 one Failed, 2 usage or input error (a bad -S, an
unknown param, no cluster), 130 Ctrl-C, 143 SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

HELP = "run a grid of experiments as Dask tasks, each in a clean checkout, back as DVC experiments"
EXAMPLE = (
    "Example: mlrepro sweep -S 'train.learning_rate=0.05,0.1' -S 'train.max_leaf_nodes=15,31,63' "
    "--workers 2"
)
DESCRIPTION = (
    "Expand -S options as `dvc exp run -S ... --queue` does (comma lists, choice(), range(); the "
    "product over the keys) and run each configuration of the current commit as one Dask task: "
    "a clean clone, `dvc exp run -S ... --name NAME`, and `dvc exp push` of the experiment to "
    "this repository (a worker on this machine, which uses this repository's DVC cache) or to "
    "the git remote and DVC remote (a worker elsewhere; the experiment is then pulled here). "
    "`dvc exp show`, `mlrepro diff` and `mlrepro report` see them like any other. Without "
    "--scheduler: a local cluster of --workers processes on 127.0.0.1. Names are "
    "PREFIX-<hash of the commit and the overrides>; a configuration whose experiment exists is "
    "not run again. The summary ranks them by the first metric gates.yaml gates. Your work tree, "
    "index and HEAD are never touched. Exit codes: 0 every configuration succeeded, 1 one "
    "failed, 2 usage or input error, 130 Ctrl-C (the rest cancelled, no half-saved experiment)."
)


def add_commands(nouns: Any) -> None:
    cmd = nouns.add_parser("sweep", help=HELP, description=DESCRIPTION, epilog=EXAMPLE)
    cmd.add_argument(
        "-S",
        "--set-param",
        dest="sets",
        action="append",
        default=[],
        metavar="[FILE:]KEY=VALUES",
        help="as dvc exp run -S; a comma list (or choice(), range()) sweeps the key",
    )
    cmd.add_argument(
        "--scheduler", metavar="ADDRESS", help="a running Dask scheduler (tcp://HOST:8786)"
    )
    cmd.add_argument(
        "--workers",
        type=_positive,
        metavar="N",
        help="local cluster: worker processes (default: the cores, at most one per configuration)",
    )
    cmd.add_argument(
        "--name", default="sweep", metavar="PREFIX", help="experiment names: PREFIX-<hash>"
    )
    cmd.add_argument(
        "--git-remote",
        default="origin",
        metavar="NAME",
        help="where workers on other machines clone from and push to (default: origin)",
    )
    cmd.add_argument("--json", action="store_true", help="the summary as JSON (progress: stderr)")
    cmd.set_defaults(func=cmd_sweep)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def cmd_sweep(args: argparse.Namespace) -> int:
    from mlrepro.sweep.core import sweep
    from mlrepro.sweep.render import event_line, render_json, render_text
    from mlrepro.sweep.results import Event

    out = sys.stderr if args.json else sys.stdout
    lock = threading.Lock()  # the tasks' events arrive on Dask's thread

    def progress(event: Event) -> None:
        with lock:
            print(event_line(event), file=out, flush=True)

    result = sweep(
        Path.cwd(),
        args.sets,
        scheduler=args.scheduler,
        workers=args.workers,
        prefix=args.name,
        git_remote=args.git_remote,
        progress=progress,
    )
    with lock:
        print(render_json(result) if args.json else "\n" + render_text(result), flush=True)
    return 1 if result.failed else 0
