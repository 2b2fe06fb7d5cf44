"""Git object ids from the work tree (`mlrepro.pipeline.gitobjects`) against real git: `git
hash-object`, `git rev-parse HEAD:<folder>` after a commit, and `git add -A && git write-tree` in a
temporary index for uncommitted edits (the repository's own index is never written)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from mlrepro.pipeline.gitobjects import (
    EXECUTABLE,
    FILE,
    FOLDER,
    SYMLINK,
    NotInGit,
    blob_id,
    object_ids,
    tree_id,
)
from tests.conftest import tool_env

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's well-known empty tree


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, env={**tool_env(), **(env or {})}, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repo with nested folders, an executable file, a symlink, an ignored file and a
    file name that sorts after its folder's name ("a.py" against "a/"), committed."""
    root = tmp_path / "repo"
    files = {
        "code/a.py": b"print('a')\n",
        "code/a/inner.py": b"x = 1\n",
        "code/a-b.txt": b"dash sorts before slash\n",
        "code/deep/er/z.py": b"",
        "code/run.sh": b"#!/bin/sh\necho hi\n",
        "code/.gitignore": b"*.pyc\n",
        "top.txt": b"top\n",
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "code/run.sh").chmod(0o755)
    os.symlink("a.py", root / "code/link.py")
    (root / "code/ignored.pyc").write_bytes(b"not committed")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "code")
    return root


def written_tree(repo: Path, tmp_path: Path) -> str:
    """What `git add -A && git write-tree` gives now, through a temporary index."""
    env = {"GIT_INDEX_FILE": str(tmp_path / "index")}
    git(repo, "read-tree", "HEAD", env=env)
    git(repo, "add", "-A", env=env)
    return git(repo, "write-tree", env=env)


def test_blob_id_is_git_hash_object(tmp_path: Path) -> None:
    for data in (b"", b"hello\n", bytes(range(256)) * 100):
        (tmp_path / "f").write_bytes(data)
        assert blob_id(data) == git(tmp_path, "hash-object", "f")


def test_tree_id_sorts_as_git_and_is_order_free() -> None:
    a, b = blob_id(b"a"), blob_id(b"b")
    entries = [(FILE, "a.py", a), (FOLDER, "a", EMPTY_TREE), (EXECUTABLE, "a-b", b)]
    assert tree_id(entries) == tree_id(reversed(entries))
    assert tree_id([]) == EMPTY_TREE
    assert tree_id([(SYMLINK, "l", a)]) != tree_id([(FILE, "l", a)])


def test_committed_folders_files_and_the_repo_match_rev_parse(repo: Path) -> None:
    paths = ["code", "code/a", "code/deep", "code/run.sh", "code/link.py", "top.txt", "."]
    want = {p: git(repo, "rev-parse", f"HEAD:{p}" if p != "." else "HEAD^{tree}") for p in paths}
    assert object_ids(repo, paths) == want
    assert git(repo, "ls-tree", "HEAD", "code/run.sh").startswith(EXECUTABLE)
    assert git(repo, "ls-tree", "HEAD", "code/link.py").startswith(SYMLINK)


def test_uncommitted_edits_match_add_all_and_write_tree(repo: Path, tmp_path: Path) -> None:
    """An edit, a new untracked file, a deleted tracked file, a mode change, a new ignored file:
    the ids are those of the tree `git add -A` would commit."""
    (repo / "code/a.py").write_bytes(b"print('edited')\n")
    (repo / "code/new/n.py").parent.mkdir()
    (repo / "code/new/n.py").write_bytes(b"new\n")
    (repo / "code/deep/er/z.py").unlink()
    (repo / "code/a/inner.py").chmod(0o755)
    (repo / "code/more.pyc").write_bytes(b"ignored")
    tree = written_tree(repo, tmp_path)
    assert object_ids(repo, ["code", "code/a.py"]) == {
        "code": git(repo, "rev-parse", f"{tree}:code"),
        "code/a.py": git(repo, "rev-parse", f"{tree}:code/a.py"),
    }
    assert git(repo, "diff", "--cached", "--name-only") == ""  # the repo's index: untouched
    assert len(git(repo, "diff", "--name-only").splitlines()) == 3


def test_nothing_to_commit_is_none_and_a_subfolder_root_is_relative(repo: Path) -> None:
    assert object_ids(repo, ["code/ignored.pyc", "absent"]) == {
        "code/ignored.pyc": None,
        "absent": None,
    }
    assert object_ids(repo / "code", ["a"]) == {"a": git(repo, "rev-parse", "HEAD:code/a")}


def test_outside_git_is_not_in_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "f").write_text("x")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    with pytest.raises(NotInGit, match=r"^not inside a git work tree"):
        object_ids(tmp_path, ["f"])
