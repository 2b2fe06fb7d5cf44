"""params.yaml: the committed file loads; every bad value is one line naming the file and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from mlrepro.core.errors import ParamsError
from mlrepro.core.params import load_params

COMMITTED = Path(__file__).resolve().parents[2] / "params.yaml"


def edited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: Any) -> Path:
    """The committed params with `key` (dotted) set to `value`, as ./params.yaml in tmp_path."""
    data = yaml.safe_load(COMMITTED.read_text())
    *parents, last = key.split(".")
    node = data
    for name in parents:
        node = node[name]
    node[last] = value
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return Path("params.yaml")


def error_of(path: Path) -> str:
    with pytest.raises(ParamsError) as info:
        load_params(path)
    message = str(info.value)
    assert "\n" not in message, message
    return message


def test_committed_params_load() -> None:
    params = load_params(COMMITTED)
    assert params.seed == 20130101
    assert params.split.time_column == "time_hour"
    assert params.split.valid_start == pd.Timestamp("2013-10-01", tz="UTC")
    assert params.split.test_start == pd.Timestamp("2013-11-01", tz="UTC")
    assert params.featurize.label == "late"
    assert params.featurize.target_greater_than == 15
    assert [j.table for j in params.featurize.joins] == ["planes", "weather"]
    assert params.featurize.joins[1].columns["temp"] == "temp"  # list form -> identity mapping
    assert params.evaluate is not None and params.evaluate.threshold == 0.5
    assert set(params.featurize.features).isdisjoint(params.featurize.excluded)


FEATURES = load_params(COMMITTED).featurize


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("split.valid_end", "2013-10-01", "params.yaml: split.valid_end: unknown key (known: "),
        ("train", [1, 2], "params.yaml: train: expected a mapping, got [1, 2]"),
        ("ingest.max_rows", "abc", "params.yaml: ingest.max_rows: expected int, got 'abc'"),
        ("ingest.max_rows", True, "params.yaml: ingest.max_rows: expected int, got True"),
        ("ingest.max_rows", 0, "params.yaml: ingest.max_rows: must be a positive integer"),
        ("seed", False, "params.yaml: seed: expected int, got False"),
        ("evaluate.calibration_bins", True, "params.yaml: evaluate.calibration_bins: expected"),
        ("evaluate.threshold", 1.5, "params.yaml: evaluate.threshold: must be between 0.0 and"),
        ("split.valid_start", "not a date", "params.yaml: split.valid_start: expected a date"),
        ("split.valid_start", "2013-02-30", "params.yaml: split.valid_start: expected a date"),
        ("split.valid_start", "2013-11-01", "params.yaml: split.test_start: must be later than"),
        ("split.valid_start", "2013-12-01", "params.yaml: split.test_start: must be later than"),
        (
            "featurize.categorical",
            [*FEATURES.categorical, "dep_delay"],
            "params.yaml: featurize.categorical: 'dep_delay' is excluded (measured",
        ),
        (
            "featurize.numeric",
            [*FEATURES.numeric, "late"],
            "params.yaml: featurize.numeric: 'late' is the target and cannot be a feature",
        ),
        pytest.param(
            "featurize.categorical",
            [*FEATURES.categorical, "late"],
            "params.yaml: featurize.categorical: 'late' is the target",
            id="target-in-categorical",
        ),
        pytest.param(
            "split.valid_start",
            "",
            "params.yaml: split.valid_start: expected a date",
            id="empty-date",
        ),
        pytest.param(
            "split.test_start",
            "now",
            "params.yaml: split.test_start: expected a date",
            id="now-date",
        ),
    ],
)
def test_bad_value_is_one_line_naming_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: Any, expected: str
) -> None:
    message = error_of(edited(tmp_path, monkeypatch, key, value))
    assert message.startswith(expected), message


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    lines = COMMITTED.read_text().splitlines()
    number = lines.index("  main: flights  # the table whose rows are the examples") + 1
    lines[number - 1] = "  main: flights: planes"
    path = tmp_path / "params.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert error_of(path) == (
        f"{path}: not valid YAML (line {number}): mapping values are not allowed here"
    )


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    assert error_of(path) == f"{path}: cannot read: No such file or directory"


def test_threads_is_pinned_to_one_unless_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_params(COMMITTED).threads == 1
    assert load_params(edited(tmp_path, monkeypatch, "threads", None)).threads is None
    assert load_params(edited(tmp_path, monkeypatch, "threads", 4)).threads == 4
    message = error_of(edited(tmp_path, monkeypatch, "threads", 0))
    assert message == "params.yaml: threads: must be between 1 and 4096, got 0"
    data = yaml.safe_load(COMMITTED.read_text())
    del data["threads"]  # a params.yaml from before the key: pinned to one
    Path("params.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    assert load_params("params.yaml").threads == 1
