"""Render a `RevDiff` as a terminal table, Markdown (the pull-request comment) or JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mlrepro.diff.core import RevDiff, StageChange
from mlrepro.diff.gates import GATES_FILE
from mlrepro.revisions import Pin, Rev


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    return value if isinstance(value, str) else json.dumps(value)


def _signed(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _pin(pin: Pin | None) -> str:
    if pin is None:
        return "—"
    return f"{pin.id} ({_value(pin.rows)} rows, {_value(pin.bytes)} bytes)"


def _metric_cells(result: RevDiff) -> list[list[str]]:
    several = len({row.file for row in result.metrics}) > 1
    return [
        [
            f"{row.file}:{row.key}" if several else row.key,
            _value(row.old),
            _value(row.new),
            "0 =" if row.change == 0 else f"{_signed(row.change, '+.6g')} {row.mark}".strip(),
            _signed(row.rel_change, "+.2%"),
            row.verdict + (" ✗" if row.fails else ""),
            row.note or "",
        ]
        for row in result.metrics
    ]


def _gate_line(result: RevDiff) -> str:
    if not result.gated:
        return f"gate: no {GATES_FILE}"
    if not result.failures:
        return "gate: passed"
    return "gate: FAILED: " + ", ".join(f"{r.key} {r.verdict}" for r in result.failures)


def _sections(result: RevDiff) -> list[tuple[str, list[str]]]:
    """The params, pins and stages sections as (title, lines)."""
    params = [f"{p.key}: {_value(p.old)} -> {_value(p.new)}" for p in result.params]
    pins = [f"{p.source}: {_pin(p.old)} -> {_pin(p.new)}" for p in result.pins]
    stages = [_stage_line(s) for s in result.stages]
    return [("params", params), ("pinned snapshots", pins), ("stages (dvc.lock)", stages)]


def _stage_line(change: StageChange) -> str:
    if change.status != "changed":
        return f"{change.stage}: {change.status}"
    kinds = (("deps", change.deps), ("outs", change.outs))
    parts = [f"{kind} {', '.join(paths)}" for kind, paths in kinds if paths]
    return f"{change.stage}: changed {'; '.join(parts)}"


def _title(result: RevDiff) -> str:
    def name(rev: Rev) -> str:
        return rev.name if rev.commit is None else f"{rev.name} ({rev.commit[:7]})"

    return f"{name(result.a)} -> {name(result.b)}"


def render_table(result: RevDiff) -> str:
    header = ["metric", result.a.name, result.b.name, "change", "rel", "verdict", "note"]
    grid = [header, *_metric_cells(result)]
    widths = [max(len(row[i]) for row in grid) for i in range(len(header))]
    lines = [_title(result), ""]
    for row in grid:
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [c.ljust(w) if i in (0, 5, 6) else c.rjust(w) for i, (c, w) in pairs]
        lines.append("  ".join(cells).rstrip())
    lines += [f"note: {n}" for n in result.notes]
    for title, items in _sections(result):
        lines += ["", f"{title}:" + ("" if items else " none changed")]
        lines += [f"  {item}" for item in items]
    return "\n".join([*lines, "", _gate_line(result)])


def render_markdown(result: RevDiff) -> str:
    names = [f"`{result.a.name}`", f"`{result.b.name}`"]
    header = ["metric", *names, "change", "rel", "verdict", "note"]
    lines = [f"### mlrepro diff {_title(result)}", "", _md_row(header), _md_row(["---"] * 7)]
    lines += [_md_row([f"`{c[0]}`", *c[1:]]) for c in _metric_cells(result)]
    lines += [""] + [f"- note: {n}" for n in result.notes]
    for title, items in _sections(result):
        lines.append(f"**{title}**:" + ("" if items else " none changed"))
        lines += [*(f"- {i}" for i in items), ""]
    return "\n".join([*lines, f"**{_gate_line(result)}**"])


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def render_json(result: RevDiff) -> str:
    return json.dumps(result.as_dict(), indent=2, sort_keys=True, ensure_ascii=False)


RENDERERS: dict[str, Callable[[RevDiff], str]] = {
    "table": render_table,
    "md": render_markdown,
    "json": render_json,
}
