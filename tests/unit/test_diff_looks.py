"""The test-looks counter's pure parts: which revisions count, a model's identity, the record."""

from __future__ import annotations

from typing import Any

import pytest

from mlrepro.diff.looks import Looks, Scored, distinct_models, model_id, recorded_part

PART, OTHER = "a" * 64, "b" * 64


def test_distinct_models_on_the_same_test_part() -> None:
    revisions = [
        Scored("c1", PART, True, "m1"),
        Scored("c2", PART, True, "m2"),
        Scored("c3", PART, True, "m1"),  # the same model again (a README commit): one model
        Scored("e1", PART, True, "m3"),  # an experiment
        Scored("c4", OTHER, True, "m4"),  # another test part
        Scored("c5", None, True, "m5"),  # no test part recorded
        Scored("c6", PART, False, "m6"),  # not scored: no evaluate metrics
        Scored("c7", PART, True, None),  # no model recorded
        Scored("workspace", PART, True, "m2"),
    ]
    assert distinct_models(revisions, PART) == (3, 5)
    assert distinct_models(revisions, OTHER) == (1, 1)
    assert distinct_models([], PART) == (0, 0)


def test_the_warning_is_past_the_limit() -> None:
    def looks(models: int) -> Looks:
        return Looks("reports/leakage.json", PART, 10, models, models, warn_at=20)

    assert [looks(n).warned for n in (0, 20, 21)] == [False, False, True]


def entry(path: str, md5: str) -> dict[str, Any]:
    return {"path": path, "hash": "md5", "md5": md5, "size": 1}


@pytest.mark.parametrize(
    ("outs", "paths", "expected"),
    [
        (
            [entry("models/model.skops", "m"), entry("models/card.json", "c")],
            ["models/model.skops"],
            "m",
        ),
        ([entry("models/card.json", "c"), entry("models/model.skops", "m")], [], "c m"),
        ([entry("./models/model.skops", "m")], ["models/model.skops"], "m"),  # as normalised
        ([entry("models/other.skops", "m")], ["models/model.skops"], None),
        ([{"path": "models/model.skops"}], ["models/model.skops"], None),  # no md5 recorded
        (None, ["models/model.skops"], None),  # no train stage in dvc.lock
        ("not a list", [], None),
    ],
)
def test_model_id(outs: Any, paths: list[str], expected: str | None) -> None:
    assert model_id(outs, paths) == expected


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        ({"test_part": {"path": "t.parquet", "sha256": PART, "rows": 7}}, (PART, 7)),
        ({"test_part": {"sha256": PART}}, (PART, None)),
        ({"test_part": {"sha256": PART, "rows": True}}, (PART, None)),
        ({"test_part": {"sha256": ""}}, None),
        ({"test_part": {"sha256": 12}}, None),
        ({"test_part": "x"}, None),
        ({"verdict": "pass"}, None),
        ([1, 2], None),
        (None, None),
    ],
)
def test_recorded_part(report: Any, expected: tuple[str, int | None] | None) -> None:
    assert recorded_part(report) == expected
