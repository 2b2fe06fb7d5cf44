"""`mlrepro report [A [B]]`: parse, call `build_report`, say what was written."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HELP = "a pull-request report of two revisions, ready to post"


def add_commands(nouns: Any) -> None:
    report = nouns.add_parser(
        "report",
        help=HELP,
        description=HELP[0].upper() + HELP[1:] + ": report.md (metrics, params, "
        "pinned snapshots, stages, how many models the test part has scored; a hidden marker "
        "line for CI), PNG plots of A and B overlaid, and the images dvc.yaml declares (B's "
        "beside A's, from the DVC cache).",
        epilog="Example: mlrepro report main HEAD -o report/",
    )
    report.add_argument("a", metavar="A", nargs="?", help="default: the upstream branch, else main")
    report.add_argument("b", metavar="B", nargs="?", help="default: workspace")
    report.add_argument("-o", "--output", default="report", help="folder (default: %(default)s)")
    report.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from mlrepro.report.core import build_report

    report = build_report(Path.cwd(), args.a, args.b, Path(args.output))
    images = report.images.files
    print(f"wrote {report.markdown}, {len(report.plots)} plot(s) and {images} image(s)")
    return 0
