"""The grade-your-own-exam counter on the real pipeline: models scored on one test part, counted
over commits and DVC experiments by their model's md5; a new test part starts it again."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Repo
from tests.runner import mlrepro

pytestmark = pytest.mark.e2e


def looks(repo: Repo, b: str, *options: str) -> dict[str, Any]:
    out = mlrepro(repo.path, "diff", "HEAD", b, "--format", "json", *options).stdout
    found: dict[str, Any] = json.loads(out)["test_looks"]
    return found


def counts(repo: Repo, b: str = "HEAD") -> tuple[int, int]:
    found = looks(repo, b)
    return found["models"], found["revisions"]


def retrain(repo: Repo, max_iter: int, message: str) -> None:
    repo.edit_params({"train": {"max_iter": max_iter}})
    repo.dvc("repro")
    repo.commit_all(message)


def test_models_scored_on_one_test_part(pipeline_repo: Repo, tmp_path: Path) -> None:
    repo = pipeline_repo
    part = hashlib.sha256((repo.path / "data/split/test.parquet").read_bytes()).hexdigest()
    rows = json.loads((repo.path / "reports/leakage.json").read_text())["test_part"]["rows"]
    first = looks(repo, "HEAD")
    assert first == {
        "report": "reports/leakage.json",
        "sha256": part,
        "rows": rows,
        "models": 1,  # "run pipeline"; the first commit ran nothing
        "revisions": 1,
        "warn_at": 20,
        "warned": False,
    }
    retrain(repo, 10, "fewer iterations")
    assert counts(repo) == (2, 2)
    repo.dvc("exp", "run", "-S", "train.max_iter=15", "--name", "iter15")
    repo.git("checkout", "-q", "--", ".")  # the experiment is applied to the workspace: drop it
    repo.dvc("checkout", "-q")
    assert counts(repo) == (3, 3)  # the experiment counts
    (repo.path / "NOTES.md").write_text("a commit that changes no model\n")
    repo.commit_all("notes")
    assert counts(repo) == (3, 4)  # one more revision, the same model
    assert counts(repo, "workspace") == (3, 5)  # the workspace holds HEAD's model

    gates = tmp_path / "gates.yaml"
    gates.write_text("test_looks: {warn: 2}\n")
    table = mlrepro(repo.path, "diff", "HEAD", "HEAD", "--gates", str(gates)).stdout
    line = next(line for line in table.splitlines() if line.startswith("test part "))
    assert line.startswith(
        f"test part {part[:12]} ({rows:,} rows): scored by 3 models (commits and experiments); "
        "warn at 2: WARNING, every look spends it"
    ), table

    repo.edit_params({"split": {"test_start": "2013-01-07"}})  # a new test part
    repo.dvc("repro")
    repo.commit_all("later test part")
    new = looks(repo, "HEAD")
    assert new["sha256"] != part and (new["models"], new["revisions"]) == (1, 1)
    assert counts(repo, "HEAD~1") == (3, 4)  # the old test part's count stays with it
