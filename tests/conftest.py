"""Fixtures that build real temporary git + DVC repos from this project's pipeline files.

`pipeline_template` (once per session) copies dvc.yaml, params.yaml, schema.yaml and src/ into a
new git repo, sets a small slice in params.yaml, runs `dvc repro` and commits. `pipeline_repo`
gives each test its own copy of that repo (work tree, git history and DVC cache).

Such tests are slow and carry the `e2e` marker, so that `make test-fast` (`-m "not e2e"`) stays
fast: every test under tests/e2e/ and every test that uses these repos must have it (checked at
collection). The CLI runs through tests/runner.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[1]
E2E = PROJECT / "tests" / "e2e"
SLOW_FIXTURES = {"pipeline_template", "pipeline_repo"}
PIPELINE_FILES = ["dvc.yaml", "params.yaml", "schema.yaml", ".dvcignore", ".gitignore"]

# A slice that runs in seconds: the earliest 6,000 flights (1-7 Jan 2013), split by day.
SLICE: dict[str, Any] = {
    "ingest": {"max_rows": 6000},
    "split": {"valid_start": "2013-01-05", "test_start": "2013-01-06"},
    "train": {"max_iter": 20},
    "evaluate": {"importance_max_rows": 300, "importance_repeats": 1},
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a slow test without the e2e marker: `make test-fast` would run it."""
    unmarked = [
        item.nodeid
        for item in items
        if item.get_closest_marker("e2e") is None
        and (E2E in item.path.parents or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())))
    ]
    if unmarked:
        raise pytest.UsageError(
            "slow tests without the e2e marker (pytestmark = pytest.mark.e2e): "
            + ", ".join(unmarked)
        )


def tool_env() -> dict[str, str]:
    """The environment for git and dvc: this venv first on PATH, analytics off, fixed identity."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)
    env.update(
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="mlrepro tests",
        GIT_AUTHOR_EMAIL="tests@mlrepro.invalid",
        GIT_COMMITTER_NAME="mlrepro tests",
        GIT_COMMITTER_EMAIL="tests@mlrepro.invalid",
    )
    return env


Run = Callable[..., subprocess.CompletedProcess[str]]


def make_runner(cwd: Path) -> Run:
    def run(
        *cmd: str, check: bool = True, timeout: float = 600, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run cmd in cwd with tool_env(), plus `env` (variables to set for this call)."""
        result = subprocess.run(
            cmd,
            cwd=cwd,
            env={**tool_env(), **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    return run


def deep_update(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = value
    return base


def edit_params(repo: Path, changes: dict[str, Any]) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump(deep_update(params, changes), sort_keys=False))


@pytest.fixture(scope="session", autouse=True)
def removable_tmp_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Snapshot files are immutable where the platform allows (root on ext4): nothing, pytest's
    own cleanup of old temporary folders included, could remove them. Every test session clears
    the flag under its temporary folders when it ends."""
    yield
    from mlrepro.snapshot import immutable

    immutable.unprotect_tree(tmp_path_factory.getbasetemp())


class Repo:
    """A temporary git + DVC repo holding this project's pipeline."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.run = make_runner(path)

    def dvc(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run("dvc", *args, check=check, env=env)

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("git", *args, check=check)

    def edit_params(self, changes: dict[str, Any]) -> None:
        edit_params(self.path, changes)

    def read_yaml(self, name: str) -> Any:
        return yaml.safe_load((self.path / name).read_text())

    def commit_all(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)


def copy_snapshot_records(path: Path) -> None:
    """The git-tracked part of data/snapshots (manifests, .dvc files, .gitignore), not the bytes:
    like a fresh clone with no remote, so ingest restores the pinned snapshots from the source."""
    for record in (PROJECT / "data" / "snapshots").rglob("*"):
        if record.is_file() and (record.suffix in (".json", ".dvc") or record.name == ".gitignore"):
            target = path / record.relative_to(PROJECT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(record, target)


def build_repo(path: Path) -> Repo:
    path.mkdir(parents=True)
    for name in PIPELINE_FILES:
        shutil.copy2(PROJECT / name, path / name)
    shutil.copytree(PROJECT / "src", path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    copy_snapshot_records(path)
    repo = Repo(path)
    repo.git("init", "-q", "-b", "main")
    repo.git("config", "user.name", "mlrepro tests")  # dvc exp commits without the env vars
    repo.git("config", "user.email", "tests@mlrepro.invalid")
    repo.dvc("init", "-q")
    shutil.copy2(PROJECT / ".dvc" / "config", path / ".dvc" / "config")
    repo.edit_params(SLICE)
    repo.commit_all("pipeline")
    return repo


@pytest.fixture(scope="session")
def pipeline_template(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """The pipeline run once on the slice and committed with its dvc.lock."""
    repo = build_repo(tmp_path_factory.mktemp("template") / "repo")
    repo.dvc("repro")
    repo.commit_all("run pipeline")
    return repo


@pytest.fixture
def pipeline_repo(pipeline_template: Repo, tmp_path: Path) -> Iterator[Repo]:
    """A private copy of the template (work tree, history, cache) for one test to change."""
    target = tmp_path / "repo"
    shutil.copytree(pipeline_template.path, target, symlinks=True)
    repo = Repo(target)
    yield repo
    if (target / ".dvc" / "tmp" / "exps").exists():  # stop queue workers a failed test left behind
        repo.dvc("queue", "stop", "--kill", check=False)
