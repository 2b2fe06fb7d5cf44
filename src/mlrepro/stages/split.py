"""split: cut the main table into train / valid / test.

With a time column the parts are consecutive periods (`valid_start`, `test_start` in params.yaml),
never shuffled across time; with none, a seeded random split by fractions.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.types

from mlrepro.core.errors import ParamsError
from mlrepro.core.files import fresh_dir, read_parquet, write_json, write_parquet
from mlrepro.core.params import PARTS, SplitParams, load_params
from mlrepro.core.shell import run_stage


def split_by_time(df: pd.DataFrame, params: SplitParams) -> dict[str, pd.DataFrame]:
    column = params.time_column
    assert column is not None and params.valid_start is not None and params.test_start is not None
    if column not in df.columns:
        raise ParamsError(f"params.yaml: split.time_column: {column!r} is not a column")
    when = df[column]
    if isinstance(when.dtype, pd.ArrowDtype) and pyarrow.types.is_date(when.dtype.pyarrow_dtype):
        # a calendar date: compared as its midnight in UTC, as the boundaries are read
        when = pd.to_datetime(when.astype("datetime64[s]")).dt.tz_localize("UTC")
    if not isinstance(when.dtype, pd.DatetimeTZDtype):
        raise ParamsError(
            f"params.yaml: split.time_column: {column!r} is {when.dtype}, not a datetime "
            "(declare it as datetime or date in schema.yaml)"
        )
    masks = {
        "train": when < params.valid_start,
        "valid": (when >= params.valid_start) & (when < params.test_start),
        "test": when >= params.test_start,
    }
    if when.isna().any():
        raise ParamsError(f"params.yaml: split.time_column: {column!r} has missing values")
    return {part: df[mask].reset_index(drop=True) for part, mask in masks.items()}


def split_random(df: pd.DataFrame, params: SplitParams, seed: int) -> dict[str, pd.DataFrame]:
    order = np.random.default_rng(seed).permutation(len(df))
    n_test = round(len(df) * params.test_fraction)
    n_valid = round(len(df) * params.valid_fraction)
    cuts = {"test": order[:n_test], "valid": order[n_test : n_test + n_valid]}
    cuts["train"] = order[n_test + n_valid :]
    return {part: df.iloc[np.sort(cuts[part])].reset_index(drop=True) for part in PARTS}


def split(df: pd.DataFrame, params: SplitParams, seed: int) -> dict[str, pd.DataFrame]:
    """The three parts; an empty part is a ParamsError naming the boundary to move."""
    parts = split_by_time(df, params) if params.time_column else split_random(df, params, seed)
    for part, frame in parts.items():
        if frame.empty:
            keys = (
                "valid_start, test_start" if params.time_column else "valid_fraction, test_fraction"
            )
            raise ParamsError(
                f"params.yaml: split: the {part} part is empty for {len(df)} rows (check {keys})"
            )
    return parts


def summary(parts: dict[str, pd.DataFrame], time_column: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part, frame in parts.items():
        entry: dict[str, Any] = {"rows": len(frame)}
        if time_column:
            entry["from"] = frame[time_column].min().isoformat()
            entry["to"] = frame[time_column].max().isoformat()
        out[part] = entry
    return out


def _run(args: argparse.Namespace) -> None:
    params = load_params()
    df = read_parquet(Path(args.data) / f"{params.ingest.main}.parquet")
    parts = split(df, params.split, params.seed)
    out = fresh_dir(args.out)
    for part, frame in parts.items():
        write_parquet(frame, out / f"{part}.parquet")
    report = summary(parts, params.split.time_column)
    write_json(args.report, report)
    print("split: " + ", ".join(f"{p} {r['rows']} rows" for p, r in report.items()))


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("split", _run, argv, inputs=["data"], outputs=["out", "report"])


if __name__ == "__main__":
    sys.exit(main())
