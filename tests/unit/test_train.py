"""train's model card: the model file's digests, the snapshots from ingest's manifest and the code
by git object id (`mlrepro.stages.train`). One run of the stage on a tiny frame in a real
temporary git repo holding this project's dvc.yaml, params.yaml and src/."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from mlrepro.core.errors import DataError
from mlrepro.core.files import write_json, write_parquet
from mlrepro.core.params import load_params
from mlrepro.revisions import WORKSPACE, Repository, Rev, Revision, Unreadable, resolve_pipeline
from mlrepro.stages.train import code_deps, code_lineage, main, model_file, snapshot_lineage
from tests.conftest import PROJECT, tool_env

PARAMS = load_params(PROJECT / "params.yaml")
TRAIN_CODE = [
    "src/mlrepro/core",
    "src/mlrepro/pipeline/environment.py",
    "src/mlrepro/pipeline/gitobjects.py",
    "src/mlrepro/pipeline/model.py",
    "src/mlrepro/pipeline/modelfile.py",
    "src/mlrepro/revisions",
    "src/mlrepro/stages/train.py",
]
MANIFEST: dict[str, Any] = {
    "main": "flights",
    "sources": {
        "weather": {"snapshot": "20260101T000000Z-bbbbbbbb", "content_sha256": "b" * 64},
        "flights": {"snapshot": "20260101T000000Z-aaaaaaaa", "content_sha256": "a" * 64},
    },
}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, env=tool_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def tiny_train_part(rows: int = 60) -> pd.DataFrame:
    """Every feature the committed params name, a label of both classes, the time column."""
    spec = PARAMS.featurize
    data: dict[str, Any] = {
        name: pd.array([["AA", "B6", None][i % 3] for i in range(rows)], dtype="string")
        for name in spec.categorical
    }
    data |= {name: [float(i % 7) for i in range(rows)] for name in spec.numeric}
    data[spec.label] = pd.array([int(i % 3 == 0) for i in range(rows)], dtype="Int8")
    time_column = PARAMS.split.time_column
    assert time_column is not None
    data[time_column] = pd.date_range("2013-01-01", periods=rows, freq="h", tz="UTC")
    return pd.DataFrame(data)


def test_model_file_names_path_size_md5_and_sha256(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    path = tmp_path / "models" / "model.skops"
    path.write_bytes(b"model bytes" * 1000)
    data = path.read_bytes()
    assert model_file(path) == {
        "path": path.as_posix(),
        "bytes": len(data),
        "md5": hashlib.md5(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def test_snapshot_lineage_is_the_manifests_ids_and_hashes_by_source() -> None:
    assert snapshot_lineage(MANIFEST, "m.json") == {
        "flights": {"id": "20260101T000000Z-aaaaaaaa", "content_sha256": "a" * 64},
        "weather": {"id": "20260101T000000Z-bbbbbbbb", "content_sha256": "b" * 64},
    }


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ([], "m.json: no 'sources' mapping (re-run ingest)"),
        ({"sources": {"f": {"snapshot": "x"}}}, "m.json: sources.f: needs 'snapshot' and "),
        ({"sources": {"f": "x"}}, "m.json: sources.f: needs 'snapshot' and "),
    ],
)
def test_a_bad_manifest_is_one_line_naming_file_and_key(manifest: Any, message: str) -> None:
    with pytest.raises(DataError, match="^" + re.escape(message)):
        snapshot_lineage(manifest, "m.json")


def test_code_deps_of_the_projects_train_stage_are_its_code() -> None:
    """Not featurize's parts, ingest's manifest (inside ingest's output) nor leakage's pass file."""
    pipeline = Revision(Repository(PROJECT), Rev(WORKSPACE, None)).pipeline
    assert code_deps(pipeline, "train") == TRAIN_CODE


def test_code_deps_skip_outputs_and_paths_inside_them_and_follow_wdir() -> None:
    doc = yaml.safe_load("""
stages:
  make: {cmd: x, outs: [out, sub/file.txt]}
  use:
    cmd: y
    wdir: sub
    deps: [../code.py, ../out/part.json, file.txt, ../out, ../outside_out, lib]
""")
    pipeline = resolve_pipeline(doc, lambda path: Unreadable("missing"))
    assert code_deps(pipeline, "use") == ["code.py", "outside_out", "sub/lib"]


def test_code_lineage_outside_git_names_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert code_lineage(tmp_path, ["src"]) == {
        "git_objects": None,
        "reason": "not inside a git work tree (git ls-files failed)",
    }


@pytest.fixture
def stage_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repo with the project's dvc.yaml, params.yaml (train made small) and src/,
    committed, plus a tiny training part and an ingest manifest; the current folder."""
    root = tmp_path / "repo"
    shutil.copytree(PROJECT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(PROJECT / "dvc.yaml", root / "dvc.yaml")
    shutil.copy2(PROJECT / ".gitignore", root / ".gitignore")
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["train"].update(max_iter=3, min_samples_leaf=2)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "code")
    write_parquet(tiny_train_part(), root / "data/featurize/train.parquet")
    write_json(root / "data/ingest/manifest.json", MANIFEST)
    monkeypatch.chdir(root)
    return root


ARGS = ["--data", "data/featurize", "--snapshots", "data/ingest/manifest.json"]
ARGS += ["--model", "models/model.skops", "--card", "models/model_card.json"]


def test_the_card_names_model_snapshots_and_code(stage_repo: Path) -> None:
    assert main(ARGS) == 0
    card = json.loads((stage_repo / "models/model_card.json").read_text())
    model = (stage_repo / "models/model.skops").read_bytes()
    assert card["model"] == {
        "path": "models/model.skops",
        "bytes": len(model),
        "md5": hashlib.md5(model).hexdigest(),
        "sha256": hashlib.sha256(model).hexdigest(),
    }
    assert card["lineage"] == {
        "snapshots": snapshot_lineage(MANIFEST, "m"),
        "code": {"git_objects": {p: git(stage_repo, "rev-parse", f"HEAD:{p}") for p in TRAIN_CODE}},
    }
    assert card["training"]["rows"] == 60


def test_an_uncommitted_edit_changes_the_id_and_the_card_stays_byte_identical(
    stage_repo: Path,
) -> None:
    """The card holds no commit id: ids are of the code as it is, so re-running gives the same
    bytes, and committing the edit afterwards gives that id at the new commit."""
    train = "src/mlrepro/stages/train.py"
    (stage_repo / train).write_text((stage_repo / train).read_text() + "# an edit\n")
    assert main(ARGS) == 0
    first = (stage_repo / "models/model_card.json").read_bytes()
    assert main(ARGS) == 0
    assert (stage_repo / "models/model_card.json").read_bytes() == first
    git(stage_repo, "add", "src")
    git(stage_repo, "commit", "-q", "-m", "edit")
    ids = json.loads(first)["lineage"]["code"]["git_objects"]
    assert ids[train] == git(stage_repo, "rev-parse", f"HEAD:{train}")
    assert ids[train] != git(stage_repo, "rev-parse", f"HEAD~:{train}")
