"""`dvc push` and `dvc pull` with a reachability check first and a content check after.

A push sends nothing that is unchecked: every local cache object it would send is hashed first
(`cachecheck`), and one corrupt object refuses the whole push. dvc runs in its own process group
(`child`): a signal to mlrepro stops the group and aborts the multipart uploads this push
started; a push also aborts the uploads under its prefix older than a day (`uploads`).

A pull writes nothing that is left unchecked: every file it brought into the workspace is hashed
against dvc.lock / the .dvc files (md5) and the snapshot manifests (sha256); a damaged one is
removed from the workspace and the cache and reported with the expected and actual hash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlrepro import dvccache
from mlrepro.remote import objects, uploads
from mlrepro.remote.audit import (
    JOBS,
    RemoteProblem,
    check_workspace,
    open_remote,
    remote_reader,
    verify_remote_entries,
)
from mlrepro.remote.cachecheck import CacheCheck, check_push
from mlrepro.remote.child import Interrupted, run_dvc_group
from mlrepro.remote.core import (
    RemoteError,
    RemoteInfo,
    last_error,
    refuse_tracked_secrets,
    run_dvc,
)
from mlrepro.snapshot import layout
from mlrepro.snapshot.manifest import read_manifest


@dataclass(frozen=True)
class PullResult:
    remote: str
    files: int
    problems: tuple[RemoteProblem, ...] = field(default=())
    dvc_error: str | None = None  # dvc pull's own error line when it failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "files": self.files,
            "dvc_error": self.dvc_error,
            "problems": [p.as_dict() for p in self.problems],
            "ok": not self.problems and self.dvc_error is None,
        }


class PushInterrupted(RemoteError):
    """A signal stopped the push: dvc's process group is gone, its multipart uploads aborted."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


@dataclass(frozen=True)
class PushResult:
    remote: str
    check: CacheCheck  # the cache objects hashed before sending; problems refuse the push
    summary: str | None = None  # dvc push's last line; None when nothing was sent
    stale_aborted: int = 0  # multipart uploads older than uploads.STALE_AFTER, aborted first
    warning: str | None = None  # why abandoned uploads could not be looked for

    def as_dict(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "checked_objects": self.check.objects,
            "checked_bytes": self.check.bytes,
            "problems": [p.as_dict() for p in self.check.problems],
            "summary": self.summary,
            "stale_aborted": self.stale_aborted,
            "warning": self.warning,
            "ok": not self.check.problems,
        }


def push(repo: Path, *, remote: str | None = None, jobs: int = JOBS) -> PushResult:
    """Hash every cache object the push would send; when all are intact, `dvc push --jobs N`
    in its own process group (see the module docstring). Corrupt objects: nothing is sent."""
    refuse_tracked_secrets(repo)
    with open_remote(repo, remote) as (info, odb):
        uncached = uncached_snapshots(repo)
        if uncached:  # restored from their source by ingest: in the work tree, not in the cache
            try:
                committed = run_dvc_group(repo, "commit", "--force", "--quiet", *uncached)
            except Interrupted as exc:
                raise PushInterrupted(
                    f"{info.where()}: push interrupted by {exc} while dvc commit stored restored "
                    "snapshots in the cache; nothing was sent",
                    exc.signum,
                ) from None
            if committed.returncode != 0:
                raise RemoteError(
                    f"dvc commit of restored snapshots failed: {last_error(committed)}"
                )
        check = check_push(repo, odb, jobs)
        if check.problems:
            return PushResult(info.url, check)
        return send(repo, info, odb.fs.fs, check, jobs)


def send(repo: Path, info: RemoteInfo, fs: Any, check: CacheCheck, jobs: int) -> PushResult:
    """`dvc push`; on a signal or a failure, abort the multipart uploads it started."""
    prefix = uploads.key_prefix(info.url)
    place = f"s3://{info.bucket}/{prefix}"
    before: set[str] | None = None
    stale: list[uploads.Upload] = []
    warning = None
    try:
        listed = uploads.list_uploads(fs, info.bucket, prefix)
        stale = uploads.abort_uploads(fs, info.bucket, uploads.stale(listed, datetime.now(UTC)))
        before = {u.upload_id for u in listed}
    except Exception as exc:  # botocore / aiohttp errors share no base class
        warning = (
            f"{place}: cannot list or abort multipart uploads ({uploads.reason(exc)}); "
            "an interrupted push may leave some open"
        )
    try:
        result = run_dvc_group(repo, "push", "--jobs", str(jobs), "--remote", info.name)
    except Interrupted as exc:
        done = abort_started(fs, info, prefix, before)
        raise PushInterrupted(
            f"{info.where()}: push interrupted by {exc}: stopped dvc push; {done}; "
            "push again to finish",
            exc.signum,
        ) from None
    if result.returncode != 0:
        done = abort_started(fs, info, prefix, before)
        left = "" if done.startswith("aborted 0 ") else f"; {done}"
        raise RemoteError(f"{info.where()}: dvc push failed: {last_error(result)}{left}")
    summary = (result.stdout.strip().splitlines() or ["pushed"])[-1]
    return PushResult(info.url, check, summary, len(stale), warning)


def abort_started(fs: Any, info: RemoteInfo, prefix: str, before: set[str] | None) -> str:
    """Abort the multipart uploads the push started; a phrase that says what was done."""
    place = f"s3://{info.bucket}/{prefix}"
    if before is None:
        return f"could not look for its multipart uploads under {place}"
    try:
        aborted = uploads.abort_started(fs, info.bucket, prefix, before)
    except Exception as exc:  # botocore / aiohttp errors share no base class
        return f"could not abort its multipart uploads under {place}: {uploads.reason(exc)}"
    return f"aborted {len(aborted)} multipart upload(s) it left under {place}"


def uncached_snapshots(repo: Path) -> list[str]:
    """The .dvc files of snapshots whose files are in the work tree but not in the DVC cache."""
    found = []
    cache = dvccache.local_cache(repo)
    for record in sorted((repo / layout.SNAPSHOTS).glob("*/*.json")):
        manifest = read_manifest(record)
        folder = layout.data_dir(repo, manifest.source, manifest.id)
        tracked = folder.with_suffix(".dvc")
        cached = all(cache.object_path(f.md5).is_file() for f in manifest.files)
        if folder.is_dir() and tracked.is_file() and not cached:
            found.append(str(tracked.relative_to(repo)))
    return found


def pull(repo: Path, *, remote: str | None = None, jobs: int = JOBS) -> PullResult:
    """`dvc pull --jobs N`, then check every file it wrote; see the module docstring."""
    refuse_tracked_secrets(repo)
    outs = objects.outputs(repo, None)
    sha = objects.snapshot_sha256(repo, None)
    with open_remote(repo, remote) as (info, odb):
        before = present_files(repo, outs)
        result = run_dvc(repo, "pull", "--jobs", str(jobs), "--remote", info.name)
        listed = objects.entries(outs, remote_reader(repo, odb), sha)
        needed = [e for e in listed if not e.md5.endswith(".dir")]
        problems, absent = check_workspace(repo, needed, before)
        # listings that did not arrive (a damaged one fails the whole directory)
        cache = dvccache.local_cache(repo)
        absent += [e for e in listed if e not in needed and not cache.object_path(e.md5).is_file()]
        problems += verify_remote_entries(odb, list(dict.fromkeys(absent)), jobs)
    error = last_error(result) if result.returncode != 0 else None
    if error is None and absent and not problems:
        error = f"{len(absent)} file(s) not in the workspace after the pull"
    return PullResult(info.url, len(needed), tuple(problems), error)


def present_files(repo: Path, outs: list[objects.Output]) -> dict[str, tuple[int, int, int]]:
    """(inode, size, mtime_ns) of every file under the outputs now, by repo-relative path."""
    state = {}
    for out in outs:
        root = repo / out.path
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in paths:
            st = path.lstat()
            state[path.relative_to(repo).as_posix()] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return state
