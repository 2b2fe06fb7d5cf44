"""Pure evaluation functions: scores, calibration, curves and confusion counts from labels and
predicted probabilities. Results are plain dicts and lists, rendered elsewhere.

Calibration: the Brier score; ECE over equal-width bins (the usual definition) and over
equal-mass bins (`ece_equal_mass`); MCE, the worst bin, over equal-mass bins; the calibration
curve (reliability diagram) over the same equal-mass bins, so no point stands on a few flights."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

DIGITS = 6  # metrics are rounded so that float noise in the last bits never shows as a change


def equal_width_bins(p: np.ndarray, bins: int) -> np.ndarray:
    """Each prediction's bin of [0, 1] cut into `bins` equal widths (p = 1 in the last)."""
    return np.asarray(np.minimum((p * bins).astype(int), bins - 1), dtype=np.int64)


def equal_mass_bins(p: np.ndarray, bins: int) -> np.ndarray:
    """Each prediction's bin between the quantiles of p (as scikit-learn's calibration_curve
    with strategy="quantile"): about len(p) / bins predictions each; tied values share a bin."""
    edges = np.percentile(p, np.linspace(0, 100, bins + 1))
    return np.searchsorted(edges[1:-1], p)


def _bins(y: np.ndarray, p: np.ndarray, index: np.ndarray) -> list[tuple[int, float, float]]:
    """(count, mean predicted, fraction positive) of each non-empty bin, in bin order."""
    found = []
    for b in np.unique(index):
        mask = index == b
        found.append((int(mask.sum()), float(p[mask].mean()), float(y[mask].mean())))
    return found


def expected_calibration_error(
    y: np.ndarray, p: np.ndarray, bins: int, *, equal_mass: bool = False
) -> float:
    """Mean |fraction positive - mean predicted| over the bins, weighted by their counts."""
    index = equal_mass_bins(p, bins) if equal_mass else equal_width_bins(p, bins)
    return float(sum(n * abs(rate - mean) for n, mean, rate in _bins(y, p, index)) / len(y))


def max_calibration_error(y: np.ndarray, p: np.ndarray, bins: int) -> float:
    """Largest |fraction positive - mean predicted| of one bin, over equal-mass bins: over
    equal-width ones the maximum lands on a tail bin of a few predictions and measures noise."""
    return max(abs(rate - mean) for _, mean, rate in _bins(y, p, equal_mass_bins(p, bins)))


def calibration_curve(y: np.ndarray, p: np.ndarray, bins: int) -> list[dict[str, float]]:
    """The reliability diagram's points: per equal-mass bin, its mean predicted probability,
    fraction positive and count."""
    return [
        {"mean_predicted": _r(mean), "fraction_positive": _r(rate), "count": n}
        for n, mean, rate in _bins(y, p, equal_mass_bins(p, bins))
    ]


def scores(y: np.ndarray, p: np.ndarray, *, threshold: float, bins: int) -> dict[str, Any]:
    """Every metric for one part; predicted class is p >= threshold."""
    predicted = (p >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, predicted, labels=[0, 1]).ravel()
    both = len(np.unique(y)) == 2
    values = {
        "rows": len(y),
        "positive_rate": _r(y.mean()),
        "roc_auc": _r(roc_auc_score(y, p)) if both else None,
        "average_precision": _r(average_precision_score(y, p)) if both else None,
        "log_loss": _r(log_loss(y, p, labels=[0, 1])),
        "brier": _r(brier_score_loss(y, p)),
        "ece": _r(expected_calibration_error(y, p, bins)),
        "ece_equal_mass": _r(expected_calibration_error(y, p, bins, equal_mass=True)),
        "mce": _r(max_calibration_error(y, p, bins)),
        "accuracy": _r(accuracy_score(y, predicted)),
        "precision": _r(precision_score(y, predicted, zero_division=0)),
        "recall": _r(recall_score(y, predicted, zero_division=0)),
        "confusion": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
    }
    return values


def roc_points(y: np.ndarray, p: np.ndarray, max_points: int) -> list[dict[str, float]]:
    fpr, tpr, _ = roc_curve(y, p)
    keep = _thin(len(fpr), max_points)
    return [{"fpr": _r(fpr[i]), "tpr": _r(tpr[i])} for i in keep]


def pr_points(y: np.ndarray, p: np.ndarray, max_points: int) -> list[dict[str, float]]:
    precision, recall, _ = precision_recall_curve(y, p)
    keep = _thin(len(recall), max_points)
    return [{"recall": _r(recall[i]), "precision": _r(precision[i])} for i in keep]


def _thin(n: int, max_points: int) -> list[int]:
    """At most `max_points` evenly spaced indices of n, always keeping the first and last."""
    if n <= max_points:
        return list(range(n))
    return sorted(set(np.linspace(0, n - 1, max_points).round().astype(int).tolist()))


def _r(value: Any) -> float:
    return round(float(value), DIGITS)
