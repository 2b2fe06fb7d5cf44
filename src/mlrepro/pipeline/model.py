"""The model: a scikit-learn Pipeline whose fitted preprocessing (the category encoder) is fit on
the training rows only and saved with the estimator."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

from mlrepro.core.errors import ParamsError


def as_model_input(df: pd.DataFrame, categorical: list[str], numeric: list[str]) -> pd.DataFrame:
    """Declared features in order: categories as object (NaN if missing), numbers as float."""
    out = {c: df[c].astype("object").where(df[c].notna(), np.nan) for c in categorical}
    out.update({c: df[c].astype("float64") for c in numeric})
    return pd.DataFrame(out, index=df.index)


DERIVED = {
    "random_state": "set the top-level seed instead",
    "categorical_features": "set featurize.categorical instead",
}


def check_estimator_params(train: dict[str, Any]) -> None:
    """Every key of params.yaml `train:` must be an argument of the estimator."""
    known = HistGradientBoostingClassifier().get_params()
    for key in train:
        if key in DERIVED:
            raise ParamsError(f"params.yaml: train.{key}: {DERIVED[key]}")
        if key not in known:
            raise ParamsError(
                f"params.yaml: train.{key}: unknown argument of HistGradientBoostingClassifier"
            )


def build_pipeline(
    categorical: list[str], numeric: list[str], train: dict[str, Any], seed: int
) -> Pipeline:
    check_estimator_params(train)
    max_bins = int(train.get("max_bins", 255))
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=np.nan,
        encoded_missing_value=np.nan,
        max_categories=max_bins,
        dtype=np.float64,
    )
    columns = ColumnTransformer(
        [("categorical", encoder, categorical), ("numeric", "passthrough", numeric)],
        verbose_feature_names_out=False,
    )
    is_categorical = [True] * len(categorical) + [False] * len(numeric)
    estimator = HistGradientBoostingClassifier(
        **train, categorical_features=is_categorical, random_state=seed
    )
    return Pipeline(
        [
            (
                "select",
                FunctionTransformer(
                    as_model_input,
                    kw_args={"categorical": categorical, "numeric": numeric},
                    validate=False,
                ),
            ),
            ("encode", columns),
            ("model", estimator),
        ]
    )
