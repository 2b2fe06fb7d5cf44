"""Prediction files, byte-identical for the same input, revision and environment: Parquet
(the provenance in the file's metadata, key `mlrepro`), CSV or JSON Lines (the provenance beside
them, `<file>.provenance.json`). Floats are written to the last digit (CSV: repr). Each file is
written atomically: a failure leaves no half-written file that looks complete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from mlrepro.core.errors import MlreproError
from mlrepro.core.files import atomic_path
from mlrepro.serving.predict import output_records

FORMATS = (".csv", ".parquet", ".jsonl")
METADATA_KEY = b"mlrepro"


class OutputError(MlreproError):
    """An output path with a suffix no writer knows."""


def provenance_path(path: Path) -> Path:
    return path.with_name(path.name + ".provenance.json")


def write_predictions(frame: pd.DataFrame, path: Path, provenance: dict[str, Any]) -> list[Path]:
    """Write `frame` to `path` by its suffix; returns the files written."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise OutputError(f"{path}: unknown output format (use {', '.join(FORMATS)})")
    if suffix == ".parquet":
        _parquet(frame, path, provenance)
        return [path]
    with atomic_path(path) as tmp:
        tmp.write_text(to_csv(frame) if suffix == ".csv" else to_jsonl(frame), encoding="utf-8")
    side = provenance_path(path)
    with atomic_path(side) as tmp:
        tmp.write_text(provenance_json(provenance), encoding="utf-8")
    return [path, side]


def to_csv(frame: pd.DataFrame) -> str:
    # times are UTC: the schema parses every datetime so
    text: str = frame.to_csv(index=False, lineterminator="\n", date_format="%Y-%m-%dT%H:%M:%SZ")
    return text


def to_jsonl(frame: pd.DataFrame) -> str:
    rows = output_records(frame)
    return "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in rows)


def provenance_json(provenance: dict[str, Any]) -> str:
    return json.dumps(provenance, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _parquet(frame: pd.DataFrame, path: Path, provenance: dict[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = {**(table.schema.metadata or {}), METADATA_KEY: provenance_json(provenance).encode()}
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata(meta), tmp, compression="zstd")
