"""model: the Pipeline fits on a tiny frame, handles missing and unseen values, checks params."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlrepro.core.errors import ParamsError
from mlrepro.pipeline.model import as_model_input, build_pipeline

TRAIN = {"max_iter": 5, "min_samples_leaf": 2}
N = 40
FRAME = pd.DataFrame(
    {
        "carrier": pd.array((["AA", "B6", None, "UA"] * N)[:N], dtype="string"),
        "distance": pd.array([float(i) if i % 7 else None for i in range(N)], dtype="Float64"),
    }
)
Y = pd.Series([int(i % 4 == 1 or i > 30) for i in range(N)])


def fit_predict(seed: int, test: pd.DataFrame) -> np.ndarray:
    pipeline = build_pipeline(["carrier"], ["distance"], TRAIN, seed).fit(FRAME, Y)
    return np.asarray(pipeline.predict_proba(test))


def test_as_model_input_gives_object_categories_and_float_numbers() -> None:
    out = as_model_input(FRAME.head(4), ["carrier"], ["distance"])
    assert out.dtypes.astype(str).to_dict() == {"carrier": "object", "distance": "float64"}
    assert out["carrier"].tolist()[:2] == ["AA", "B6"]
    missing = out["carrier"].iloc[2]  # NaN, not pd.NA, which the encoder cannot compare
    assert isinstance(missing, float) and np.isnan(missing) and np.isnan(out["distance"].iloc[0])


def test_pipeline_predicts_probabilities_for_unseen_and_missing_values() -> None:
    test = pd.DataFrame(
        {
            "carrier": pd.array(["ZZ", None, "AA"], dtype="string"),
            "distance": pd.array([None, 3.0, 1e6], dtype="Float64"),
        }
    )
    proba = fit_predict(1, test)
    assert proba.shape == (3, 2)
    assert np.all((proba > 0) & (proba < 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_same_data_and_seed_give_identical_predictions() -> None:
    np.testing.assert_array_equal(fit_predict(3, FRAME), fit_predict(3, FRAME))


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("max_depths", "unknown argument of HistGradientBoostingClassifier"),
        ("random_state", "set the top-level seed instead"),
        ("categorical_features", "set featurize.categorical instead"),
    ],
)
def test_bad_train_key_names_it(key: str, why: str) -> None:
    with pytest.raises(ParamsError) as info:
        build_pipeline(["carrier"], ["distance"], {**TRAIN, key: 1}, 0)
    assert str(info.value) == f"params.yaml: train.{key}: {why}"
