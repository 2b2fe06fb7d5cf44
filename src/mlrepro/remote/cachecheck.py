"""Hash the local cache objects a push would send, before anything is sent.

`dvc push` uploads cache objects without reading them back, so a bit-rotted object would reach
the remote and every later pull. `check_push` takes the objects the workspace's dvc.lock and
.dvc files need (`objects.entries`), keeps those the remote does not hold yet (the ones dvc push
sends) and hashes each, in parallel threads: the md5 is the object's name, and a `.dir` listing's
md5 is the md5 of its content. Results are data: one `CacheProblem` per corrupt object.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mlrepro import dvccache
from mlrepro.remote import objects
from mlrepro.remote.audit import RemoteProblem


@dataclass(frozen=True)
class CacheProblem(RemoteProblem):
    """A corrupt object in the local cache: `object` is its path relative to the repo."""

    outputs: tuple[str, ...] = ()  # the dvc.lock / .dvc outputs the object belongs to

    def line(self) -> str:
        listing = self.expected_md5.endswith(".dir")
        members = [p for p in self.paths if p not in self.outputs]
        owner = ("listing of output " if listing else "output ") + ", ".join(self.outputs)
        where = ", ".join([*members, owner])
        return (
            f"{self.object}: corrupt in the local cache ({where}): md5 expected "
            f"{self.expected_md5.removesuffix('.dir')}, actual {self.actual_md5}"
        )


@dataclass(frozen=True)
class CacheCheck:
    objects: int  # objects hashed (the ones the remote lacks and the cache holds)
    bytes: int
    problems: tuple[CacheProblem, ...]


def owners(outs: list[objects.Output], paths: tuple[str, ...]) -> tuple[str, ...]:
    """The outputs that hold any of `paths` (the output itself or a folder above it)."""
    found = []
    for out in outs:
        root = PurePosixPath(out.path)
        if any(p == out.path or root in PurePosixPath(p).parents for p in paths):
            found.append(out.path)
    return tuple(found)


def check_object(cache: dvccache.Cache, entry: objects.Entry) -> tuple[str, int] | None:
    """(actual md5, bytes) of the entry's cache object; None when the cache does not hold it
    (dvc push reports a missing object itself). hashlib releases the GIL: threads hash at once."""
    try:
        return dvccache.file_md5(cache.object_path(entry.md5))
    except FileNotFoundError:
        return None


def check_entries(
    repo: Path, outs: list[objects.Output], needed: list[objects.Entry], jobs: int
) -> CacheCheck:
    """Hash each entry's cache object (in `jobs` threads) against its name."""
    cache = dvccache.local_cache(repo)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(lambda e: check_object(cache, e), needed))
    problems = []
    for entry, got in zip(needed, results, strict=True):
        if got is None or got[0] == dvccache.content_md5(entry.md5):
            continue
        name = os.path.relpath(cache.object_path(entry.md5), repo)
        problems.append(
            CacheProblem(
                "corrupt", "cache", entry.paths, Path(name).as_posix(),
                entry.md5, got[0], expected_bytes=entry.size, actual_bytes=got[1],
                outputs=owners(outs, entry.paths),
            )
        )  # fmt: skip
    present = [got for got in results if got is not None]
    return CacheCheck(len(present), sum(n for _, n in present), tuple(problems))


def on_remote(odb: Any, md5s: list[str], jobs: int) -> set[str]:
    """The md5s the remote already holds (dvc push does not send those); none when the remote
    cannot say, so that everything is hashed."""
    try:
        return set(odb.oids_exist(md5s, jobs=jobs))
    except Exception:  # botocore / aiohttp errors share no base class; dvc push reports them
        return set()


def check_push(repo: Path, odb: Any, jobs: int) -> CacheCheck:
    """Hash every cache object the workspace needs that the remote (`odb`) lacks."""
    outs = objects.outputs(repo, None)
    needed = objects.entries(outs, objects.local_reader(repo), {})
    present = on_remote(odb, [e.md5 for e in needed], jobs)
    return check_entries(repo, outs, [e for e in needed if e.md5 not in present], jobs)
