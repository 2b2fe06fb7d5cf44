"""`mlrepro monitor`: drift of what a model was asked to predict against the data it was trained
on, measured by the drift stage's own code (`mlrepro.pipeline.drift`: the same measures, bins
and thresholds, from the revision's params.yaml `drift:`).

The request log holds one record per predicted row: `time`, `request`, `model_md5`, `commit`,
the raw `input`, the `features` the model saw and its `output`; a refused request has `status`
and `error` and no features. The steps, each a pure function on in-memory records and frames:

- `select`: the records of one model (by md5) in the window (`since`), and what was left out:
  the records of other models (by md5), refused requests, records older than the window;
- `current_frame`: their features, one row per record, in the training data's dtypes;
- `measure`: the drift of each model feature, train -> serving (`too_few` first: fewer records
  than the drift code needs is no measurement);
- `judge`: the worst feature verdict and the features at or past the level that alerts;
- `Monitoring.as_dict`: the report.

The I/O is at the edges: the log's own reader (`requestlog.read_records`), `training_frame`
(the `train.parquet` the model was trained on: the featurize folder the train stage's dvc.lock
deps name at the revision, from the local DVC cache, each object checked against its md5), and
`monitor`, which runs the steps for a revision.

Exit codes of `mlrepro monitor`: 0 no feature reaches the alert level; 1 a feature does
(`fail`, or `warn` with `--fail-on warn`); 2 an input error: an unknown revision, a log folder
that is missing, a model or its training data not in the local DVC cache, too few records to
measure, a record that is not JSON or whose features do not fit the training data's dtypes.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from mlrepro.core.errors import MlreproError
from mlrepro.core.params import DriftParams, FeaturizeParams
from mlrepro.pipeline.drift import VERDICTS, DatasetDrift, drift, methods_record
from mlrepro.revisions import DVC_LOCK, Repository, Rev, Revision
from mlrepro.serving.requestlog import read_records
from mlrepro.serving.served import (
    FEATURIZE,
    TRAIN,
    Served,
    ServingError,
    cached_object,
    file_in_folders,
    load_served,
)
from mlrepro.stages.drift import REFERENCE, feature_columns

Record = Mapping[str, Any]
Level = Literal["warn", "fail"]
Kind = Literal["text", "integer", "float", "bool"]
CURRENT = "serving"  # the current side's name in the drift result, the table and the PNG
NO_MD5 = "(none)"  # a record that names no model, in `other_models`
WHAT: dict[Kind, str] = {
    "text": "a string",
    "integer": "an integer",
    "float": "a number",
    "bool": "true or false",
}


class MonitorError(MlreproError):
    """A log that cannot be measured: a record without a time or whose features do not fit the
    training data, too few records."""


@dataclass(frozen=True)
class Selection:
    model_md5: str
    used: tuple[Record, ...]  # the model's predicted rows in the window, oldest first
    read: int  # every record of the log
    refused: int  # the model's refused requests in the window: not inputs
    before: int  # older than `since`
    other_models: dict[str, int]  # model md5 -> records in the window, of models not this one

    def window(self, since: datetime | None = None) -> dict[str, Any]:
        times = [record_time(r) for r in self.used]
        return {
            "first": _iso(min(times)) if times else None,
            "last": _iso(max(times)) if times else None,
            "since": None if since is None else _iso(since),
            "records": len(self.used),
        }

    def skipped(self) -> str:
        """What was left out, in words: `3 refused; 12 of other models: 1a2b3c4 (12)`."""
        parts = [f"{self.refused} refused"] if self.refused else []
        if self.before:
            parts.append(f"{self.before} older than --since")
        if self.other_models:
            counts = ", ".join(f"{md5[:7]} ({n})" for md5, n in self.other_models.items())
            parts.append(f"{sum(self.other_models.values())} of other models: {counts}")
        return "; ".join(parts) or "none"


def select(
    records: Sequence[Record], model_md5: str, *, since: datetime | None = None
) -> Selection:
    """The records of model `model_md5` at or after `since` that are predicted rows."""
    used, refused, before, others = [], 0, 0, Counter[str]()
    for record in records:
        if since is not None and record_time(record) < since:
            before += 1
        elif record.get("model_md5") != model_md5:
            others[str(record.get("model_md5") or NO_MD5)] += 1
        elif is_refused(record):
            refused += 1
        else:
            used.append(record)
    return Selection(
        model_md5, tuple(used), len(records), refused, before, dict(sorted(others.items()))
    )


def is_refused(record: Record) -> bool:
    """A request the server refused (`error`, no features): nothing the model saw."""
    return "error" in record or not isinstance(record.get("features"), Mapping)


def parse_time(text: str) -> datetime:
    """An ISO 8601 time, aware; one without a zone is UTC (the log writes UTC). ValueError."""
    when = datetime.fromisoformat(text)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def record_time(record: Record) -> datetime:
    value = record.get("time")
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return parse_time(value)
    raise MonitorError(f"{describe(record)}: time {value!r} is not an ISO 8601 time")


def describe(record: Record) -> str:
    """A record, as an error names it: its request and time."""
    return f"log record of request {record.get('request')!r} at {record.get('time')!r}"


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def current_frame(records: Sequence[Record], dtypes: Mapping[str, Any]) -> pd.DataFrame:
    """The `features` of `records` as a frame: one column per name of `dtypes` (the training
    data's), in that dtype, or its nullable twin when it cannot hold a missing value (int64:
    Int64, bool: boolean); null as missing. MonitorError names a record that lacks a feature or
    holds a value of another type (a string for a number, 2.5 for an integer)."""
    columns = {}
    for name, dtype in dtypes.items():
        kind = value_kind(dtype, name)
        values = [_value(record, name, kind, dtype) for record in records]
        columns[name] = pd.Series(values, dtype=holding_missing(dtype, kind), name=name)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(records)))


def value_kind(dtype: Any, name: str) -> Kind:
    if isinstance(dtype, pd.CategoricalDtype):
        return "text"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_string_dtype(dtype):
        return "text"
    raise MonitorError(f"training data: feature {name!r} is {dtype}, not a number or a category")


def holding_missing(dtype: Any, kind: Kind) -> Any:
    """`dtype` when it can hold a missing value, else the nullable dtype of its kind."""
    if isinstance(dtype, pd.CategoricalDtype):
        return "string"
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) or kind in ("float", "text"):
        return dtype
    return "Int64" if kind == "integer" else "boolean"


def _value(record: Record, name: str, kind: Kind, dtype: Any) -> Any:
    features = record["features"]
    if name not in features:
        raise MonitorError(f"{describe(record)}: no feature {name!r} (a feature of the model)")
    value = features[name]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        if kind == "bool":
            return value
    elif kind == "text" and isinstance(value, str):
        return value
    elif kind == "float" and isinstance(value, int | float):
        return float(value)
    elif kind == "integer" and isinstance(value, int | float) and float(value).is_integer():
        return int(value)
    raise MonitorError(
        f"{describe(record)}: feature {name!r} is {value!r}, not {WHAT[kind]} "
        f"(the training data's dtype: {dtype})"
    )


def min_records(featurize: FeaturizeParams, params: DriftParams) -> int:
    """The fewest records drift can measure: `drift.bins` when the model has a numeric feature
    (with fewer, a quantile bin of train is empty and counts as 0.0001: its PSI term alone,
    about 0.1 * ln(0.1 / 0.0001) = 0.69, fails every numeric feature whatever the data), else
    one."""
    return max(params.bins, 1) if featurize.numeric else 1


def too_few(selection: Selection, featurize: FeaturizeParams, params: DriftParams) -> str | None:
    """Why `selection` cannot be measured, in one line; None when it can."""
    need = min_records(featurize, params)
    if len(selection.used) >= need:
        return None
    found = (
        f"{len(selection.used)} records of model {selection.model_md5} to measure (of "
        f"{selection.read} read; skipped: {selection.skipped()})"
    )
    if need == 1:
        return found
    return (
        f"{found}; drift needs at least {need} (drift.bins: with fewer, a quantile bin of "
        f"{REFERENCE} is empty and every numeric feature fails)"
    )


def measure(
    reference: pd.DataFrame, current: pd.DataFrame, featurize: FeaturizeParams, params: DriftParams
) -> DatasetDrift:
    """Each model feature of `current` against `reference`, as the drift stage measures it."""
    columns = feature_columns(featurize)
    return drift(reference, current, columns, params, names=(REFERENCE, CURRENT))


@dataclass(frozen=True)
class Alert:
    worst: str  # the worst feature verdict: ok, warn or fail
    fail_on: Level
    features: tuple[str, ...]  # at or past `fail_on`, most drifted first

    @property
    def exit_code(self) -> int:
        return 1 if self.features else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "worst": self.worst,
            "fail_on": self.fail_on,
            "alert": bool(self.features),
            "features": list(self.features),
        }


def judge(result: DatasetDrift, fail_on: Level = "fail") -> Alert:
    """The features whose verdict is `fail_on` or worse; the worst verdict of all."""
    level = VERDICTS.index(fail_on)
    ranked = result.ranked()
    worst = max((f.verdict for f in ranked), key=VERDICTS.index, default="ok")
    hits = tuple(f.feature for f in ranked if VERDICTS.index(f.verdict) >= level)
    return Alert(worst, fail_on, hits)


@dataclass(frozen=True)
class Model:
    """The model monitored and the data it was trained on."""

    rev: str
    commit: str | None  # None: the workspace
    path: str
    md5: str
    training_path: str
    training_md5: str


@dataclass(frozen=True)
class Monitoring:
    model: Model
    selection: Selection
    since: datetime | None
    result: DatasetDrift
    params: DriftParams
    alert: Alert

    def as_dict(self) -> dict[str, Any]:
        """The report: the model, the window, what was skipped, each feature's measures and
        verdict (as `mlrepro drift --json` has them), how they were measured, the verdict."""
        selection = self.selection
        return {
            "rev": self.model.rev,
            "commit": self.model.commit,
            "model": {"path": self.model.path, "md5": self.model.md5},
            "training": {"path": self.model.training_path, "md5": self.model.training_md5},
            "window": selection.window(self.since),
            "records": {
                "read": selection.read,
                "used": len(selection.used),
                "refused": selection.refused,
                "before_since": selection.before,
                "other_models": selection.other_models,
            },
            "current": self.result.current,
            **self.result.as_dict(),
            "method": methods_record(self.params),
            "verdict": self.alert.as_dict(),
        }


def monitor(
    repo: Repository,
    log: Path,
    rev: str,
    *,
    since: datetime | None = None,
    fail_on: Level = "fail",
) -> Monitoring:
    """Drift of the inputs model `rev` was served in `log` (at or after `since`) against its
    training data, and the alert at `fail_on`; MonitorError, ServingError or RevError in one
    line when it cannot be measured."""
    records = read_records(log)
    served = load_served(repo, rev)
    selection = select(records, served.model_md5, since=since)
    params = served.params
    why = too_few(selection, params.featurize, params.drift)
    if why is not None:
        raise MonitorError(f"{log}: {why}")
    reference, model = training_frame(repo, served)
    current = current_frame(selection.used, {str(c): reference[c].dtype for c in reference.columns})
    result = measure(reference, current, params.featurize, params.drift)
    return Monitoring(model, selection, since, result, params.drift, judge(result, fail_on))


def training_frame(repo: Repository, served: Served) -> tuple[pd.DataFrame, Model]:
    """The model features of the `train.parquet` the model was trained on: in the featurize
    output folder as the train stage's dvc.lock deps record it (its md5 then, whatever featurize
    wrote since), from the local DVC cache (checked against the md5 in the folder's listing).
    ServingError when the record or the cache lacks it."""
    revision = Revision(repo, Rev(served.rev, served.commit))
    at = "the workspace" if served.commit is None else f"{served.rev} ({served.commit[:7]})"
    name = f"{REFERENCE}.parquet"
    stages = revision.lock.get("stages") or {}  # load_served found both stages
    made = {str(o.get("path")) for o in stages[FEATURIZE].get("outs") or []}
    folders = [
        d
        for d in stages[TRAIN].get("deps") or []
        if str(d.get("path")) in made and str(d.get("md5", "")).endswith(".dir")
    ]
    found = ((d, file_in_folders(repo, [d], name)) for d in folders)
    folder, md5 = next(((d, m) for d, m in found if m is not None), (None, None))
    if folder is None or md5 is None:
        raise ServingError(f"{DVC_LOCK} at {at}: no {FEATURIZE} folder {TRAIN} read holds {name}")
    path = f"{folder['path']}/{name}"
    data = cached_object(repo, md5, f"{path} (md5 {md5}, read by {TRAIN} at {at})")
    frame = pd.read_parquet(io.BytesIO(data), engine="pyarrow")
    present = [c for c, _ in feature_columns(served.params.featurize) if c in frame.columns]
    model = Model(served.rev, served.commit, served.model_path, served.model_md5, path, md5)
    return frame[present], model
