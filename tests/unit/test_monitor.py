"""`mlrepro monitor`'s pure steps on tiny records and frames: which records are measured and
what is counted as skipped, records -> a frame in the training dtypes, values that do not fit,
the fewest records drift can measure, the verdict at each `--fail-on` level, a torn last line."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlrepro.core.params import DriftParams, FeaturizeParams
from mlrepro.pipeline.drift import DatasetDrift, FeatureDrift, Measure
from mlrepro.serving.monitor import (
    Alert,
    MonitorError,
    Selection,
    current_frame,
    judge,
    measure,
    min_records,
    parse_time,
    select,
    too_few,
)
from mlrepro.serving.requestlog import read_records

MD5, OTHER = "a" * 32, "b" * 32
FEATURIZE = FeaturizeParams(
    target_column="arr_delay",
    target_greater_than=15,
    label="late",
    categorical=("carrier",),
    numeric=("distance", "seats"),
    excluded={},
)
TRAIN = pd.DataFrame(
    {
        "carrier": pd.array(["UA", "AA", "UA", None] * 5, dtype="string"),
        "distance": pd.array([100.0, 200.0, 300.0, 400.0] * 5, dtype="float64"),
        "seats": pd.array([50, 100, None, 150] * 5, dtype="Int64"),
    }
)
DTYPES = {name: TRAIN[name].dtype for name in TRAIN.columns}


def record(i: int, features: dict[str, Any] | None, **fields: Any) -> dict[str, Any]:
    base = {"time": f"2026-03-01T10:00:{i:02d}Z", "request": f"r{i}", "model_md5": MD5}
    if features is None:  # a refused request: status and error, no features
        return {**base, "status": 422, "error": {"error": "field 'carrier' is missing"}, **fields}
    return {**base, "status": 200, "features": features, **fields}


def rows_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as the request log writes them: missing as null."""
    return [
        record(i, {k: (None if pd.isna(v) else v) for k, v in row.items()})
        for i, row in enumerate(frame.astype(object).to_dict(orient="records"))
    ]


def test_select_measures_this_models_rows_and_counts_what_it_skips() -> None:
    records = [
        record(0, {"carrier": "UA"}),  # before --since
        record(1, {"carrier": "UA"}),
        record(2, {"carrier": "AA"}, model_md5=OTHER),
        record(3, None),  # refused
        record(4, {"carrier": "DL"}, model_md5=OTHER),
        record(5, {"carrier": "AA"}, model_md5=None),
        record(6, {"carrier": "AA"}),
        record(7, {"carrier": "AA"}, status=500, error={"error": "model failed"}),  # refused
    ]
    found = select(records, MD5, since=parse_time("2026-03-01T10:00:01Z"))
    assert found == Selection(
        model_md5=MD5,
        used=(records[1], records[6]),
        read=8,
        refused=2,
        before=1,
        other_models={"(none)": 1, OTHER: 2},
    )
    assert found.skipped() == (
        "2 refused; 1 older than --since; 3 of other models: (none) (1), bbbbbbb (2)"
    )
    assert found.window(parse_time("2026-03-01T10:00:01")) == {
        "first": "2026-03-01T10:00:01Z",
        "last": "2026-03-01T10:00:06Z",  # refused or another model's: not in the window
        "since": "2026-03-01T10:00:01Z",  # a time without a zone is UTC
        "records": 2,
    }
    assert select(records, MD5).skipped() == "2 refused; 3 of other models: (none) (1), bbbbbbb (2)"


@pytest.fixture
def in_seoul(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone is Asia/Seoul (UTC+9) for the test."""
    monkeypatch.setenv("TZ", "Asia/Seoul")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("in_seoul")
def test_a_time_with_a_zone_is_compared_in_utc_and_a_bad_time_is_named() -> None:
    assert parse_time("2026-03-01T10:00") == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert parse_time("2026-03-01T12:00:00+02:00") == datetime(2026, 3, 1, 10, tzinfo=UTC)
    with pytest.raises(MonitorError, match=r"request 'r9' at 'soon': time 'soon' is not an ISO"):
        select([record(9, {}, time="soon")], MD5, since=parse_time("2026-03-01"))


def test_records_become_a_frame_in_the_training_dtypes() -> None:
    records = [
        record(0, {"carrier": "UA", "distance": 733, "seats": 20.0, "extra": "ignored"}),
        record(1, {"carrier": None, "distance": None, "seats": None}),
    ]
    frame = current_frame(records, DTYPES)
    expected = pd.DataFrame(
        {
            "carrier": pd.array(["UA", None], dtype="string"),
            "distance": pd.array([733.0, float("nan")], dtype="float64"),
            "seats": pd.array([20, None], dtype="Int64"),
        }
    )
    pd.testing.assert_frame_equal(frame, expected)
    assert frame.dtypes.to_dict() == DTYPES


def test_a_dtype_that_holds_no_missing_value_gets_its_nullable_twin() -> None:
    dtypes = {"n": pd.Series([1]).dtype, "b": pd.Series([True]).dtype, "o": "object"}
    records = [
        record(0, {"n": 3, "b": True, "o": "x"}),
        record(1, {"n": None, "b": None, "o": None}),
    ]
    frame = current_frame(records, dtypes)
    assert frame.dtypes.astype(str).to_dict() == {"n": "Int64", "b": "boolean", "o": "object"}
    assert frame.to_dict(orient="list") == {"n": [3, None], "b": [True, None], "o": ["x", None]}
    assert current_frame([], DTYPES).dtypes.to_dict() == DTYPES


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ({"carrier": 3, "distance": 1.0, "seats": 1}, "feature 'carrier' is 3, not a string"),
        ({"carrier": "UA", "distance": "733", "seats": 1}, "'distance' is '733', not a number"),
        ({"carrier": "UA", "distance": True, "seats": 1}, "'distance' is True, not a number"),
        ({"carrier": "UA", "distance": 1.0, "seats": 2.5}, "'seats' is 2.5, not an integer"),
        ({"carrier": "UA", "seats": 1}, "no feature 'distance'"),
    ],
)
def test_a_value_that_does_not_fit_the_training_dtype_is_named(
    features: dict[str, Any], message: str
) -> None:
    with pytest.raises(MonitorError, match=message) as caught:
        current_frame([record(0, features)], DTYPES)
    assert "request 'r0' at '2026-03-01T10:00:00Z'" in str(caught.value)


def test_the_training_rows_as_records_do_not_drift_and_a_shift_fails() -> None:
    params = DriftParams(bins=4)
    same = measure(TRAIN, current_frame(rows_of(TRAIN), DTYPES), FEATURIZE, params)
    assert {f.feature: f.verdict for f in same.features} == {
        "carrier": "ok",
        "distance": "ok",
        "seats": "ok",
    }
    assert (same.reference, same.current) == ("train", "serving")
    shifted = TRAIN.assign(distance=TRAIN["distance"] * 3, carrier="UA")
    moved = measure(TRAIN, current_frame(rows_of(shifted), DTYPES), FEATURIZE, params)
    assert {f.feature: f.verdict for f in moved.features} == {
        "carrier": "fail",
        "distance": "fail",
        "seats": "ok",
    }


def test_fewer_records_than_bins_is_too_few_and_would_fail_whatever_the_data() -> None:
    params = DriftParams(bins=4)
    assert min_records(FEATURIZE, params) == 4
    only_categories = replace(FEATURIZE, numeric=())
    assert min_records(only_categories, params) == 1
    rows = rows_of(TRAIN.iloc[:4])  # one of each distance: each quantile bin holds one
    assert too_few(select(rows, MD5), FEATURIZE, params) is None
    message = too_few(select([*rows[:3], record(9, None)], MD5), FEATURIZE, params)
    assert message == (
        f"3 records of model {MD5} to measure (of 4 read; skipped: 1 refused); drift needs at "
        "least 4 (drift.bins: with fewer, a quantile bin of train is empty and every numeric "
        "feature fails)"
    )
    assert too_few(select([], MD5), only_categories, params) == (
        f"0 records of model {MD5} to measure (of 0 read; skipped: none)"
    )
    # why: the 3 records are train's own rows, and yet every numeric feature fails
    result = measure(TRAIN, current_frame(rows[:3], DTYPES), FEATURIZE, params)
    assert {f.feature: f.verdict for f in result.features if f.kind == "numeric"} == {
        "distance": "fail",
        "seats": "fail",
    }


def drifted(**values: float) -> DatasetDrift:
    """A result whose features have one PSI each (warn 0.1, fail 0.2)."""
    features = tuple(
        FeatureDrift(
            name, "numeric", "quantile", 1, (Measure("psi", v, 0.1, 0.2),), 0, 0, (), (), ()
        )
        for name, v in values.items()
    )
    return DatasetDrift("train", "serving", 10, 10, features, 0.5)


def test_the_verdict_alerts_at_the_fail_on_level_most_drifted_first() -> None:
    result = drifted(a=0.05, b=0.15, c=0.9, d=0.3)
    assert judge(result) == Alert("fail", "fail", ("c", "d"))
    assert judge(result, "warn") == Alert("fail", "warn", ("c", "d", "b"))
    assert judge(result).exit_code == 1
    calm = drifted(a=0.05, b=0.15)
    assert judge(calm) == Alert("warn", "fail", ())
    assert (judge(calm).exit_code, judge(calm, "warn").exit_code) == (0, 1)
    assert judge(drifted(a=0.0)).as_dict() == {
        "worst": "ok",
        "fail_on": "fail",
        "alert": False,
        "features": [],
    }


def test_a_torn_last_line_is_not_a_record(tmp_path: Path) -> None:
    line = json.dumps(record(0, {"carrier": "UA", "distance": 1.0, "seats": 1})) + "\n"
    (tmp_path / "requests-20260301T100000Z-000001.jsonl").write_text(line * 2)
    (tmp_path / "requests.jsonl").write_text(line + line[: len(line) // 2])  # a kill mid-write
    found = select(read_records(tmp_path), MD5)
    assert (found.read, len(found.used)) == (3, 3)
    assert current_frame(found.used, DTYPES)["carrier"].tolist() == ["UA"] * 3
