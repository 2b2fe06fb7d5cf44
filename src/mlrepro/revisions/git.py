"""A git repository as the reader sees it: names resolved to commits, and files read at a
commit (through one `git cat-file --batch` process, however many revisions) or from the work tree.

Nothing here checks anything out or writes the index: `mlrepro diff` and `verify` rely on that.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from mlrepro.core.errors import MlreproError

WORKSPACE = "workspace"
OBJECT_TYPES = (b"blob", b"tree", b"commit", b"tag")


class RevError(MlreproError):
    """An unknown revision, one that this shallow clone lacks, or not a git repository."""


@dataclass(frozen=True)
class Rev:
    name: str  # as the user wrote it, or "workspace"
    commit: str | None  # None: the workspace


@dataclass(frozen=True)
class Blob:
    name: str  # what was asked for: `<commit>:<path>`, or the path in the work tree
    oid: bytes  # git's object id; b"" in the work tree and when missing
    kind: bytes  # b"blob", b"tree", ... or b"missing"
    data: bytes


class CatFile:
    """One `git cat-file --batch` process: `read(names)` returns the objects in order; a name
    that does not resolve (the file absent at that commit) comes back with kind b"missing"."""

    def __init__(self, repo: Path) -> None:
        self.proc = subprocess.Popen(
            ["git", "-C", str(repo), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin: IO[bytes] = self.proc.stdin
        self.stdout: IO[bytes] = self.proc.stdout

    def __enter__(self) -> CatFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self.stdin.close()
        self.stdout.close()
        self.proc.wait()

    def read(self, names: Sequence[str]) -> list[Blob]:
        # Write from a thread: a long request list and the answers could otherwise fill both pipes.
        payload = "".join(f"{name}\n" for name in names).encode()
        writer = threading.Thread(target=self._write, args=(payload,), daemon=True)
        writer.start()
        try:
            return [self._read_one(name) for name in names]
        finally:
            writer.join()

    def _write(self, payload: bytes) -> None:
        try:
            self.stdin.write(payload)
            self.stdin.flush()
        except BrokenPipeError:  # git exited; _read_one reports it
            pass

    def _read_one(self, name: str) -> Blob:
        header = self.stdout.readline()
        if not header:
            raise RevError(f"git cat-file --batch stopped before {name}")
        parts = header.rstrip(b"\n").rsplit(b" ", 2)
        if len(parts) != 3 or parts[1] not in OBJECT_TYPES or not parts[2].isdigit():
            return Blob(name, b"", b"missing", b"")  # "<name> missing" or "<name> ambiguous"
        data = self.stdout.read(int(parts[2]) + 1)[:-1]  # the content, then a newline
        return Blob(name, parts[0], parts[1], data)


class Repository:
    """The git repository at `root`: its top folder (`open_repo` finds it); any folder in it
    will do for reading commits, whose paths start at the top. Close it, or use `open_repo`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cat: CatFile | None = None

    def close(self) -> None:
        if self._cat is not None:
            self._cat.close()
            self._cat = None

    def git(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(self.root), *args], capture_output=True, text=True)

    def git_input(self, args: Sequence[str], stdin: str) -> str:
        """git's output for `args` with `stdin` as its input; a RevError names a failure."""
        done = subprocess.run(
            ["git", "-C", str(self.root), *args], input=stdin, capture_output=True, text=True
        )
        if done.returncode != 0:
            reason = done.stderr.strip().splitlines()
            raise RevError(f"git {args[0]}: {reason[-1] if reason else f'exit {done.returncode}'}")
        return done.stdout

    def resolve(self, name: str | None) -> Rev:
        """A git rev, tag, branch or DVC experiment name; None or "workspace" is the workspace."""
        if name is None or name == WORKSPACE:
            return Rev(WORKSPACE, None)
        commit = self._rev_parse(name) or self._experiment(name)
        if commit is None:
            raise self._unknown(name)
        return Rev(name, commit)

    def default_base(self) -> str:
        """The current branch's upstream (e.g. origin/main) when set, else `main`."""
        found = self.git("rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}")
        return found.stdout.strip() if found.returncode == 0 and found.stdout.strip() else "main"

    def _rev_parse(self, name: str) -> str | None:
        found = self.git(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{name}^{{commit}}"
        )
        return (found.stdout.strip() or None) if found.returncode == 0 else None

    def experiments(self) -> list[tuple[str, str]]:
        """Every DVC experiment as (commit, ref): the refs
        `refs/exps/<baseline sha[:2]>/<baseline sha[2:]>/<name>` (not DVC's queue and run refs
        under refs/exps, such as `refs/exps/celery/stash`)."""
        refs = self.git("for-each-ref", "--format=%(objectname) %(refname)", "refs/exps").stdout
        found = []
        for line in refs.splitlines():
            sha, ref = line.split(" ", 1)
            parts = ref.split("/")
            if len(parts) == 5 and len(parts[2]) == 2:
                found.append((sha, ref))
        return found

    def reachable(self, starts: Sequence[str]) -> list[str]:
        """Every commit reachable from `starts` (commits or refs) and from every branch, remote
        branch and tag, newest first: one `git rev-list`."""
        every = ["--branches", "--remotes", "--tags", "--stdin"]
        listed = subprocess.run(
            ["git", "-C", str(self.root), "rev-list", *every],
            input="".join(f"{start}\n" for start in starts),
            capture_output=True,
            text=True,
        )
        if listed.returncode != 0:
            raise RevError(f"git rev-list: {listed.stderr.strip() or f'exit {listed.returncode}'}")
        return listed.stdout.split()

    def _experiment(self, name: str) -> str | None:
        """A DVC experiment: a ref `refs/exps/<baseline sha[:2]>/<baseline sha[2:]>/<name>`."""
        found = {sha for sha, ref in self.experiments() if ref.rsplit("/", 1)[1] == name}
        if len(found) > 1:
            raise RevError(f"experiment name '{name}' names {len(found)} experiments; use a commit")
        return found.pop() if found else None

    def _unknown(self, name: str) -> RevError:
        if self.git("rev-parse", "--is-shallow-repository").stdout.strip() == "true":
            return RevError(
                f"unknown revision '{name}' in this shallow clone: if it exists upstream, run "
                f"`git fetch --unshallow` (or `git fetch origin {name}`)"
            )
        return RevError(f"unknown revision '{name}': not a commit, tag, branch or DVC experiment")

    def blobs(self, wanted: Sequence[tuple[Rev, str]]) -> list[Blob]:
        """Each (revision, repo-relative path) as a Blob, in order; every one at a commit comes
        from the same `git cat-file --batch` process, in one pass."""
        found: dict[int, Blob] = {}
        asked = []
        for i, (rev, path) in enumerate(wanted):
            if _outside(path):
                found[i] = Blob(path, b"", b"missing", b"")
            elif rev.commit is None:
                found[i] = self._work_tree_blob(path)
            else:
                asked.append(i)
        if asked:
            names = [f"{wanted[i][0].commit}:{wanted[i][1]}" for i in asked]
            found.update(zip(asked, self._cat_file().read(names), strict=True))
        return [found[i] for i in range(len(wanted))]

    def read(self, rev: Rev, path: str) -> bytes | None:
        """The file's bytes at `rev`, or None when it is absent there (or a folder)."""
        [blob] = self.blobs([(rev, path)])
        return blob.data if blob.kind == b"blob" else None

    def files(self, rev: Rev, under: str = "") -> list[str]:
        """The repo-relative path of every file under the folder `under` at `rev`: tracked ones
        at a commit; in the workspace the tracked and the untracked that git does not ignore."""
        spec = ["--", under] if under else []
        if rev.commit is None:
            listed = self.git("ls-files", "-z", "--cached", "--others", "--exclude-standard", *spec)
        else:
            listed = self.git("ls-tree", "-r", "-z", "--name-only", rev.commit, *spec)
        if listed.returncode != 0:
            raise RevError(
                f"{rev.name}: cannot list {under or 'the files'}: {listed.stderr.strip()}"
            )
        names = dict.fromkeys(n for n in listed.stdout.split("\0") if n)
        return [n for n in names if rev.commit or (self.root / n).is_file()]

    def _cat_file(self) -> CatFile:
        if self._cat is None:
            self._cat = CatFile(self.root)
        return self._cat

    def _work_tree_blob(self, path: str) -> Blob:
        file = self.root / path
        if not (file.is_file() or file.is_dir()):
            return Blob(path, b"", b"missing", b"")
        if file.is_dir():
            return Blob(path, b"", b"tree", b"")
        return Blob(path, b"", b"blob", file.read_bytes())


def _outside(path: str) -> bool:
    """A path that leaves the repository (`../x`, `/x`), or that `git cat-file --batch` cannot
    be asked for (a newline in it): never read, at a commit or on disk."""
    normal = posixpath.normpath(path)
    return normal == ".." or normal.startswith(("../", "/")) or os.path.isabs(path) or "\n" in path


@contextmanager
def open_repo(path: Path) -> Iterator[Repository]:
    """The git repository that holds `path`, closed (with its git process) on exit."""
    top = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--show-toplevel"], capture_output=True, text=True
    )
    if top.returncode != 0 or not top.stdout.strip():
        raise RevError(f"{path}: not inside a git repository")
    repo = Repository(Path(top.stdout.strip()))
    try:
        yield repo
    finally:
        repo.close()
