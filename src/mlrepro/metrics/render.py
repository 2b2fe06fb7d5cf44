"""The metrics file as a terminal table: one row per metric, one column per part."""

from __future__ import annotations

from typing import Any

from mlrepro.core.params import PARTS


def render_metrics(metrics: dict[str, Any]) -> str:
    """A terminal table: one row per metric, one column per part (valid, test, ...)."""
    parts = sorted(metrics, key=lambda p: (PARTS.index(p) if p in PARTS else len(PARTS), p))
    names = [n for n in metrics[parts[0]] if not isinstance(metrics[parts[0]][n], dict)]
    width = max((len(n) for n in names), default=len("metric"))
    lines = ["metric".ljust(width) + "".join(f"{p:>12}" for p in parts)]
    for name in names:
        cells = "".join(f"{_cell(metrics[p].get(name)):>12}" for p in parts)
        lines.append(name.ljust(width) + cells)
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "—" if value is None else str(value)
