"""`mlrepro history`: parse, call `metric_history`, render a table, JSON or CSV (and a PNG plot).

Exit codes: 0 fine, 2 usage or input error (unknown revision, metric found at no commit).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from mlrepro.history.core import History, Number, metric_history

HELP = "each metric's value at each of the last N commits, newest first"
DESCRIPTION = (
    "Each metric's value at each of the last N first-parent commits of a revision, newest first, "
    "read from the metrics files that dvc.yaml declares at the revision's tip. A commit where a "
    "file is missing or unreadable shows no value (JSON gives the reason). Keys are flattened "
    "(test.roc_auc); the default is every numeric key."
)
EXAMPLE = "Example: mlrepro history -n 20 test.roc_auc"
SUBJECT_WIDTH = 40


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
    cmd.add_argument("--format", choices=("table", "json", "csv"), default="table")
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
    renderers = {"table": render_table, "json": render_json, "csv": render_csv}
    sys.stdout.write(renderers[args.format](history))
    if args.plot:
        plot(history, Path(args.plot))
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def render_table(history: History) -> str:
    """A terminal table: commit, date (UTC), subject, one column per metric; — for no value."""
    header = ["commit", "date (UTC)", "subject", *history.metrics]
    rows = [
        [
            p.commit.sha[:7],
            p.commit.date.strftime("%Y-%m-%d %H:%M"),
            _truncate(p.commit.subject, SUBJECT_WIDTH),
            *(_cell(p.values[m]) for m in history.metrics),
        ]
        for p in history.points
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        left = [cell.ljust(w) for cell, w in zip(row[:3], widths, strict=False)]
        right = [cell.rjust(w) for cell, w in zip(row[3:], widths[3:], strict=True)]
        lines.append("  ".join([*left, *right]).rstrip())
    return "\n".join(lines) + "\n"


def render_json(history: History) -> str:
    """`history.as_dict()` with one commit per line (and json's fast C encoder, which `indent`
    would turn off)."""
    data = history.as_dict()
    commits = ",\n".join(f"  {json.dumps(c, ensure_ascii=False)}" for c in data.pop("commits"))
    head = json.dumps(data, ensure_ascii=False)[:-1]
    return f'{head}, "commits": [\n{commits}\n]}}\n'


def render_csv(history: History) -> str:
    """One row per commit: commit, time (epoch s), date (UTC), subject, metrics; empty for none."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["commit", "time", "date", "subject", *history.metrics])
    for p in history.points:
        values = ["" if p.values[m] is None else repr(p.values[m]) for m in history.metrics]
        date = p.commit.date.strftime("%Y-%m-%dT%H:%M:%SZ")
        writer.writerow([p.commit.sha, p.commit.time, date, p.commit.subject, *values])
    return out.getvalue()


def plot(history: History, path: Path) -> None:
    """A PNG: one line per metric over commit time (gaps where a commit has no value)."""
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 5), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    points = history.points[::-1]  # oldest first
    dates = np.array([p.commit.time for p in points], dtype="datetime64[s]")  # UTC
    for metric in history.metrics:
        ax.plot(dates, [_nan(p.values[metric]) for p in points], marker=".", label=metric)
    ax.set_xlabel("commit time (UTC)")
    ax.set_ylabel("value")
    ax.set_title(f"{', '.join(history.files)} along {history.rev}")
    ax.grid(alpha=0.3)
    if history.metrics:
        ax.legend(fontsize="small", loc="best")
    fig.autofmt_xdate()
    fig.savefig(path, format="png", metadata={"Software": None})


def _nan(value: Number | None) -> float:
    return float("nan") if value is None else float(value)


def _cell(value: Number | None) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "—" if value is None else str(value)


def _truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
