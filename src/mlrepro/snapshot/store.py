"""How a snapshot enters data/snapshots, atomically (see `layout` for where its parts are).

One take (or restore) of a source at a time (`source_lock`). The files are written to a temporary
folder, cleared first of what interrupted takes left (`new_tmp_dir`); synced and renamed into
place (`commit`); recorded for DVC and git as `dvc add` would, from the md5 of the copy pass,
made immutable, and the manifest is written last (`track`). A snapshot is listed only once it is
complete, so an interrupted take leaves nothing listed, and the next take removes what it left.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mlrepro import dvccache
from mlrepro.core.errors import DataError
from mlrepro.core.files import READ_ONLY, atomic_path
from mlrepro.snapshot import layout
from mlrepro.snapshot.fileio import fsync_dir, hash_file, link_or_copy, remove_file, remove_tree
from mlrepro.snapshot.immutable import protect, unprotected
from mlrepro.snapshot.manifest import FileEntry, Manifest, read_manifest, write_manifest


@contextmanager
def source_lock(repo: Path, source: str) -> Iterator[None]:
    """One take (or restore) of a source at a time: an exclusive lock on its folder's .lock."""
    folder = layout.source_dir(repo, source)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def new_tmp_dir(repo: Path, source: str) -> Path:
    """A new temporary folder for a take, once what interrupted takes left is cleared: temporary
    folders; a snapshot folder, `.dvc` file or .gitignore entry without a manifest (removed); a
    folder with a manifest but untracked, as older versions left it (tracked now if every byte
    matches its manifest, else removed). Call it holding `source_lock`."""
    folder = layout.source_dir(repo, source)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(f"{layout.TMP_PREFIX}*"):
        remove_tree(stale)
    ignored = layout.ignored_ids(folder)
    ids = {p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")}
    ids |= {line[1:] for line in ignored if layout.IGNORED_ID.fullmatch(line)}
    for snapshot_id in sorted(ids):
        manifest = folder / f"{snapshot_id}.json"
        if not manifest.exists():
            forget(repo, source, snapshot_id)
        elif (folder / snapshot_id).is_dir() and not layout.tracked(manifest, ignored):
            finish(repo, read_manifest(manifest))
    return Path(tempfile.mkdtemp(prefix=layout.TMP_PREFIX, dir=folder))


def forget(repo: Path, source: str, snapshot_id: str) -> None:
    """Remove an incomplete snapshot's folder, `.dvc` file and .gitignore entry."""
    folder = layout.data_dir(repo, source, snapshot_id)
    remove_tree(folder)
    layout.dvc_file(repo, source, snapshot_id).unlink(missing_ok=True)
    ignore = folder.parent / ".gitignore"
    lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.exists() else []
    if f"/{snapshot_id}" not in lines:
        return
    kept = [line for line in lines if line != f"/{snapshot_id}"]
    if not kept:
        ignore.unlink()
        return
    with atomic_path(ignore) as tmp:
        tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")


def finish(repo: Path, manifest: Manifest) -> None:
    """Track a snapshot whose manifest was written before it was tracked (older versions did),
    if its files still hold every byte the manifest records; else remove it and the manifest."""
    folder = layout.data_dir(repo, manifest.source, manifest.id)
    if all(
        (folder / e.path).is_file() and hash_file(folder / e.path)[1] == e.sha256
        for e in manifest.files
    ):
        track(repo, manifest)
        return
    forget(repo, manifest.source, manifest.id)
    layout.manifest_path(repo, manifest.source, manifest.id).unlink()


def commit(repo: Path, manifest: Manifest, tmp: Path) -> None:
    """Sync the (read-only) files and rename the folder into place. No snapshot yet: `track`
    records it for DVC and git, makes it immutable and writes the manifest last."""
    tmp.chmod(0o755)  # mkdtemp makes 0700; the files are read-only from the start (copy_new,
    # sql.write_table), and a snapshot folder stays 0755 so that rm -r can remove it
    os.sync()  # every file's bytes on disk before the rename puts the folder in place
    fsync_dir(tmp)
    target = layout.data_dir(repo, manifest.source, manifest.id)
    git_ignore(target)  # ignored by git from the moment it is there
    os.rename(tmp, target)
    fsync_dir(target.parent)


def track(repo: Path, manifest: Manifest) -> bool:
    """Record the snapshot folder for DVC and git, make its files immutable (`protect`), and
    write its manifest if there is none yet (a take; a restore has the committed one): last,
    so that a snapshot is listed only once it is complete, tracked and protected. A take that
    fails here (a full disk, Ctrl-C) leaves nothing: no folder, `.dvc` file or .gitignore entry.
    Returns whether the files are immutable (False: the platform refuses; read-only bits)."""
    path = layout.manifest_path(repo, manifest.source, manifest.id)
    if path.exists():
        return _record(repo, manifest)
    try:
        immutable = _record(repo, manifest)
        fsync_dir(path.parent)  # the `.dvc` file and .gitignore entry on disk before the manifest
        write_manifest(path, manifest)
    except BaseException:  # without its manifest the folder is no snapshot
        forget(repo, manifest.source, manifest.id)
        raise
    path.chmod(READ_ONLY)
    fsync_dir(path.parent)
    return immutable


def _record(repo: Path, manifest: Manifest) -> bool:
    """What `dvc add` would do, without re-reading the bytes: the files are put into the DVC
    cache under the md5 computed while copying (`seed_cache`), and the `.dir` object, the
    `<id>.dvc` file and the .gitignore entry are the ones `dvc add` writes. Then `protect`."""
    copies = seed_cache(repo, manifest)
    listing = dvccache.dir_listing((e.path, e.md5) for e in manifest.files)
    name = dvccache.write_listing(dvccache.local_cache(repo), listing)
    dvccache.write_dvc_file(
        layout.dvc_file(repo, manifest.source, manifest.id),
        name,
        size=manifest.bytes,
        nfiles=len(manifest.files),
    )
    folder = layout.data_dir(repo, manifest.source, manifest.id)
    git_ignore(folder)
    return protect([*(f"{folder}/{e.path}" for e in manifest.files), *copies])


def git_ignore(folder: Path) -> None:
    """`/<id>` in the source folder's .gitignore, as `dvc add` writes it: git never adds the
    snapshot's bytes (a take adds it before the folder is renamed into place)."""
    ignore = folder.parent / ".gitignore"
    lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.exists() else []
    if f"/{folder.name}" not in lines:
        with atomic_path(ignore) as tmp:
            tmp.write_text("\n".join([*lines, f"/{folder.name}"]) + "\n", encoding="utf-8")


def seed_cache(repo: Path, manifest: Manifest) -> list[str]:
    """Hard-link each snapshot file into the DVC cache under the md5 computed while it was
    copied: the snapshot and the cache share one copy of the bytes (a cache on another file
    system gets a checked copy). An object already in the cache is verified and the snapshot
    file replaced by a link to it (`share_with_cache`). Returns the cache objects that are
    copies, not links (their own inodes, to protect as well)."""
    cache = dvccache.local_cache(repo)
    folder = str(layout.data_dir(repo, manifest.source, manifest.id))
    for prefix in sorted({e.md5[:2] for e in manifest.files}):
        os.makedirs(os.path.dirname(cache.object_str(prefix + "0")), exist_ok=True)
    existing, copies = [], []
    for entry in manifest.files:
        path, cached = f"{folder}/{entry.path}", cache.object_str(entry.md5)
        try:
            linked = link_or_copy(path, cached, entry.sha256)
        except FileExistsError:
            existing.append(entry)
            continue
        except PermissionError:  # an immutable file (tracked before) cannot be hard-linked
            with unprotected(path):
                linked = link_or_copy(path, cached, entry.sha256)
        if not linked:
            copies.append(cached)
    share_with_cache(repo, manifest, existing)
    return copies


def share_with_cache(repo: Path, manifest: Manifest, entries: Iterable[FileEntry]) -> int:
    """Replace each snapshot file of `entries` by a hard link to its verified DVC cache object,
    so the snapshot and the cache hold one copy of the bytes (not across file systems: there
    both stay). Returns the files linked."""
    linked = 0
    cache = dvccache.local_cache(repo)
    folder = layout.data_dir(repo, manifest.source, manifest.id)
    for entry in entries:
        path, cached = folder / entry.path, cache.object_path(entry.md5)
        if not cached.is_file():
            continue
        ours, theirs = path.stat(), cached.stat()
        if (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino):
            continue
        if hash_file(cached)[1] != entry.sha256:
            raise DataError(f"{cached}: DVC cache object does not match {entry.path}")
        if ours.st_dev != theirs.st_dev:
            continue
        tmp = path.with_name(f".{path.name}.link")
        remove_file(tmp)  # left by an interrupted run
        with unprotected(cached), unprotected(path):  # cached: immutable again after
            os.link(cached, tmp)  # (an immutable file can be neither linked nor renamed)
            os.replace(tmp, path)
        linked += 1
    return linked
