"""The files of the outputs DVC caches, as a revision records them: each file's md5 from dvc.lock
(a folder output's through its `.dir` listing) and its bytes from the local DVC cache
(`mlrepro.dvccache` knows where that is), checked against that md5 before anyone reads them.

An object the cache lacks (an output of a commit never pulled here) is None, not an error: the
caller says what it could not show.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlrepro.revisions.revision import CachedOutput

if TYPE_CHECKING:
    from mlrepro.dvccache import Cache

DIR_SUFFIX = ".dir"  # dvccache.DIR_SUFFIX: not imported, so `mlrepro history` need not load it


@dataclass(frozen=True)
class CachedFile:
    path: str  # relative to the repository
    md5: str
    output: str  # the output that holds it: the file itself or its folder


@dataclass(frozen=True)
class CachedFiles:
    files: tuple[CachedFile, ...]
    unlisted: tuple[CachedOutput, ...]  # folder outputs whose listing the local cache lacks


def read_object(repo: Path, md5: str, cache: Cache | None = None) -> bytes | None:
    """The bytes of the local cache's object `md5` (a `.dir` listing too), or None when the
    cache lacks it or its content does not have that md5. `cache`: the repo's, when the caller
    reads many objects (found once)."""
    from mlrepro import dvccache

    obj = (cache or dvccache.local_cache(repo)).object_path(md5)
    try:
        data = obj.read_bytes()
    except OSError:
        return None
    return data if hashlib.md5(data).hexdigest() == md5.removesuffix(DIR_SUFFIX) else None


def files_at(repo: Path, outputs: Iterable[CachedOutput], path: str) -> CachedFiles:
    """The cached files at or under `path`: an output itself, the files of a folder output, a
    file in one, or the outputs in a folder that holds several."""
    files: list[CachedFile] = []
    unlisted = []
    for out in outputs:
        if not (_within(out.path, path) or _within(path, out.path)):
            continue
        if not out.md5.endswith(DIR_SUFFIX):
            files.append(CachedFile(out.path, out.md5, out.path))
            continue
        listing = cached_listing(repo, out.md5)
        if listing is None:
            unlisted.append(out)
            continue
        for rel, md5 in listing:
            name = posixpath.join(out.path, rel)
            if _within(name, path):
                files.append(CachedFile(name, md5, out.path))
    return CachedFiles(tuple(sorted(files, key=lambda f: f.path)), tuple(unlisted))


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(f"{folder.rstrip('/')}/")


def cached_listing(
    repo: Path, md5: str, cache: Cache | None = None
) -> list[tuple[str, str]] | None:
    """A folder output's files (relative path, md5) from its `.dir` listing in the local
    cache, or None when the cache lacks it."""
    from mlrepro import dvccache

    data = read_object(repo, md5, cache)
    if data is None:
        return None
    return [(str(e["relpath"]), str(e["md5"])) for e in dvccache.read_listing(data)]
