"""Repair a snapshot: bring back every damaged or missing copy of its files (the work tree file, the
DVC cache object) from a copy with the manifest's exact sha256: the DVC cache or the work tree,
else the objects fetched from a DVC remote, else a fresh take of the source. It never changes a
snapshot's content, and leaves each file as a take does: one inode shared by the work tree and
the DVC cache, immutable where the platform allows."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlrepro import dvccache
from mlrepro.core.errors import MlreproError
from mlrepro.core.files import sha256_file
from mlrepro.core.params import Source
from mlrepro.snapshot import fileio, layout, store
from mlrepro.snapshot.immutable import protect, unprotect, unprotect_tree, unprotected
from mlrepro.snapshot.integrity import CACHE, WORK_TREE
from mlrepro.snapshot.manifest import FileEntry, Manifest

REMOTE, SOURCE = "DVC remote", "source"  # the origins beyond the two local copies
TMP_SUFFIX = ".repair"


@dataclass(frozen=True)
class FileRepair:
    file: str  # as the manifest names it
    damaged: tuple[str, ...]  # the copies that were damaged or missing: work tree, DVC cache...
    origin: str | None  # where the intact bytes came from; None: found nowhere


@dataclass(frozen=True)
class RepairResult:
    snapshot: str  # source@id
    files: tuple[FileRepair, ...]  # the files that had a damaged or missing copy
    extras: tuple[str, ...] = ()  # files in the snapshot folder the manifest does not list, removed
    immutable: bool = False  # the files are immutable now (False: read-only bits only)
    why: str | None = None  # why neither a remote nor the source gave a file

    @property
    def ok(self) -> bool:
        return all(f.origin is not None for f in self.files)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass
class _File:
    """One file of the snapshot while it is repaired."""

    entry: FileEntry
    work: Path | None  # the work tree file (None: the snapshot folder is not checked out)
    cached: Path
    damaged: tuple[str, ...] = ()
    origin: str | None = None

    def matches(self, path: Path | None) -> bool:
        return path is not None and path.is_file() and sha256_file(path) == self.entry.sha256


def repair(repo: Path, manifest: Manifest, source: Source | None) -> RepairResult:
    """Repair one snapshot; `source` is its declaration in params.yaml (None: not declared)."""
    with store.source_lock(repo, manifest.source):
        return _repair(repo, manifest, source)


def _repair(repo: Path, manifest: Manifest, source: Source | None) -> RepairResult:
    files = assess(repo, manifest)
    damaged = [f for f in files if f.damaged]
    for f in damaged:
        f.origin = from_local_copy(f)
    why = []
    if any(f.origin is None for f in damaged):
        why.append(from_remote(repo, manifest, [f for f in damaged if f.origin is None]))
    if any(f.origin is None for f in damaged):
        why.append(from_source(repo, source, manifest, [f for f in damaged if f.origin is None]))
    for f in files:
        if f.origin is not None or not f.damaged:
            put_back(f)
    extras = remove_extras(layout.data_dir(repo, manifest.source, manifest.id), manifest)
    immutable = protect(f.cached for f in files if f.origin is not None or not f.damaged)
    return RepairResult(
        f"{manifest.source}@{manifest.id}",
        tuple(FileRepair(f.entry.path, f.damaged, f.origin) for f in damaged),
        extras,
        immutable,
        "; ".join(why) if any(f.origin is None for f in damaged) else None,
    )


def assess(repo: Path, manifest: Manifest) -> list[_File]:
    """Each file with the copies of it that are damaged or missing (each inode read once)."""
    folder = layout.data_dir(repo, manifest.source, manifest.id)
    cache = dvccache.local_cache(repo)
    files = []
    for entry in manifest.files:
        f = _File(
            entry,
            folder / entry.path if folder.is_dir() else None,
            cache.object_path(entry.md5),
        )
        cache_ok = f.matches(f.cached)
        work_ok = cache_ok if _same_inode(f.work, f.cached) else f.matches(f.work)
        f.damaged = tuple(
            copy
            for copy, bad in (
                (WORK_TREE, f.work is not None and not work_ok),
                (CACHE, not cache_ok),
            )
            if bad
        )
        files.append(f)
    return files


def from_local_copy(f: _File) -> str | None:
    """Put an intact DVC cache object in place from the first intact local copy: the cache
    object itself or the work tree file (linked). Its name, or None."""
    if CACHE not in f.damaged:
        return CACHE
    if f.work is not None and WORK_TREE not in f.damaged:
        link(f.work, f.cached)
        return WORK_TREE
    fileio.remove_file(f.cached)  # damaged: `dvc fetch` would take it as present
    return None


def from_remote(repo: Path, manifest: Manifest, missing: list[_File]) -> str:
    """`dvc fetch` the snapshot's `.dvc` file: the missing objects into the DVC cache (the work
    tree is left to `put_back`); each is kept only with the exact sha256. Why it failed."""
    from mlrepro.remote.core import last_error, run_dvc

    remotes = run_dvc(repo, "remote", "list")
    if remotes.returncode != 0 or not remotes.stdout.strip():
        return "no DVC remote is configured"
    dvc_file = layout.data_dir(repo, manifest.source, manifest.id).with_suffix(".dvc")
    fetched = run_dvc(repo, "fetch", "--quiet", dvc_file.relative_to(repo).as_posix())
    for f in missing:
        if f.matches(f.cached):
            f.origin = REMOTE
        else:
            fileio.remove_file(f.cached)
    return "not on the DVC remote" if fetched.returncode == 0 else last_error(fetched)


def from_source(repo: Path, source: Source | None, manifest: Manifest, missing: list[_File]) -> str:
    """Take the source again into a temporary folder; a file whose sha256 is the manifest's
    becomes the DVC cache object. Why it did not give the others."""
    from mlrepro.snapshot.take import fill

    if source is None:
        return f"source {manifest.source!r} is not declared in params.yaml"
    tmp = store.new_tmp_dir(repo, manifest.source)
    try:
        taken = {e.path: e for e in fill(source, repo, tmp, None)}
        for f in missing:
            if f.entry.path in taken and taken[f.entry.path].sha256 == f.entry.sha256:
                f.cached.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp / f.entry.path, f.cached)
                f.origin = SOURCE
    except MlreproError as exc:
        return f"source {manifest.source!r}: {exc}"
    finally:
        fileio.remove_tree(tmp)
    return f"source {manifest.source!r} no longer yields it"


def put_back(f: _File) -> None:
    """From the intact cache object: the work tree file as a hard link to it (as a take leaves
    it)."""
    if f.work is not None and not _same_inode(f.work, f.cached):
        link(f.cached, f.work)


def remove_extras(folder: Path, manifest: Manifest) -> tuple[str, ...]:
    """Remove the files in the snapshot folder that its manifest does not list."""
    if not folder.is_dir():
        return ()
    known = {e.path for e in manifest.files}
    extras = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink()):
        name = path.relative_to(folder).as_posix()
        if name not in known:
            fileio.remove_file(path)
            extras.append(name)
    return tuple(extras)


def link(src: Path, dst: Path) -> None:
    """Make `dst` a hard link to `src`, replacing whatever `dst` was."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}{TMP_SUFFIX}")
    fileio.remove_file(tmp)  # left by an interrupted repair
    with unprotected(src), unprotected(dst):  # src: immutable again after
        fileio.link_or_copy(src, tmp)  # (an immutable file can be neither linked nor renamed)
        os.replace(tmp, dst)


def _same_inode(a: Path | None, b: Path) -> bool:
    try:
        return a is not None and os.path.samefile(a, b)
    except OSError:
        return False


def unprotect_snapshot(repo: Path, manifest: Manifest) -> int:
    """Clear the immutable flag of a snapshot's files and of their DVC cache objects (mostly
    the same inodes), so that they can be removed; returns how many files were looked at."""
    folder = layout.data_dir(repo, manifest.source, manifest.id)
    paths = [folder / e.path for e in manifest.files]
    cache = dvccache.local_cache(repo)
    paths += [cache.object_path(e.md5) for e in manifest.files]
    for path in paths:
        unprotect(path)
    return len(manifest.files)


def unprotect_all(repo: Path) -> int:
    """Clear the immutable flag of every file under data/snapshots and in the DVC cache (before
    `dvc gc`, which removes the objects of snapshots that no checked-out `.dvc` file names)."""
    folders = [repo / layout.SNAPSHOTS, dvccache.cache_dir(repo)]
    return sum(unprotect_tree(folder) for folder in folders if folder.is_dir())
