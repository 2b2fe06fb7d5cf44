"""Immutable, timestamped, content-hashed snapshots of raw sources, tracked by DVC.

Layout, per source:

    data/snapshots/<source>/<id>/        the files, immutable (else read-only), tracked by DVC
                                         (<id>.dvc), git-ignored (.gitignore)
    data/snapshots/<source>/<id>.json    the manifest, tracked by git, read-only

A snapshot is complete when its manifest exists beside its `<id>.dvc` file and .gitignore entry:
the files are written to a temporary folder, fsynced, renamed into place, recorded for DVC and
made immutable first, and the manifest is written last, so an interrupted take leaves nothing
that is listed (and the next take removes what it left).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import struct
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from mlrepro.core.errors import DataError, MlreproError
from mlrepro.core.files import CHUNK, atomic_path

SNAPSHOTS = Path("data") / "snapshots"
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
TMP_PREFIX = ".tmp-"
IGNORED_ID = re.compile(r"/\d{8}T\d{6}Z-[0-9a-f]{8}")  # a snapshot's line in .gitignore (`new_id`)
READ_AHEAD_BYTES = 8 << 20  # larger files are read ahead by the kernel as they are read
FS_IOC_GETFLAGS = 0x80086601  # linux/fs.h: _IOR('f', 1, long); the kernel reads and writes an int
FS_IOC_SETFLAGS = 0x40086602  # _IOW('f', 2, long)
FS_IMMUTABLE_FL = 0x10  # `chattr +i`: no write, rename, delete or hard link, not even by root


class Progress(Protocol):
    """Where long takes and verifies report how far they are (a bar on a terminal)."""

    def start(self, files: int, nbytes: int) -> None:
        """The totals, once they are known."""

    def advance(self, nbytes: int, files: int = 0) -> None:
        """`nbytes` more processed, and `files` more finished."""


class SnapshotError(MlreproError):
    """Unknown source or id, ambiguous prefix, a take that cannot complete."""


@dataclass(frozen=True)
class FileEntry:
    path: str
    bytes: int
    sha256: str
    md5: str
    rows: int | None = None
    columns: dict[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        """`dataclasses.asdict`, without its deep copy (ten times faster per file)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**data, "columns": None if self.columns is None else dict(self.columns)}


@dataclass(frozen=True)
class Manifest:
    id: str
    source: str
    definition: dict[str, Any]
    taken_at: str
    git_commit: str | None
    tools: dict[str, str | None]
    content_sha256: str
    files: tuple[FileEntry, ...]
    copy: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int | None:
        counts = [f.rows for f in self.files]
        return None if any(c is None for c in counts) else sum(c or 0 for c in counts)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    def summary(self) -> dict[str, Any]:
        """The line `mlrepro snapshot list` shows."""
        return {
            "id": self.id,
            "source": self.source,
            "taken_at": self.taken_at,
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.content_sha256,
        }

    def as_dict(self) -> dict[str, Any]:
        head = asdict(replace(self, files=()))  # the files are many: converted without a copy
        return {**head, "files": [f.as_dict() for f in self.files]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        files = tuple(FileEntry(**f) for f in data["files"])
        return cls(**{**data, "files": files})


def source_dir(repo: Path, source: str) -> Path:
    return repo / SNAPSHOTS / source


def data_dir(repo: Path, source: str, snapshot_id: str) -> Path:
    return source_dir(repo, source) / snapshot_id


def manifest_path(repo: Path, source: str, snapshot_id: str) -> Path:
    return source_dir(repo, source) / f"{snapshot_id}.json"


def list_snapshots(repo: Path, source: str) -> list[Manifest]:
    """Complete snapshots of `source`, oldest first: a manifest with its `<id>.dvc` file and
    .gitignore entry (a take writes the manifest last; an older version wrote it before them).
    The folder itself may be absent: a fresh clone before `dvc pull`, or only in the DVC cache."""
    folder = source_dir(repo, source)
    if not folder.is_dir():
        return []
    ignored = ignored_ids(folder)
    manifests = [read_manifest(p) for p in folder.glob("*.json") if tracked(p, ignored)]
    return sorted(manifests, key=lambda m: (m.taken_at, m.id))


def ignored_ids(folder: Path) -> set[str]:
    """The entries of a source folder's .gitignore (`/<id>` for each tracked snapshot)."""
    ignore = folder / ".gitignore"
    return set(ignore.read_text(encoding="utf-8").splitlines()) if ignore.is_file() else set()


def tracked(manifest_file: Path, ignored: set[str]) -> bool:
    """Whether the snapshot of this manifest file has its `.dvc` file and .gitignore entry."""
    return f"/{manifest_file.stem}" in ignored and manifest_file.with_suffix(".dvc").is_file()


def read_manifest(path: Path) -> Manifest:
    try:
        return Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise SnapshotError(f"{path}: not a readable snapshot manifest ({exc})") from None


def write_manifest(path: Path, manifest: Manifest) -> None:
    """The manifest as JSON, keys sorted, the file list last with one line per file: 10,000
    files take about 250 bytes each, and `git diff` of two manifests shows one line per file."""
    data = manifest.as_dict()
    files = [json.dumps(f, sort_keys=True, ensure_ascii=False) for f in data.pop("files")]
    head = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    listing = "".join(f"\n    {line}," for line in files).rstrip(",")
    text = f'{head.removesuffix("}").rstrip()},\n  "files": [{listing}\n  ]\n}}\n'
    with atomic_path(path) as tmp:  # a full disk: one line naming the manifest, no temp file
        tmp.write_text(text, encoding="utf-8")


def resolve_ref(repo: Path, ref: str, pins: dict[str, str]) -> Manifest:
    """`source@ID` (a unique prefix), `source@latest` or `source@pinned`; `source` = latest."""
    source, _, wanted = ref.partition("@")
    snapshots = list_snapshots(repo, source)
    if not snapshots:
        raise SnapshotError(f"{ref}: source {source!r} has no snapshots (mlrepro snapshot take)")
    if wanted in ("", "latest"):
        return snapshots[-1]
    if wanted == "pinned":
        if source not in pins:
            raise SnapshotError(f"{ref}: source {source!r} has no pin (params.yaml ingest.pins)")
        wanted = pins[source]
    matches = [m for m in snapshots if m.id.startswith(wanted)]
    if not matches:
        raise SnapshotError(f"{ref}: no snapshot of {source!r} with id {wanted!r}")
    if len(matches) > 1:
        ids = ", ".join(m.id for m in matches)
        raise SnapshotError(f"{ref}: prefix {wanted!r} is ambiguous ({ids})")
    return matches[0]


def content_hash(entries: Iterable[FileEntry]) -> str:
    """One hash for a snapshot's content: file names and their sha256, in name order."""
    canonical = json.dumps(sorted((e.path, e.sha256) for e in entries), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def new_id(taken_at: datetime, content: str) -> str:
    return f"{taken_at:%Y%m%dT%H%M%SZ}-{content[:8]}"


def copy_new(
    src: str | Path, dst: str | Path, progress: Progress | None = None, *, keep: int = 0
) -> tuple[int, str, str, bytes | None]:
    """Copy src to a new, read-only dst byte for byte, computing size, sha256 and md5 in the same
    pass. Returns those and, for a file of at most `keep` bytes, its content (read in one call).
    Not fsynced here: `commit` syncs once for all files before the folder is renamed into place.
    Plain os calls: for 10,000 small files, file objects cost more than the copying itself."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
    fin = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, READ_ONLY)
        try:
            expected = os.fstat(fin).st_size
            small = expected <= keep
            chunk = os.read(fin, expected + 1 if small else CHUNK)  # small: the whole file
            first = chunk
            while chunk:
                sha.update(chunk)
                md5.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fout, view) :]
                size += len(chunk)
                if progress:
                    progress.advance(len(chunk))
                if small and size <= expected:
                    break  # asked for one byte more than the file holds: at its end
                chunk = os.read(fin, CHUNK)
        finally:
            os.close(fout)
    finally:
        os.close(fin)
    return size, sha.hexdigest(), md5.hexdigest(), first if size == len(first) <= keep else None


@contextmanager
def read_ahead(paths: list[Path], window: int = 256) -> Iterator[Callable[[], None]]:
    """Ask the kernel for the next files while the caller processes one: a thread opens up to
    `window` files ahead of it and advises the kernel it will need them (their inodes are read
    and their bytes requested, so the disk always has work). On a cold page cache this takes a
    directory of 10,000 small files from the disk in two thirds of the time. Yields the call
    that marks one file as processed. Files it cannot open are left to the caller to report."""
    ahead, stop = threading.Semaphore(window), threading.Event()

    def run() -> None:
        for path in paths:
            while not ahead.acquire(timeout=0.1):
                if stop.is_set():
                    return
            if stop.is_set():
                return
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if os.fstat(fd).st_size <= READ_AHEAD_BYTES:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
            except OSError:
                pass
            finally:
                os.close(fd)

    thread = threading.Thread(target=run, name="read-ahead", daemon=True)
    if len(paths) > 1 and hasattr(os, "posix_fadvise"):
        thread.start()
    try:
        yield ahead.release
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()


def digest_file(path: Path) -> tuple[int, str, str]:
    """Size, sha256 and md5 (DVC's hash) of a file, in one read pass."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            sha.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest(), md5.hexdigest()


def hash_file(path: Path, progress: Progress | None = None) -> tuple[int, str]:
    sha, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            sha.update(chunk)
            size += len(chunk)
            if progress:
                progress.advance(len(chunk))
    return size, sha.hexdigest()


@contextmanager
def source_lock(repo: Path, source: str) -> Iterator[None]:
    """One take (or restore) of a source at a time: an exclusive lock on its folder's .lock."""
    folder = source_dir(repo, source)
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
    folder = source_dir(repo, source)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(f"{TMP_PREFIX}*"):
        remove_tree(stale)
    ignored = ignored_ids(folder)
    ids = {p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")}
    ids |= {line[1:] for line in ignored if IGNORED_ID.fullmatch(line)}
    for snapshot_id in sorted(ids):
        manifest = folder / f"{snapshot_id}.json"
        if not manifest.exists():
            forget(repo, source, snapshot_id)
        elif (folder / snapshot_id).is_dir() and not tracked(manifest, ignored):
            finish(repo, read_manifest(manifest))
    return Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=folder))


def forget(repo: Path, source: str, snapshot_id: str) -> None:
    """Remove an incomplete snapshot's folder, `.dvc` file and .gitignore entry."""
    folder = data_dir(repo, source, snapshot_id)
    remove_tree(folder)
    folder.with_suffix(".dvc").unlink(missing_ok=True)
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
    folder = data_dir(repo, manifest.source, manifest.id)
    if all(
        (folder / e.path).is_file() and hash_file(folder / e.path)[1] == e.sha256
        for e in manifest.files
    ):
        track(repo, manifest)
        return
    forget(repo, manifest.source, manifest.id)
    manifest_path(repo, manifest.source, manifest.id).unlink()


def remove_tree(path: Path) -> None:
    """Remove a folder of snapshot files (immutable, read-only, in read-only folders). A file
    whose inode has another name, a DVC cache object, keeps that one immutable."""
    if not path.exists():
        return
    _make_writable(path)
    for file in [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]:
        with suppress(OSError):
            remove_file(file)
    shutil.rmtree(path, ignore_errors=True)


def remove_file(path: str | Path) -> None:
    """Remove one name of a snapshot file or DVC cache object, if it exists; the inode stays
    immutable if it has another name."""
    with suppress(FileNotFoundError), unprotected(path):
        os.unlink(path)


def _make_writable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)


def _open(path: str | Path) -> int | None:
    try:
        return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None


def _flags(fd: int) -> int:
    """The inode flags (`lsattr`); OSError where the file system has none."""
    return int(struct.unpack("i", fcntl.ioctl(fd, FS_IOC_GETFLAGS, struct.pack("i", 0)))[0])


def _set_immutable(fd: int, immutable: bool) -> bool:
    """Set or clear the immutable flag; False when the platform refuses (not root, a file
    system without the flag)."""
    try:
        flags = _flags(fd)
        wanted = flags | FS_IMMUTABLE_FL if immutable else flags & ~FS_IMMUTABLE_FL
        if wanted != flags:
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", wanted))
    except OSError:
        return False
    return True


def protect(paths: Iterable[str | Path]) -> bool:
    """Make each file immutable (`chattr +i`): writing it in place, replacing, deleting or
    hard-linking it is refused (EPERM), even to root, until `unprotect`. A snapshot file shares
    its inode with its DVC cache object, so this protects both. Where the platform refuses the
    flag (not root, another file system) it returns False and stops: the read-only bits remain."""
    for path in paths:
        fd = _open(path)
        if fd is None:
            continue
        try:
            if not _set_immutable(fd, True):
                return False
        finally:
            os.close(fd)
    return True


def unprotect(path: str | Path) -> None:
    """Clear a file's immutable flag (and so its other names', the same inode), so that it can
    be changed or removed; nothing where the platform has no such flag."""
    fd = _open(path)
    if fd is not None:
        _set_immutable(fd, False)
        os.close(fd)


@contextmanager
def unprotected(path: str | Path) -> Iterator[None]:
    """The file's immutable flag cleared for a block that replaces or removes `path`. Afterwards
    the inode is immutable again if it still has a name: a DVC cache object, or another
    snapshot's file, is not left unprotected. Everything in mlrepro that replaces or removes a
    snapshot file or its cache object does it in this block."""
    fd = _open(path)
    if fd is None:
        yield
        return
    try:
        try:
            was = bool(_flags(fd) & FS_IMMUTABLE_FL)
        except OSError:
            was = False
        if was:
            _set_immutable(fd, False)
        try:
            yield
        finally:
            if was and os.fstat(fd).st_nlink > 0:
                _set_immutable(fd, True)
    finally:
        os.close(fd)


def unprotect_tree(folder: Path) -> int:
    """`unprotect` every file under `folder`; returns how many there are."""
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    for path in files:
        unprotect(path)
    return len(files)


def protected(path: str | Path) -> bool:
    """Whether the file's immutable flag is set."""
    fd = _open(path)
    if fd is None:
        return False
    try:
        return bool(_flags(fd) & FS_IMMUTABLE_FL)
    except OSError:
        return False
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(repo: Path, manifest: Manifest, tmp: Path) -> None:
    """Sync the (read-only) files and rename the folder into place. No snapshot yet: `track`
    records it for DVC and git, makes it immutable and writes the manifest last."""
    tmp.chmod(0o755)  # mkdtemp makes 0700; the files are read-only from the start (copy_new,
    # sql.write_table), and a snapshot folder stays 0755 so that rm -r can remove it
    os.sync()  # every file's bytes on disk before the rename puts the folder in place
    fsync_dir(tmp)
    target = data_dir(repo, manifest.source, manifest.id)
    git_ignore(target)  # ignored by git from the moment it is there
    os.rename(tmp, target)
    fsync_dir(target.parent)


def dir_listing(manifest: Manifest) -> bytes:
    """DVC's `.dir` object for the snapshot folder: its files' md5 by relative path, serialized as
    dvc-data does (json.dumps of the list sorted by relpath, sort_keys=True)."""
    entries = sorted(
        ({"md5": e.md5, "relpath": e.path} for e in manifest.files), key=lambda e: e["relpath"]
    )
    return json.dumps(entries, sort_keys=True).encode("utf-8")


def track(repo: Path, manifest: Manifest) -> bool:
    """Record the snapshot folder for DVC and git, make its files immutable (`protect`), and
    write its manifest if there is none yet (a take; a restore has the committed one): last,
    so that a snapshot is listed only once it is complete, tracked and protected. A take that
    fails here (a full disk, Ctrl-C) leaves nothing: no folder, `.dvc` file or .gitignore entry.
    Returns whether the files are immutable (False: the platform refuses; read-only bits)."""
    path = manifest_path(repo, manifest.source, manifest.id)
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
    """What `dvc add` would do, without re-reading the bytes: the files are linked into the cache
    under the md5 computed while copying (`seed_cache`), and the `.dir` object, the `<id>.dvc`
    file and the .gitignore entry are the ones `dvc add` writes. Then `protect`."""
    seed_cache(repo, manifest)
    listing = dir_listing(manifest)
    dir_md5 = hashlib.md5(listing).hexdigest()
    dir_object = cache_object(repo, f"{dir_md5}.dir")
    if not dir_object.exists():
        dir_object.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(dir_object) as tmp:
            tmp.write_bytes(listing)
        dir_object.chmod(READ_ONLY)
    folder = data_dir(repo, manifest.source, manifest.id)
    record = (
        f"outs:\n- md5: {dir_md5}.dir\n  size: {manifest.bytes}\n  nfiles: {len(manifest.files)}"
        f"\n  hash: md5\n  path: {manifest.id}\n"
    )
    with atomic_path(folder.with_suffix(".dvc")) as tmp:
        tmp.write_text(record, encoding="utf-8")
    git_ignore(folder)
    return protect(f"{folder}/{e.path}" for e in manifest.files)


def git_ignore(folder: Path) -> None:
    """`/<id>` in the source folder's .gitignore, as `dvc add` writes it: git never adds the
    snapshot's bytes (a take adds it before the folder is renamed into place)."""
    ignore = folder.parent / ".gitignore"
    lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.exists() else []
    if f"/{folder.name}" not in lines:
        with atomic_path(ignore) as tmp:
            tmp.write_text("\n".join([*lines, f"/{folder.name}"]) + "\n", encoding="utf-8")


def cache_object(repo: Path, md5: str) -> Path:
    """Where DVC 3 keeps a file with this md5 in the local cache."""
    return Path(cache_object_path(str(repo), md5))


def cache_object_path(repo: str, md5: str) -> str:
    """`cache_object` as a string: no Path objects in the loops over thousands of files."""
    return f"{repo}/.dvc/cache/files/md5/{md5[:2]}/{md5[2:]}"


def seed_cache(repo: Path, manifest: Manifest) -> None:
    """Hard-link each snapshot file into the DVC cache under the md5 computed while it was
    copied: the snapshot and the cache share one copy of the bytes. An object already in the
    cache is verified and the snapshot file replaced by a link to it (`share_with_cache`)."""
    folder, top = str(data_dir(repo, manifest.source, manifest.id)), str(repo)
    for prefix in sorted({e.md5[:2] for e in manifest.files}):
        os.makedirs(os.path.dirname(cache_object_path(top, prefix + "0")), exist_ok=True)
    existing = []
    for entry in manifest.files:
        path, cached = f"{folder}/{entry.path}", cache_object_path(top, entry.md5)
        try:
            os.link(path, cached)
        except FileExistsError:
            existing.append(entry)
        except PermissionError:  # an immutable file (tracked before) cannot be hard-linked
            with unprotected(path):
                os.link(path, cached)
    share_with_cache(repo, manifest, existing)


def share_with_cache(repo: Path, manifest: Manifest, entries: Iterable[FileEntry]) -> int:
    """Replace each snapshot file of `entries` by a hard link to its verified DVC cache object,
    so the snapshot and the cache hold one copy of the bytes. Returns the files linked."""
    linked = 0
    folder = data_dir(repo, manifest.source, manifest.id)
    for entry in entries:
        path, cached = folder / entry.path, cache_object(repo, entry.md5)
        if not cached.is_file() or path.stat().st_ino == cached.stat().st_ino:
            continue
        if hash_file(cached)[1] != entry.sha256:
            raise DataError(f"{cached}: DVC cache object does not match {entry.path}")
        tmp = path.with_name(f".{path.name}.link")
        remove_file(tmp)  # left by an interrupted run
        with unprotected(cached), unprotected(path):  # cached: immutable again after
            os.link(cached, tmp)  # (an immutable file can be neither linked nor renamed)
            os.replace(tmp, path)
        linked += 1
    return linked


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
