"""evaluate: scores on valid and test, curves for `dvc plots`, and PNGs: confusion matrices, the
reliability diagram per part (equal-mass bins, with counts and the diagonal), ROC with the chance
line, permutation feature importance. Fits nothing: the threshold is a param, nothing is
calibrated (the leakage stage checks this in the code)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline

from mlrepro.core.files import fresh_dir, read_parquet, write_json
from mlrepro.core.params import EvaluateParams, Params, load_params
from mlrepro.core.shell import run_stage
from mlrepro.core.threads import pinned_threads
from mlrepro.pipeline import modelfile
from mlrepro.pipeline.evaluation import DIGITS, calibration_curve, pr_points, roc_points, scores
from mlrepro.pipeline.plots import calibration_png, confusion_png, importance_png, roc_png

EVAL_PARTS = ("valid", "test")


def predict(model: Pipeline, df: pd.DataFrame) -> np.ndarray:
    return np.asarray(model.predict_proba(df)[:, 1], dtype=np.float64)


def curves(y: np.ndarray, p: np.ndarray, spec: EvaluateParams) -> dict[str, list[dict[str, float]]]:
    return {
        "roc": roc_points(y, p, spec.curve_points),
        "precision_recall": pr_points(y, p, spec.curve_points),
        "calibration": calibration_curve(y, p, spec.calibration_bins),
    }


def importance(model: Pipeline, df: pd.DataFrame, params: Params) -> list[dict[str, Any]]:
    """Permutation importance (drop in ROC AUC) on a seeded sample of at most max rows."""
    spec, label = params.evaluate, params.featurize.label
    assert spec is not None
    if len(df) > spec.importance_max_rows:
        df = df.sample(spec.importance_max_rows, random_state=params.seed)
    features = params.featurize.features
    result = permutation_importance(
        model,
        df[features],
        df[label].astype("int64"),
        scoring="roc_auc",
        n_repeats=spec.importance_repeats,
        random_state=params.seed,
        n_jobs=1,
    )
    rows = [
        {
            "feature": name,
            "importance_mean": round(float(mean), DIGITS),
            "importance_std": round(float(std), DIGITS),
        }
        for name, mean, std in zip(
            features, result.importances_mean, result.importances_std, strict=True
        )
    ]
    return sorted(rows, key=lambda r: (-r["importance_mean"], r["feature"]))


def load_model(path: str) -> Pipeline:
    """The model at `path`, only if its md5 is the one dvc.lock records for it (the train run
    that wrote it), loaded through skops with the repository's trusted types."""
    model: Pipeline = modelfile.load(path, modelfile.recorded_md5(path), "dvc.lock")
    return model


def _run(args: argparse.Namespace) -> None:
    params = load_params()
    with pinned_threads(params.threads):
        _evaluate(args, params)


def _evaluate(args: argparse.Namespace, params: Params) -> None:
    spec, label = params.evaluate, params.featurize.label
    assert spec is not None
    model = load_model(args.model)
    plots, images = fresh_dir(args.plots), fresh_dir(args.images)
    metrics: dict[str, Any] = {}
    roc: dict[str, list[dict[str, float]]] = {}
    for part in EVAL_PARTS:
        df = read_parquet(Path(args.data) / f"{part}.parquet")
        y, p = df[label].to_numpy(dtype=np.int64), predict(model, df[params.featurize.features])
        metrics[part] = m = scores(y, p, threshold=spec.threshold, bins=spec.calibration_bins)
        found = curves(y, p, spec)
        for name, rows in found.items():
            write_json(plots / part / f"{name}.json", rows)
        roc[part] = found["roc"]
        confusion_png(
            m["confusion"], f"Confusion matrix ({part})", images / f"confusion_{part}.png"
        )
        calibration_png(
            found["calibration"],
            f"Calibration ({part})",
            images / f"calibration_{part}.png",
            label=label,
            note=f"ECE {m['ece_equal_mass']} (equal-mass), MCE {m['mce']}",
        )
        if part == "valid":
            ranked = importance(model, df, params)
    roc_png(roc, {part: metrics[part]["roc_auc"] for part in EVAL_PARTS}, images / "roc.png")
    write_json(plots / "importance.json", ranked)
    importance_png(ranked, images / "importance.png")
    write_json(args.metrics, metrics)
    for part in EVAL_PARTS:
        m = metrics[part]
        print(
            f"evaluate: {part}: roc_auc {m['roc_auc']} average_precision {m['average_precision']}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage(
        "evaluate",
        _run,
        argv,
        inputs=["model", "data"],
        outputs=["metrics", "plots", "images"],
    )


if __name__ == "__main__":
    sys.exit(main())
