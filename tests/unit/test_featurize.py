"""featurize: joins, calendar parts in local time, the label, and rows dropped for no target."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from mlrepro.core.errors import DataError, ParamsError
from mlrepro.core.params import DatetimeParts, FeaturizeParams, Join
from mlrepro.stages.featurize import apply_join, datetime_features, featurize, label, prepare_join

PLANES = Join("planes", ("tailnum",), {"year": "plane_year"})
RIGHT = pd.DataFrame(
    {
        "tailnum": ["N1", "N2", "N1", "N3", "N2"],
        "year": [2001, 2002, 1999, 2003, 1998],
        "seats": [100, 200, 300, 400, 500],
    }
)
LEFT = pd.DataFrame({"tailnum": ["N3", "N9", "N1", "N3", None], "delay": [1.0, 2.0, 3.0, 4.0, 5.0]})
NEW_YORK = DatetimeParts("when", "America/New_York", {"hour": "h", "weekday": "wd", "month": "m"})


def test_prepare_join_keeps_first_row_per_key_and_counts_the_rest() -> None:
    unique, dropped = prepare_join(RIGHT, PLANES)
    assert dropped == 2
    assert unique.to_dict("list") == {
        "tailnum": ["N1", "N2", "N3"],
        "plane_year": [2001, 2002, 2003],
    }


def test_prepare_join_unknown_column_is_params_error() -> None:
    join = Join("planes", ("tailnum",), {"yr": "plane_year"})
    with pytest.raises(ParamsError) as info:
        prepare_join(RIGHT, join)
    assert str(info.value) == (
        "params.yaml: featurize.joins (planes): 'yr' is not a column of table 'planes'"
    )


def test_apply_join_keeps_left_rows_and_order() -> None:
    unique, _ = prepare_join(RIGHT, PLANES)
    out = apply_join(LEFT, unique, PLANES)
    assert out["tailnum"].tolist() == LEFT["tailnum"].tolist()
    assert out["delay"].tolist() == LEFT["delay"].tolist()
    assert out["plane_year"].fillna(0).tolist() == [2003, 0, 2001, 2003, 0]


def test_apply_join_name_clash_is_params_error() -> None:
    unique, _ = prepare_join(RIGHT, PLANES)
    with pytest.raises(ParamsError) as info:
        apply_join(LEFT.assign(plane_year=1), unique, PLANES)
    assert str(info.value) == (
        "params.yaml: featurize.joins (planes): 'plane_year' already exists; rename it"
    )


def test_datetime_features_use_the_declared_time_zone() -> None:
    # 03:00 UTC on 1 Jan 2013 is 22:00 on Monday 31 Dec 2012 in New York (EST, UTC-5)
    df = pd.DataFrame({"when": pd.to_datetime(["2013-01-01T03:00Z", "2013-07-01T03:00Z"])})
    out = datetime_features(df, NEW_YORK)
    assert out[["h", "wd", "m"]].to_dict("list") == {"h": [22, 23], "wd": [0, 6], "m": [12, 6]}
    assert set(out[["h", "wd", "m"]].dtypes.astype(str)) == {"Int64"}


def test_datetime_features_on_a_text_column_is_params_error() -> None:
    with pytest.raises(ParamsError):
        datetime_features(pd.DataFrame({"when": ["2013-01-01"]}), NEW_YORK)


PARAMS = FeaturizeParams(
    target_column="arr_delay",
    target_greater_than=15,
    label="late",
    categorical=("tailnum",),
    numeric=("plane_year", "h"),
    excluded={"delay": "leaks"},
    joins=(PLANES,),
    datetime=DatetimeParts("when", "UTC", {"hour": "h"}),
)


@pytest.mark.parametrize(
    ("values", "greater_than"),
    [([-5.0, 15.0, 15.5, 40.0], 15), ([0, 0, 1, 1], None), ([False, False, True, True], None)],
)
def test_label(values: list[object], greater_than: float | None) -> None:
    out = label(
        pd.DataFrame({"arr_delay": values}), replace(PARAMS, target_greater_than=greater_than)
    )
    assert (str(out.dtype), out.tolist()) == ("Int8", [0, 0, 1, 1])


def test_label_of_a_non_binary_column_is_data_error() -> None:
    with pytest.raises(DataError, match=r"'arr_delay' is not binary; set featurize\.target"):
        label(pd.DataFrame({"arr_delay": [0, 1, 2]}), replace(PARAMS, target_greater_than=None))


def test_featurize_drops_and_counts_rows_with_no_target() -> None:
    df = LEFT.assign(
        arr_delay=[30.0, None, 0.0, 16.0, None],
        when=pd.date_range("2013-01-01", periods=5, freq="h", tz="UTC"),
    )
    out, counts = featurize(df, {"planes": prepare_join(RIGHT, PLANES)[0]}, PARAMS, ["when"])
    assert counts == {"rows_in": 5, "dropped_missing_target": 2, "rows_out": 3, "positives": 2}
    assert list(out.columns) == ["when", "tailnum", "plane_year", "h", "late"]
    assert out[["tailnum", "plane_year", "h", "late"]].to_dict("list") == {
        "tailnum": ["N3", "N1", "N3"],
        "plane_year": [2003, 2001, 2003],
        "h": [0, 2, 3],
        "late": [1, 0, 1],
    }
