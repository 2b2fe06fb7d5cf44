"""The pipeline end to end, with real git and dvc, on a slice of the default data."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from mlrepro.pipeline import modelfile
from tests.conftest import Repo, make_runner
from tests.runner import wait_for

pytestmark = pytest.mark.e2e

STAGES = ["ingest", "validate", "split", "featurize", "drift", "leakage", "train", "evaluate"]
METRICS = {
    "rows",
    "positive_rate",
    "roc_auc",
    "average_precision",
    "log_loss",
    "brier",
    "ece",
    "ece_equal_mass",
    "mce",
    "accuracy",
    "precision",
    "recall",
    "confusion",
}


def ran_stages(output: str) -> list[str]:
    return [s for s in STAGES if f"Running stage '{s}'" in output]


def changed_stages(repo: Repo) -> list[str]:
    status = json.loads(repo.dvc("status", "--json").stdout)
    return [s for s in STAGES if s in status]


def lock_outs(lock: dict[str, Any]) -> dict[str, str]:
    """Every out of every stage in dvc.lock -> its hash."""
    return {
        out["path"]: out.get("md5") or out.get("hash", "")
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
    }


def test_outputs_of_a_full_run(pipeline_template: Repo) -> None:
    repo = pipeline_template
    assert changed_stages(repo) == []
    metrics = json.loads((repo.path / "evaluate/metrics.json").read_text())
    assert sorted(metrics) == ["test", "valid"]
    for part in ("valid", "test"):
        assert set(metrics[part]) == METRICS, metrics[part]
        assert 0.5 < metrics[part]["roc_auc"] <= 1, metrics[part]

    manifest = json.loads((repo.path / "data/ingest/manifest.json").read_text())
    params = repo.read_yaml("params.yaml")
    sources = manifest["sources"]
    assert sorted(sources) == ["airlines", "airports", "flights", "planes", "weather"]
    for name, source in sources.items():
        assert source["snapshot"] == params["ingest"]["pins"][name]
        assert "copy" not in source  # reflink or copy depends on the file system, not the data
        for entry in source["files"]:  # the snapshot files ingest read, by their manifest's hash
            read = repo.path / "data/snapshots" / name / source["snapshot"] / entry["path"]
            assert hashlib.sha256(read.read_bytes()).hexdigest() == entry["sha256"]
            assert read.stat().st_size == entry["bytes"]
            assert not read.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert not (repo.path / "data/raw").exists()  # no second byte copy of the snapshots
    assert sources["flights"]["files"][0]["rows"] == 336776
    assert manifest["rows_kept"]["flights"] == 6000

    split = json.loads((repo.path / "reports/split.json").read_text())
    assert sum(split[p]["rows"] for p in ("train", "valid", "test")) == 6000
    assert split["train"]["to"] < "2013-01-05" <= split["valid"]["from"]
    assert split["valid"]["to"] < "2013-01-06" <= split["test"]["from"]

    featurize = json.loads((repo.path / "reports/featurize.json").read_text())
    for counts in featurize["parts"].values():
        assert counts["rows_out"] == counts["rows_in"] - counts["dropped_missing_target"]
    assert sum(c["dropped_missing_target"] for c in featurize["parts"].values()) > 0

    card = json.loads((repo.path / "models/model_card.json").read_text())
    assert card["features"] == params["featurize"]["categorical"] + params["featurize"]["numeric"]
    assert card["params"] == {
        "seed": params["seed"],
        "threads": params["threads"],
        "train": params["train"],
    }
    assert card["training"]["rows"] == featurize["parts"]["train"]["rows_out"]
    assert set(card["environment"]["packages"]) >= {"scikit-learn", "pandas", "dvc"}
    model_path = repo.path / "models/model.skops"
    model = modelfile.load(model_path, modelfile.md5(model_path.read_bytes()), "the test")
    assert list(model.feature_names_in_) == card["features"]
    for excluded in params["featurize"]["excluded"]:
        assert excluded not in card["features"]
    assert_card_lineage(repo, card, manifest)


def assert_card_lineage(repo: Repo, card: dict[str, Any], manifest: dict[str, Any]) -> None:
    """The card names the model file as dvc.lock records it, the snapshots ingest's manifest
    names, and the train stage's code by the git object ids of the commit that holds it."""
    model = (repo.path / "models/model.skops").read_bytes()
    train_outs = {o["path"]: o for o in repo.read_yaml("dvc.lock")["stages"]["train"]["outs"]}
    assert card["model"] == {
        "path": "models/model.skops",
        "bytes": len(model),
        "md5": train_outs["models/model.skops"]["md5"],
        "sha256": hashlib.sha256(model).hexdigest(),
    }
    assert card["model"]["md5"] == hashlib.md5(model).hexdigest()
    assert card["lineage"]["snapshots"] == {
        name: {"id": s["snapshot"], "content_sha256": s["content_sha256"]}
        for name, s in manifest["sources"].items()
    }
    deps = [d for d in repo.read_yaml("dvc.yaml")["stages"]["train"]["deps"] if "$" not in d]
    assert "src/mlrepro/stages/train.py" in deps
    assert card["lineage"]["code"] == {
        "git_objects": {d: repo.git("rev-parse", f"HEAD:{d}").stdout.strip() for d in deps}
    }


def test_the_declared_metrics_are_the_summaries(pipeline_template: Repo) -> None:
    """The check stages declare only their summaries as metrics, so a diff stays readable; their
    full reports are plain outputs (git, `cache: false`)."""
    repo = pipeline_template
    shown = json.loads(repo.dvc("metrics", "show", "--json").stdout)
    files = {f: d["data"] for rev in shown.values() for f, d in rev["data"].items()}
    assert sorted(files) == [
        "evaluate/metrics.json",
        "reports/drift_metrics.json",
        "reports/leakage_metrics.json",
        "reports/validate_metrics.json",
    ]

    def leaves(value: Any) -> int:
        return sum(map(leaves, value.values())) if isinstance(value, dict) else 1

    checks = {f: leaves(d) for f, d in files.items() if f.startswith("reports/")}
    assert checks == {
        "reports/drift_metrics.json": 12,  # per part: share, failed, warned, verdict, worst (2)
        "reports/leakage_metrics.json": 8,
        "reports/validate_metrics.json": 5,
    }
    lock = repo.read_yaml("dvc.lock")["stages"]
    for stage, report in (("validate", "validate"), ("drift", "drift"), ("leakage", "leakage")):
        assert f"reports/{report}.json" in {o["path"] for o in lock[stage]["outs"]}


def test_plots_render(pipeline_template: Repo, tmp_path: Path) -> None:
    out = tmp_path / "plots"
    result = pipeline_template.dvc("plots", "show", "-o", str(out))
    html = (out / "index.html").read_text()
    for title in ("ROC", "Precision-recall", "Calibration", "confusion_test.png"):
        assert title in html, result.stdout


def test_repro_force_is_byte_identical(pipeline_repo: Repo) -> None:
    before = lock_outs(pipeline_repo.read_yaml("dvc.lock"))
    pipeline_repo.dvc("repro", "-f")
    after = lock_outs(pipeline_repo.read_yaml("dvc.lock"))
    assert after == before
    assert any(path.endswith("images") for path in after)  # PNGs are included


def test_fresh_clone_reproduces_committed_lock(pipeline_template: Repo, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    make_runner(tmp_path)("git", "clone", "-q", str(pipeline_template.path), str(clone))
    repo = Repo(clone)
    assert not (clone / ".dvc" / "cache").exists()
    result = repo.dvc("repro")
    assert {"ingest", "train", "evaluate"} <= set(ran_stages(result.stdout))
    assert repo.git("status", "--porcelain").stdout == ""  # dvc.lock and metrics unchanged


def test_param_change_reruns_only_its_stages(pipeline_repo: Repo) -> None:
    pipeline_repo.edit_params({"evaluate": {"threshold": 0.3}})
    assert changed_stages(pipeline_repo) == ["evaluate"]
    assert ran_stages(pipeline_repo.dvc("repro").stdout) == ["evaluate"]

    pipeline_repo.edit_params({"featurize": {"numeric": ["distance", "sched_hour", "temp"]}})
    after_featurize = ["featurize", "drift", "leakage", "train", "evaluate"]  # all read features
    assert changed_stages(pipeline_repo) == after_featurize
    assert ran_stages(pipeline_repo.dvc("repro").stdout) == after_featurize


def test_code_edit_reruns_that_stage_and_later(pipeline_repo: Repo) -> None:
    module = pipeline_repo.path / "src/mlrepro/stages/split.py"
    module.write_text(module.read_text().replace("def split(", "def split(  # edited\n", 1))
    # leakage too: its fit-only-on-train check reads every stage's code (dvc.yaml deps)
    assert changed_stages(pipeline_repo) == ["split", "leakage"]
    result = pipeline_repo.dvc("repro")
    assert ran_stages(result.stdout)[0] == "split"
    assert "ingest" not in ran_stages(result.stdout)

    shared = pipeline_repo.path / "src/mlrepro/pipeline/evaluation.py"
    shared.write_text(shared.read_text() + "\n# edited\n")
    assert changed_stages(pipeline_repo) == ["leakage", "evaluate"]


def test_queued_sweep_and_code_change_run_in_their_own_copies(pipeline_repo: Repo) -> None:
    repo = pipeline_repo
    repo.dvc("exp", "run", "-S", "train.max_iter=20,40", "--queue")
    module = repo.path / "src/mlrepro/stages/evaluate.py"
    original = module.read_text()
    marker = '    metrics["code_marker"] = {"value": 1}\n    write_json(args.metrics, metrics)\n'
    module.write_text(original.replace("    write_json(args.metrics, metrics)\n", marker, 1))
    repo.dvc("exp", "run", "--queue", "-n", "code-change")
    module.write_text(original)  # the queued copy keeps the change; the work tree does not

    repo.dvc("queue", "start", "-j", "1")
    wait_for_queue(repo)
    exps = experiments(repo)
    assert sorted(e["params"]["train"]["max_iter"] for e in exps.values()) == [20, 20, 40], exps
    assert "code_marker" in exps["code-change"]["metrics"], exps["code-change"]
    for name, exp in exps.items():
        assert exp["metrics"]["test"]["roc_auc"] > 0.5, (name, exp)
        if name != "code-change":
            assert "code_marker" not in exp["metrics"], (name, exp)


def wait_for_queue(repo: Repo, timeout: float = 900) -> None:
    def finished() -> str | None:
        status = repo.dvc("queue", "status").stdout
        return None if "Queued" in status or "Running" in status else status

    status = wait_for(finished, timeout=timeout, what="the queue to finish", interval=1)
    assert "Failed" not in status, status + repo.dvc("queue", "logs", "code-change").stdout


def experiments(repo: Repo) -> dict[str, dict[str, Any]]:
    """Experiment name -> {"params": params.yaml data, "metrics": metrics.json data}."""
    shown = json.loads(repo.dvc("exp", "show", "--json").stdout)
    out = {}
    for commit in shown:
        for exp in commit.get("experiments") or []:
            for rev in exp["revs"]:
                data = rev["data"]
                out[rev.get("name") or exp.get("name") or rev["rev"]] = {
                    "params": data["params"]["params.yaml"]["data"],
                    "metrics": data["metrics"]["evaluate/metrics.json"]["data"],
                }
    return out


def test_dvc_exp_run_set_param(pipeline_repo: Repo) -> None:
    result = pipeline_repo.dvc("exp", "run", "-S", "train.max_iter=10")
    assert ran_stages(result.stdout) == ["train", "evaluate"]
    shown = experiments(pipeline_repo)
    assert [e["params"]["train"]["max_iter"] for e in shown.values()] == [10]
