"""What a revision needs from the remote: every cached DVC output, expanded to files.

Outputs come from DVC's own index at the revision (dvc.yaml/dvc.lock stages and `*.dvc` files,
read from git without a checkout); directories are expanded through their `.dir` listing, taken
from the local cache or, when absent there, from the remote. Snapshot manifests add each
snapshot file's sha256.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mlrepro.remote.core import RemoteError
from mlrepro.snapshot.store import SNAPSHOTS, cache_object

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


def outputs(repo: Path, rev: str | None) -> list[Output]:
    """Every cached output (stage outs and .dvc files) at `rev`; None means the workspace."""
    from dvc.repo import Repo

    found: list[Output] = []
    try:
        with Repo(str(repo)) as dvc_repo:
            revs = [rev] if rev else None
            for _ in dvc_repo.brancher(revs=revs, workspace=rev is None):
                for stage in dvc_repo.index.stages:
                    for out in stage.outs:
                        found += _output(dvc_repo, out)
                if rev:
                    break
    except Exception as exc:  # DVC raises its own hierarchy (unknown rev, bad dvc.yaml)
        name = rev or "the workspace"
        raise RemoteError(f"{name}: cannot read the DVC outputs: {exc}") from None
    return sorted(set(found), key=lambda o: o.path)


def _output(dvc_repo: Any, out: Any) -> list[Output]:
    if not out.use_cache or not out.hash_info or not out.hash_info.value:
        return []
    if out.hash_info.name != "md5":
        raise RemoteError(f"{out.def_path}: hash {out.hash_info.name!r} unsupported (DVC 3 md5)")
    path: str = out.fs_path  # absolute in the workspace, "/..." in a git revision
    root = dvc_repo.root_dir.rstrip("/") + "/"
    path = path.removeprefix(root) if path.startswith(root) else path.lstrip("/")
    return [Output(path, out.hash_info.value, out.meta.size if out.meta else None)]


def entries(outs: list[Output], read: ReadObject, sha256: dict[str, str]) -> list[Entry]:
    """The objects behind `outs`: files, directory listings and the files they list, one entry
    per md5 (all the paths that share it). A listing that `read` cannot give is kept unexpanded."""
    by_md5: dict[str, list[str]] = {}
    sizes: dict[str, int | None] = {}
    for out in outs:
        by_md5.setdefault(out.md5, []).append(out.path)
        sizes.setdefault(out.md5, out.size if not out.md5.endswith(".dir") else None)
        if not out.md5.endswith(".dir"):
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
    if data is None:
        return []
    try:
        listing = json.loads(data)
        return [item for item in listing if "md5" in item and "relpath" in item]
    except (ValueError, TypeError):
        return []  # a damaged listing: verify reports it through its own hash


def local_reader(repo: Path) -> ReadObject:
    def read(md5: str) -> bytes | None:
        path = cache_object(repo, md5)
        return path.read_bytes() if path.is_file() else None

    return read


def snapshot_sha256(repo: Path, rev: str | None) -> dict[str, str]:
    """Workspace path of every snapshot file -> its sha256, from the manifests at `rev`."""
    found: dict[str, str] = {}
    for name, text in _manifests(repo, rev):
        try:
            manifest = json.loads(text)
            folder = PurePosixPath(name).with_suffix("")
            for f in manifest["files"]:
                found[str(folder / f["path"])] = f["sha256"]
        except (ValueError, KeyError, TypeError):
            continue  # not a manifest; snapshot verify reports those
    return found


def _manifests(repo: Path, rev: str | None) -> list[tuple[str, str]]:
    if rev is None:
        root = repo / SNAPSHOTS
        return [
            (p.relative_to(repo).as_posix(), p.read_text(encoding="utf-8"))
            for p in sorted(root.glob("*/*.json"))
        ]
    listed = _git(repo, "ls-tree", "-r", "--name-only", rev, "--", SNAPSHOTS.as_posix())
    names = [n for n in listed.splitlines() if n.endswith(".json") and n.count("/") == 3]
    return [(n, _git(repo, "show", f"{rev}:{n}")) for n in names]


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if result.returncode != 0:
        raise RemoteError(f"git {' '.join(args[:2])}: {result.stderr.strip()}")
    return result.stdout
