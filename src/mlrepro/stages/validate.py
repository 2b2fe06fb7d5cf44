"""validate: check every ingested table against the schema file; write a report; on violations
stop with a message that lists them and names the report, which is kept (core.shell)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mlrepro.core.errors import ValidationFailed
from mlrepro.core.files import read_parquet, write_json
from mlrepro.core.params import load_params
from mlrepro.core.shell import run_stage
from mlrepro.pipeline.schema import TableSpec, Violation, check_table, load_schema


def validate(tables: dict[str, pd.DataFrame], schema: dict[str, TableSpec]) -> list[Violation]:
    """All violations of all tables, in table order."""
    return [v for name, df in tables.items() for v in check_table(df, schema[name])]


def report(tables: dict[str, pd.DataFrame], violations: list[Violation]) -> dict[str, Any]:
    return {
        "ok": not violations,
        "tables": {
            name: {"rows": len(df), "columns": len(df.columns)} for name, df in tables.items()
        },
        "violations": [v.as_dict() for v in violations],
    }


def _run(args: argparse.Namespace) -> None:
    params = load_params()
    schema = load_schema()
    names = [s.name for s in params.ingest.sources]
    tables = {name: read_parquet(Path(args.data) / f"{name}.parquet") for name in names}
    violations = validate(tables, schema)
    write_json(args.report, report(tables, violations))
    if violations:
        lines = [v.line() for v in violations]
        head = f"{len(violations)} schema violation(s) (schema.yaml; report: {args.report}):"
        raise ValidationFailed("\n  ".join([head, *lines]), lines)
    print(f"validate: {len(tables)} tables match schema.yaml")


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("validate", _run, argv, inputs=["data"], outputs=["report"])


if __name__ == "__main__":
    sys.exit(main())
