"""A sweep's progress lines and its summary table (ranked by the gated metric), or JSON."""

from __future__ import annotations

import json
from typing import Any

from mlrepro.sweep.results import Event, Result, SweepResult

NAME_WIDTH = 14  # `sweep-` and 8 hex digits


def event_line(event: Event) -> str:
    """One line per step of a configuration: queued, running on ..., done ..., failed: why."""
    if not event.name:
        return f"sweep: {event.text}" if event.kind == "start" else f"{event.kind}: {event.text}"
    text = f"{event.kind}: {event.text}" if event.kind == "failed" else f"{event.kind} {event.text}"
    return f"{event.name:<{NAME_WIDTH}}  {text}".rstrip()


def render_json(result: SweepResult) -> str:
    return json.dumps(result.as_dict(), indent=2, sort_keys=True)


def render_text(result: SweepResult) -> str:
    """The summary: one row per configuration, best first by the gated metric, failures last
    with their reasons; then the baseline and the counts."""
    metric = result.metric
    column = metric.key or "metric"
    rows = [["rank", "experiment", "status", column, "time", "overrides"]]
    reasons: dict[int, str] = {}
    for rank, r in enumerate(result.ranked(), start=1):
        ok = r.status == "Success"
        rows.append(
            [
                str(rank) if ok else "-",
                r.name,
                r.status + (" (before)" if r.existed else ""),
                _number(r.value) if ok else "—",
                "—" if r.seconds is None else f"{r.seconds:.1f} s",
                " ".join(r.overrides),
            ]
        )
        if not ok:
            reasons[len(rows) - 1] = r.reason or "failed"
    lines = _table(rows, reasons)
    if metric.key is not None:
        better = "higher" if metric.higher_is_better else "lower"
        lines.append(
            f"baseline {result.commit[:12]}: {metric.key} {_number(metric.baseline)} "
            f"({better} is better, gates.yaml)"
        )
    lines.append(_counts(result.results))
    best = next((r for r in result.ranked() if r.status == "Success"), None)
    if best is not None:
        lines.append(f"see: dvc exp show; compare: mlrepro diff HEAD {best.name}")
    return "\n".join(lines)


def _table(rows: list[list[str]], reasons: dict[int, str]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    right = {0, 3, 4}  # rank, metric, time
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row[:-1])
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
        if index in reasons:
            lines.append(" " * (widths[0] + 2) + f"reason: {reasons[index]}")
    return lines


def _counts(results: tuple[Result, ...]) -> str:
    ok = sum(r.status == "Success" for r in results)
    before = sum(r.existed for r in results)
    made = f" ({before} made before)" if before else ""
    plural = "s" if len(results) != 1 else ""
    return f"{len(results)} configuration{plural}: {ok} Success{made}, {len(results) - ok} Failed"


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6f}"
    return "—" if value is None else str(value)
