"""Taking a snapshot: copy (or query) a source into a temporary folder, hash it in the same pass,
reuse an existing snapshot with identical content, else commit it atomically and record it for DVC
(as `dvc add` would, from the hashes of the copy pass)."""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlrepro.core.errors import DataError
from mlrepro.core.params import Source
from mlrepro.snapshot import store
from mlrepro.snapshot.sources import source_files

TABLE_SUFFIXES = (".csv", ".csv.gz", ".csv.zip", ".csv.bz2", ".csv.xz", ".tsv")
SAMPLE_ROWS = 1000


@dataclass(frozen=True)
class TakeResult:
    manifest: store.Manifest
    reused: bool


def tools() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("mlrepro", "dvc", "pandas", "sqlalchemy"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(repo: Path) -> str | None:
    import git

    try:
        return str(git.Repo(repo, search_parent_directories=False).head.commit.hexsha)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return None


def describe_table(path: Path) -> tuple[int | None, dict[str, str] | None]:
    """Rows and column dtypes of a CSV-like file (None for other files)."""
    if not path.name.lower().endswith(TABLE_SUFFIXES):
        return None, None
    sep = separator(path)
    try:
        sample = pd.read_csv(path, sep=sep, nrows=SAMPLE_ROWS)
        rows = len(sample)
        if rows == SAMPLE_ROWS:  # more rows than the sample: count them all
            rows = 0
            for chunk in pd.read_csv(path, sep=sep, usecols=[0], dtype=str, chunksize=1 << 20):
                rows += len(chunk)
    except pd.errors.EmptyDataError:
        return 0, {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path.name}: cannot be read as CSV: {exc}") from None
    return rows, {str(c): str(t) for c, t in sample.dtypes.items()}


def separator(path: Path) -> str:
    return "\t" if path.name.lower().endswith(".tsv") else ","


def copy_files(
    source: Source, repo: Path, tmp: Path, progress: store.Progress | None
) -> list[store.FileEntry]:
    entries = []
    for item in source_files(source, repo):
        target = tmp / item.name
        target.parent.mkdir(parents=True, exist_ok=True)
        size, sha, md5 = store.hash_copy(item.path, target, progress)
        rows, columns = describe_table(target)
        entries.append(store.FileEntry(item.name, size, sha, md5, rows, columns))
    return entries


def take(source: Source, repo: Path, *, progress: store.Progress | None = None) -> TakeResult:
    """Snapshot `source` now. Identical content reuses the existing snapshot's id."""
    with store.source_lock(repo, source.name):
        return _take(source, repo, progress)


def _take(source: Source, repo: Path, progress: store.Progress | None) -> TakeResult:
    tmp = store.new_tmp_dir(repo, source.name)
    try:
        entries = fill(source, repo, tmp, progress)
        content = store.content_hash(entries)
        for existing in store.list_snapshots(repo, source.name):
            if existing.content_sha256 == content:
                folder = store.data_dir(repo, source.name, existing.id)
                if not folder.with_suffix(".dvc").exists() and folder.is_dir():
                    store.track(repo, existing)  # an earlier take stopped before tracking it
                return TakeResult(existing, reused=True)
        taken_at = store.now_utc()
        manifest = store.Manifest(
            id=store.new_id(taken_at, content),
            source=source.name,
            definition=source.definition(),
            taken_at=taken_at.isoformat().replace("+00:00", "Z"),
            git_commit=git_commit(repo),
            tools=tools(),
            content_sha256=content,
            files=tuple(entries),
        )
        store.commit(repo, manifest, tmp)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    store.share_with_cache(repo, manifest)  # verifies objects already in the cache, links them
    store.track(repo, manifest)
    return TakeResult(manifest, reused=False)


def fill(
    source: Source, repo: Path, tmp: Path, progress: store.Progress | None
) -> list[store.FileEntry]:
    """Write the source's content into `tmp`; return one entry per file."""
    if source.sql is not None:
        from mlrepro.snapshot.sql import query_to_csv

        return [query_to_csv(source, tmp)]
    if source.as_of is not None:
        return [filtered_copy(source, repo, tmp)]
    return copy_files(source, repo, tmp, progress)


def filtered_copy(source: Source, repo: Path, tmp: Path) -> store.FileEntry:
    """A file source with `as_of`: its rows up to the cutoff, in a deterministic CSV. Cells are
    kept as text, so rows after the cutoff cannot change how the kept rows are written."""
    from mlrepro.core.errors import ParamsError
    from mlrepro.snapshot.sql import write_table

    assert source.as_of is not None
    frames = [
        pd.read_csv(item.path, sep=separator(item.path), dtype=str, keep_default_na=False)
        for item in source_files(source, repo)
    ]
    df = pd.concat(frames, ignore_index=True)
    column = source.as_of.column
    if column not in df.columns:
        raise ParamsError(
            f"params.yaml: ingest.sources.{source.name}.as_of.column: no column {column!r}"
        )
    when = pd.to_datetime(df[column], utc=True, format="ISO8601", errors="coerce")
    return write_table(df[when <= source.as_of.cutoff], source, tmp)
