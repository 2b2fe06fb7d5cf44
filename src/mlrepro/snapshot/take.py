"""Taking a snapshot: copy (or query) a source into a temporary folder, hash it in the same pass,
reuse an existing snapshot with identical content, else commit it atomically and record it for DVC
(as `dvc add` would, from the hashes of the copy pass)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from mlrepro.core.errors import DataError
from mlrepro.core.params import Source
from mlrepro.snapshot import fileio, layout, store
from mlrepro.snapshot.describe import Helper, describe_table, is_plain, separator
from mlrepro.snapshot.manifest import FileEntry, Manifest, content_hash, new_id, now_utc
from mlrepro.snapshot.progress import Progress
from mlrepro.snapshot.sources import source_files

SMALL = 1 << 20  # files up to this size are described from the bytes the copy pass read
HELPER_FILES = 200  # tables in a source from which a helper process describes them


@dataclass(frozen=True)
class TakeResult:
    manifest: Manifest
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
    """The commit checked out in `repo` (None outside git or before the first commit)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def copy_files(source: Source, repo: Path, tmp: Path, progress: Progress | None) -> list[FileEntry]:
    """Copy, hash and describe every file of `source` into `tmp`, one file at a time (a thread
    asks the disk for the next files meanwhile); with many tables, a helper process describes
    the small ones on the other core."""
    items = source_files(source, repo)
    if progress:
        progress.start(len(items), sum(os.stat(item.path).st_size for item in items))
    for folder in sorted({(tmp / item.name).parent for item in items}):
        folder.mkdir(parents=True, exist_ok=True)
    tables = sum(1 for item in items if is_plain(item.name))
    copied, described, deferred = [], {}, []
    with ExitStack() as stack:
        helper = stack.enter_context(Helper()) if tables >= HELPER_FILES else None
        done = stack.enter_context(fileio.read_ahead([item.path for item in items]))
        top = str(tmp)
        for item in items:  # strings, not Paths: this loop runs once per file
            target = f"{top}/{item.name}"
            try:
                size, sha, md5, content = fileio.copy_new(item.path, target, progress, keep=SMALL)
            except OSError as exc:  # vanished or unreadable since listed, or the disk is full
                where = f"params.yaml: ingest.sources.{source.name}"
                raise DataError(f"{where}: cannot copy {item.name}: {exc.strerror}") from None
            done()
            copied.append((item.name, size, sha, md5))
            if helper and content is not None and is_plain(item.name):
                helper.add(target, content)
                deferred.append(item.name)
            else:
                described[item.name] = describe_table(Path(target), content)
            if progress:
                progress.advance(0, files=1)
        if helper:
            described.update(zip(deferred, helper.results(), strict=True))
    return [FileEntry(*c, *described[c[0]]) for c in copied]


def take(source: Source, repo: Path, *, progress: Progress | None = None) -> TakeResult:
    """Snapshot `source` now. Identical content reuses the existing snapshot's id."""
    with store.source_lock(repo, source.name):
        return _take(source, repo, progress)


def _take(source: Source, repo: Path, progress: Progress | None) -> TakeResult:
    tmp = store.new_tmp_dir(repo, source.name)
    try:
        entries = fill(source, repo, tmp, progress)
        content = content_hash(entries)
        for existing in layout.list_snapshots(repo, source.name):
            if existing.content_sha256 == content:
                folder = layout.data_dir(repo, source.name, existing.id)
                if not folder.with_suffix(".dvc").exists() and folder.is_dir():
                    store.track(repo, existing)  # an earlier take stopped before tracking it
                return TakeResult(existing, reused=True)
        taken_at = now_utc()
        manifest = Manifest(
            id=new_id(taken_at, content),
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
    store.track(repo, manifest)  # links into the DVC cache; verifies objects already there
    return TakeResult(manifest, reused=False)


def fill(source: Source, repo: Path, tmp: Path, progress: Progress | None) -> list[FileEntry]:
    """Write the source's content into `tmp`; return one entry per file."""
    if source.sql is not None:
        from mlrepro.snapshot.sql import query_to_csv

        return [query_to_csv(source, tmp)]
    if source.as_of is not None:
        return [filtered_copy(source, repo, tmp)]
    return copy_files(source, repo, tmp, progress)


def filtered_copy(source: Source, repo: Path, tmp: Path) -> FileEntry:
    """A file source with `as_of`: its rows up to the cutoff, in a deterministic CSV. Cells are
    kept as text, so rows after the cutoff cannot change how the kept rows are written."""
    import pandas as pd

    from mlrepro.core.errors import ParamsError
    from mlrepro.snapshot.sql import write_table

    assert source.as_of is not None
    frames = [
        pd.read_csv(item.path, sep=separator(item.name), dtype=str, keep_default_na=False)
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
