"""`dvc push` and `dvc pull` with a reachability check first and a content check after.

A pull writes nothing that is left unchecked: every file it brought into the workspace is hashed
against dvc.lock / the .dvc files (md5) and the snapshot manifests (sha256); a damaged one is
removed from the workspace and the cache and reported with the expected and actual hash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrepro.remote import objects
from mlrepro.remote.core import RemoteError, last_error, refuse_tracked_secrets, run_dvc
from mlrepro.remote.verify import (
    JOBS,
    Problem,
    check_workspace,
    open_remote,
    remote_reader,
    verify_remote_entries,
)
from mlrepro.snapshot import store
from mlrepro.snapshot.store import cache_object


@dataclass(frozen=True)
class PullResult:
    remote: str
    files: int
    problems: tuple[Problem, ...] = field(default=())
    dvc_error: str | None = None  # dvc pull's own error line when it failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "files": self.files,
            "dvc_error": self.dvc_error,
            "problems": [p.as_dict() for p in self.problems],
            "ok": not self.problems and self.dvc_error is None,
        }


def push(repo: Path, *, remote: str | None = None, jobs: int = JOBS) -> str:
    """`dvc push --jobs N` to a remote that answered; returns dvc's summary line."""
    refuse_tracked_secrets(repo)
    with open_remote(repo, remote) as (info, _):
        uncached = uncached_snapshots(repo)
        if uncached:  # restored from their source by ingest: in the work tree, not in the cache
            committed = run_dvc(repo, "commit", "--force", "--quiet", *uncached)
            if committed.returncode != 0:
                raise RemoteError(
                    f"dvc commit of restored snapshots failed: {last_error(committed)}"
                )
        result = run_dvc(repo, "push", "--jobs", str(jobs), "--remote", info.name)
    if result.returncode != 0:
        raise RemoteError(f"{info.where()}: dvc push failed: {last_error(result)}")
    return (result.stdout.strip().splitlines() or ["pushed"])[-1]


def uncached_snapshots(repo: Path) -> list[str]:
    """The .dvc files of snapshots whose files are in the work tree but not in the DVC cache."""
    found = []
    for record in sorted((repo / store.SNAPSHOTS).glob("*/*.json")):
        manifest = store.read_manifest(record)
        folder = store.data_dir(repo, manifest.source, manifest.id)
        tracked = folder.with_suffix(".dvc")
        cached = all(store.cache_object(repo, f.md5).is_file() for f in manifest.files)
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
        absent += [e for e in listed if e not in needed and not cache_object(repo, e.md5).is_file()]
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
