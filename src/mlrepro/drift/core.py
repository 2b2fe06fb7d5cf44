"""`compare_tables`: drift between two tables, each a snapshot of a declared source (read as
ingest reads it: every byte checked against its manifest, then typed by the schema file) or a
Parquet or CSV file. Returns the library's `DatasetDrift`; `render` renders it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlrepro.core.errors import DataError
from mlrepro.core.params import PARAMS_FILE, SCHEMA_FILE, DriftParams, Params, load_params

if TYPE_CHECKING:
    import pandas as pd

    from mlrepro.pipeline.drift import DatasetDrift, Kind

FILE_SUFFIXES = (".parquet", ".csv", ".csv.gz", ".csv.zip", ".tsv")


@dataclass(frozen=True)
class Table:
    name: str  # as given: flights@pinned, data/last_month.parquet
    frame: pd.DataFrame


def compare_tables(
    repo: Path, ref: str, cur: str, *, columns: list[str] | None = None
) -> tuple[DatasetDrift, DriftParams]:
    """Drift of the chosen columns from table `ref` to table `cur`, and the params it used
    (params.yaml `drift:` when there is a params.yaml, else the defaults)."""
    from mlrepro.pipeline.drift import compare, profile

    params = load_params(repo / PARAMS_FILE) if (repo / PARAMS_FILE).is_file() else None
    a, b = read(repo, ref, params), read(repo, cur, params)
    chosen = choose_columns(a, b, columns, params)
    spec = params.drift if params is not None else DriftParams()
    return compare(profile(a.frame, chosen, a.name), profile(b.frame, chosen, b.name), spec), spec


def read(repo: Path, name: str, params: Params | None) -> Table:
    """A table file when `name` is a path that exists, else a snapshot ref (SOURCE@ID)."""
    path = repo / name
    if path.is_file():
        return Table(name, read_file(path, name))
    if "@" not in name:
        raise DataError(
            f"{name}: no such file, and not a snapshot ref (SOURCE@ID, SOURCE@latest, "
            "SOURCE@pinned)"
        )
    if params is None:
        raise DataError(f"{name}: a snapshot ref needs {PARAMS_FILE} (run in the project)")
    return Table(name, read_snapshot(repo, name, params))


def read_file(path: Path, name: str) -> pd.DataFrame:
    import pandas as pd

    from mlrepro.core.files import read_parquet

    lower = path.name.lower()
    if lower.endswith(".parquet"):
        return read_parquet(path)
    if not lower.endswith(FILE_SUFFIXES):
        raise DataError(f"{name}: not a table file (expected one of {', '.join(FILE_SUFFIXES)})")
    try:
        return pd.read_csv(path, sep="\t" if lower.endswith(".tsv") else ",")
    except (OSError, ValueError, UnicodeDecodeError) as exc:  # ParserError is a ValueError
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{name}: cannot be read as a table: {reason}") from None


def read_snapshot(repo: Path, ref: str, params: Params) -> pd.DataFrame:
    """The snapshot's tables, each file checked against its manifest, typed by the schema."""
    from mlrepro.pipeline.schema import load_schema
    from mlrepro.snapshot import layout
    from mlrepro.stages.ingest import read_table, snapshot_tables

    manifest = layout.resolve_ref(repo, ref, params.ingest.pins)
    schema = load_schema(repo / SCHEMA_FILE)
    if manifest.source not in schema:
        raise DataError(f"{SCHEMA_FILE}: no table {manifest.source!r} (to type {ref})")
    tables = snapshot_tables(manifest, params.ingest.source(manifest.source), repo)
    return read_table(tables, schema[manifest.source], f"{manifest.source}@{manifest.id}")


def choose_columns(
    a: Table, b: Table, columns: list[str] | None, params: Params | None
) -> list[tuple[str, Kind]]:
    """`columns` when given (each must be in both); else the model's features found in both;
    else every column both have (datetimes left out). Each with its kind: as params declare
    it, else numeric for a number column and categorical for any other."""
    common = [c for c in a.frame.columns if c in set(b.frame.columns)]
    if columns is not None:
        for column in columns:
            for table in (a, b):
                if column not in table.frame.columns:
                    raise DataError(f"--columns: {table.name} has no column {column!r}")
        chosen = columns
    else:
        features = params.featurize.features if params is not None else []
        chosen = [c for c in features if c in common] or [
            c for c in common if not _is_datetime(a.frame[c])
        ]
    if not chosen:
        raise DataError(f"{a.name} and {b.name} have no column in common")
    return [(c, kind(a.frame[c], c, params)) for c in chosen]


def kind(series: pd.Series, name: str, params: Params | None) -> Kind:
    import pandas as pd

    if params is not None and name in params.featurize.categorical:
        return "categorical"
    if _is_datetime(series):
        raise DataError(f"--columns: {name!r} is a datetime; drift compares numbers and categories")
    numeric = pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series)
    return "numeric" if numeric else "categorical"


def _is_datetime(series: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_datetime64_any_dtype(series.dtype))
