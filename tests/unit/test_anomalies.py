"""Anomalies: each severity and handling, with counts; cross-column rules through pandera; the
rows named by their keys; the validate report."""

from __future__ import annotations

import pandas as pd
import pytest

from mlrepro.pipeline.anomalies import Anomaly, check_table, handle, rule_schema
from mlrepro.pipeline.schema import ColumnSpec, Rule, TableSpec
from mlrepro.stages.validate import report, summary, validate

WEATHER = pd.DataFrame(
    {
        "origin": pd.array(["EWR", "JFK", "EWR", "LGA", "JFK"], dtype="string"),
        "hour": pd.array([0, 1, 2, 3, 4], dtype="Int64"),
        "temp": [40.0, 50.0, 30.0, 45.0, None],
        "dewp": [30.0, 55.0, 20.0, 44.0, 10.0],  # 55 > 50: dew point above the temperature
        "wind": [10.0, 1048.0, 5.0, 999.0, 7.0],  # two broken readings
    }
)
KEYS = ("origin", "hour")


def spec(handling: str = "stop", rule: str = "stop") -> TableSpec:
    return TableSpec(
        "weather",
        (
            ColumnSpec("origin", "string", nullable=False, allowed=("EWR", "JFK", "LGA")),
            ColumnSpec("hour", "int", nullable=False),
            ColumnSpec("temp", "float"),
            ColumnSpec("dewp", "float"),
            ColumnSpec("wind", "float", min=0, max=200, handling=handling),
        ),
        (Rule("dewp", "<=", "temp", rule),),
    )


def by_rule(anomalies: tuple[Anomaly, ...] | list[Anomaly]) -> dict[str, dict[str, object]]:
    return {a.rule: a.as_dict() for a in anomalies}


def test_a_value_out_of_domain_is_an_error_by_default() -> None:
    found = by_rule(check_table(WEATHER, spec(), keys=KEYS))
    assert found["<= 200"] == {
        "table": "weather",
        "column": "wind",
        "rule": "<= 200",
        "severity": "error",
        "handling": "stop",
        "count": 2,
        "examples": ["1048.0", "999.0"],
        "rows": [{"origin": "JFK", "hour": 1}, {"origin": "LGA", "hour": 3}],
    }


def test_a_rule_across_columns_is_checked_by_pandera() -> None:
    # the rule is a pandera DataFrameSchema check; a row with a missing side passes
    assert [c.name for c in rule_schema(spec().rules).checks] == ["dewp <= temp"]
    [rule] = [a for a in check_table(WEATHER, spec(), keys=KEYS) if a.column is None]
    assert rule.as_dict() == {
        "table": "weather",
        "column": None,
        "rule": "dewp <= temp",
        "severity": "error",
        "handling": "stop",
        "count": 1,
        "examples": ["dewp=55.0, temp=50.0"],
        "rows": [{"origin": "JFK", "hour": 1}],
    }
    assert rule.line() == "weather: dewp <= temp fails for 1 row(s), e.g. dewp=55.0, temp=50.0"


def test_without_keys_rows_are_named_by_position() -> None:
    [wind] = [a for a in check_table(WEATHER, spec()) if a.column == "wind"]
    assert wind.rows == ({"row": 1}, {"row": 3})


def test_missing_sets_the_values_missing_and_counts_them() -> None:
    result = handle(WEATHER, spec("missing", "keep"), keys=KEYS)
    assert result.table["wind"].isna().tolist() == [False, True, False, True, False]
    assert result.summary() == {
        "rows_in": 5,
        "rows_out": 5,
        "columns": 5,
        "rows_dropped": 0,
        "values_set_missing": {"wind": 2},
    }
    found = by_rule(result.anomalies)
    assert (found["<= 200"]["severity"], found["<= 200"]["handling"]) == ("warn", "missing")
    assert (found["dewp <= temp"]["severity"], found["dewp <= temp"]["count"]) == ("warn", 1)


def test_drop_removes_the_rows_and_counts_them() -> None:
    result = handle(WEATHER, spec("drop", "keep"), keys=KEYS)
    assert result.table["hour"].tolist() == [0, 2, 4]  # rows 1 and 3 had broken wind
    assert (result.rows_dropped, result.summary()["rows_out"]) == (2, 3)
    # the rules run on what is left: the dew point row went with its wind reading
    assert [a.rule for a in result.anomalies] == ["<= 200"]


def test_keep_reports_a_warning_and_changes_nothing() -> None:
    result = handle(WEATHER, spec("keep", "keep"), keys=KEYS)
    pd.testing.assert_frame_equal(result.table, WEATHER)
    assert {a.severity for a in result.anomalies} == {"warn"}
    assert result.anomalies[0].line() == (
        "weather.wind: <= 200 fails for 2 value(s), e.g. 1048.0, 999.0 (kept)"
    )


def test_a_rule_can_drop_its_rows() -> None:
    result = handle(WEATHER, spec("keep", "drop"), keys=KEYS)
    assert result.table["hour"].tolist() == [0, 2, 3, 4]


@pytest.mark.parametrize("handling", ["drop", "missing", "keep"])
def test_a_null_in_a_non_nullable_column_is_always_an_error(handling: str) -> None:
    table = TableSpec("t", (ColumnSpec("n", "int", nullable=False, max=5, handling=handling),))
    df = pd.DataFrame({"n": pd.array([1, None, 9], dtype="Int64")})
    found = {a.rule: a.severity for a in check_table(df, table)}
    assert found == {"not null": "error", "<= 5": "warn"}


def test_the_validate_report_counts_errors_warnings_and_handling() -> None:
    tables = {"weather": WEATHER, "other": pd.DataFrame({"x": [1.0]})}
    schema = {
        "weather": spec("missing", "stop"),
        "other": TableSpec("other", (ColumnSpec("x", "float"), ColumnSpec("y", "int"))),
    }
    out = report(validate(tables, schema, {"weather": KEYS}))
    assert (out["ok"], out["errors"], out["warnings"]) == (False, 2, 1)
    assert [(a["table"], a["rule"], a["severity"]) for a in out["anomalies"]] == [
        ("weather", "<= 200", "warn"),
        ("weather", "dewp <= temp", "error"),
        ("other", "present", "error"),
    ]
    assert out["tables"]["weather"]["values_set_missing"] == {"wind": 2}


def test_the_validate_summary_holds_what_a_reviewer_compares() -> None:
    """The metrics file (reports/validate_metrics.json): totals over the tables."""
    wind = spec("missing", "drop")
    handled = validate({"a": WEATHER, "b": WEATHER}, {"a": wind, "b": spec("drop")}, {})
    assert summary(handled) == {
        "verdict": "warn",
        "errors": 0,
        "warnings": 3,  # a: the wind, the dew point; b: the wind (its drop mends the rule)
        "rows_dropped": 3,  # a: the rule's row; b: the two broken readings
        "values_set_missing": 2,
    }
    assert summary(validate({"a": WEATHER}, {"a": spec()}, {}))["verdict"] == "fail"
    clean = WEATHER.iloc[[0, 2]]
    assert summary(validate({"a": clean}, {"a": spec()}, {})) == {
        "verdict": "pass",
        "errors": 0,
        "warnings": 0,
        "rows_dropped": 0,
        "values_set_missing": 0,
    }


def test_validate_checks_the_training_view() -> None:
    # a column known only at serving time (a request id) is not in the training data
    table = TableSpec(
        "t", (ColumnSpec("x", "float"), ColumnSpec("id", "int", not_in=("TRAINING",)))
    )
    out = report(validate({"t": pd.DataFrame({"x": [1.0]})}, {"t": table}, {}))
    assert (out["ok"], out["anomalies"]) == (True, [])
