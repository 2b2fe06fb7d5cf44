"""evaluation: calibration error, scores and curve thinning on hand-computed tiny arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlrepro.pipeline.evaluation import _thin, expected_calibration_error, scores


@pytest.mark.parametrize(
    ("y", "p", "bins", "expected"),
    [
        ([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5], 10, 0.0),  # 50 % predicted, 50 % positive
        ([0, 0, 0, 1, 1, 1, 1], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0], 4, 0.0),  # p = 1 in last bin
        # bin [0, .5): mean p .2, rate 0 -> .2 x 2; bin [.5, 1]: mean p .75, rate 1 -> .25 x 2
        ([0, 0, 1, 1], [0.1, 0.3, 0.6, 0.9], 2, (0.2 * 2 + 0.25 * 2) / 4),
    ],
)
def test_expected_calibration_error(
    y: list[int], p: list[float], bins: int, expected: float
) -> None:
    ece = expected_calibration_error(np.array(y), np.array(p), bins)
    assert ece == pytest.approx(expected, abs=1e-12)


def test_scores_on_a_hand_made_example() -> None:
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.2, 0.6, 0.4, 0.7, 0.9])  # at 0.5: tn, fp, fn, tp, tp
    log_loss = -(math.log(0.8) + math.log(0.4) + math.log(0.4) + math.log(0.7) + math.log(0.9))
    assert scores(y, p, threshold=0.5, bins=2) == {
        "rows": 5,
        "positive_rate": 0.6,
        "roc_auc": round(5 / 6, 6),  # 5 of 6 (positive, negative) pairs ranked right
        "average_precision": round((1 + 1 + 3 / 4) / 3, 6),
        "log_loss": round(log_loss / 5, 6),
        "brier": round((0.04 + 0.36 + 0.36 + 0.09 + 0.01) / 5, 6),
        "ece": round((0.2 * 2 + (2.2 / 3 - 2 / 3) * 3) / 5, 6),  # |.3 - .5| x 2, |.733 - .667| x 3
        "accuracy": 0.6,
        "precision": round(2 / 3, 6),
        "recall": round(2 / 3, 6),
        "confusion": {"tn": 1, "fp": 1, "fn": 1, "tp": 2},
    }


def test_scores_with_one_class_has_no_ranking_metrics() -> None:
    result = scores(np.array([0, 0]), np.array([0.2, 0.6]), threshold=0.5, bins=2)
    assert (result["roc_auc"], result["average_precision"]) == (None, None)
    assert result["confusion"] == {"tn": 1, "fp": 1, "fn": 0, "tp": 0}


@pytest.mark.parametrize(("n", "max_points"), [(1000, 7), (11, 10), (201, 200), (10_001, 200)])
def test_thin_keeps_first_and_last_and_at_most_max_points(n: int, max_points: int) -> None:
    kept = _thin(n, max_points)
    assert (kept[0], kept[-1], len(kept)) == (0, n - 1, max_points)
    assert kept == sorted(set(kept))


def test_thin_keeps_every_point_when_few() -> None:
    assert _thin(5, 10) == [0, 1, 2, 3, 4]
