"""Render a `RevDiff` as a terminal table, Markdown (the pull-request comment) or JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlrepro.diff.core import MetricRow, RevDiff, StageChange
from mlrepro.diff.gates import GATES_FILE
from mlrepro.revisions import Pin, Rev

CELL_WIDTH = 40  # a longer text value is cut in the table and Markdown (JSON has it whole)


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    return value if isinstance(value, str) else json.dumps(value)


def _cell(value: Any) -> str:
    text = _value(value)
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"


def _signed(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _pin(pin: Pin | None) -> str:
    if pin is None:
        return "—"
    return f"{pin.id} ({_value(pin.rows)} rows, {_value(pin.bytes)} bytes)"


FOLD_ABOVE = 10  # a metrics file with more rows folds its unchanged rows that no gate judges
FOLDED_LISTED = 50  # Markdown lists at most this many folded rows of a file (a PR comment is
# cut at 60,000 characters by pr-comment.yml: detailed reports must not push the rest out)


@dataclass(frozen=True)
class FileRows:
    """The rows of one metrics file as rendered: those shown, and those folded away."""

    file: str
    shown: tuple[MetricRow, ...]
    folded: tuple[MetricRow, ...]
    note: str | None  # the note every row has (the file absent or unreadable at one side)


def file_rows(result: RevDiff) -> list[FileRows]:
    """Rows grouped by metrics file, in dvc.yaml's order but the files with every row folded
    last. In a file of more than FOLD_ABOVE rows, those unchanged and not gated fold into one
    line (JSON keeps every row)."""
    by_file: dict[str, list[MetricRow]] = {}
    for row in result.metrics:
        by_file.setdefault(row.file, []).append(row)
    groups = []
    for file, rows in by_file.items():
        quiet = {r.key for r in rows if _quiet(r)} if len(rows) > FOLD_ABOVE else set()
        folded = quiet if len(quiet) > 1 else set()
        notes = {r.note for r in rows}
        note = notes.pop() if len(rows) > 1 and len(notes) == 1 else None
        groups.append(
            FileRows(
                file,
                tuple(r for r in rows if r.key not in folded),
                tuple(r for r in rows if r.key in folded),
                note,
            )
        )
    return sorted(groups, key=lambda group: not group.shown)


def _quiet(row: MetricRow) -> bool:
    """Unchanged, present at both sides, and judged by no gate."""
    return row.verdict == "not gated" and row.note is None and row.old == row.new


def _cells(row: MetricRow, group: FileRows) -> list[str]:
    return [
        row.key,
        _cell(row.old),
        _cell(row.new),
        "0 =" if row.change == 0 else f"{_signed(row.change, '+.6g')} {row.mark}".strip(),
        _signed(row.rel_change, "+.2%"),
        row.verdict + (" ✗" if row.fails else ""),
        "" if group.note else row.note or "",
    ]


def _folded_line(group: FileRows) -> str:
    count = len(group.folded)
    return (
        f"{count} more unchanged, not gated" if group.shown else f"all {count} unchanged, not gated"
    )


def _looks_line(result: RevDiff) -> str | None:
    looks = result.test_looks
    if looks is None:
        return None
    models = f"{looks.models:,} model{'' if looks.models == 1 else 's'}"
    rows = "" if looks.rows is None else f" ({looks.rows:,} rows)"
    line = (
        f"test part {looks.sha256[:12]}{rows}: scored by {models} (commits and experiments); "
        f"warn at {looks.warn_at}"
    )
    if looks.warned:
        line += (
            ": WARNING, every look spends it and its scores flatter the model chosen on it; "
            "choose on valid, or split off a new test part"
        )
    return line


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
    """One small table per metrics file (its name heading the metric column, every column
    aligned across them), the notes, the test part, params, pins, stages and the gate."""
    header = [result.a.name, result.b.name, "change", "rel", "verdict", "note"]
    blocks = [
        (group, [[group.file, *header], *(["  " + c[0], *c[1:]] for c in _group_cells(group))])
        for group in file_rows(result)
    ]
    grid = [row for _, rows in blocks for row in rows]
    widths = [max(len(row[i]) for row in grid) for i in range(len(header) + 1)] if grid else []
    lines = [_title(result)]
    for group, (head, *rows) in blocks:
        if not rows:
            lines += ["", f"{group.file}: {_folded_line(group)} (--format json lists them)"]
            continue
        lines += ["", _table_row(head, widths)]
        lines += [f"  {group.note}"] if group.note else []
        lines += [_table_row(row, widths) for row in rows]
        if group.folded:
            lines.append(f"  … {_folded_line(group)} (--format json lists them)")
    if not blocks:
        lines += ["", "metrics: none declared"]
    if result.notes:
        lines += ["", *(f"note: {n}" for n in result.notes)]
    if (looks := _looks_line(result)) is not None:
        lines += ["", looks]
    for title, items in _sections(result):
        lines += ["", f"{title}:" + ("" if items else " none changed")]
        lines += [f"  {item}" for item in items]
    return "\n".join([*lines, "", _gate_line(result)])


def _group_cells(group: FileRows) -> list[list[str]]:
    return [_cells(row, group) for row in group.shown]


def _table_row(cells: list[str], widths: list[int]) -> str:
    pairs = enumerate(zip(cells, widths, strict=True))
    return "  ".join(c.ljust(w) if i in (0, 5, 6) else c.rjust(w) for i, (c, w) in pairs).rstrip()


def render_markdown(result: RevDiff) -> str:
    lines = [f"### mlrepro diff {_title(result)}", ""]
    for group in file_rows(result):
        lines += [f"#### `{group.file}`", ""]
        lines += [f"_{group.note}_", ""] if group.note else []
        lines += _md_table(result, group.shown, group) if group.shown else []
        if group.folded:
            listed = group.folded[:FOLDED_LISTED]
            rest = len(group.folded) - len(listed)
            lines += [f"<details><summary>{_folded_line(group)}</summary>", ""]
            lines += _md_table(result, listed, group)
            lines += [f"and {rest} more: `mlrepro diff --format json`", ""] if rest else []
            lines += ["</details>", ""]
    lines += [f"- note: {n}" for n in result.notes] + ([""] if result.notes else [])
    if (looks := _looks_line(result)) is not None:
        warned = result.test_looks is not None and result.test_looks.warned
        lines += [f"**{looks}**" if warned else looks, ""]
    for title, items in _sections(result):
        lines.append(f"**{title}**:" + ("" if items else " none changed"))
        lines += [*(f"- {i}" for i in items), ""]
    return "\n".join([*lines, f"**{_gate_line(result)}**"])


def _md_table(result: RevDiff, rows: tuple[MetricRow, ...], group: FileRows) -> list[str]:
    header = ["metric", f"`{result.a.name}`", f"`{result.b.name}`", "change", "rel", "verdict"]
    cells = [_cells(row, group) for row in rows]
    lines = [_md_row([*header, "note"]), _md_row(["---"] * 7)]
    return [*lines, *(_md_row([f"`{c[0]}`", *c[1:]]) for c in cells), ""]


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def render_json(result: RevDiff) -> str:
    return json.dumps(result.as_dict(), indent=2, sort_keys=True, ensure_ascii=False)


RENDERERS: dict[str, Callable[[RevDiff], str]] = {
    "table": render_table,
    "md": render_markdown,
    "json": render_json,
}
