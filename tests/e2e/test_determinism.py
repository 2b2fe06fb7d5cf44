"""Bytes that depend on the inputs, code and params only: not on the thread count, time zone,
locale, hash seed, umask or checkout path."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.conftest import Repo, make_runner

pytestmark = pytest.mark.e2e

# Two machines as different as one machine can make them.
ONE = {"OMP_NUM_THREADS": "1", "TZ": "UTC", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0"}
OTHER = {
    "OMP_NUM_THREADS": "3",
    "OPENBLAS_NUM_THREADS": "3",
    "MKL_NUM_THREADS": "3",
    "TZ": "Asia/Seoul",
    "LC_ALL": "C",
    "PYTHONHASHSEED": "12345",
}
TRAIN_AND_EVALUATE = [
    "models/model.skops",
    "models/model_card.json",
    "evaluate/metrics.json",
    "evaluate/plots",
    "evaluate/images",
]


def file_hashes(repo: Path, paths: list[str]) -> dict[str, str]:
    """sha256 of every file under each of paths (a file or a folder), by relative path."""
    out = {}
    for name in paths:
        top = repo / name
        files = sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else [top]
        for path in files:
            out[path.relative_to(repo).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def rerun(repo: Repo, env: dict[str, str], *stages: str) -> dict[str, str]:
    for stage in stages:
        repo.dvc("repro", "-f", "--no-run-cache", "-s", stage, env=env)
    return file_hashes(repo.path, TRAIN_AND_EVALUATE)


def test_train_and_evaluate_bytes_do_not_depend_on_threads_or_time_zone(
    pipeline_repo: Repo,
) -> None:
    committed = file_hashes(pipeline_repo.path, TRAIN_AND_EVALUATE)
    one = rerun(pipeline_repo, ONE, "train", "evaluate")
    other = rerun(pipeline_repo, OTHER, "train", "evaluate")
    assert one == committed
    assert other == committed
    assert pipeline_repo.git("status", "--porcelain").stdout == ""  # dvc.lock as committed


def test_unpinned_threads_change_the_model_bytes(pipeline_repo: Repo) -> None:
    """The control: with `threads: null` the libraries pick the count, and the bytes move; so the
    test above would catch a stage that stopped pinning it."""
    pipeline_repo.edit_params({"threads": None})
    one = rerun(pipeline_repo, ONE, "train")
    other = rerun(pipeline_repo, OTHER, "train")
    assert one["models/model.skops"] != other["models/model.skops"]


def test_fresh_clone_elsewhere_reproduces_committed_lock(
    pipeline_template: Repo, tmp_path: Path
) -> None:
    """A fresh clone in a path with a space, umask 077, 3 threads, another time zone and locale:
    `dvc repro` writes exactly the committed dvc.lock, metrics and reports."""
    clone = tmp_path / "other machine" / "clone"
    clone.parent.mkdir()
    make_runner(tmp_path)("git", "clone", "-q", str(pipeline_template.path), str(clone))
    repo = Repo(clone)
    repo.run("bash", "-c", "umask 077 && exec dvc repro", env=OTHER)
    assert repo.git("status", "--porcelain").stdout == ""
