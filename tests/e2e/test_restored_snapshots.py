"""Snapshots that ingest restores from their sources (a fresh clone with no remote) are
first-class DVC data: `dvc status` is clean, plain `dvc push` / `dvc pull` carry them to another
fresh clone byte for byte, and `dvc checkout` never deletes a pinned snapshot."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from tests.conftest import Repo, make_runner
from tests.e2e.test_remote import CREDENTIALS, S3, s3  # noqa: F401 - s3 is a fixture
from tests.runner import mlrepro

pytestmark = pytest.mark.e2e

UP_TO_DATE = "Data and pipelines are up to date."


def fresh_clone(template: Repo, path: Path) -> Repo:
    make_runner(path.parent)("git", "clone", "-q", str(template.path), str(path))
    return Repo(path)


def pinned_folders(repo: Repo) -> list[Path]:
    pins = repo.read_yaml("params.yaml")["ingest"]["pins"]
    return [repo.path / "data/snapshots" / source / sid for source, sid in pins.items()]


def test_restored_snapshots_are_in_the_cache(pipeline_template: Repo, tmp_path: Path) -> None:
    repo = fresh_clone(pipeline_template, tmp_path / "clone")
    repo.dvc("repro")
    assert repo.dvc("status").stdout.strip() == UP_TO_DATE
    assert repo.git("status", "--porcelain").stdout == ""  # the .dvc files are the committed ones
    repo.dvc("checkout")  # used to delete every restored snapshot folder
    folders = pinned_folders(repo)
    assert folders and all(f.is_dir() and any(f.iterdir()) for f in folders), folders
    mlrepro(repo.path, "snapshot", "verify", "--all")


def test_plain_dvc_push_and_pull_carry_restored_snapshots(
    pipeline_template: Repo,
    tmp_path: Path,
    s3: S3,  # noqa: F811 - the fixture
) -> None:
    first = fresh_clone(pipeline_template, tmp_path / "first")
    first.dvc("repro")
    bucket = s3.bucket()
    mlrepro(first.path, "remote", "add", f"s3://{bucket}/dvc", "--endpoint", s3.endpoint)
    first.dvc("push", env=CREDENTIALS)

    second = fresh_clone(pipeline_template, tmp_path / "second")
    second.path.joinpath(".dvc/config").write_text(first.path.joinpath(".dvc/config").read_text())
    second.dvc("pull", env=CREDENTIALS)
    for folder in pinned_folders(first):
        twin = second.path / folder.relative_to(first.path)
        names = sorted(p.name for p in folder.rglob("*") if p.is_file())
        match, mismatch, errors = filecmp.cmpfiles(folder, twin, names, shallow=False)
        assert (mismatch, errors) == ([], []) and match, (folder, mismatch, errors)
    mlrepro(second.path, "snapshot", "verify", "--all")
    assert "ingest" not in second.dvc("status").stdout  # pulled outputs: nothing to re-run
