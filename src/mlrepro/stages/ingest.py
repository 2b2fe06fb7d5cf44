"""ingest: read each source's pinned snapshot, check every file byte for byte against its
manifest, and write the typed working copy that later stages read (data/ingest/*.parquet) with a
manifest naming the snapshots it was made from (data/ingest/manifest.json).

The snapshot is read, never written: each file is read into memory once, its sha256 checked
against the manifest, and the table parsed from those same bytes, so what ingest parses is what
it checked. No second byte copy of the raw data is kept (it would be one more full copy in the
DVC cache that nothing reads); the typed parquet files are the pipeline's copy.

The pipeline never reads a live source: a pinned snapshot whose bytes are in neither the work tree
nor the DVC cache (a fresh clone without a remote) is taken again, accepted only if it matches
the pinned hashes exactly, and recorded in the DVC cache as a take would.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from mlrepro import dvccache
from mlrepro.core.errors import DataError, ParamsError
from mlrepro.core.files import fresh_dir, write_json, write_parquet
from mlrepro.core.params import IngestParams, Source, load_params
from mlrepro.core.shell import run_stage
from mlrepro.pipeline.schema import TRAINING, TableSpec, in_environment, load_schema, parse_table
from mlrepro.snapshot import layout, store
from mlrepro.snapshot.describe import TABLE_SUFFIXES
from mlrepro.snapshot.manifest import Manifest, content_hash, read_manifest
from mlrepro.snapshot.take import fill

READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
Codec = Literal["gzip", "zip", "bz2", "xz"]
COMPRESSION: dict[str, Codec] = {".gz": "gzip", ".zip": "zip", ".bz2": "bz2", ".xz": "xz"}
MANIFEST = "manifest.json"  # in data/ingest: the snapshots the tables were made from


def pinned(params: IngestParams, source: Source, repo: Path) -> Manifest:
    snapshot_id = params.pins.get(source.name)
    if snapshot_id is None:
        raise ParamsError(
            f"params.yaml: ingest.pins.{source.name}: no snapshot pinned "
            f"(mlrepro snapshot take {source.name}; mlrepro snapshot pin {source.name}@latest)"
        )
    path = layout.manifest_path(repo, source.name, snapshot_id)
    if not path.is_file():
        raise DataError(
            f"params.yaml: ingest.pins.{source.name}: no snapshot {snapshot_id} ({path})"
        )
    return read_manifest(path)


def snapshot_files(manifest: Manifest, source: Source, repo: Path) -> dict[str, Path]:
    """Where each file of the pinned snapshot is read: the work tree when the snapshot is checked
    out there, else the DVC cache, else a fresh take of the source that matches the pinned content
    exactly (then kept as the snapshot)."""
    folder = layout.data_dir(repo, manifest.source, manifest.id)
    if folder.is_dir():
        files = {e.path: folder / e.path for e in manifest.files}
        for path in files.values():
            if not path.is_file():
                raise DataError(
                    f"{path}: missing from snapshot {manifest.source}@{manifest.id}; "
                    "see mlrepro snapshot verify"
                )
        return files
    cache = dvccache.local_cache(repo)
    cached = {e.path: cache.object_path(e.md5) for e in manifest.files}
    if all(p.is_file() for p in cached.values()):
        return cached
    restore(manifest, source, repo)
    return {e.path: folder / e.path for e in manifest.files}


def restore(manifest: Manifest, source: Source, repo: Path) -> None:
    """Take the source again; accept it as the snapshot only if its content hash is the pinned."""
    with store.source_lock(repo, source.name):
        _restore(manifest, source, repo)


def _restore(manifest: Manifest, source: Source, repo: Path) -> None:
    tmp = store.new_tmp_dir(repo, source.name)
    try:
        entries = fill(source, repo, tmp, None)
        if content_hash(entries) != manifest.content_sha256:
            raise DataError(
                f"{source.name}@{manifest.id}: not in the work tree or DVC cache, and source "
                f"{source.name!r} no longer yields it (dvc pull it from a remote)"
            )
        folder = layout.data_dir(repo, manifest.source, manifest.id)
        for path in tmp.rglob("*"):
            if path.is_file():
                path.chmod(READ_ONLY)
        tmp.chmod(0o755)  # as a take leaves it (mkdtemp makes 0700)
        os.sync()  # the restored bytes on disk before the folder appears
        os.rename(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # first-class DVC data, as after a take: cache objects, the `.dir` listing, the `.dvc` file
    # (the committed one: same content), so `dvc status` is clean, `dvc push` carries the
    # snapshot and `dvc checkout` restores it instead of deleting it
    store.track(repo, manifest)


def read_verified(manifest: Manifest, files: dict[str, Path]) -> dict[str, bytes]:
    """The bytes of each snapshot file, each checked against the manifest's sha256."""
    contents = {}
    for entry in manifest.files:
        data = files[entry.path].read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != entry.sha256:
            raise DataError(
                f"{os.path.relpath(files[entry.path])}: snapshot {manifest.source}@{manifest.id} "
                "is damaged "
                f"(sha256 expected {entry.sha256}, actual {actual}); see mlrepro snapshot verify"
            )
        contents[entry.path] = data
    return contents


def read_table(tables: dict[str, bytes], spec: TableSpec, origin: str) -> pd.DataFrame:
    """The snapshot's table files (path -> bytes), concatenated in the order given (the manifest's
    name order), parsed into the schema's dtypes."""
    return parse_table(read_text(tables, origin), spec, file=origin)


def read_text(tables: dict[str, bytes], origin: str) -> pd.DataFrame:
    """The table files (path -> bytes) as text columns, concatenated in the order given."""
    frames = []
    for name, data in tables.items():
        try:
            buffer, packed = io.BytesIO(data), COMPRESSION.get(Path(name).suffix.lower())
            frames.append(
                pd.read_csv(
                    buffer,
                    compression=packed,
                    dtype="string",
                    keep_default_na=False,
                    na_filter=False,
                )
            )
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{origin}/{name}: cannot be read as CSV: {exc}") from None
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def snapshot_tables(manifest: Manifest, source: Source, repo: Path) -> dict[str, bytes]:
    """The bytes of the snapshot's table files, each checked against the manifest first."""
    contents = read_verified(manifest, snapshot_files(manifest, source, repo))
    tables = {
        path: data for path, data in contents.items() if path.lower().endswith(TABLE_SUFFIXES)
    }
    if not tables:
        raise DataError(f"{source.name}@{manifest.id}: no CSV file to read")
    return tables


def earliest_rows(df: pd.DataFrame, time_column: str | None, max_rows: int | None) -> pd.DataFrame:
    """Order by the time column (stable, so ties keep file order) and keep the first `max_rows`."""
    if time_column is not None:
        if time_column not in df.columns:
            raise ParamsError(f"params.yaml: split.time_column: {time_column!r} is not a column")
        df = df.sort_values(time_column, kind="stable", ignore_index=True)
    return df if max_rows is None else df.head(max_rows).reset_index(drop=True)


def ingest(
    params: IngestParams,
    schema: dict[str, TableSpec],
    time_column: str | None,
    repo: Path,
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Every pinned snapshot read and checked against its manifest: the typed tables, and a
    manifest naming the snapshot, content hash and files each table was made from."""
    for source in params.sources:
        if source.name not in schema:
            raise DataError(f"schema.yaml: no table {source.name!r} (declared in ingest.sources)")
    tables, sources = {}, {}
    for source in params.sources:
        manifest = pinned(params, source, repo)
        table_files = snapshot_tables(manifest, source, repo)
        origin = f"{source.name}@{manifest.id}"
        # the columns of the TRAINING environment: one known only at serving time is not here
        df = read_table(table_files, in_environment(schema[source.name], TRAINING), origin)
        if source.name == params.main:
            df = earliest_rows(df, time_column, params.max_rows)
        tables[source.name] = df
        sources[source.name] = {
            "snapshot": manifest.id,
            "content_sha256": manifest.content_sha256,
            "files": [
                {
                    "path": e.path,
                    "bytes": e.bytes,
                    "sha256": e.sha256,
                    "rows": e.rows,
                }
                for e in manifest.files
            ],
        }
    manifest_out = {
        "sources": sources,
        "main": params.main,
        "max_rows": params.max_rows,
        "rows_kept": {name: len(df) for name, df in tables.items()},
    }
    return tables, manifest_out


def check_pins_unchanged(read: dict[str, str], now: dict[str, str]) -> None:
    """DVC records the pins of params.yaml as it is when the stage ends: a pin moved while ingest
    ran (`mlrepro snapshot pin` meanwhile) would make dvc.lock claim a snapshot that ingest did
    not read. Fail instead, so that DVC records nothing and the next run reads the new pin."""
    for source in sorted(set(read) | set(now)):
        if read.get(source) != now.get(source):
            raise DataError(
                f"params.yaml: ingest.pins.{source} changed from {read.get(source)} to "
                f"{now.get(source)} while ingest ran (it read {read.get(source)}); "
                "run dvc repro again"
            )


def _run(args: argparse.Namespace) -> None:
    params = load_params()
    schema = load_schema()
    out_dir = fresh_dir(args.out)
    tables, manifest = ingest(params.ingest, schema, params.split.time_column, Path.cwd())
    for name, df in tables.items():
        write_parquet(df, out_dir / f"{name}.parquet")
    write_json(out_dir / MANIFEST, manifest)
    check_pins_unchanged(params.ingest.pins, load_params().ingest.pins)
    for name, entry in manifest["sources"].items():
        print(f"ingest: {name}@{entry['snapshot']}: {manifest['rows_kept'][name]} rows")


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("ingest", _run, argv, inputs=[], outputs=["out"])


if __name__ == "__main__":
    sys.exit(main())
