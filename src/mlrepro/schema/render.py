"""How `mlrepro schema infer` shows its result: the schema file text, and a one-line summary."""

from __future__ import annotations

from typing import Any

import yaml

from mlrepro.schema.infer import MAX_DOMAIN, Inferred

WIDTH = 100  # the project's line length
INDENT = "      "  # a column's indent under tables.<name>.columns


def schema_yaml(inferred: Inferred) -> str:
    """The inferred table in the schema file's format, as its committed entries are written: one
    flow mapping per column where it fits on a line, else one key a line. Deterministic: columns
    in file order, categories sorted."""
    lines = [
        f"# Inferred by `mlrepro schema infer {inferred.table}` from {inferred.snapshot} "
        f"({inferred.rows} rows).",
        "# A starting point: check every bound and category (`allowed` only where a string column",
        f"# has at most {MAX_DOMAIN} distinct values), mark the label and what is known only later",
        "# `not_in: [SERVING]`, declare `handling`, add `rules`; then commit it.",
        "tables:",
        f"  {_flow(inferred.table)}:",
        "    columns:",
    ]
    for name, entry in inferred.columns.items():
        lines += _column(_flow(name), entry)
    return "\n".join(lines) + "\n"


def _column(name: str, entry: dict[str, Any]) -> list[str]:
    one = f"{INDENT}{name}: {_flow(entry)}"
    if len(one) <= WIDTH:
        return [one]
    lines = [f"{INDENT}{name}:"]
    for key, value in entry.items():
        line = f"{INDENT}  {key}: {_flow(value)}"
        if len(line) <= WIDTH or not isinstance(value, list):
            lines.append(line)
        else:
            lines += [f"{INDENT}  {key}:", *(f"{INDENT}    - {_flow(v)}" for v in value)]
    return lines


def _flow(value: Any) -> str:
    """`value` as YAML on one line (quoted where YAML would read it as another type)."""
    text = yaml.safe_dump([value], default_flow_style=True, width=10**9, sort_keys=False)
    return text.strip()[1:-1]


def render_written(inferred: Inferred, path: str) -> str:
    return (
        f"schema infer: wrote {path}: table {inferred.table}, {len(inferred.columns)} columns "
        f"from {inferred.snapshot} ({inferred.rows} rows)"
    )
