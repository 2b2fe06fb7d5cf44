"""schema.yaml: loading, parsing raw text columns (a date stays a calendar date), checks returned
as Anomaly data, and the TRAINING / SERVING environments."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlrepro.core.errors import DataError, SchemaError
from mlrepro.pipeline.anomalies import check_table
from mlrepro.pipeline.schema import (
    ColumnSpec,
    Rule,
    TableSpec,
    in_environment,
    load_schema,
    parse_table,
    serving_view,
)

COMMITTED = Path(__file__).resolve().parents[2] / "schema.yaml"

SPEC = TableSpec(
    "t",
    (
        ColumnSpec("n", "int", nullable=False, min=0, max=10),
        ColumnSpec("x", "float"),
        ColumnSpec("c", "string", allowed=("EWR", "JFK")),
        ColumnSpec("b", "bool"),
        ColumnSpec("when", "datetime", nullable=False),
    ),
)
RAW = pd.DataFrame(
    {
        "n": ["1", " 2 ", "10"],
        "x": ["0.5", "", "NA"],
        "c": ["EWR", "JFK", ""],
        "b": ["true", "No", ""],
        "when": ["2013-01-01 05:00:00", "2013-01-01T00:00:00-05:00", "2013-01-01T06:00Z"],
        "extra": ["a", "b", "c"],
    },
    dtype="string",
)


def test_committed_schema_loads() -> None:
    schema = load_schema(COMMITTED)
    assert list(schema) == ["flights", "weather", "planes", "airlines", "airports"]
    carrier = next(c for c in schema["flights"].columns if c.name == "carrier")
    assert (carrier.dtype, carrier.nullable, len(carrier.allowed or ())) == ("string", False, 16)
    year = schema["planes"].columns[1]
    assert year == ColumnSpec("year", "int", nullable=True, min=1900, max=2013)
    wind = schema["weather"].column("wind_speed")
    assert wind is not None and (wind.max, wind.handling) == (200, "missing")
    assert [r.text for r in schema["weather"].rules] == ["dewp <= temp", "wind_gust >= wind_speed"]


def test_committed_schema_keeps_the_label_and_later_measurements_out_of_serving() -> None:
    flights = load_schema(COMMITTED)["flights"]
    hidden = [c.name for c in flights.columns if "SERVING" in c.not_in]
    assert hidden == ["dep_time", "dep_delay", "arr_time", "arr_delay", "air_time"]
    assert serving_view(flights).names == [c for c in flights.names if c not in hidden]
    assert in_environment(flights, "TRAINING").names == flights.names


def test_parse_table_types_columns_and_drops_undeclared() -> None:
    df = parse_table(RAW, SPEC, file="t.csv")
    assert df.dtypes.astype(str).to_dict() == {
        "n": "Int64",
        "x": "float64",
        "c": "string",
        "b": "boolean",
        "when": "datetime64[us, UTC]",
    }
    assert df["n"].tolist() == [1, 2, 10]
    assert df["x"].isna().tolist() == [False, True, True]
    assert df["c"].tolist() == ["EWR", "JFK", pd.NA]
    assert df["b"].tolist() == [True, False, pd.NA]
    # every timestamp ends up in UTC, whatever offset the text carried
    assert df["when"].tolist() == [
        pd.Timestamp("2013-01-01 05:00", tz="UTC"),
        pd.Timestamp("2013-01-01 05:00", tz="UTC"),
        pd.Timestamp("2013-01-01 06:00", tz="UTC"),
    ]


def test_parse_table_missing_column_names_file_and_column() -> None:
    with pytest.raises(DataError) as info:
        parse_table(RAW.drop(columns="c"), SPEC, file="data/raw/t.csv")
    assert str(info.value) == "data/raw/t.csv: column 'c' is missing (table t)"


@pytest.mark.parametrize("bad", ["1.5", "abc"])
def test_parse_table_non_integer_names_column_row_and_value(bad: str) -> None:
    raw = RAW.assign(n=pd.array(["1", "2", bad], dtype="string"))
    with pytest.raises(DataError) as info:
        parse_table(raw, SPEC, file="t.csv")
    assert str(info.value) == f"t.csv: column 'n' row 3: '{bad}' is not int"


def test_check_table_good_data_has_no_violations() -> None:
    assert check_table(parse_table(RAW, SPEC, file="t.csv"), SPEC) == []


BAD = pd.DataFrame(
    {
        "n": pd.array([None, 11, 3, -1], dtype="Int64"),
        "x": [0.0, 1.0, 2.0, 3.0],
        "c": pd.array(["EWR", "LGA", None, "XXX"], dtype="string"),
        "b": pd.array([True, None, False, True], dtype="boolean"),
        "when": pd.to_datetime(["2013-01-01"] * 4, utc=True).astype("datetime64[us, UTC]"),
    }
)


def test_check_table_returns_each_violation_as_data() -> None:
    found = [(v.table, v.column, v.count, v.examples) for v in check_table(BAD, SPEC)]
    assert sorted(found) == [
        ("t", "c", 2, ("LGA", "XXX")),  # not an allowed category (null is allowed)
        ("t", "n", 1, ("-1",)),  # below min
        ("t", "n", 1, ("11",)),  # above max
        ("t", "n", 1, ("null",)),  # null in a non-nullable column
    ]


def test_check_table_uses_the_schema_check_names() -> None:
    checks = {(v.column, v.rule) for v in check_table(BAD, SPEC)}
    assert checks == {
        ("c", "allowed categories"),
        ("n", ">= 0"),
        ("n", "<= 10"),
        ("n", "not null"),
    }


def test_check_table_missing_column_names_the_column() -> None:
    good = parse_table(RAW, SPEC, file="t.csv")
    found = check_table(good.drop(columns="c"), SPEC)
    assert found[0].line() == "t.c: column is missing"


def write_schema(tmp_path: Path, columns: str) -> Path:
    path = tmp_path / "schema.yaml"
    path.write_text(f"tables:\n  t:\n    columns:\n{columns}\n")
    return path


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ("      a: int", "tables.t.columns.a: expected a mapping like {dtype: int}"),
        ("      a: {dtype: integer}", "tables.t.columns.a: dtype must be one of int, float,"),
        ("      a: {dtype: int, maximum: 3}", "tables.t.columns.a: unknown key 'maximum'"),
        ("      {}", "tables.t: expected a 'columns:' mapping"),
        pytest.param(
            "      a: {dtype: string, allowed: EWR}",
            "tables.t.columns.a.allowed: ",
            id="allowed-not-a-list",
        ),
        pytest.param(
            "      a: {dtype: int, nullable: 'false'}",
            "tables.t.columns.a.nullable: ",
            id="nullable-not-a-bool",
        ),
        pytest.param(
            "      a: {dtype: int, min: zero}",
            "tables.t.columns.a.min: ",
            id="min-not-a-number",
        ),
        pytest.param(
            "      a: {dtype: int, not_in: [SERVNG]}",
            "tables.t.columns.a.not_in: expected a list of TRAINING or SERVING",
            id="unknown-environment",
        ),
        pytest.param(
            "      a: {dtype: int, not_in: [TRAINING, SERVING]}",
            "tables.t.columns.a.not_in: a column in no environment is never read",
            id="in-no-environment",
        ),
        pytest.param(
            "      a: {dtype: int, handling: ignore}",
            "tables.t.columns.a.handling: expected one of stop, keep, drop, missing",
            id="unknown-handling",
        ),
        pytest.param(
            "      a: {dtype: int, nullable: false, handling: missing}",
            "tables.t.columns.a.handling: missing needs a nullable column",
            id="missing-in-a-non-nullable-column",
        ),
        pytest.param(
            "      a: {dtype: date, min: 0}",
            "tables.t.columns.a.min: not supported for date columns",
            id="bound-on-a-date",
        ),
        pytest.param(
            "      a: {dtype: int}\n    rules: [{check: a <= b}]",
            "tables.t.rules[0].check: 'b' is not a column of the table",
            id="rule-unknown-column",
        ),
        pytest.param(
            "      a: {dtype: int}\n      b: {dtype: int}\n    rules: [{check: a + b}]",
            "tables.t.rules[0].check: expected 'COLUMN OP COLUMN'",
            id="rule-not-a-comparison",
        ),
        pytest.param(
            "      a: {dtype: int}\n      b: {dtype: string}\n    rules: [{check: a < b}]",
            "tables.t.rules[0].check: 'a' (int) and 'b' (string) cannot be compared with <",
            id="rule-mixed-types",
        ),
        pytest.param(
            "      a: {dtype: int}\n      b: {dtype: int}\n"
            "    rules: [{check: a < b, handling: missing}]",
            "tables.t.rules[0].handling: expected one of stop, keep, drop",
            id="rule-handling-missing",
        ),
    ],
)
def test_malformed_entry_names_the_entry(tmp_path: Path, columns: str, expected: str) -> None:
    path = write_schema(tmp_path, columns)
    with pytest.raises(SchemaError) as info:
        load_schema(path)
    assert str(info.value).startswith(f"{path}: {expected}"), str(info.value)


def test_malformed_yaml_is_one_line(tmp_path: Path) -> None:
    path = write_schema(tmp_path, "      a: {dtype: int")
    with pytest.raises(SchemaError) as info:
        load_schema(path)
    assert "\n" not in str(info.value), str(info.value)


def test_a_date_column_is_a_calendar_date() -> None:
    spec = TableSpec("t", (ColumnSpec("d", "date"),))
    df = parse_table(pd.DataFrame({"d": ["2013-01-05", "", "2013-12-31"]}), spec, file="t.csv")
    assert str(df["d"].dtype) == "date32[day][pyarrow]"
    assert [str(d) for d in df["d"]] == ["2013-01-05", "<NA>", "2013-12-31"]
    assert check_table(df, spec) == []


@pytest.mark.parametrize("bad", ["2013-01-05 10:00", "2013-02-30", "5 Jan 2013"])
def test_a_date_with_a_time_or_no_such_day_is_refused(bad: str) -> None:
    spec = TableSpec("t", (ColumnSpec("d", "date"),))
    with pytest.raises(DataError) as info:
        parse_table(pd.DataFrame({"d": ["2013-01-05", bad]}), spec, file="t.csv")
    assert str(info.value) == f"t.csv: column 'd' row 2: {bad!r} is not date"


def test_serving_view_drops_the_columns_and_their_rules() -> None:
    spec = TableSpec(
        "t",
        (
            ColumnSpec("a", "int"),
            ColumnSpec("b", "int", not_in=("SERVING",)),
            ColumnSpec("c", "int", not_in=("TRAINING",)),
        ),
        (Rule("a", "<=", "b"), Rule("a", "<=", "c")),
    )
    serving = serving_view(spec)
    assert (serving.names, [r.text for r in serving.rules]) == (["a", "c"], ["a <= c"])
    training = in_environment(spec, "TRAINING")
    assert (training.names, [r.text for r in training.rules]) == (["a", "b"], ["a <= b"])


def test_rules_load_from_the_schema_file(tmp_path: Path) -> None:
    path = write_schema(
        tmp_path,
        "      lo: {dtype: float}\n      hi: {dtype: int}\n"
        "    rules:\n      - {check: lo <= hi}\n      - {check: 'hi != lo', handling: drop}",
    )
    assert load_schema(path)["t"].rules == (Rule("lo", "<=", "hi"), Rule("hi", "!=", "lo", "drop"))
