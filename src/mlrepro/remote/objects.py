"""What a revision needs from the remote: every cached DVC output, expanded to files.

Outputs (dvc.yaml/dvc.lock stages and `*.dvc` files) and snapshot manifests come from the
revision reader, `mlrepro.revisions`, read from git without a checkout; directories are expanded
through their `.dir` listing, taken from the local cache or, when absent there, from the remote.
Snapshot manifests add each snapshot file's sha256.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mlrepro import dvccache
from mlrepro.remote.core import RemoteError
from mlrepro.revisions import DvcYamlError, RevError, Revision, Unreadable, open_repo
from mlrepro.snapshot.layout import SNAPSHOTS

ReadObject = Callable[[str], bytes | None]  # md5 (with .dir) -> the object's bytes, None if absent


@dataclass(frozen=True)
class Entry:
    """One object that a revision needs: the workspace path(s) it becomes and its hashes."""

    md5: str  # DVC's name for the object; ends in .dir for a directory listing
    paths: tuple[str, ...]
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Output:
    path: str  # relative to the repo root, POSIX
    md5: str
    size: int | None


@contextmanager
def _revision(repo: Path, rev: str | None) -> Iterator[Revision]:
    """The revision `rev` (None: the workspace); a RemoteError names one that cannot be read."""
    try:
        with open_repo(repo) as source:
            yield Revision(source, source.resolve(rev))
    except (RevError, DvcYamlError) as exc:
        raise RemoteError(f"{rev or 'the workspace'}: cannot read the DVC outputs: {exc}") from None


def outputs(repo: Path, rev: str | None) -> list[Output]:
    """Every cached output (stage outs and .dvc files) at `rev`; None means the workspace."""
    with _revision(repo, rev) as revision:
        cached = revision.cached_outputs()
    for out in cached:
        if out.hash != dvccache.HASH:
            raise RemoteError(f"{out.path}: hash {out.hash!r} unsupported (DVC 3 md5)")
    return sorted({Output(o.path, o.md5, o.size) for o in cached}, key=lambda o: o.path)


def entries(outs: list[Output], read: ReadObject, sha256: dict[str, str]) -> list[Entry]:
    """The objects behind `outs`: files, directory listings and the files they list, one entry
    per md5 (all the paths that share it). A listing that `read` cannot give is kept unexpanded."""
    by_md5: dict[str, list[str]] = {}
    sizes: dict[str, int | None] = {}
    for out in outs:
        by_md5.setdefault(out.md5, []).append(out.path)
        listing = out.md5.endswith(dvccache.DIR_SUFFIX)
        sizes.setdefault(out.md5, None if listing else out.size)
        if not listing:
            continue
        for item in dir_listing(out, read):
            path = str(PurePosixPath(out.path) / item["relpath"])
            by_md5.setdefault(item["md5"], []).append(path)
            sizes.setdefault(item["md5"], item.get("size"))
    return [
        Entry(md5, tuple(paths), sizes.get(md5), _sha(paths, sha256))
        for md5, paths in sorted(by_md5.items())
    ]


def _sha(paths: list[str], sha256: dict[str, str]) -> str | None:
    known = {sha256[p] for p in paths if p in sha256}
    return known.pop() if len(known) == 1 else None


def dir_listing(out: Output, read: ReadObject) -> list[dict[str, Any]]:
    data = read(out.md5)
    return [] if data is None else dvccache.read_listing(data)  # damaged: verify reports it


def local_reader(repo: Path) -> ReadObject:
    cache = dvccache.local_cache(repo)

    def read(md5: str) -> bytes | None:
        path = cache.object_path(md5)
        return path.read_bytes() if path.is_file() else None

    return read


def snapshot_sha256(repo: Path, rev: str | None) -> dict[str, str]:
    """Workspace path of every snapshot file -> its sha256, from the manifests at `rev`."""
    found: dict[str, str] = {}
    with _revision(repo, rev) as revision:
        listed = revision.repo.files(revision.rev, SNAPSHOTS.as_posix())
        names = [n for n in listed if n.endswith(".json") and n.count("/") == 3]
        revision.prefetch(names)
        manifests = {name: revision.load(name) for name in names}
    for name, manifest in manifests.items():
        try:
            folder = PurePosixPath(name).with_suffix("")
            for f in [] if isinstance(manifest, Unreadable) else manifest["files"]:
                found[str(folder / f["path"])] = f["sha256"]
        except (KeyError, TypeError):
            continue  # not a manifest; snapshot verify reports those
    return found
