"""evaluation: calibration errors, scores, curves, curve thinning on hand-computed tiny arrays;
the PNGs byte for byte."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.calibration import calibration_curve as sklearn_calibration_curve

from mlrepro.pipeline.evaluation import (
    _thin,
    calibration_curve,
    equal_mass_bins,
    expected_calibration_error,
    max_calibration_error,
    roc_points,
    scores,
)
from mlrepro.pipeline.plots import calibration_png, roc_png


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
        # equal mass: the median 0.6 cuts {.2, .4, .6} (mean .4, rate 1/3) and {.7, .9} (.8, 1)
        "ece_equal_mass": round(((0.4 - 1 / 3) * 3 + 0.2 * 2) / 5, 6),
        "mce": 0.2,
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


# Six predictions, three equal-mass bins of two: the 1/3 and 2/3 quantiles fall between them.
Y6 = np.array([0, 1, 0, 0, 1, 1])
P6 = np.array([0.1, 0.2, 0.3, 0.5, 0.6, 0.9])


def test_equal_mass_bins_hold_as_many_predictions_each() -> None:
    assert equal_mass_bins(P6, 3).tolist() == [0, 0, 1, 1, 2, 2]
    assert equal_mass_bins(np.array([0.5, 0.5, 0.5, 0.9]), 2).tolist() == [0, 0, 0, 1]  # ties


def test_equal_mass_ece_and_mce_by_hand() -> None:
    # bins: {.1, .2} mean .15 rate .5 (gap .35); {.3, .5} .4, 0 (.4); {.6, .9} .75, 1 (.25)
    ece = expected_calibration_error(Y6, P6, 3, equal_mass=True)
    assert ece == pytest.approx((0.35 * 2 + 0.4 * 2 + 0.25 * 2) / 6, abs=1e-12)
    assert max_calibration_error(Y6, P6, 3) == pytest.approx(0.4, abs=1e-12)
    # equal width [0, 1/3) [1/3, 2/3) [2/3, 1]: {.1 .2 .3} .2, 1/3; {.5 .6} .55, .5; {.9} .9, 1
    width = expected_calibration_error(Y6, P6, 3)
    assert width == pytest.approx(((1 / 3 - 0.2) * 3 + 0.05 * 2 + 0.1) / 6, abs=1e-12)


def test_mce_is_not_a_tail_bin_of_one_prediction() -> None:
    """A lone confident miss is its own equal-width bin (error .95): equal mass shares it out."""
    rng = np.random.default_rng(0)
    p = np.r_[rng.uniform(0.1, 0.3, 999), 0.95]
    y = np.r_[(rng.uniform(size=999) < p[:999]).astype(int), 0]
    assert max_calibration_error(y, p, 10) < 0.2


def test_calibration_curve_is_scikit_learns_quantile_curve() -> None:
    rng = np.random.default_rng(1)
    p = rng.beta(2, 5, 500)
    y = (rng.uniform(size=500) < p).astype(int)
    rows = calibration_curve(y, p, 10)
    true, predicted = sklearn_calibration_curve(y, p, n_bins=10, strategy="quantile")
    assert [r["fraction_positive"] for r in rows] == pytest.approx(true, abs=1e-6)
    assert [r["mean_predicted"] for r in rows] == pytest.approx(predicted, abs=1e-6)
    assert sum(r["count"] for r in rows) == 500
    assert {r["count"] for r in rows} == {50}


def test_calibration_and_roc_pngs_are_byte_identical_run_to_run(tmp_path: Path) -> None:
    rows = calibration_curve(Y6, P6, 3)
    roc = {"valid": roc_points(Y6, P6, 200), "test": roc_points(Y6[::-1], P6, 200)}
    for run in ("a", "b"):
        calibration_png(rows, "Calibration", tmp_path / f"cal_{run}.png", note="ECE 0.33")
        roc_png(roc, {"valid": 0.67, "test": None}, tmp_path / f"roc_{run}.png")
    for name in ("cal", "roc"):
        first, second = ((tmp_path / f"{name}_{r}.png").read_bytes() for r in "ab")
        assert first == second and first.startswith(b"\x89PNG"), name
