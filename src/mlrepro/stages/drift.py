"""drift: how far valid and test are from train, feature by feature (pipeline/drift.py).

Writes every measure and verdict (`--report`, reports/drift.json), a summary of each part that
dvc.yaml declares as its metrics (`--metrics`: what `mlrepro diff` and the pull-request report
compare, a few rows per part) and a PNG of the most drifted features. A `fail` verdict stops the
stage only when params.yaml `drift.fail_on` says so (default `never`: a time split of a seasonal
table drifts by design; gates.yaml gates the share of drifted features instead).

The parts are read with pyarrow, only the features' columns: the stage imports neither pandas
nor scipy (its cost is a budget: see README "Performance").
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlrepro.core.errors import DataError, ValidationFailed
from mlrepro.core.files import write_json
from mlrepro.core.params import DriftParams, FeaturizeParams, load_params
from mlrepro.core.shell import run_stage
from mlrepro.pipeline.arrow import read_table
from mlrepro.pipeline.drift import DatasetDrift, Kind, compare, methods_record, profile
from mlrepro.pipeline.driftplot import drift_png

REFERENCE, CURRENT = "train", ("valid", "test")


def feature_columns(params: FeaturizeParams) -> list[tuple[str, Kind]]:
    """The model's features, each with the kind its measures are chosen by."""
    kinds: list[tuple[str, Kind]] = [(c, "categorical") for c in params.categorical]
    return [*kinds, *((c, "numeric") for c in params.numeric)]


def read_parts(folder: str | Path, columns: Sequence[str]) -> dict[str, pa.Table]:
    """The reference and current parts, only `columns` (those a part lacks are left for
    `profile` to name)."""
    parts = {}
    for part in (REFERENCE, *CURRENT):
        path = Path(folder) / f"{part}.parquet"
        parts[part] = read_table(path, columns)
        if parts[part].num_rows == 0:
            raise DataError(
                f"{path}: the {part} part has no rows, nothing to measure drift on "
                "(reports/featurize.json counts the rows featurize dropped)"
            )
    return parts


def part_drift(
    parts: dict[str, Any], featurize: FeaturizeParams, params: DriftParams
) -> list[DatasetDrift]:
    """Each current part against the reference part (profiled once); a part is a pyarrow Table
    or a pandas DataFrame."""
    columns = feature_columns(featurize)
    reference = profile(parts[REFERENCE], columns, REFERENCE)
    return [compare(reference, profile(parts[p], columns, p), params) for p in CURRENT]


def report(results: Sequence[DatasetDrift], params: DriftParams) -> dict[str, Any]:
    """The metrics file: per part its dataset verdict and features; how it was measured."""
    return {**{r.current: r.as_dict() for r in results}, "method": methods_record(params)}


def summary(results: Sequence[DatasetDrift]) -> dict[str, Any]:
    """The metrics file: per part the dataset's share, failed and warned counts and verdict,
    and its worst feature (reports/drift.json has the rest)."""
    return {r.current: r.summary() for r in results}


def failure(results: Sequence[DatasetDrift], fail_on: str) -> str | None:
    """Why the stage must stop under `drift.fail_on`, in one line; None when it need not."""
    for result in results:
        if (fail_on == "feature" and result.failed) or (
            fail_on == "dataset" and result.verdict == "fail"
        ):
            worst = result.ranked()[0]  # a failing feature: severity >= 1
            measure = max(worst.measures, key=lambda m: m.severity)
            where = f"{worst.feature} {measure.method} {measure.value} >= fail {measure.fail}"
            if fail_on == "feature":
                return f"{result.current}: {where} (drift.fail_on: feature)"
            return (
                f"{result.current}: dataset drift: {len(result.failed)} of "
                f"{len(result.features)} features fail (share {result.share} >= "
                f"drift.dataset_share {result.dataset_share}); worst: {where}"
            )
    return None


def _run(args: argparse.Namespace) -> None:
    params = load_params()
    parts = read_parts(args.data, [c for c, _ in feature_columns(params.featurize)])
    results = part_drift(parts, params.featurize, params.drift)
    write_json(args.report, report(results, params.drift))
    write_json(args.metrics, summary(results))
    drift_png(results, params.drift.plot_top, args.image)
    for result in results:
        failed = ", ".join(f.feature for f in result.failed) or "none"
        print(f"drift: {REFERENCE} -> {result.current}: {result.verdict}; fail: {failed}")
    why = failure(results, params.drift.fail_on)
    if why is not None:
        raise ValidationFailed(why, [why])


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage("drift", _run, argv, inputs=["data"], outputs=["report", "metrics", "image"])


if __name__ == "__main__":
    sys.exit(main())
