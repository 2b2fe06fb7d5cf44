"""`mlrepro lineage` on a real repo with branches, a tag, DVC experiments (one queued and run, one
still queued) and a snapshot that a later commit on main replaced:

    main:     A (run, airlines@OLD; tag v1) ── C (airlines@NEW pinned, run)
    feature:  A ── B (train.max_iter=25, run; still airlines@OLD)
    exp q15:  A + train.max_iter=15 (queued, then run);  exp pending: queued, never run
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Repo
from tests.e2e.test_snapshot_pipeline import local_airlines, pinned_id
from tests.runner import mlrepro
from tests.unit.test_openlineage import validate_event

pytestmark = pytest.mark.e2e


class Story:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.sha: dict[str, str] = {}
        self.pins: dict[str, str] = {}

    def head(self) -> str:
        return self.repo.git("rev-parse", "HEAD").stdout.strip()

    def lock_md5(self, rev: str, path: str) -> str:
        lock = self.repo.git("show", f"{rev}:dvc.lock").stdout
        import yaml

        for stage in yaml.safe_load(lock)["stages"].values():
            for out in stage.get("outs", []):
                if out["path"] == path:
                    return str(out["md5"])
        raise AssertionError(f"{path} not in dvc.lock at {rev}")


@pytest.fixture(scope="module")
def story(pipeline_template: Repo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    target = tmp_path_factory.mktemp("lineage") / "repo"
    shutil.copytree(pipeline_template.path, target, symlinks=True)
    repo = Repo(target)
    story = Story(repo)
    story.sha["A"] = story.head()
    story.pins["old"] = pinned_id(repo, "airlines")
    repo.git("tag", "v1")
    try:
        repo.dvc("exp", "run", "--queue", "-S", "train.max_iter=15", "--name", "q15")
        repo.dvc("exp", "run", "--run-all")
        repo.dvc("exp", "run", "--queue", "-S", "train.max_iter=16", "--name", "pending")
        repo.git("checkout", "-q", "-b", "feature")
        repo.edit_params({"train": {"max_iter": 25}})
        repo.dvc("repro")
        repo.commit_all("feature: more iterations")
        story.sha["B"] = story.head()
        repo.git("checkout", "-q", "main")
        local_airlines(repo, "ZZ,Test Air Inc.\n")
        mlrepro(repo.path, "snapshot", "take", "airlines")
        mlrepro(repo.path, "snapshot", "pin", "airlines@latest")
        story.pins["new"] = pinned_id(repo, "airlines")
        repo.dvc("repro")
        repo.commit_all("airlines: a new snapshot")
        story.sha["C"] = story.head()
        yield story
    finally:
        repo.dvc("queue", "stop", "--kill", check=False)


def lineage_json(story: Story, *argv: str, code: int = 0) -> Any:
    return json.loads(
        mlrepro(story.repo.path, "lineage", *argv, "--format", "json", code=code).stdout
    )


def test_upstream_of_the_model_names_the_pinned_snapshots(story: Story) -> None:
    now = lineage_json(story, "models/model.skops")
    assert now["commit"] == story.sha["C"] and now["stage"] == "train"
    assert now["md5"] == story.lock_md5("HEAD", "models/model.skops")
    stages = [s["stage"] for s in now["stages"]]
    assert stages[0] == "ingest" and stages[-1] == "train", stages
    assert {"validate", "split", "featurize", "leakage"} <= set(stages)
    assert "evaluate" not in stages and "drift" not in stages  # downstream or beside, not up
    snapshots = {s["source"]: s for s in now["snapshots"]}
    assert snapshots["airlines"]["id"] == story.pins["new"]
    assert set(snapshots) == {"flights", "weather", "planes", "airlines", "airports"}
    manifest_file = story.repo.path / snapshots["airlines"]["manifest"]
    manifest = json.loads(manifest_file.read_text())
    assert snapshots["airlines"]["content_sha256"] == manifest["content_sha256"]
    assert snapshots["airlines"]["taken_at"] == manifest["taken_at"]
    assert snapshots["airlines"]["git_commit"] == manifest["git_commit"]
    assert snapshots["airlines"]["definition"] == manifest["definition"]
    ingest = now["stages"][0]
    assert ingest["params"]["params.yaml"]["ingest.pins.airlines"] == story.pins["new"]
    assert f"dvc.lock at HEAD ({story.sha['C'][:7]})" in now["evidence"]
    card = json.loads((story.repo.path / "models/model_card.json").read_text())
    named = {s: v["id"] for s, v in card["lineage"]["snapshots"].items()}
    assert named == {s["source"]: s["id"] for s in now["snapshots"]}  # the card says it too
    old = lineage_json(story, "models/model.skops", "--rev", "v1")
    assert {s["source"]: s["id"] for s in old["snapshots"]}["airlines"] == story.pins["old"]
    assert old["commit"] == story.sha["A"]


def test_upstream_table_and_a_file_in_a_folder_output(story: Story) -> None:
    text = mlrepro(story.repo.path, "lineage", "data/featurize/train.parquet").stdout
    assert text.startswith("data/featurize/train.parquet at HEAD"), text
    assert "made by stage featurize" in text and f"airlines@{story.pins['new']}" in text
    assert "cmd     PYTHONPATH=src python -m mlrepro.stages.featurize" in text
    result = mlrepro(story.repo.path, "lineage", "data/featurize/nothing.parquet", code=2)
    assert "not in data/featurize" in result.stderr
    snapshot = f"data/snapshots/airlines/{story.pins['new']}"
    result = mlrepro(story.repo.path, "lineage", snapshot, code=2)
    assert f"--used-by airlines@{story.pins['new']}" in result.stderr, result.stderr


def test_used_by_lists_exactly_the_commits_and_experiments_that_read_it(story: Story) -> None:
    old = lineage_json(story, "--used-by", f"airlines@{story.pins['old']}")
    used = {u["commit"]: u for u in old["used_by"]}
    experiments = story.repo.git("for-each-ref", "--format=%(objectname) %(refname)", "refs/exps")
    q15 = [line.split()[0] for line in experiments.stdout.splitlines() if line.endswith("/q15")]
    assert len(q15) == 1, experiments.stdout
    assert set(used) == {story.sha["A"], story.sha["B"], q15[0]}, used.keys()
    assert story.sha["C"] not in used  # it pinned the new snapshot: not listed past that point
    assert "tag v1" in used[story.sha["A"]]["refs"]
    assert "exp q15" in used[q15[0]]["refs"]
    assert "feature" in used[story.sha["B"]]["refs"]
    models = used[story.sha["B"]]["models"]
    assert [m["path"] for m in models] == ["models/model.skops"]
    assert models[0]["md5"] == story.lock_md5(story.sha["B"], "models/model.skops")
    metrics = used[story.sha["B"]]["metrics"]["evaluate/metrics.json"]
    on_disk = story.repo.git("show", f"{story.sha['B']}:evaluate/metrics.json").stdout
    assert metrics["test.roc_auc"] == json.loads(on_disk)["test"]["roc_auc"]
    new = lineage_json(story, "--used-by", f"airlines@{story.pins['new'][:18]}")
    assert [u["commit"] for u in new["used_by"]] == [story.sha["C"]]
    assert new["snapshot"] == f"airlines@{story.pins['new']}"


def test_used_by_scope_table_and_failures(story: Story) -> None:
    ref = f"airlines@{story.pins['old']}"
    on_main = lineage_json(story, "--used-by", ref, "--branch", "main")
    commits = {u["commit"] for u in on_main["used_by"]}
    assert story.sha["A"] in commits and story.sha["B"] not in commits  # B is on feature only
    assert len(commits) == 2, on_main  # A and the experiment based on it
    later = lineage_json(story, "--used-by", ref, "--since", "2999-01-01", code=1)
    assert later["used_by"] == [] and later["commits_scanned"] == 0
    table = mlrepro(story.repo.path, "lineage", "--used-by", ref, "--metric", "test.roc_auc").stdout
    assert f"{ref}: read at 3 of" in table, table
    roc_auc = json.loads(story.repo.git("show", "v1:evaluate/metrics.json").stdout)["test"][
        "roc_auc"
    ]
    [row] = [line for line in table.splitlines() if line.startswith(story.sha["A"][:7])]
    assert "tag v1" in row and f"{roc_auc:.6g}" in row, table
    bad = mlrepro(story.repo.path, "lineage", "--used-by", "airlines@1999", code=2)
    assert bad.stderr.count("\n") == 1 and "airlines@1999: unknown snapshot" in bad.stderr
    assert (
        "expected SOURCE@ID" in mlrepro(story.repo.path, "lineage", "--used-by", "x", code=2).stderr
    )


def test_find_names_the_commit_that_made_the_model(story: Story) -> None:
    md5 = story.lock_md5(story.sha["B"], "models/model.skops")
    found = lineage_json(story, "--find", md5)
    [match] = [m for m in found["found"] if m["path"] == "models/model.skops"]
    assert match["stage"] == "train" and match["evidence"] == "dvc.lock"
    assert [c["commit"] for c in match["commits"]] == [story.sha["B"]]
    assert match["since"]["commit"] == story.sha["B"]
    card = json.loads(story.repo.git("show", f"{story.sha['B']}:models/model_card.json").stdout)
    by_sha256 = lineage_json(story, "--find", card["model"]["sha256"])  # through the card
    [match] = [m for m in by_sha256["found"] if m["path"] == "models/model.skops"]
    assert [c["commit"] for c in match["commits"]] == [story.sha["B"]]
    assert match["via"] == "models/model_card.json: model.sha256"
    by_file = lineage_json(story, "--find", "models/model.skops")  # the work tree's: C's
    commits = {c["commit"] for m in by_file["found"] for c in m["commits"]}
    assert story.sha["C"] in commits and story.sha["B"] not in commits


def test_find_a_snapshot_by_sha256_and_what_is_not_there(story: Story) -> None:
    manifest = json.loads(
        (story.repo.path / f"data/snapshots/airlines/{story.pins['old']}.json").read_text()
    )
    found = lineage_json(story, "--find", manifest["content_sha256"])
    [match] = found["found"]
    assert match["kind"] == "snapshot"
    assert match["path"] == f"data/snapshots/airlines/{story.pins['old']}"
    assert {c["commit"] for c in match["commits"]} >= {story.sha["A"], story.sha["B"]}
    assert story.sha["C"] not in {c["commit"] for c in match["commits"]}
    missing = mlrepro(story.repo.path, "lineage", "--find", "0" * 32, code=1)
    assert "not found" in missing.stdout
    assert (
        "not a file, nor a hash"
        in mlrepro(story.repo.path, "lineage", "--find", "xyz", code=2).stderr
    )


def test_lineage_touches_nothing_and_says_what_a_shallow_clone_lacks(
    story: Story, tmp_path: Path
) -> None:
    status = story.repo.git("status", "--porcelain").stdout
    index = (story.repo.path / ".git" / "index").read_bytes()
    mlrepro(story.repo.path, "lineage", "models/model.skops", "--rev", "feature")
    mlrepro(story.repo.path, "lineage", "--used-by", f"airlines@{story.pins['old']}")
    assert story.repo.git("status", "--porcelain").stdout == status
    assert (story.repo.path / ".git" / "index").read_bytes() == index
    clone = tmp_path / "shallow"
    story.repo.git("clone", "-q", "--depth", "1", f"file://{story.repo.path}", str(clone))
    result = mlrepro(clone, "lineage", "models/model.skops", "--rev", "v1", code=2)
    assert "shallow clone" in result.stderr, result.stderr
    found = mlrepro(clone, "lineage", "--find", story.lock_md5("HEAD", "models/model.skops"))
    assert "warning: a shallow clone" in found.stdout


def test_the_graph_as_mermaid_png_and_openlineage_events(story: Story, tmp_path: Path) -> None:
    png, events = tmp_path / "lineage.png", tmp_path / "events.jsonl"
    argv = ("lineage", "models/model.skops", "--format", "mermaid", "--plot", str(png))
    text = mlrepro(story.repo.path, *argv, "--openlineage", str(events)).stdout
    assert text.startswith("---\ntitle: ") and "flowchart" in text, text
    assert "models/model.skops" in text and "airlines" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["job"]["name"] for e in lines][-1] == "train"
    for event in lines:
        validate_event(event)  # against the OpenLineage spec's schemas
    ingest = lines[0]
    assert ingest["job"]["namespace"] == story.repo.path.name  # no origin remote: the folder
    snapshot = next(d for d in ingest["inputs"] if d["name"].startswith("data/snapshots/flights/"))
    assert "schema" in snapshot["facets"]  # the columns from the manifest


def test_a_stale_dvc_lock_is_named_beside_the_answer(pipeline_repo: Repo) -> None:
    clean = lineage_json(Story(pipeline_repo), "models/model.skops")
    assert all(s["stale"] == [] for s in clean["stages"]), clean["stages"]
    train = pipeline_repo.path / "src/mlrepro/stages/train.py"
    train.write_text(train.read_text() + "\n# edited, committed, never re-run\n")
    pipeline_repo.edit_params({"train": {"max_iter": 21}})
    pipeline_repo.commit_all("edit without dvc repro")
    text = mlrepro(pipeline_repo.path, "lineage", "models/model.skops").stdout
    stale = [line.strip() for line in text.splitlines() if line.strip().startswith("STALE")]
    assert len(stale) == 3, text
    assert stale[0].startswith("STALE   src/mlrepro/stages: md5 ")  # leakage reads the folder
    assert stale[0].endswith(".dir in dvc.lock")
    assert stale[1].startswith("STALE   src/mlrepro/stages/train.py: md5 ")
    assert stale[2] == "STALE   params.yaml: train.max_iter = 21 here, 20 in dvc.lock"
    assert "dvc.lock at this revision is stale for leakage, train" in text
