"""Verify snapshots byte for byte against their manifests: files in the work tree and the DVC cache
objects behind them. Catches what DVC misses: in-place edits (also by root, through read-only
bits or a hard link), truncated, deleted or extra files, and corrupted cache objects."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlrepro.snapshot import store


@dataclass(frozen=True)
class Problem:
    snapshot: str  # source@id
    file: str
    kind: str  # modified | truncated | missing | extra | cache corrupt
    expected: str | None = None
    actual: str | None = None

    def line(self) -> str:
        text = f"{self.snapshot}: {self.file}: {self.kind}"
        if self.expected or self.actual:
            text += f" (expected {self.expected}, actual {self.actual})"
        return text

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify(
    repo: Path, manifest: store.Manifest, *, progress: store.Progress | None = None
) -> list[Problem]:
    """Every problem of one snapshot; [] when all its bytes match the manifest."""
    ref = f"{manifest.source}@{manifest.id}"
    folder = store.data_dir(repo, manifest.source, manifest.id)
    problems: list[Problem] = []
    present = folder.is_dir()
    paths = [
        folder / e.path if present else store.cache_object(repo, e.md5) for e in manifest.files
    ]
    with store.read_ahead(paths) as done:
        for entry in manifest.files:
            path, cached = folder / entry.path, store.cache_object(repo, entry.md5)
            if present:
                problems += check_file(ref, entry, path, "", progress)
            if cached.is_file() and not (path.exists() and _same_inode(path, cached)):
                problems += check_file(ref, entry, cached, "cache ", progress)
            if not present and not cached.is_file():
                problems.append(Problem(ref, entry.path, "missing (not in work tree or DVC cache)"))
            done()
            if progress:
                progress.advance(0, files=1)
    if present:
        known = {e.path for e in manifest.files}
        for extra in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = extra.relative_to(folder).as_posix()
            if name not in known:
                problems.append(Problem(ref, name, "extra"))
    return problems


def check_file(
    ref: str, entry: store.FileEntry, path: Path, where: str, progress: store.Progress | None
) -> list[Problem]:
    if not path.is_file():
        return [Problem(ref, entry.path, f"{where}missing")]
    size, sha = store.hash_file(path, progress)
    if sha == entry.sha256:
        return []
    kind = "truncated" if size < entry.bytes else "modified"
    if where:
        kind = "cache corrupt"
    return [Problem(ref, entry.path, kind, f"sha256 {entry.sha256}", f"sha256 {sha} ({size} B)")]


def _same_inode(a: Path, b: Path) -> bool:
    sa, sb = a.stat(), b.stat()
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)
