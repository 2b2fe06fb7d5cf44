"""Immutable, timestamped, content-hashed snapshots of raw sources, tracked by DVC.

Layout, per source:

    data/snapshots/<source>/<id>/        the files, read-only, tracked by DVC (<id>.dvc)
    data/snapshots/<source>/<id>.json    the manifest, tracked by git, read-only

A snapshot is complete when its manifest exists: the files are written to a temporary folder,
fsynced and renamed into place first, so an interrupted take leaves nothing that is listed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlrepro.core.errors import DataError, MlreproError
from mlrepro.core.files import CHUNK, atomic_path, write_json

SNAPSHOTS = Path("data") / "snapshots"
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
TMP_PREFIX = ".tmp-"

Progress = Callable[[int], None]  # called with the number of bytes just processed


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
        data = asdict(self)
        data["files"] = [asdict(f) for f in self.files]
        return data

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
    """Complete snapshots of `source`, oldest first."""
    folder = source_dir(repo, source)
    if not folder.is_dir():
        return []
    manifests = [read_manifest(p) for p in folder.glob("*.json")]
    return sorted(manifests, key=lambda m: (m.taken_at, m.id))


def read_manifest(path: Path) -> Manifest:
    try:
        return Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise SnapshotError(f"{path}: not a readable snapshot manifest ({exc})") from None


def resolve(repo: Path, ref: str, pins: dict[str, str]) -> Manifest:
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


def hash_copy(src: Path, dst: Path, progress: Progress | None = None) -> tuple[int, str, str]:
    """Copy src to dst byte for byte, computing size, sha256 and md5 in the same pass. Not
    fsynced here: `commit` syncs once for all files before the folder is renamed into place."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
    with open(src, "rb") as fin, open(dst, "xb") as fout:
        while chunk := fin.read(CHUNK):
            sha.update(chunk)
            md5.update(chunk)
            fout.write(chunk)
            size += len(chunk)
            if progress:
                progress(len(chunk))
    return size, sha.hexdigest(), md5.hexdigest()


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
                progress(len(chunk))
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
    folder = source_dir(repo, source)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(f"{TMP_PREFIX}*"):  # left by an interrupted take
        shutil.rmtree(stale, ignore_errors=True)
    for orphan in folder.iterdir():  # files renamed into place whose manifest was never written
        if (
            orphan.is_dir()
            and not orphan.name.startswith(".")
            and not orphan.with_suffix(".json").exists()
        ):
            _make_writable(orphan)
            shutil.rmtree(orphan, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=folder))


def _make_writable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(repo: Path, manifest: Manifest, tmp: Path) -> None:
    """Make the files read-only, rename the folder into place, then write the manifest."""
    for path in tmp.rglob("*"):
        if path.is_file():
            path.chmod(READ_ONLY)
    tmp.chmod(0o755)  # mkdtemp makes 0700
    os.sync()  # every file's bytes on disk before the rename makes the snapshot visible
    fsync_dir(tmp)
    target = data_dir(repo, manifest.source, manifest.id)
    os.rename(tmp, target)
    fsync_dir(target.parent)
    path = manifest_path(repo, manifest.source, manifest.id)
    write_json(path, manifest.as_dict())
    path.chmod(READ_ONLY)
    fsync_dir(target.parent)


def dir_listing(manifest: Manifest) -> bytes:
    """DVC's `.dir` object for the snapshot folder: its files' md5 by relative path, serialized as
    dvc-data does (json.dumps of the list sorted by relpath, sort_keys=True)."""
    entries = sorted(
        ({"md5": e.md5, "relpath": e.path} for e in manifest.files), key=lambda e: e["relpath"]
    )
    return json.dumps(entries, sort_keys=True).encode("utf-8")


def track(repo: Path, manifest: Manifest) -> None:
    """Record the snapshot folder with DVC without re-reading its bytes: the files are linked
    into the cache under the md5 computed while copying (`seed_cache`), and the `.dir` object,
    the `<id>.dvc` file and the .gitignore entry are the ones `dvc add` would write."""
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
    ignore = folder.parent / ".gitignore"
    lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.exists() else []
    if f"/{manifest.id}" not in lines:
        with atomic_path(ignore) as tmp:
            tmp.write_text("\n".join([*lines, f"/{manifest.id}"]) + "\n", encoding="utf-8")


def cache_object(repo: Path, md5: str) -> Path:
    """Where DVC 3 keeps a file with this md5 in the local cache."""
    return repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def seed_cache(repo: Path, manifest: Manifest) -> None:
    """Hard-link each new snapshot file into the DVC cache under the md5 computed while it was
    copied: the snapshot and the cache share one copy of the bytes. An object
    already in the cache is left for `share_with_cache` to verify."""
    folder = data_dir(repo, manifest.source, manifest.id)
    for entry in manifest.files:
        cached = cache_object(repo, entry.md5)
        if not cached.exists():
            cached.parent.mkdir(parents=True, exist_ok=True)
            os.link(folder / entry.path, cached)


def share_with_cache(repo: Path, manifest: Manifest) -> int:
    """Replace each snapshot file by a hard link to its (verified) DVC cache object, so the
    snapshot and the cache hold one copy of the bytes. Returns the files linked."""
    linked = 0
    folder = data_dir(repo, manifest.source, manifest.id)
    for entry in manifest.files:
        path, cached = folder / entry.path, cache_object(repo, entry.md5)
        if not cached.is_file() or path.stat().st_ino == cached.stat().st_ino:
            continue
        if hash_file(cached)[1] != entry.sha256:
            raise DataError(f"{cached}: DVC cache object does not match {entry.path}")
        tmp = path.with_name(f".{path.name}.link")
        os.link(cached, tmp)
        os.replace(tmp, path)
        linked += 1
    return linked


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
