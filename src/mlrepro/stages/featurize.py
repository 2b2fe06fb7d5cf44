"""featurize: joins, derived features and the label, all declared in params.yaml `featurize:`.

Nothing here is fitted: anything learned from data (encoders, imputers) is fitted on train only,
inside the scikit-learn Pipeline that the train stage saves with the model.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.types

from mlrepro.core.errors import DataError, ParamsError
from mlrepro.core.files import fresh_dir, read_parquet, write_json, write_parquet
from mlrepro.core.params import PARTS, DatetimeParts, FeaturizeParams, Join, load_params
from mlrepro.core.shell import run_stage
from mlrepro.pipeline.schema import check_serving, load_schema


def prepare_join(right: pd.DataFrame, join: Join) -> tuple[pd.DataFrame, int]:
    """The right table reduced to one row per key (first by file order); also the rows dropped."""
    where = f"params.yaml: featurize.joins ({join.table})"
    for column in [*join.keys, *join.columns]:
        if column not in right.columns:
            raise ParamsError(f"{where}: {column!r} is not a column of table {join.table!r}")
    right = right[[*join.keys, *join.columns]].rename(columns=join.columns)
    unique = right.drop_duplicates(subset=list(join.keys), keep="first")
    return unique, len(right) - len(unique)


def apply_join(left: pd.DataFrame, right: pd.DataFrame, join: Join) -> pd.DataFrame:
    """Left join on the declared keys of `right` as `prepare_join` left it (one row per key):
    never adds or drops left rows."""
    for column in join.keys:
        if column not in left.columns:
            raise ParamsError(
                f"params.yaml: featurize.joins ({join.table}): {column!r} not in left"
            )
    clash = [c for c in right.columns if c in left.columns and c not in join.keys]
    if clash:
        raise ParamsError(
            f"params.yaml: featurize.joins ({join.table}): {clash[0]!r} already exists; rename it"
        )
    # `right` is one row per key (prepare_join): no row of `left` is repeated, none is lost
    return left.merge(right, on=list(join.keys), how="left", sort=False)


ACCESSORS = {
    "hour": "hour",
    "weekday": "day_of_week",
    "month": "month",
    "day": "day",
    "dayofyear": "day_of_year",
}


def is_date(dtype: object) -> bool:
    """A calendar date column (schema dtype `date`): no time of day, no time zone."""
    return isinstance(dtype, pd.ArrowDtype) and pyarrow.types.is_date(dtype.pyarrow_dtype)


def datetime_features(df: pd.DataFrame, spec: DatetimeParts) -> pd.DataFrame:
    """Calendar parts of a timestamp column, in the declared time zone; of a date column, its own
    (a calendar date is the same day in every zone: converting its midnight would shift it)."""
    if spec.column not in df.columns:
        raise ParamsError(
            f"params.yaml: featurize.datetime.column: {spec.column!r} is not a column"
        )
    column = df[spec.column]
    if is_date(column.dtype):
        if "hour" in spec.parts:
            raise ParamsError(
                f"params.yaml: featurize.datetime.parts.hour: {spec.column!r} is a date, "
                "it has no hour"
            )
        local = column
    elif isinstance(column.dtype, pd.DatetimeTZDtype):
        try:
            local = column.dt.tz_convert(spec.timezone)
        except (KeyError, ValueError) as exc:
            raise ParamsError(f"params.yaml: featurize.datetime.timezone: {exc}") from None
    else:
        raise ParamsError(
            f"params.yaml: featurize.datetime.column: {spec.column!r} is {column.dtype}, "
            "not a datetime with a time zone (declare it as datetime or date in the schema)"
        )
    parts = {part: getattr(local.dt, ACCESSORS[part]) for part in spec.parts}
    return df.assign(**{name: parts[part].astype("Int64") for part, name in spec.parts.items()})


def label(df: pd.DataFrame, params: FeaturizeParams) -> pd.Series:
    """The binary label: `target > greater_than`; for a string target, `target == equals` or
    `target in [...]`; or the target itself when it is already 0/1."""
    target = df[params.target_column]
    wanted = params.target_values
    if wanted is not None:
        if not pd.api.types.is_string_dtype(target.dtype):
            key = "equals" if params.target_equals is not None else "in"
            raise ParamsError(
                f"params.yaml: featurize.target.{key}: {params.target_column!r} is "
                f"{target.dtype}, not a string (use greater_than for a number)"
            )
        return target.isin(wanted).astype("Int8")
    if not pd.api.types.is_numeric_dtype(target.dtype):
        raise ParamsError(
            f"params.yaml: featurize.target.column: {params.target_column!r} is {target.dtype}, "
            "not a number (declare it as int, float or bool in schema.yaml, or set "
            "featurize.target.equals or in for a string)"
        )
    if params.target_greater_than is not None:
        return (target > params.target_greater_than).astype("Int8")
    values = set(target.dropna().unique().tolist())
    if not values <= {0, 1}:
        raise DataError(
            f"featurize.target.column {params.target_column!r} is not binary; "
            "set featurize.target.greater_than"
        )
    return target.astype("Int8")


def features(
    df: pd.DataFrame, right: dict[str, pd.DataFrame], params: FeaturizeParams
) -> pd.DataFrame:
    """`df` with the joined columns and the calendar parts: every feature, no label. What a
    part of the pipeline and a row to predict for (`mlrepro predict`, `serve`) both go through;
    `right` holds each joined table as `prepare_join` left it."""
    for join in params.joins:
        df = apply_join(df, right[join.table], join)
    if params.datetime is not None:
        df = datetime_features(df, params.datetime)
    missing = [f for f in params.features if f not in df.columns]
    if missing:
        raise ParamsError(f"params.yaml: featurize: feature {missing[0]!r} is not a column")
    return df


def featurize(
    df: pd.DataFrame,
    right: dict[str, pd.DataFrame],
    params: FeaturizeParams,
    keep: list[str],
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Features + label for one part; rows with no target value are dropped and counted."""
    counts = {"rows_in": len(df)}
    if params.target_column not in df.columns:
        raise ParamsError(
            f"params.yaml: featurize.target.column: {params.target_column!r} is not a column"
        )
    df = features(df, right, params)
    has_target = df[params.target_column].notna()
    counts["dropped_missing_target"] = int((~has_target).sum())
    df = df[has_target]
    out = df[[*keep, *params.features]].assign(**{params.label: label(df, params)})
    counts["rows_out"] = len(out)
    counts["positives"] = int(out[params.label].sum())
    return out.reset_index(drop=True), counts


def _run(args: argparse.Namespace) -> None:
    params = load_params()
    spec = params.featurize
    check_serving(spec, params.ingest.main, load_schema())
    names = {j.table for j in spec.joins}
    for name in sorted(names - {s.name for s in params.ingest.sources}):
        raise ParamsError(f"params.yaml: featurize.joins: table {name!r} is not an ingest source")
    right: dict[str, pd.DataFrame] = {}
    joins: dict[str, Any] = {}
    parts: dict[str, Any] = {}
    for join in spec.joins:
        table = read_parquet(Path(args.tables) / f"{join.table}.parquet")
        right[join.table], dropped = prepare_join(table, join)
        joins[join.table] = {"duplicate_keys_dropped": dropped}
    keep = [params.split.time_column] if params.split.time_column else []
    out = fresh_dir(args.out)
    for part in PARTS:
        df = read_parquet(Path(args.data) / f"{part}.parquet")
        features, counts = featurize(df, right, spec, keep)
        write_parquet(features, out / f"{part}.parquet")
        parts[part] = counts
        print(f"featurize: {part}: {counts}")
    write_json(args.report, {"label": spec.label, "joins": joins, "parts": parts})


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("featurize", _run, argv, inputs=["data", "tables"], outputs=["out", "report"])


if __name__ == "__main__":
    sys.exit(main())
