"""Drift of each feature between a reference table (train, last month's snapshot) and a current
one, as data: pure functions on DataFrames returning frozen dataclasses; no I/O.

- numeric: PSI over quantile bins of the reference, and the Wasserstein distance divided by the
  reference's standard deviation;
- categorical: the L-infinity distance (largest change of one category's share) and the
  Jensen-Shannon distance, natural log.

Missing values (null, or a number that is not finite) are one more bin or category in PSI,
L-infinity and Jensen-Shannon, so a change in missingness is drift too; Wasserstein compares the
values only. A measure's verdict is `fail` from its fail threshold, `warn` from its warn
threshold, else `ok`; a feature's is its worst measure's; the dataset drifts when at least
`dataset_share` of its features fail. Every number is rounded to DIGITS, so float noise in the
last bits never shows as a change, and nothing depends on threads or locale.

A table is a pandas DataFrame (`mlrepro drift`) or a pyarrow Table (the stage: read straight
from Parquet, no pandas import, strings never become Python objects); both give the same
profile. The Wasserstein and Jensen-Shannon distances are computed here, to scipy's definitions
(tests/unit/test_drift.py compares them with scipy's), so the stage does not import scipy.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrepro.core.errors import DataError
from mlrepro.core.params import DriftParams, Thresholds
from mlrepro.pipeline.arrow import integers, is_number, is_text, numbers

if TYPE_CHECKING:
    import pandas as pd

Kind = Literal["numeric", "categorical"]
Verdict = Literal["ok", "warn", "fail"]
VERDICTS: tuple[Verdict, ...] = ("ok", "warn", "fail")
DIGITS = 6  # as the metrics (pipeline/evaluation.py); not imported: that would load sklearn
LOG_BASE = "e"  # PSI and Jensen-Shannon in nats: JS distance is at most sqrt(ln 2) = 0.8326
EPSILON = 1e-4  # PSI: an empty bin's share counts as this (no renormalisation), as in Evidently
MIN_SCALE = 1e-3  # Wasserstein / max(std, this): a constant reference still gives a number
MISSING = "(missing)"  # the label of the missing-value bin or category
METHOD_NOTES = {
    "psi": (
        "sum over bins of (cur - ref) * ln(cur / ref); bins: quantiles of the reference, "
        f"right-closed, plus one for missing values; an empty bin's share counts as {EPSILON}"
    ),
    "wasserstein": (
        "area between the two CDFs of the values (missing left out), as "
        "scipy.stats.wasserstein_distance, divided by the reference's standard deviation "
        f"(ddof 0, at least {MIN_SCALE})"
    ),
    "jensenshannon": (
        "sqrt of the mean KL divergence of each side from their mixture, natural log, as "
        "scipy.spatial.distance.jensenshannon, over the categories of both sides and missing"
    ),
    "linf": "largest absolute change of one category's share (missing counts as a category)",
}


@dataclass(frozen=True)
class Measure:
    method: str  # psi | wasserstein | jensenshannon | linf
    value: float | None  # None: not measurable (no values on one side)
    warn: float
    fail: float

    @property
    def verdict(self) -> Verdict | None:
        if self.value is None:
            return None
        return "fail" if self.value >= self.fail else "warn" if self.value >= self.warn else "ok"

    @property
    def severity(self) -> float:
        """Value as a multiple of the fail threshold: comparable across methods."""
        if self.value is None:
            return 0.0
        return self.value / self.fail if self.fail > 0 else math.inf


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: Kind
    binning: str  # "quantile" (of the reference) or "category"
    bins: int  # value bins or categories, not counting the missing one
    measures: tuple[Measure, ...]
    missing_ref: float  # share of missing values in the reference
    missing_cur: float
    labels: tuple[str, ...]  # the bins (or categories) and MISSING: what the shares count
    shares_ref: tuple[float, ...]
    shares_cur: tuple[float, ...]
    unseen: float | None = None  # categorical: share of current rows in categories ref lacks

    @property
    def verdict(self) -> Verdict:
        verdicts = [m.verdict for m in self.measures if m.verdict is not None]
        return max(verdicts, key=VERDICTS.index, default="ok")

    @property
    def severity(self) -> float:
        return max(m.severity for m in self.measures)

    def as_dict(self) -> dict[str, Any]:
        """Numbers and short strings, for a metrics file: one key per measure."""
        out: dict[str, Any] = {
            "method": "+".join(m.method for m in self.measures),
            "log_base": LOG_BASE,
            "binning": self.binning,
            "bins": self.bins,
            "missing_ref": self.missing_ref,
            "missing_cur": self.missing_cur,
            "verdict": self.verdict,
        }
        if self.kind == "numeric":
            out["epsilon"] = EPSILON
        else:
            out["unseen"] = self.unseen
        out.update({m.method: m.value for m in self.measures})
        return out


@dataclass(frozen=True)
class DatasetDrift:
    reference: str  # what was compared, e.g. "train" and "test"
    current: str
    rows_ref: int
    rows_cur: int
    features: tuple[FeatureDrift, ...]
    dataset_share: float  # the dataset drifts when at least this share of features fail

    @property
    def failed(self) -> tuple[FeatureDrift, ...]:
        return tuple(f for f in self.features if f.verdict == "fail")

    @property
    def share(self) -> float:
        return round(len(self.failed) / len(self.features), DIGITS) if self.features else 0.0

    @property
    def verdict(self) -> Verdict:
        """fail: dataset drift; warn: a feature warns or fails; ok: none does."""
        if self.features and self.share >= self.dataset_share:
            return "fail"
        return "warn" if any(f.verdict != "ok" for f in self.features) else "ok"

    def ranked(self) -> list[FeatureDrift]:
        """Most drifted first (severity: value over fail threshold), then by name."""
        return sorted(self.features, key=lambda f: (-f.severity, f.feature))

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "rows_ref": self.rows_ref,
            "rows_cur": self.rows_cur,
            "dataset": {
                "features": len(self.features),
                "drifted": len(self.failed),
                "share": self.share,
                "threshold": self.dataset_share,
                "verdict": self.verdict,
            },
            "features": {f.feature: f.as_dict() for f in self.features},
        }

    def summary(self) -> dict[str, Any]:
        """What a reviewer compares across commits: the share of features that fail (gated),
        how many fail and warn, the verdict, and the most drifted feature with its worst
        measure, keyed by the method (a PSI is never compared with a Jensen-Shannon distance)."""
        out: dict[str, Any] = {
            "dataset": {
                "share": self.share,
                "failed": len(self.failed),
                "warned": sum(f.verdict == "warn" for f in self.features),
                "verdict": self.verdict,
            }
        }
        if self.features:
            worst = self.ranked()[0]
            measure = max(worst.measures, key=lambda m: m.severity)
            out["worst"] = {"feature": worst.feature, measure.method: measure.value}
        return out


def methods_record(params: DriftParams) -> dict[str, Any]:
    """How every number was made, once per report: each method's rule and default thresholds,
    the per-feature overrides, the bin count asked for."""
    return {
        "bins": params.bins,
        "log_base": LOG_BASE,
        "methods": {
            method: {
                "rule": note,
                "warn": params.thresholds[method].warn,
                "fail": params.thresholds[method].fail,
            }
            for method, note in METHOD_NOTES.items()
        },
        "overrides": {
            feature: {m: {"warn": t.warn, "fail": t.fail} for m, t in limits.items()}
            for feature, limits in params.features.items()
        },
    }


Column = Any  # a pandas Series, or a pyarrow (Chunked)Array


@dataclass(frozen=True)
class Sample:
    """A numeric column as its distinct finite values (sorted), their counts and its rows: the
    distribution is all the measures need, and it is much smaller than the column."""

    values: np.ndarray
    counts: np.ndarray
    rows: int

    @classmethod
    def of(cls, column: Column, name: str) -> Sample:
        """From a pandas Series or a pyarrow array of numbers (bool is not a number here)."""
        if _is_arrow(column):
            return cls._of_arrow(column, name)
        numbers = _numbers(column, name)
        values, counts = np.unique(numbers[np.isfinite(numbers)], return_counts=True)
        return cls(values, counts, len(numbers))

    @classmethod
    def _of_arrow(cls, column: pa.ChunkedArray | pa.Array, name: str) -> Sample:
        """pyarrow counts the distinct values (a hash table), numpy sorts only those: the same
        Sample as np.unique over the column, several times faster."""
        kind = column.type
        if not is_number(kind):
            shown = "string" if is_text(kind) else kind  # as pandas names a text column
            raise DataError(f"drift: {name!r} is {shown}, not a number")
        found = pc.value_counts(pc.cast(column, pa.float64(), safe=False))
        values, counts = numbers(found.field("values")), integers(found.field("counts"))
        finite = np.isfinite(values)
        order = np.argsort(values[finite], kind="stable")
        values, counts = values[finite][order], counts[finite][order]
        distinct, first = np.unique(values, return_index=True)  # -0.0 and 0.0 hash apart
        summed = np.add.reduceat(counts, first) if len(first) else counts
        return cls(distinct, summed, len(column))

    @property
    def size(self) -> int:
        return int(self.counts.sum())


def _is_arrow(column: Column) -> bool:
    return isinstance(column, pa.ChunkedArray | pa.Array)


def _numbers(series: pd.Series, name: str) -> np.ndarray:
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series):
        raise DataError(f"drift: {name!r} is {series.dtype}, not a number")
    return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan))


@dataclass(frozen=True)
class Counts:
    """A categorical column as its rows per category (as text), missing rows and rows."""

    counts: dict[str, int]
    missing: int
    rows: int

    @classmethod
    def of(cls, column: Column) -> Counts:
        """From a pandas Series (each value as pandas' "string" dtype writes it) or a pyarrow
        array of strings."""
        if _is_arrow(column):
            found = pc.value_counts(column).to_pylist()  # [{"values": v, "counts": n}, ...]
            counts = {str(c["values"]): int(c["counts"]) for c in found if c["values"] is not None}
            return cls(counts, column.null_count, len(column))
        text = column.astype("string")
        counts = text.value_counts(dropna=True, sort=False)
        return cls({str(k): int(v) for k, v in counts.items()}, int(text.isna().sum()), len(text))


@dataclass(frozen=True)
class Profile:
    """A table as the distribution of each compared column: all that drift needs of it."""

    name: str
    rows: int
    columns: dict[str, Sample | Counts]


def profile(
    table: pd.DataFrame | pa.Table, columns: Sequence[tuple[str, Kind]], name: str
) -> Profile:
    """The distributions of `columns` (name, kind) of `table`, which `name` names in errors."""
    if isinstance(table, pa.Table):
        rows, present = table.num_rows, list(table.column_names)
    else:
        rows, present = len(table), list(table.columns)
    if rows == 0:
        raise DataError(f"drift: {name} has no rows")
    absent = [c for c, _ in columns if c not in present]
    if absent:
        raise DataError(f"drift: {name} has no column {absent[0]!r}")
    return Profile(
        name,
        rows,
        {
            c: Sample.of(table[c], c) if kind == "numeric" else _counts(table, c)
            for c, kind in columns
        },
    )


def _counts(table: pd.DataFrame | pa.Table, column: str) -> Counts:
    """Categories of a pyarrow column of strings counted by pyarrow; anything else (numbers or
    booleans as categories) as text the way pandas writes it, so both kinds of table agree."""
    if isinstance(table, pa.Table) and not is_text(table.schema.field(column).type):
        return Counts.of(table.select([column]).to_pandas()[column])
    return Counts.of(table[column])


def compare(reference: Profile, current: Profile, params: DriftParams) -> DatasetDrift:
    """Drift of each column of `reference` in `current` (profiled with the same columns)."""
    features = []
    for name, ref in reference.columns.items():
        cur = current.columns[name]
        if isinstance(ref, Sample) and isinstance(cur, Sample):
            features.append(numeric_drift(ref, cur, params, name=name))
        elif isinstance(ref, Counts) and isinstance(cur, Counts):
            features.append(categorical_drift(ref, cur, params, name=name))
        else:
            raise DataError(f"drift: {name!r} is numeric on one side, categorical on the other")
    return DatasetDrift(
        reference.name,
        current.name,
        reference.rows,
        current.rows,
        tuple(features),
        params.dataset_share,
    )


def drift(
    reference: pd.DataFrame | pa.Table,
    current: pd.DataFrame | pa.Table,
    columns: Sequence[tuple[str, Kind]],
    params: DriftParams,
    *,
    names: tuple[str, str] = ("reference", "current"),
) -> DatasetDrift:
    """Drift of each (column, kind) from `reference` to `current`; `names` say what they are."""
    return compare(
        profile(reference, columns, names[0]), profile(current, columns, names[1]), params
    )


def numeric_drift(ref: Sample, cur: Sample, params: DriftParams, *, name: str) -> FeatureDrift:
    """PSI over quantile bins of the reference (and a missing bin); normalised Wasserstein."""
    edges = quantile_edges(ref, params.bins)
    shares_ref, shares_cur = bin_shares(ref, edges), bin_shares(cur, edges)
    limits = params.limits
    measures = (
        Measure("psi", _round(psi(shares_ref, shares_cur)), *_pair(limits(name, "psi"))),
        Measure(
            "wasserstein",
            _maybe(normalised_wasserstein(ref, cur)),
            *_pair(limits(name, "wasserstein")),
        ),
    )
    return FeatureDrift(
        feature=name,
        kind="numeric",
        binning="quantile",
        bins=len(edges) + 1,
        measures=measures,
        missing_ref=_round(float(shares_ref[-1])),
        missing_cur=_round(float(shares_cur[-1])),
        labels=(*bin_labels(edges), MISSING),
        shares_ref=tuple(_round(float(s)) for s in shares_ref),
        shares_cur=tuple(_round(float(s)) for s in shares_cur),
    )


def categorical_drift(ref: Counts, cur: Counts, params: DriftParams, *, name: str) -> FeatureDrift:
    """L-infinity and Jensen-Shannon distance over the categories of both sides and missing."""
    categories = sorted(ref.counts.keys() | cur.counts.keys())
    p = np.array([*(ref.counts.get(c, 0) for c in categories), ref.missing]) / ref.rows
    q = np.array([*(cur.counts.get(c, 0) for c in categories), cur.missing]) / cur.rows
    unseen = sum(n for c, n in cur.counts.items() if c not in ref.counts) / cur.rows
    limits = params.limits
    measures = (
        Measure("jensenshannon", _round(js_distance(p, q)), *_pair(limits(name, "jensenshannon"))),
        Measure("linf", _round(float(np.max(np.abs(p - q)))), *_pair(limits(name, "linf"))),
    )
    return FeatureDrift(
        feature=name,
        kind="categorical",
        binning="category",
        bins=len(categories),
        measures=measures,
        missing_ref=_round(float(p[-1])),
        missing_cur=_round(float(q[-1])),
        labels=(*categories, MISSING),
        shares_ref=tuple(_round(float(s)) for s in p),
        shares_cur=tuple(_round(float(s)) for s in q),
        unseen=_round(unseen),
    )


def quantile_edges(sample: Sample, bins: int) -> np.ndarray:
    """Inner edges of `bins` equal-mass bins: the reference's quantiles at 1/bins, 2/bins, ...
    (numpy's default, linear, method), duplicates and edges at the maximum dropped, so a discrete
    or constant column gets fewer bins and none is empty by construction; none without values."""
    n = sample.size
    if n == 0:
        return np.empty(0)
    position = np.arange(1, bins) / bins * (n - 1)  # in numpy's order: the same floats
    below = np.floor(position).astype(np.int64)
    ends = np.cumsum(sample.counts)  # sorted position of each distinct value's last copy, + 1

    def nth(k: np.ndarray) -> np.ndarray:
        return np.asarray(sample.values[np.searchsorted(ends, k, side="right")])

    low, high, t = nth(below), nth(np.minimum(below + 1, n - 1)), position - below
    between = np.where(t < 0.5, low + (high - low) * t, high - (high - low) * (1 - t))  # as numpy
    edges = np.unique(between)
    return np.asarray(edges[edges < sample.values[-1]])


def bin_shares(sample: Sample, edges: np.ndarray) -> np.ndarray:
    """Share of the rows in each right-closed bin (-inf, e0], (e0, e1], ..., (ek, inf), then the
    missing share."""
    index = np.searchsorted(edges, sample.values, side="left")
    counts = np.bincount(index, weights=sample.counts, minlength=len(edges) + 1)
    return np.append(counts, sample.rows - sample.size) / sample.rows


def bin_labels(edges: np.ndarray) -> list[str]:
    if edges.size == 0:
        return ["all values"]
    shown = [f"{e:.4g}" for e in edges]
    inner = [f"({a}, {b}]" for a, b in itertools.pairwise(shown)]
    return [f"≤ {shown[0]}", *inner, f"> {shown[-1]}"]


def psi(ref: np.ndarray, cur: np.ndarray) -> float:
    """Population stability index of two share vectors; an empty bin counts as EPSILON."""
    p, q = np.where(ref > 0, ref, EPSILON), np.where(cur > 0, cur, EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def normalised_wasserstein(ref: Sample, cur: Sample) -> float | None:
    """The Wasserstein distance over the distinct values weighted by their counts (the same
    number as over the raw values, in a fraction of the time) / the reference's std (ddof 0)."""
    if ref.size == 0 or cur.size == 0:
        return None
    mean = np.average(ref.values, weights=ref.counts)
    std = math.sqrt(float(np.average((ref.values - mean) ** 2, weights=ref.counts)))
    return wasserstein(ref, cur) / max(std, MIN_SCALE)


def wasserstein(u: Sample, v: Sample) -> float:
    """1-D Wasserstein distance of two weighted samples: the integral of |U - V| over the merged
    support, U and V their CDFs. The steps of scipy.stats.wasserstein_distance (`_cdf_distance`
    with p = 1; a Sample's values are already sorted)."""
    support = np.concatenate((u.values, v.values))
    support.sort(kind="mergesort")
    deltas = np.diff(support)
    return float(np.dot(np.abs(_cdf(u, support[:-1]) - _cdf(v, support[:-1])), deltas))


def _cdf(sample: Sample, at: np.ndarray) -> np.ndarray:
    cumulative = np.concatenate(([0.0], np.cumsum(sample.counts.astype(np.float64))))
    return np.asarray(cumulative[sample.values.searchsorted(at, "right")] / cumulative[-1])


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance of two share vectors, natural log: sqrt((KL(p, m) + KL(q, m)) /
    2), m their mean; scipy.spatial.distance.jensenshannon's steps (each side normalised first,
    0 * log 0 = 0)."""
    p, q = p / np.sum(p), q / np.sum(q)
    m = (p + q) / 2.0
    half = (_relative_entropy(p, m) + _relative_entropy(q, m)) / 2.0
    return math.sqrt(half) if half > 0 else 0.0  # identical sides can sum to -0.0...


def _relative_entropy(x: np.ndarray, y: np.ndarray) -> float:
    """sum of x * ln(x / y), 0 where x is 0 (scipy.special.rel_entr; y > 0 wherever x > 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(x > 0, x * np.log(x / y), 0.0)
    return float(np.sum(terms))


def _pair(limits: Thresholds) -> tuple[float, float]:
    return limits.warn, limits.fail


def _round(value: float) -> float:
    return round(value, DIGITS) + 0.0  # + 0.0: never -0.0


def _maybe(value: float | None) -> float | None:
    return None if value is None else _round(value)
