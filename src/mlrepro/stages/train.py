"""train: fit the model Pipeline on the training part; write it as a skops file (no pickle) with a
model card (JSON)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from mlrepro.core.errors import DataError
from mlrepro.core.files import read_parquet, sha256_file, write_json
from mlrepro.core.params import Params, check_train, load_params
from mlrepro.core.shell import run_stage
from mlrepro.core.threads import pinned_threads
from mlrepro.pipeline import modelfile
from mlrepro.pipeline.environment import environment
from mlrepro.pipeline.model import build_pipeline, check_estimator_params


def fit(df: pd.DataFrame, params: Params) -> Pipeline:
    """Fit the Pipeline on `df` (the training part). Bad estimator params name their key."""
    spec = params.featurize
    check_estimator_params(params.train)
    check_train(params.train)  # the estimator's own checks, before anything uses a value
    y = df[spec.label].astype("int64")
    if y.empty:
        raise DataError(
            f"training part has no rows: no row has a value in {spec.target_column!r} "
            "(featurize.target.column; see reports/featurize.json)"
        )
    if y.nunique() < 2:
        raise DataError(f"training part has only label {y.iloc[0]!r}: need both classes")
    pipeline = build_pipeline(list(spec.categorical), list(spec.numeric), params.train, params.seed)
    return pipeline.fit(df[spec.features], y)


def model_card(df: pd.DataFrame, params: Params, inputs: dict[str, str]) -> dict[str, Any]:
    spec = params.featurize
    card: dict[str, Any] = {
        "estimator": "HistGradientBoostingClassifier",
        "features": spec.features,
        "categorical": list(spec.categorical),
        "label": {
            "name": spec.label,
            "column": spec.target_column,
            "greater_than": spec.target_greater_than,
        },
        "params": {"seed": params.seed, "threads": params.threads, "train": params.train},
        "training": {"rows": len(df), "positive_rate": round(float(df[spec.label].mean()), 6)},
        "inputs": inputs,
        "environment": environment(),
    }
    time_column = params.split.time_column
    if time_column:
        card["training"]["from"] = df[time_column].min().isoformat()
        card["training"]["to"] = df[time_column].max().isoformat()
    return card


def _run(args: argparse.Namespace) -> None:
    params = load_params()
    path = Path(args.data) / "train.parquet"
    df = read_parquet(path)
    with pinned_threads(params.threads):
        pipeline = fit(df, params)
    modelfile.save(pipeline, args.model)
    write_json(args.card, model_card(df, params, {path.as_posix(): sha256_file(path)}))
    print(f"train: fitted on {len(df)} rows, {len(params.featurize.features)} features")


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("train", _run, argv, inputs=["data"], outputs=["model", "card"])


if __name__ == "__main__":
    sys.exit(main())
