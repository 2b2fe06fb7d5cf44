"""Verify snapshots byte for byte against their manifests: every copy of each file, named apart: the
work tree file, the DVC cache object behind it (often the same inode: an in-place edit reaches
both). Catches what DVC misses: in-place edits (also by
root, where the immutable flag is not available), truncated, deleted or extra files, corrupted
cache objects. `mlrepro snapshot repair` brings back what it finds."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from mlrepro import dvccache
from mlrepro.snapshot import fileio, layout
from mlrepro.snapshot.manifest import FileEntry, Manifest
from mlrepro.snapshot.progress import Progress

WORK_TREE, CACHE = "work tree", "DVC cache"  # the copies of a file
PLACE = {WORK_TREE: " in the work tree", CACHE: ""}


@dataclass(frozen=True)
class Damage:
    snapshot: str  # source@id
    file: str  # as the manifest names it
    kind: str  # modified | truncated | missing | extra | cache corrupt
    expected: str | None = None
    actual: str | None = None
    copy: str = WORK_TREE  # which copy: work tree | DVC cache
    path: str | None = None  # that copy, relative to the repo

    def line(self) -> str:
        text = f"{self.snapshot}: {self.file}: {self.kind}{PLACE[self.copy]}"
        if self.path:
            text += f": {self.path}"
        if self.expected or self.actual:
            text += f" (expected {self.expected}, actual {self.actual})"
        return text

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def repair_command(snapshot: str) -> str:
    return f"mlrepro snapshot repair {snapshot}"


def find_damage(
    repo: Path, manifest: Manifest, *, progress: Progress | None = None
) -> list[Damage]:
    """Every problem of one snapshot; [] when every copy of every file matches the manifest."""
    ref = f"{manifest.source}@{manifest.id}"
    scope = Scope(repo, ref, progress)
    folder = layout.data_dir(repo, manifest.source, manifest.id)
    cache = dvccache.local_cache(repo)
    present = folder.is_dir()
    problems: list[Damage] = []
    paths = [folder / e.path if present else cache.object_path(e.md5) for e in manifest.files]
    with fileio.read_ahead(paths) as done:
        for entry in manifest.files:
            work = folder / entry.path if present else None
            cached = cache.object_path(entry.md5)
            problems += check_entry(scope, entry, work, cached)
            done()
            if progress:
                progress.advance(0, files=1)
    if present:
        known = {e.path for e in manifest.files}
        for extra in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = extra.relative_to(folder).as_posix()
            if name not in known:
                problems.append(Damage(ref, name, "extra", path=_shown(repo, extra)))
    return problems


@dataclass(frozen=True)
class Scope:
    """What every check of one snapshot shares."""

    repo: Path
    ref: str  # source@id
    progress: Progress | None = None


def check_entry(scope: Scope, entry: FileEntry, work: Path | None, cached: Path) -> list[Damage]:
    """The problems of one file's copies: work tree (None: no snapshot folder) and DVC cache
    object. A cache object that is the work tree file's inode is read once and named on its own."""
    found: list[Damage] = []
    if work is not None:
        found += check_file(scope, entry, work, WORK_TREE)
    if work is not None and cached.is_file() and work.is_file() and _same_inode(work, cached):
        shown = _shown(scope.repo, cached)
        found += [replace(p, kind="cache corrupt", copy=CACHE, path=shown) for p in found]
    elif cached.is_file():
        found += check_file(scope, entry, cached, CACHE)
    elif work is None:
        gone = "missing (not in work tree or DVC cache)"
        found.append(Damage(scope.ref, entry.path, gone, copy=CACHE))
    return found


def check_file(scope: Scope, entry: FileEntry, path: Path, copy: str) -> list[Damage]:
    shown = _shown(scope.repo, path)
    if not path.is_file():
        return [Damage(scope.ref, entry.path, "missing", copy=copy, path=shown)]
    size, sha = fileio.hash_file(path, scope.progress)
    if sha == entry.sha256:
        return []
    kind = "cache corrupt" if copy == CACHE else "truncated" if size < entry.bytes else "modified"
    actual = f"sha256 {sha} ({size} B)"
    return [Damage(scope.ref, entry.path, kind, f"sha256 {entry.sha256}", actual, copy, shown)]


def _shown(repo: Path, path: Path) -> str:
    return path.relative_to(repo).as_posix() if path.is_relative_to(repo) else str(path)


def _same_inode(a: Path, b: Path) -> bool:
    sa, sb = a.stat(), b.stat()
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)
