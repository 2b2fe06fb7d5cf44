"""train: fit the model Pipeline on the training part; write it as a skops file (no pickle) with a
model card (JSON).

The card names its lineage, so a model file carries it outside the repo too: the model file's
size, md5 (what dvc.lock records) and sha256; the snapshots the data came from (ingest's
manifest, `--snapshots`); and the code, as the git object id of each code dep dvc.yaml declares
for this stage (a content hash: `git rev-parse <commit>:<path>` equals it where that code was
committed; `mlrepro lineage` finds the commits). Never a commit id or a time: the card's bytes
must come out the same when `mlrepro verify` re-runs the commit.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from mlrepro import revisions
from mlrepro.core.errors import DataError
from mlrepro.core.files import digest_file, read_json, read_parquet, sha256_file, write_json
from mlrepro.core.params import Params, check_train, load_params
from mlrepro.core.shell import run_stage
from mlrepro.core.threads import pinned_threads
from mlrepro.pipeline import modelfile
from mlrepro.pipeline.environment import environment
from mlrepro.pipeline.gitobjects import NotInGit, object_ids
from mlrepro.pipeline.model import build_pipeline, check_estimator_params
from mlrepro.revisions import WORKSPACE, Repository, Rev, Revision
from mlrepro.revisions.pipeline import join, stage_wdir

STAGE = "train"  # its name in dvc.yaml: the card names this stage's code deps


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


def model_card(
    df: pd.DataFrame,
    params: Params,
    inputs: dict[str, str],
    model: dict[str, Any],
    lineage: dict[str, Any],
) -> dict[str, Any]:
    """The card: what was fitted on what (`inputs`: path -> sha256), the model file (`model_file`)
    and where it came from (`lineage`: `snapshot_lineage`, `code_lineage`)."""
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
        "model": model,
        "lineage": lineage,
    }
    time_column = params.split.time_column
    if time_column:
        card["training"]["from"] = df[time_column].min().isoformat()
        card["training"]["to"] = df[time_column].max().isoformat()
    return card


def model_file(path: str | Path) -> dict[str, Any]:
    """The model file as written: its path, size, md5 (as dvc.lock records it) and sha256."""
    digest = digest_file(path, "md5", "sha256")
    return {
        "path": Path(path).as_posix(),
        "bytes": digest.bytes,
        "md5": digest["md5"],
        "sha256": digest["sha256"],
    }


def snapshot_lineage(manifest: Any, where: str) -> dict[str, dict[str, str]]:
    """Per source, the snapshot id and content sha256 that ingest's manifest (read from
    `where`) names."""
    sources = manifest.get("sources") if isinstance(manifest, dict) else None
    if not isinstance(sources, dict):
        raise DataError(f"{where}: no 'sources' mapping (re-run ingest)")
    found = {}
    for name, entry in sorted(sources.items()):
        try:
            found[name] = {"id": entry["snapshot"], "content_sha256": entry["content_sha256"]}
        except (KeyError, TypeError):
            raise DataError(
                f"{where}: sources.{name}: needs 'snapshot' and 'content_sha256' (re-run ingest)"
            ) from None
    return found


def code_deps(pipeline: revisions.Pipeline, name: str) -> list[str]:
    """The deps of stage `name` that no stage writes (its code and config), relative to the
    repository, in dvc.yaml's order: not an output of any stage, nor inside one."""
    outs = [out.path for out in pipeline.outs()]
    stage = pipeline.stages[name]
    deps = [join(stage_wdir(stage), str(dep)) for dep in stage.get("deps") or []]
    return [d for d in deps if not any(d == o or d.startswith(f"{o}/") for o in outs)]


def code_lineage(root: Path, paths: Sequence[str]) -> dict[str, Any]:
    """`{"git_objects": {path: id}}` (`pipeline/gitobjects`); outside git the reason instead."""
    try:
        return {"git_objects": object_ids(root, paths)}
    except NotInGit as exc:
        return {"git_objects": None, "reason": str(exc)}


def _lineage(snapshots: str) -> dict[str, Any]:
    """The snapshots from ingest's manifest; the code from dvc.yaml, read by the one reader."""
    pipeline = Revision(Repository(Path.cwd()), Rev(WORKSPACE, None)).pipeline
    return {
        "snapshots": snapshot_lineage(read_json(snapshots), snapshots),
        "code": code_lineage(Path.cwd(), code_deps(pipeline, STAGE)),
    }


def _run(args: argparse.Namespace) -> None:
    params = load_params()
    path = Path(args.data) / "train.parquet"
    df = read_parquet(path)
    lineage = _lineage(args.snapshots)  # before fitting: a bad manifest fails in no time
    with pinned_threads(params.threads):
        pipeline = fit(df, params)
    modelfile.save(pipeline, args.model)
    inputs = {path.as_posix(): sha256_file(path)}
    write_json(args.card, model_card(df, params, inputs, model_file(args.model), lineage))
    print(f"train: fitted on {len(df)} rows, {len(params.featurize.features)} features")


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage(STAGE, _run, argv, inputs=["data", "snapshots"], outputs=["model", "card"])


if __name__ == "__main__":
    sys.exit(main())
