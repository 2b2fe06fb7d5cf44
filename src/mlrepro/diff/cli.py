"""`mlrepro diff [A [B]]`: parse, call `diff_revs`, render.

Exit codes: 0 fine, 1 `--gate` and a gated metric regressed (or went missing), 2 usage or input
error (an MlreproError, printed as one line by the top-level command).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mlrepro.diff.gates import GATES_FILE, GateError, load_config

FORMATS = ("json", "md", "table")  # diff.render.RENDERERS (imported when used: it loads git)

EXAMPLE = "Example: mlrepro diff main HEAD --gate"
HELP = "metrics, params, pinned snapshots and stage changes between two revisions"
DESCRIPTION = (
    "Compare two revisions without checking anything out: every metric that dvc.yaml declares "
    "(old, new, change, verdict), changed params, pinned snapshots and dvc.lock stages. "
    "A and B are git revisions, tags, branches, DVC experiment names or 'workspace'. "
    f"Verdicts come from {GATES_FILE} at the repo root; with --gate the exit code is 1 when a "
    "gated metric regressed beyond its tolerance or is missing. It also says how many distinct "
    "models (commits and DVC experiments) have been scored on B's test part, and warns past "
    f"{GATES_FILE} test_looks.warn (default 20)."
)


def add_commands(nouns: Any) -> None:
    cmd = nouns.add_parser("diff", help=HELP, description=DESCRIPTION, epilog=EXAMPLE)
    cmd.add_argument("a", metavar="A", nargs="?", help="default: the upstream branch, else main")
    cmd.add_argument("b", metavar="B", nargs="?", help="default: workspace")
    cmd.add_argument("--format", choices=FORMATS, default="table", help="default: table")
    cmd.add_argument(
        "--gate", action="store_true", help=f"exit 1 when a gate in {GATES_FILE} fails"
    )
    cmd.add_argument(
        "--gates",
        metavar="FILE",
        help=f"gates to apply (default: {GATES_FILE} at A, else in the work tree)",
    )
    cmd.set_defaults(func=cmd_diff)


def cmd_diff(args: argparse.Namespace) -> int:
    from mlrepro.diff.core import diff_revs
    from mlrepro.diff.render import RENDERERS

    config = None
    if args.gates:
        config = load_config(Path(args.gates))
        if config is None:
            raise GateError(f"--gates: {args.gates} not found")
    result = diff_revs(Path.cwd(), args.a, args.b, config=config)
    if args.gate and not result.gated:
        raise GateError(f"--gate needs {GATES_FILE} at the repo root")
    print(RENDERERS[args.format](result))
    if args.gate and result.failures:
        failed = ", ".join(f"{row.key} {row.verdict}" for row in result.failures)
        print(f"mlrepro diff: gate failed: {failed}", file=sys.stderr)
        return 1
    return 0
