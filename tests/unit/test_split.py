"""split: consecutive periods by time, or a seeded random partition; never an empty part."""

from __future__ import annotations

import pandas as pd
import pytest

from mlrepro.core.errors import ParamsError
from mlrepro.core.params import SplitParams
from mlrepro.stages.split import split, split_by_time, split_random

VALID, TEST = pd.Timestamp("2013-01-05", tz="UTC"), pd.Timestamp("2013-01-07", tz="UTC")
BY_TIME = SplitParams("when", VALID, TEST, 0.15, 0.15)
RANDOM = SplitParams(None, None, None, 0.2, 0.1)


def hours(n: int) -> pd.DataFrame:
    """n rows, 12 hours apart from 2013-01-01, in shuffled order (split must not rely on order)."""
    when = pd.date_range("2013-01-01", periods=n, freq="12h", tz="UTC")
    return pd.DataFrame({"id": range(n), "when": when}).sample(frac=1.0, random_state=0)


def test_split_by_time_never_mixes_periods_and_keeps_every_row() -> None:
    df = hours(20)  # 2013-01-01 00:00 .. 2013-01-10 12:00, including both boundaries exactly
    parts = split_by_time(df, BY_TIME)
    train, valid, test = parts["train"]["when"], parts["valid"]["when"], parts["test"]["when"]
    assert train.max() < VALID <= valid.min()
    assert valid.max() < TEST <= test.min()
    assert (len(train), len(valid), len(test)) == (8, 4, 8)
    ids = pd.concat([p["id"] for p in parts.values()])
    assert sorted(ids) == list(range(20))


def test_split_by_time_refuses_missing_times() -> None:
    df = hours(20)
    df.loc[df["id"] == 3, "when"] = pd.NaT
    with pytest.raises(ParamsError, match=r"^params\.yaml: split\.time_column: 'when' has missing"):
        split_by_time(df, BY_TIME)


def ids(parts: dict[str, pd.DataFrame]) -> dict[str, list[int]]:
    return {part: frame["id"].tolist() for part, frame in parts.items()}


def test_split_random_is_a_seeded_partition() -> None:
    df = pd.DataFrame({"id": range(100), "x": [i * 0.5 for i in range(100)]})
    first = ids(split_random(df, RANDOM, 7))
    again, other = ids(split_random(df, RANDOM, 7)), ids(split_random(df, RANDOM, 8))
    assert first == again
    assert first != other
    assert {part: len(rows) for part, rows in first.items()} == {
        "train": 70,
        "valid": 20,
        "test": 10,
    }
    assert sorted(first["train"] + first["valid"] + first["test"]) == list(range(100))
    assert all(rows == sorted(rows) for rows in first.values())  # file order kept in each part


@pytest.mark.parametrize(
    ("df", "params", "expected"),
    [
        (hours(8), BY_TIME, "the valid part is empty for 8 rows (check valid_start, test_start)"),
        (
            pd.DataFrame({"id": range(3)}),  # round(3 * 0.1) == 0 test rows
            RANDOM,
            "the test part is empty for 3 rows (check valid_fraction, test_fraction)",
        ),
    ],
    ids=["by-time", "random"],
)
def test_empty_part_names_the_keys(df: pd.DataFrame, params: SplitParams, expected: str) -> None:
    with pytest.raises(ParamsError) as info:
        split(df, params, seed=1)
    assert str(info.value) == f"params.yaml: split: {expected}"
