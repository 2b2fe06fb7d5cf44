"""`mlrepro drift REF CUR`: parse, call `core.compare_tables`, render.

Exit codes: 0 no column fails, 1 a column's verdict is fail, 2 usage or input error (an
MlreproError, printed as one line by the top-level command).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HELP = "drift of each column between two snapshots or table files"
DESCRIPTION = (
    "Measure how far CUR is from REF, column by column: numbers by PSI over quantile bins of "
    "REF and by the Wasserstein distance divided by REF's standard deviation, categories by the "
    "Jensen-Shannon and L-infinity distances; thresholds and bins from params.yaml drift: (else "
    "the defaults). REF and CUR are snapshot refs (SOURCE@ID, SOURCE@latest, SOURCE@pinned; "
    "read as ingest reads them, every byte checked, typed by the schema file) or .parquet / "
    ".csv files. Columns: the model's features present in both, else every column both have. "
    "Exit codes: 0 no column fails, 1 a column's verdict is fail, 2 usage or input error."
)
EXAMPLE = "Example: mlrepro drift flights@pinned flights@latest --columns carrier,distance"


def add_commands(nouns: Any) -> None:
    cmd = nouns.add_parser("drift", help=HELP, description=DESCRIPTION, epilog=EXAMPLE)
    cmd.add_argument("ref", metavar="REF", help="the reference: snapshot ref or table file")
    cmd.add_argument("cur", metavar="CUR", help="the table compared with it")
    cmd.add_argument("--columns", metavar="A,B", help="compare these columns (comma-separated)")
    cmd.add_argument("--json", action="store_true", help="the result as JSON")
    cmd.set_defaults(func=cmd_drift)


def cmd_drift(args: argparse.Namespace) -> int:
    from mlrepro.drift.core import compare_tables
    from mlrepro.drift.render import render_json, render_text

    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    result, params = compare_tables(Path.cwd(), args.ref, args.cur, columns=columns)
    print(render_json(result, params) if args.json else render_text(result, params))
    return 1 if result.failed else 0
