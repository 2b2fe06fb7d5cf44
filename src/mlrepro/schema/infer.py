"""A starting schema for one table, inferred from a snapshot with TFDV's and pandera's semantics:
the narrowest dtype every value parses as; nullable when any value is missing; the numeric range
seen; a categorical domain (`allowed`) for a string column of at most 100 distinct values. The
user edits it (bounds, `not_in: [SERVING]`, handling, rules) and commits it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mlrepro.core.params import Params
from mlrepro.pipeline.schema import clean_text, parse_values
from mlrepro.snapshot import layout

MAX_DOMAIN = 100  # TFDV's max_string_domain_size: more distinct values are no categorical domain
# what ingest's parser (pandas.to_numeric, core of `parse_table`) reads as a number, matched
# first by pattern: to_numeric on 300,000 text cells that are not numbers takes a quarter second
PATTERNS = {
    "int": re.compile(r"^[+-]?\d{1,18}$"),  # fits in int64
    "float": re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"),
    "bool": re.compile(r"^(?i:true|false|t|f|yes|no)$"),  # 0 and 1 are int
    "date": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
}


@dataclass(frozen=True)
class Inferred:
    table: str
    snapshot: str  # SOURCE@ID it was inferred from
    rows: int
    columns: dict[str, dict[str, Any]]  # name -> the schema entry (dtype, nullable, ...)


def infer_dtype(present: pd.Series) -> str:
    """The narrowest dtype that every present value parses as, as ingest parses it: int, float,
    bool, date, then datetime (ISO 8601); string when none fits or no value is present."""
    if present.empty:
        return "string"
    for dtype, pattern in PATTERNS.items():
        if present.str.fullmatch(pattern).all():
            if dtype == "date" and parse_values(present, "date").isna().any():
                break  # 2013-02-30
            return dtype
    if parse_values(present, "datetime").notna().all():
        return "datetime"
    return "string"


def infer_column(text: pd.Series) -> dict[str, Any]:
    """One column's schema entry from its raw text (the cells as ingest reads them)."""
    text = clean_text(text)
    present = text.dropna()
    dtype = infer_dtype(present)
    entry: dict[str, Any] = {"dtype": dtype, "nullable": bool(text.isna().any())}
    if dtype in ("int", "float") and not present.empty:
        values = present.astype("float64" if dtype == "float" else "Int64")
        cast = int if dtype == "int" else float
        entry["min"], entry["max"] = cast(values.min()), cast(values.max())
    if dtype == "string" and not present.empty:
        distinct = present.unique()
        if len(distinct) <= MAX_DOMAIN:
            entry["allowed"] = sorted(str(v) for v in distinct)
    return entry


def infer_table(raw: pd.DataFrame, table: str, snapshot: str) -> Inferred:
    """Every column of the raw text table, in file order."""
    columns = {str(name): infer_column(raw[name]) for name in raw.columns}
    return Inferred(table, snapshot, len(raw), columns)


def infer_snapshot(params: Params, table: str, snapshot: str | None, repo: Path) -> Inferred:
    """The schema of `table` (a declared source) from its snapshot `snapshot` (an id, a unique
    prefix or `latest`; default: the pinned one), read as ingest reads it: every byte checked
    against the manifest before it is parsed."""
    from mlrepro.stages.ingest import read_text, snapshot_tables

    source = params.ingest.source(table)
    manifest = layout.resolve_ref(repo, f"{table}@{snapshot or 'pinned'}", params.ingest.pins)
    origin = f"{table}@{manifest.id}"
    raw = read_text(snapshot_tables(manifest, source, repo), origin)
    return infer_table(raw, table, origin)
