"""Git object ids of work-tree files and folders, as `git add -A && git write-tree` would make them,
without touching the index: content hashes any git can check (`git rev-parse <commit>:<path>`,
`git log --all --find-object=<id>`). The model card names its code by them.

A file is a blob: sha1 of `b"blob <size>\\0"` and its bytes (a symlink: its target). A folder is a
tree over the files git would commit there (tracked, or untracked and not ignored; one that is
listed but gone from disk is left out, as `git add -A` would remove it), each entry
`<mode> <name>\\0<20-byte id>`, sorted by name with a folder's name taken as `name/`. Modes:
100644, 100755 (user-executable), 120000 (symlink), 40000 (folder). Bytes are hashed as they are
on disk: no clean filter or end-of-line conversion (this project sets none), and the executable
bit is read from disk (git's default `core.fileMode=true`).
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from mlrepro.core.errors import MlreproError

FILE, EXECUTABLE, SYMLINK, FOLDER = "100644", "100755", "120000", "40000"

Entry = tuple[str, str, str]  # (mode, name, hex id)


class NotInGit(MlreproError):
    """No git work tree to read: not inside a repository, or no git installed."""


def _object_id(kind: str, data: bytes) -> str:
    header = b"%s %d\0" % (kind.encode(), len(data))
    return hashlib.sha1(header + data, usedforsecurity=False).hexdigest()


def blob_id(data: bytes) -> str:
    """The id `git hash-object` gives a file holding `data`."""
    return _object_id("blob", data)


def tree_id(entries: Iterable[Entry]) -> str:
    """The id of a tree holding `entries` (mode, name, hex id), in any order."""
    encoded = [
        (mode.encode(), os.fsencode(name), bytes.fromhex(oid)) for mode, name, oid in entries
    ]
    encoded.sort(key=lambda e: e[1] + b"/" if e[0] == FOLDER.encode() else e[1])
    return _object_id("tree", b"".join(b"%s %s\0" % (m, n) + oid for m, n, oid in encoded))


def file_entry(path: Path, name: str) -> Entry:
    """The tree entry of one file on disk, named `name`; a symlink is not followed."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return SYMLINK, name, blob_id(os.fsencode(os.readlink(path)))
    if stat.S_ISDIR(info.st_mode):  # a gitlink: git would record the submodule's commit
        raise MlreproError(f"{path}: a git submodule; its object id is not computed here")
    mode = EXECUTABLE if info.st_mode & stat.S_IXUSR else FILE
    return mode, name, blob_id(path.read_bytes())


def folder_id(folder: Path, files: Iterable[str]) -> str:
    """The tree id of `files`: posix paths relative to `folder`, each a file on disk."""
    entries: list[Entry] = []
    below: dict[str, list[str]] = {}
    for name in files:
        head, _, rest = name.partition("/")
        if rest:
            below.setdefault(head, []).append(rest)
        else:
            entries.append(file_entry(folder / head, head))
    entries += [(FOLDER, name, folder_id(folder / name, sub)) for name, sub in below.items()]
    return tree_id(entries)


def object_ids(root: Path, paths: Sequence[str]) -> dict[str, str | None]:
    """Each path's id (relative to `root`, a folder in a git work tree): a file's blob id, a
    folder's tree id; None where git would commit nothing (an ignored or DVC-tracked path).
    Raises NotInGit outside a git work tree."""
    files = work_tree_files(root, paths)
    found: dict[str, str | None] = {}
    for path in paths:
        prefix = "" if path == "." else f"{path}/"
        under = [name.removeprefix(prefix) for name in files if name.startswith(prefix)]
        if path in files:
            found[path] = file_entry(root / path, path)[2]
        else:
            found[path] = folder_id(root / path, under) if under else None
    return found


def work_tree_files(root: Path, paths: Sequence[str]) -> list[str]:
    """The files at or under `paths` that `git add -A` would commit, relative to `root`, sorted:
    tracked or untracked and not ignored, and still on disk. One `git ls-files`."""
    command = ["git", "--literal-pathspecs", "-C", str(root), "ls-files", "-z"]
    command += ["--cached", "--others", "--exclude-standard", "--", *paths]
    try:
        listed = subprocess.run(command, capture_output=True, check=False)
    except OSError:
        raise NotInGit("git is not installed") from None
    if listed.returncode != 0:
        raise NotInGit("not inside a git work tree (git ls-files failed)")
    names = {os.fsdecode(n) for n in listed.stdout.split(b"\0") if n}
    return sorted(n for n in names if os.path.lexists(root / n))
