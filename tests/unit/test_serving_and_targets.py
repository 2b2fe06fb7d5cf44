"""Features known at serving time (also through joins and calendar parts), string targets
(`equals`, `in`), and a date-only column that keeps its day in any time zone."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlrepro.core.errors import ParamsError
from mlrepro.core.params import QUOTE, DatetimeParts, FeaturizeParams, Join, load_params
from mlrepro.params.check import check_columns, check_target, feature_dtypes
from mlrepro.pipeline.schema import ColumnSpec, TableSpec, check_serving, parse_table
from mlrepro.stages.featurize import datetime_features, label

COMMITTED = Path(__file__).resolve().parents[2] / "params.yaml"
SCHEMA = {
    "flights": TableSpec(
        "flights",
        (
            ColumnSpec("tailnum", "string"),
            ColumnSpec("sched", "datetime"),
            ColumnSpec("departed", "datetime", not_in=("SERVING",)),
            ColumnSpec("delay", "float", not_in=("SERVING",)),
            ColumnSpec("status", "string", allowed=("on time", "late", "cancelled")),
        ),
    ),
    "planes": TableSpec("planes", (ColumnSpec("tailnum", "string"), ColumnSpec("year", "int"))),
}
BASE = FeaturizeParams(
    target_column="delay",
    target_greater_than=15,
    label="late",
    categorical=(),
    numeric=("plane_year", "hour"),
    excluded={},
    joins=(Join("planes", ("tailnum",), {"year": "plane_year"}),),
    datetime=DatetimeParts("sched", "UTC", {"hour": "hour"}),
)


def serving_error(params: FeaturizeParams, schema: dict[str, TableSpec] = SCHEMA) -> str:
    with pytest.raises(ParamsError) as info:
        check_serving(params, "flights", schema)
    return str(info.value)


def test_features_known_at_serving_time_pass() -> None:
    check_serving(BASE, "flights", SCHEMA)  # the target itself is not in SERVING: that is fine


def test_a_feature_not_in_serving_is_refused_naming_file_and_key() -> None:
    assert serving_error(replace(BASE, numeric=("plane_year", "delay"))) == (
        "params.yaml: featurize.numeric: train uses 'delay', which is not known at serving time "
        "(schema.yaml: tables.flights.columns.delay: not_in: [SERVING])"
    )


def test_a_joined_feature_is_known_only_if_its_join_key_is() -> None:
    hidden = ColumnSpec("tailnum", "string", not_in=("SERVING",))
    flights = SCHEMA["flights"]
    schema = {**SCHEMA, "flights": replace(flights, columns=(hidden, *flights.columns[1:]))}
    assert serving_error(BASE, schema) == (
        "params.yaml: featurize.numeric: train uses 'plane_year', which is not known at serving "
        "time (joined on tailnum: schema.yaml: tables.flights.columns.tailnum: not_in: [SERVING])"
    )


def test_a_calendar_part_is_known_only_if_its_timestamp_is() -> None:
    params = replace(BASE, datetime=DatetimeParts("departed", "UTC", {"hour": "hour"}))
    assert serving_error(params) == (
        "params.yaml: featurize.numeric: train uses 'hour', which is not known at serving time "
        "(a part of 'departed': schema.yaml: tables.flights.columns.departed: not_in: [SERVING])"
    )


def flights_params(tmp_path: Path, target: dict[str, object]) -> Path:
    params = yaml.safe_load(COMMITTED.read_text())
    params["featurize"]["target"] = {"column": "status", "label": "y", **target}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def test_a_string_target_by_equals_or_in(tmp_path: Path) -> None:
    equals = load_params(flights_params(tmp_path, {"equals": "late"})).featurize
    among = load_params(flights_params(tmp_path, {"in": ["late", "cancelled"]})).featurize
    df = pd.DataFrame({"status": pd.array(["late", "on time", "cancelled"], dtype="string")})
    assert label(df, replace(equals, target_column="status")).tolist() == [1, 0, 0]
    assert label(df, replace(among, target_column="status")).tolist() == [1, 0, 1]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"equals": True}, f"featurize.target.equals: expected a string, got True ({QUOTE})"),
        ({"in": ["late", 1]}, f"featurize.target.in: expected strings, got 1 ({QUOTE})"),
        ({"in": []}, "featurize.target.in: expected a list of values, got []"),
        (
            {"equals": "late", "greater_than": 3},
            "featurize.target.equals: give one of greater_than, equals, in (also greater_than)",
        ),
    ],
)
def test_a_malformed_string_target_is_refused(
    tmp_path: Path, target: dict[str, object], message: str
) -> None:
    with pytest.raises(ParamsError) as info:
        load_params(flights_params(tmp_path, target))
    assert str(info.value) == f"{tmp_path / 'params.yaml'}: {message}"


def target_error(tmp_path: Path, column: str, target: dict[str, object]) -> str:
    params = load_params(flights_params(tmp_path, target))
    featurize = replace(params.featurize, target_column=column, joins=(), datetime=None)
    params = replace(params, featurize=featurize, ingest=replace(params.ingest, main="flights"))
    with pytest.raises(ParamsError) as info:
        check_target(params, SCHEMA, feature_dtypes(params, SCHEMA, "params.yaml"), "params.yaml")
    return str(info.value)


def test_params_check_matches_a_string_target_to_the_column(tmp_path: Path) -> None:
    assert target_error(tmp_path, "status", {"equals": "lat"}) == (
        "params.yaml: featurize.target.equals: 'lat' is not an allowed value of 'status' "
        "(on time, late, cancelled)"
    )
    assert target_error(tmp_path, "delay", {"in": ["late"]}) == (
        "params.yaml: featurize.target.in: 'delay' is float in the schema, not string "
        "(equals and in are for string columns; use greater_than for a number)"
    )
    assert target_error(tmp_path, "status", {}).startswith(
        "params.yaml: featurize.target.column: 'status' is string, not a number"
    )


DATES = TableSpec("t", (ColumnSpec("day", "date"), ColumnSpec("at", "datetime")))
LOS_ANGELES = DatetimeParts("day", "America/Los_Angeles", {"day": "d", "weekday": "wd"})


def test_a_date_keeps_its_day_in_los_angeles() -> None:
    raw = pd.DataFrame({"day": ["2013-01-05", "2013-03-10"], "at": ["2013-01-05", "2013-03-10"]})
    df = parse_table(raw, DATES, file="t.csv")
    out = datetime_features(df, LOS_ANGELES)
    # Saturday 5 January and Sunday 10 March (the day clocks change) stay themselves
    assert out[["d", "wd"]].to_dict("list") == {"d": [5, 10], "wd": [5, 6]}
    # the same text as a datetime is an instant, UTC midnight: the evening before in LA
    instant = datetime_features(df, replace(LOS_ANGELES, column="at"))
    assert instant[["d", "wd"]].to_dict("list") == {"d": [4, 9], "wd": [4, 5]}


def test_a_date_has_no_hour() -> None:
    df = parse_table(pd.DataFrame({"day": ["2013-01-05"], "at": [""]}), DATES, file="t.csv")
    with pytest.raises(ParamsError) as info:
        datetime_features(df, replace(LOS_ANGELES, parts={"hour": "h"}))
    assert (
        str(info.value)
        == "params.yaml: featurize.datetime.parts.hour: 'day' is a date, it has no hour"
    )


def test_params_check_takes_a_date_for_calendar_parts_but_not_its_hour() -> None:
    schema = {"t": DATES}
    params = load_params(COMMITTED)
    featurize = FeaturizeParams("at", None, "y", (), ("d",), {}, (), LOS_ANGELES)
    params = replace(
        params,
        featurize=featurize,
        ingest=replace(params.ingest, main="t"),
        split=replace(params.split, time_column="day"),
    )
    check_columns(params, schema, feature_dtypes(params, schema, "params.yaml"), "params.yaml")
    hourly = replace(featurize, datetime=replace(LOS_ANGELES, parts={"hour": "d"}))
    with pytest.raises(ParamsError) as info:
        check_columns(
            replace(params, featurize=hourly),
            schema,
            feature_dtypes(replace(params, featurize=hourly), schema, "params.yaml"),
            "params.yaml",
        )
    assert str(info.value) == (
        "params.yaml: featurize.datetime.parts.hour: 'day' is a date in the schema, it has no hour"
    )
