"""Verify the remote (every object a revision needs, by content) and pull with checks.

Results are data (`RemoteProblem`, `Audit`); `cli.py` renders them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlrepro import dvccache
from mlrepro.core.files import digest_file
from mlrepro.remote import objects
from mlrepro.remote.core import (
    RemoteError,
    RemoteInfo,
    check_reachable,
    refuse_tracked_secrets,
    remote_info,
)

JOBS = 8


@dataclass(frozen=True)
class RemoteProblem:
    kind: str  # "missing" (not on the remote), "corrupt" (content differs from its hash)
    where: str  # "remote" or "workspace"
    paths: tuple[str, ...]
    object: str  # the object's URL on the remote, or its workspace path
    expected_md5: str
    actual_md5: str | None = None
    expected_sha256: str | None = None
    actual_sha256: str | None = None
    expected_bytes: int | None = None
    actual_bytes: int | None = None

    def line(self) -> str:
        name = ", ".join(self.paths)
        if self.kind == "missing":
            return f"{name}: missing on the remote ({self.object}, md5 {self.expected_md5})"
        sha = ""
        if self.expected_sha256 and self.actual_sha256 != self.expected_sha256:
            sha = f"; sha256 expected {self.expected_sha256}, actual {self.actual_sha256}"
        size = ""
        if self.expected_bytes is not None and self.actual_bytes != self.expected_bytes:
            size = f"; {self.actual_bytes} bytes, expected {self.expected_bytes}"
        return (
            f"{name}: corrupt in the {self.where} ({self.object}): md5 expected "
            f"{self.expected_md5.removesuffix('.dir')}, actual {self.actual_md5}{sha}{size}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "paths": list(self.paths)}


@dataclass(frozen=True)
class Audit:
    remote: str
    rev: str
    objects: int
    bytes: int
    problems: tuple[RemoteProblem, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["problems"] = [p.as_dict() for p in self.problems]
        return {**data, "ok": not self.problems}


@dataclass(frozen=True)
class Digest:
    md5: str
    sha256: str
    bytes: int


def digest_stream(fh: Any) -> Digest:
    got = digest_file(fh, dvccache.HASH, "sha256")
    return Digest(got[dvccache.HASH], got["sha256"], got.bytes)


def check_digest(entry: objects.Entry, got: Digest, where: str, name: str) -> RemoteProblem | None:
    """A RemoteProblem when `got` is not the content `entry` records, else None."""
    md5_ok = got.md5 == entry.md5.removesuffix(".dir")
    sha_ok = entry.sha256 is None or got.sha256 == entry.sha256
    if md5_ok and sha_ok:
        return None
    return RemoteProblem(
        "corrupt", where, entry.paths, name, entry.md5, got.md5,
        entry.sha256, got.sha256 if entry.sha256 else None, entry.size, got.bytes,
    )  # fmt: skip


@contextmanager
def open_remote(repo: Path, name: str | None) -> Iterator[tuple[RemoteInfo, Any]]:
    """The remote's DVC object database, after one request proved it answers."""
    from dvc.repo import Repo

    with Repo(str(repo)) as dvc_repo:
        info = remote_info(dvc_repo, name)
        try:
            odb = dvc_repo.cloud.get_remote_odb(info.name)
        except Exception as exc:  # a bad option in the remote's config section
            raise RemoteError(f"{info.where()}: {exc}") from None
        check_reachable(odb, info)
        yield info, odb


def remote_url(odb: Any, md5: str) -> str:
    return f"s3://{odb.oid_to_path(md5)}"


def check_remote_object(odb: Any, entry: objects.Entry) -> tuple[RemoteProblem | None, int]:
    name = remote_url(odb, entry.md5)
    try:
        with odb.fs.open(odb.oid_to_path(entry.md5), "rb") as fh:
            got = digest_stream(fh)
    except FileNotFoundError:
        return RemoteProblem("missing", "remote", entry.paths, name, entry.md5), 0
    return check_digest(entry, got, "remote", name), got.bytes


def remote_reader(repo: Path, odb: Any) -> objects.ReadObject:
    local = objects.local_reader(repo)

    def read(md5: str) -> bytes | None:
        data = local(md5)
        if data is not None:
            return data
        try:
            with odb.fs.open(odb.oid_to_path(md5), "rb") as fh:
                remote: bytes = fh.read()
        except FileNotFoundError:
            return None
        return remote

    return read


def verify_remote(
    repo: Path, rev: str | None = None, *, remote: str | None = None, jobs: int = JOBS
) -> Audit:
    """Download every object `rev` (default: the workspace's .dvc files and dvc.lock) needs
    from the remote, in parallel, and check each against its md5 (and snapshot sha256)."""
    refuse_tracked_secrets(repo)
    outs = objects.outputs(repo, rev)
    sha = objects.snapshot_sha256(repo, rev)
    with open_remote(repo, remote) as (info, odb):
        needed = objects.entries(outs, remote_reader(repo, odb), sha)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(lambda e: check_remote_object(odb, e), needed))
    problems = tuple(p for p, _ in results if p)
    total = sum(n for _, n in results)
    return Audit(info.url, rev or "workspace", len(needed), total, problems)


def verify_remote_entries(odb: Any, needed: list[objects.Entry], jobs: int) -> list[RemoteProblem]:
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return [p for p, _ in pool.map(lambda e: check_remote_object(odb, e), needed) if p]


def check_workspace(
    repo: Path, needed: list[objects.Entry], before: dict[str, tuple[int, int, int]]
) -> tuple[list[RemoteProblem], list[objects.Entry]]:
    """Hash each needed file that the pull wrote; remove a damaged one from the workspace and
    its cache object. Returns the problems and the entries still absent from the workspace."""
    problems, absent = [], []
    for entry in needed:
        for path in entry.paths:
            target = repo / path
            if not target.is_file():
                absent.append(entry)
                continue
            st = target.lstat()
            if before.get(path) == (st.st_ino, st.st_size, st.st_mtime_ns):
                continue  # there before the pull and untouched by it: not ours to judge
            with open(target, "rb") as fh:
                problem = check_digest(entry, digest_stream(fh), "workspace", path)
            if problem:
                problems.append(problem)
                remove(target)
                remove(dvccache.object_path(repo, entry.md5))
    return problems, absent


def remove(path: Path) -> None:
    with suppress(FileNotFoundError):
        os.unlink(path)
