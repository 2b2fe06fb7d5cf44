"""Tell "different bytes, same model" from "different model": the predicted probabilities of
two skops model files on the valid part, compared bit for bit. Each file's hash is checked before
it is loaded (the expected one against the commit's dvc.lock; the produced one against the verify
run's own dvc.lock), and skops loads only the repository's trusted types."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlrepro.verify.outputs import ModelCheck

VALID_PART = "valid.parquet"


def load_model(data: bytes, where: str) -> Any:
    """A skops model through the repository's trusted types (pickles are never loaded)."""
    from mlrepro.pipeline import modelfile

    return modelfile.loads(data, where)


def valid_tables(checkout: Path, out_paths: list[str]) -> list[Path]:
    """Every `valid.parquet` inside the run's output folders, in dvc.lock order."""
    return [checkout / p / VALID_PART for p in out_paths if (checkout / p / VALID_PART).is_file()]


def compare_models(
    old: bytes, new: bytes, tables: list[Path], checkout: Path, where: str
) -> ModelCheck | None:
    """Both models' probabilities on the first valid table that has every input column."""
    import numpy as np
    import pandas as pd

    from mlrepro.core.threads import pinned_threads

    with pinned_threads(1):
        models = [load_model(old, f"{where} (expected)"), load_model(new, f"{where} (produced)")]
        columns = list(getattr(models[0], "feature_names_in_", []))
        for table in tables:
            df = pd.read_parquet(table)
            if not columns or not set(columns) <= set(df.columns):
                continue
            a, b = (np.asarray(m.predict_proba(df[columns]), dtype=np.float64) for m in models)
            differing = ~np.all(a == b, axis=1) if a.shape == b.shape else np.ones(len(df), bool)
            gap = float(np.max(np.abs(a - b))) if a.shape == b.shape and len(df) else float("nan")
            return ModelCheck(
                data=table.relative_to(checkout).as_posix(),
                rows=len(df),
                differing=int(differing.sum()),
                max_difference=gap,
            )
    return None
