"""Pure evaluation functions: scores, calibration, curves and confusion counts from labels and
predicted probabilities. Results are plain dicts and lists, rendered elsewhere."""

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


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int) -> float:
    """Weighted mean |fraction positive - mean predicted| over equal-width probability bins."""
    index = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.sum() * abs(y[mask].mean() - p[mask].mean())
    return float(total / len(y))


def calibration_curve(y: np.ndarray, p: np.ndarray, bins: int) -> list[dict[str, float]]:
    index = np.minimum((p * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        mask = index == b
        if mask.any():
            rows.append(
                {
                    "mean_predicted": _r(p[mask].mean()),
                    "fraction_positive": _r(y[mask].mean()),
                    "count": int(mask.sum()),
                }
            )
    return rows


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
