"""Clean temporary checkouts of one commit, with the pinned snapshots in place.

A checkout is a `git clone --shared --no-checkout` of the user's repository (objects are read
through git's alternates: nothing is written to the user's repository, work tree or index),
detached at the commit. Its DVC cache and DVC's site cache are folders inside the checkout, so the
user's cache is read but never written, and there is no run-cache: every stage really runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from configobj import ConfigObj

from mlrepro import dvccache
from mlrepro.core.errors import MlreproError
from mlrepro.snapshot.immutable import unprotect_tree


class VerifyInputError(MlreproError):
    """Nothing to verify: an unknown revision, no dvc.lock, a snapshot found nowhere."""


def tool_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for git and dvc in a checkout: the caller's, with this interpreter's bin
    folder first on PATH (the stages run `python` and must get mlrepro's environment), no
    PYTHONPATH (each stage sets its own), analytics off, and `extra` on top."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["DVC_NO_ANALYTICS"] = "1"
    env.update(extra or {})
    return env


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=tool_env(), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        why = (result.stderr.strip().splitlines() or ["failed"])[-1]
        raise MlreproError(f"git {' '.join(args[:2])}: {why}")
    return result.stdout


def make_checkout(repo: Path, commit: str, path: Path) -> Path:
    """A clean checkout of `commit` at `path`, with its own DVC cache and site cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    git(path.parent, "clone", "--quiet", "--shared", "--no-checkout", str(repo), str(path))
    git(path, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", commit)
    dvc_dir = path / ".dvc"
    if not dvc_dir.is_dir():
        raise VerifyInputError(f"{commit[:12]}: not a DVC project (no .dvc folder)")
    local = repo / ".dvc" / "config.local"  # git-ignored: remote credentials live here
    if local.is_file():
        shutil.copyfile(local, dvc_dir / "config.local")
    config = ConfigObj(str(dvc_dir / "config.local"))
    config.setdefault("cache", {})["dir"] = str(dvccache.default_dir(path))
    config.setdefault("core", {})["site_cache_dir"] = str(dvc_dir / "tmp" / "site")
    config.write()
    return path


def remove_tree(path: Path) -> None:
    """Remove a folder that may hold read-only files and folders (snapshots, DVC cache)."""
    if not path.exists():
        return
    unprotect_tree(path)  # snapshots restored from their source are immutable
    for folder in [path, *(p for p in path.rglob("*") if p.is_dir() and not p.is_symlink())]:
        folder.chmod(0o755)
    shutil.rmtree(path)
