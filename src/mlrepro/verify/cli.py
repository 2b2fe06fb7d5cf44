"""`mlrepro verify [REV]`: parse, call `core.verify`, print it as text or JSON (`render`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mlrepro.verify.environments import ASPECTS
from mlrepro.verify.render import render_json, render_text

DESCRIPTION = (
    "Re-run REV (default HEAD) from scratch in a clean temporary checkout, with no run-cache and "
    "no stage output (every stage really runs) and the pinned snapshots taken from the local "
    "cache, a DVC remote or their sources (exact hash), and compare every output hash with REV's "
    "dvc.lock. For a JSON file that differs it shows the keys that changed; for a model file, "
    "whether it predicts the same on the valid part. Your work tree, index and DVC cache are "
    "never touched. Exit codes: 0 every output identical, 1 an output differs or a stage failed, "
    "2 usage or input error."
)


def add_commands(nouns: Any) -> None:
    cmd = nouns.add_parser(
        "verify",
        help="re-run a commit from scratch and prove every output hash in its dvc.lock",
        description=DESCRIPTION,
        epilog="Example: mlrepro verify HEAD --vary threads,tz,locale,umask",
    )
    cmd.add_argument("rev", nargs="?", default="HEAD", help="commit, tag, branch or experiment")
    cmd.add_argument(
        "--vary",
        nargs="?",
        const="all",
        metavar="ASPECTS",
        help=(
            "run twice under environments that differ in these aspects (comma-separated; "
            f"default all: {','.join(ASPECTS)}) and compare the runs with each other and the lock"
        ),
    )
    cmd.add_argument("--stage", metavar="NAME", help="verify one stage from its locked inputs")
    cmd.add_argument("--keep", action="store_true", help="leave the checkout and name it")
    cmd.add_argument("--json", action="store_true", help="the result as JSON")
    cmd.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    from mlrepro.verify.core import verify
    from mlrepro.verify.environments import parse_aspects

    aspects = parse_aspects(args.vary) if args.vary is not None else ()
    progress = print_progress if sys.stderr.isatty() else None
    if progress:
        print(f"verify: checking out {args.rev} and its pinned snapshots", file=sys.stderr)
    result = verify(
        Path.cwd(), args.rev, aspects=aspects, stage=args.stage, keep=args.keep, progress=progress
    )
    data = result.as_dict()
    print(render_json(data) if args.json else render_text(data))
    return 0 if result.identical else 1


def print_progress(label: str, stage: str, seconds: float) -> None:
    who = "" if label == "run" else f"{label}: "
    print(f"verify: {who}{stage} ran in {seconds:.1f} s", file=sys.stderr, flush=True)
