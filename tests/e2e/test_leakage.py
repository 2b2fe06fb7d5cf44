"""The leakage stage in a real git + DVC repo: its report on the slice, and `dep_delay` put back
as a feature, which it must name by its score (not the excluded list)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import yaml

from tests.conftest import PROJECT, Repo

pytestmark = pytest.mark.e2e


def put_back_dep_delay(repo: Repo, changes: dict[str, Any] | None = None) -> None:
    """dep_delay a numeric feature again, with every declaration that it leaks taken away:
    `featurize.excluded` and the schema's `not_in: [SERVING]` (each refuses it by name), so
    only its score can tell. Written whole: edit_params merges mappings, it cannot drop a key."""
    params = repo.read_yaml("params.yaml")
    del params["featurize"]["excluded"]["dep_delay"]
    params["featurize"]["numeric"].append("dep_delay")
    (repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    repo.edit_params(changes or {})
    schema = repo.read_yaml("schema.yaml")
    schema["tables"]["flights"]["columns"]["dep_delay"].pop("not_in", None)
    (repo.path / "schema.yaml").write_text(yaml.safe_dump(schema, sort_keys=False))


def read_json(repo: Repo, path: str) -> Any:
    return json.loads((repo.path / path).read_text())


def test_repro_writes_the_leakage_report(pipeline_template: Repo) -> None:
    repo = pipeline_template
    report = read_json(repo, "reports/leakage.json")
    features = [*repo.read_yaml("params.yaml")["featurize"]["categorical"]]
    features += repo.read_yaml("params.yaml")["featurize"]["numeric"]
    assert sorted(report["label_proxy"]["features"]) == sorted(features)
    assert (report["verdict"], report["failed"]) in {("pass", 0), ("warn", 0)}, report
    test_part = (repo.path / "data/split/test.parquet").read_bytes()
    assert report["test_part"]["sha256"] == hashlib.sha256(test_part).hexdigest()
    assert report["overlap"]["identical_to_train"] == 0
    assert report["temporal"]["verdict"] == "pass"
    stages = report["fit_only_on_train"]["stages"]
    assert stages["train"] == {"reads_test": False, "fits": True, "why": "names only train"}
    assert (stages["evaluate"]["reads_test"], stages["evaluate"]["fits"]) == (True, False)
    assert read_json(repo, "reports/leakage_passed.json") == {"passed": True}
    summary = read_json(repo, "reports/leakage_metrics.json")
    top = max(report["label_proxy"]["features"].items(), key=lambda kv: (kv[1]["auc"], kv[0]))
    assert summary == {
        "verdict": report["verdict"],
        "failed": report["failed"],
        "warned": report["warned"],
        "label_proxy": {"feature": summary["label_proxy"]["feature"], "auc": top[1]["auc"]},
        "overlap": {"identical_to_train": 0, "share": 0.0},
        "temporal": {"violations": 0},
    }
    shown = json.dumps(json.loads(repo.dvc("metrics", "show", "--json").stdout))
    assert "reports/leakage_metrics.json" in shown, shown  # beside the model's metrics
    assert "reports/leakage.json" not in shown, shown  # the full report: a plain output


def test_dep_delay_on_the_full_data_stops_the_pipeline_before_train(pipeline_repo: Repo) -> None:
    """The issue's acceptance test, on the default project: all flights, the default split."""
    repo = pipeline_repo
    split = yaml.safe_load((PROJECT / "params.yaml").read_text())["split"]
    model_before = (repo.path / "models/model.skops").read_bytes()
    passed_before = (repo.path / "reports/leakage_passed.json").read_bytes()
    put_back_dep_delay(repo, {"ingest": {"max_rows": None}, "split": split})
    result = repo.dvc("repro", check=False)
    assert result.returncode != 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    lines = [x for x in output.splitlines() if x.startswith("mlrepro leakage: error:")]
    assert len(lines) == 1, output
    line = lines[0]
    assert line.startswith(
        "mlrepro leakage: error: label proxy: 'dep_delay' scores ROC AUC 0.90"
    ), line
    assert "(>= leakage.fail_auc 0.9)" in line and line.endswith("(report: reports/leakage.json)")
    assert "Running stage 'train'" not in output
    report = read_json(repo, "reports/leakage.json")  # kept: the record of what failed
    assert report["label_proxy"]["features"]["dep_delay"]["verdict"] == "fail"
    summary = read_json(repo, "reports/leakage_metrics.json")  # and its summary
    assert (summary["verdict"], summary["label_proxy"]["feature"]) == ("fail", "dep_delay")
    assert (repo.path / "models/model.skops").read_bytes() == model_before
    assert (repo.path / "reports/leakage_passed.json").read_bytes() == passed_before
    assert "leakage" in json.loads(repo.dvc("status", "--json").stdout)  # not taken as done


def test_dep_delay_on_the_slice_warns_and_allowed_it_passes(pipeline_repo: Repo) -> None:
    """On 3,400 training flights dep_delay scores under 0.9: a warning, and the run goes on;
    listed as allowed, it is reported with its reason and warns no more."""
    repo = pipeline_repo
    put_back_dep_delay(repo)
    result = repo.dvc("repro", "leakage")
    assert "leakage: warn: label proxy: 'dep_delay' scores ROC AUC 0.8" in result.stdout, (
        result.stdout
    )
    assert read_json(repo, "reports/leakage.json")["verdict"] == "warn"
    reason = "a test of the allowed list"
    repo.edit_params({"leakage": {"allowed": {"dep_delay": reason}}})
    repo.dvc("repro", "leakage")
    entry = read_json(repo, "reports/leakage.json")["label_proxy"]["features"]["dep_delay"]
    assert (entry["verdict"], entry["reason"]) == ("allowed", reason)
