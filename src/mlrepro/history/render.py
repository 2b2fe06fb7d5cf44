"""Render a `History` as a terminal table, JSON or CSV (each a string ending in a newline), or
draw it as a PNG plot. matplotlib and numpy load only when a plot is drawn."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

from mlrepro.history.core import History, Number

SUBJECT_WIDTH = 40  # characters of a commit's subject in the table


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


RENDERERS: dict[str, Callable[[History], str]] = {
    "table": render_table,
    "json": render_json,
    "csv": render_csv,
}


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
