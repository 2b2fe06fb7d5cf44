"""validate: check every ingested table against the schema file (its TRAINING view), apply the
declared handling of out-of-domain values, and write the validated tables that split and
featurize read (data/validate/*.parquet) with a report of every anomaly (reports/validate.json)
and its summary, which dvc.yaml declares as the stage's metrics (`--metrics`,
reports/validate_metrics.json: the verdict and the counts, for `mlrepro diff` to compare).

An anomaly of severity error (handling `stop`) stops the stage with a message that lists them
and names the report, which is kept (core.shell); warnings are printed and the run goes on.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mlrepro.core.errors import ValidationFailed
from mlrepro.core.files import atomic_path, fresh_dir, read_parquet, write_json, write_parquet
from mlrepro.core.params import SCHEMA_FILE, load_params
from mlrepro.core.shell import run_stage
from mlrepro.pipeline.anomalies import Anomaly, Handled, handle
from mlrepro.pipeline.schema import TRAINING, TableSpec, in_environment, load_schema


def validate(
    tables: dict[str, pd.DataFrame],
    schema: dict[str, TableSpec],
    keys: dict[str, Sequence[str]],
) -> dict[str, Handled]:
    """Every table checked against the TRAINING view of its schema and handled, in table order."""
    return {
        name: handle(df, in_environment(schema[name], TRAINING), keys=keys.get(name, ()))
        for name, df in tables.items()
    }


def anomalies(handled: dict[str, Handled]) -> list[Anomaly]:
    return [a for h in handled.values() for a in h.anomalies]


def report(handled: dict[str, Handled]) -> dict[str, Any]:
    found = anomalies(handled)
    errors = sum(a.severity == "error" for a in found)
    return {
        "ok": errors == 0,
        "errors": errors,
        "warnings": len(found) - errors,
        "tables": {name: h.summary() for name, h in handled.items()},
        "anomalies": [a.as_dict() for a in found],
    }


def summary(handled: dict[str, Handled]) -> dict[str, Any]:
    """The metrics file: the verdict, errors and warnings, rows dropped and values set missing
    over all tables (the report has them per table and anomaly)."""
    found = anomalies(handled)
    errors = sum(a.severity == "error" for a in found)
    return {
        "verdict": "fail" if errors else "warn" if found else "pass",
        "errors": errors,
        "warnings": len(found) - errors,
        "rows_dropped": sum(h.rows_dropped for h in handled.values()),
        "values_set_missing": sum(n for h in handled.values() for n in h.set_missing.values()),
    }


def _run(args: argparse.Namespace) -> None:
    params = load_params()
    schema = load_schema()
    sources = params.ingest.sources
    tables = {s.name: read_parquet(Path(args.data) / f"{s.name}.parquet") for s in sources}
    handled = validate(tables, schema, {s.name: s.key for s in sources})
    write_json(args.report, report(handled))
    write_json(args.metrics, summary(handled))
    found = anomalies(handled)
    errors = [a.line() for a in found if a.severity == "error"]
    if errors:
        head = f"{len(errors)} schema violation(s) ({SCHEMA_FILE}; report: {args.report}):"
        raise ValidationFailed("\n  ".join([head, *errors]), errors)
    out = fresh_dir(args.out)
    for name, result in handled.items():
        if result.changed:
            write_parquet(result.table, out / f"{name}.parquet")
        else:  # the same bytes a rewrite gives (write_parquet is deterministic), without encoding
            with atomic_path(out / f"{name}.parquet") as tmp:
                shutil.copyfile(Path(args.data) / f"{name}.parquet", tmp)
    for anomaly in found:
        print(f"validate: warn: {anomaly.line()}")
    warned = f"; {len(found)} warning(s), handled as declared ({args.report})" if found else ""
    print(f"validate: {len(tables)} tables match {SCHEMA_FILE}{warned}")


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("validate", _run, argv, inputs=["data"], outputs=["out", "report", "metrics"])


if __name__ == "__main__":
    sys.exit(main())
