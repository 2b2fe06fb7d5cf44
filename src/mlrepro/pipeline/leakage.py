"""Leakage and test independence on the data, as data: pure functions on DataFrames returning
frozen dataclasses; no I/O. The fit-only-on-train check (dvc.yaml and the stages' code) is in
`pipeline/independence.py`.

- Label proxy: per model feature, the ROC AUC on train of a one-feature model of the label. A
  category, a numeric's value (at most `bins` distinct values) or its quantile bin is encoded by
  the label's rate in the other folds (seeded K-fold), never in-sample: in-sample, an identifier
  or a fine numeric memorises the label. The AUC is the Mann-Whitney count over the (fold, code)
  cells weighted by their rows: scikit-learn's `roc_auc_score` over the rows, to the last bits
  (tests/unit/test_leakage.py checks it), without importing scikit-learn (1 s of the stage). It
  is reported as is, not max(AUC, 1 - AUC): the encoding already points every feature towards
  the label (a strong inverse relation scores high too), so an AUC under 0.5 is out-of-fold
  noise of a feature with no signal, and folding it would count noise as signal.
- Temporal: with a time split, no later part has a row earlier than the last row of an earlier
  one; a join's time key (a datetime join key) is at or before the example's time.
- Overlap: test rows whose key (when the main table declares one) a train row has: the same
  example in both parts, a failure from one row on; and test rows identical to a train row
  (features and label): a warning from one row on, a failure above a share of the test part,
  since different examples can share every feature value (same carrier, route, hour and weather
  with no plane record). Rows are compared by a 64-bit hash of their values (a false match among
  10^10 pairs: about 1 in 10^9).

The tables are pyarrow Tables (the stage reads them so: no pandas import, no Python object per
string) or pandas DataFrames (converted; the tests pass them); `pipeline/arrow.py` turns columns
into numpy arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrepro.core.errors import DataError
from mlrepro.core.params import FeaturizeParams, Join, LeakageParams
from mlrepro.pipeline.arrow import as_array, as_table, codes, integers, is_number, numbers

Table = Any  # a pyarrow Table, or a pandas DataFrame (converted by as_table)

Level = Literal["warn", "fail"]
ProxyVerdict = Literal["pass", "warn", "fail", "allowed"]
ORDER = ("train", "valid", "test")  # the parts, earliest first under a time split
DIGITS = 6  # as the metrics (pipeline/evaluation.py); not imported: that would load sklearn
MISSING_BITS = np.uint64(0x7FF8DEADBEEF0001)  # a NaN payload no number has: a missing number


@dataclass(frozen=True)
class Proxy:
    """One feature's out-of-fold ROC AUC on train and its verdict."""

    feature: str
    auc: float
    verdict: ProxyVerdict
    reason: str | None = None  # why an allowed feature is allowed (leakage.allowed)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"auc": self.auc, "verdict": self.verdict}
        return out | ({"reason": self.reason} if self.reason else {})


@dataclass(frozen=True)
class JoinTime:
    """A join's time key and how many rows it takes at a time after the example's."""

    table: str
    key: str | None  # None: the join has no time key (static attributes), nothing to compare
    after_example: int | None


@dataclass(frozen=True)
class Temporal:
    """Rows of a later part earlier than the last row of an earlier part, per pair, and joins."""

    time_column: str | None  # None: a random split, nothing to check
    earlier: dict[str, int]  # e.g. "test_before_train_end" -> rows
    joins: tuple[JoinTime, ...] = ()

    @property
    def violations(self) -> int:
        return sum(self.earlier.values()) + sum(j.after_example or 0 for j in self.joins)


@dataclass(frozen=True)
class Overlap:
    """Test rows identical to a train row (features and label), and by the main table's key."""

    test_rows: int
    identical: int
    max_share: float  # leakage.overlap_max: identical rows fail above this share of test
    key: tuple[str, ...] = ()  # () when the main table declares none
    by_key: int | None = None  # test rows whose key occurs in train

    @property
    def share(self) -> float:
        return round(self.identical / self.test_rows, DIGITS) if self.test_rows else 0.0

    @property
    def failed(self) -> bool:
        return self.share > self.max_share or bool(self.by_key)

    @property
    def verdict(self) -> Literal["pass", "warn", "fail"]:
        return "fail" if self.failed else "warn" if self.identical else "pass"


@dataclass(frozen=True)
class Finding:
    """A warning or failure, as the one line the stage prints."""

    check: str
    level: Level
    message: str


def fold_ids(rows: int, folds: int, seed: int) -> np.ndarray:
    """Each row's fold: a seeded permutation, dealt round-robin (fold sizes differ by one)."""
    return np.random.default_rng(seed).permutation(rows) % folds


def feature_codes(values: Any, *, categorical: bool, bins: int) -> np.ndarray:
    """One integer per row: its category; a numeric's value when it has at most `bins`
    distinct values, else its quantile bin (edges from all rows: they see no label). A missing
    value gets a code of its own. `values`: a pyarrow or pandas column."""
    array = as_array(values)
    if not categorical and _more_than(array, bins):
        x = numbers(array)
        missing = np.isnan(x)
        edges = np.unique(np.quantile(x[~missing], np.linspace(0, 1, bins + 1)[1:-1]))
        found = np.where(missing, -1, np.searchsorted(edges, x, side="right"))
    else:
        found = codes(array)[0]
    found = np.asarray(found, dtype=np.int64)
    return np.where(found < 0, found.max(initial=0) + 1, found)


def _more_than(array: pa.Array, bins: int) -> bool:
    """Whether a numeric column has more than `bins` distinct values (NaN and null are missing,
    -0.0 is 0.0: pandas.factorize's count). pyarrow's hash finds them; numpy sorts them only
    when few, where -0.0 beside 0.0 could tip the count."""
    distinct = pc.unique(pc.cast(array, pa.float64(), safe=False))
    if len(distinct) > bins + 3:  # a null, a NaN and one of -0.0 and 0.0: at most 3 too many
        return True
    values = numbers(distinct)
    return len(np.unique(values[~np.isnan(values)])) > bins


def out_of_fold_auc(codes: np.ndarray, y: np.ndarray, folds: np.ndarray, k: int) -> float:
    """ROC AUC of the label against each row's code encoded by the label's rate in the other
    folds. A code they lack gets the overall rate of train, one number for every fold: the other
    folds' own rate would be lower where a fold holds more positives, which ranks an identifier
    (every code unseen) below chance, 0.44 on a toy of 400 rows, instead of at 0.5."""
    m = int(codes.max(initial=0)) + 1
    cells = folds * m + codes
    pos = np.bincount(cells, weights=y, minlength=k * m).reshape(k, m)
    count = np.bincount(cells, minlength=k * m).reshape(k, m).astype(np.float64)
    pos_out, count_out = pos.sum(0) - pos, count.sum(0) - count
    rate = np.where(count_out > 0, pos_out / np.maximum(count_out, 1), y.mean())
    seen = count > 0
    return weighted_auc(rate[seen], pos[seen], (count - pos)[seen])


def weighted_auc(scores: np.ndarray, positives: np.ndarray, negatives: np.ndarray) -> float:
    """ROC AUC of rows grouped by score: the chance that a positive outscores a negative, ties
    counting half (Mann-Whitney U / (P N))."""
    values, group = np.unique(scores, return_inverse=True)
    pos = np.bincount(group, weights=positives, minlength=len(values))
    neg = np.bincount(group, weights=negatives, minlength=len(values))
    below = np.cumsum(neg) - neg  # negatives scored lower than each distinct score
    return float((pos * (below + neg / 2)).sum() / (pos.sum() * neg.sum()))


def label_proxies(
    train: Table, featurize: FeaturizeParams, params: LeakageParams, seed: int
) -> tuple[Proxy, ...]:
    """Every model feature's out-of-fold ROC AUC of the label on train, highest first."""
    train = as_table(train)
    if train[featurize.label].null_count:
        raise DataError(f"training part: {featurize.label!r} has missing values")
    y = integers(train[featurize.label])
    if len(y) < params.folds or len(np.unique(y)) < 2:
        raise DataError(
            f"training part: {len(y)} rows, labels {sorted(set(y.tolist()))}: the label-proxy "
            f"check needs both labels and at least leakage.folds ({params.folds}) rows"
        )
    folds = fold_ids(len(y), params.folds, seed)
    found = []
    for feature in featurize.features:
        codes = feature_codes(
            train[feature], categorical=feature in featurize.categorical, bins=params.bins
        )
        auc = round(out_of_fold_auc(codes, y, folds, params.folds), DIGITS)
        found.append(_proxy(feature, auc, params))
    return tuple(sorted(found, key=lambda p: (-p.auc, p.feature)))


def _proxy(feature: str, auc: float, params: LeakageParams) -> Proxy:
    if auc < params.warn_auc:
        return Proxy(feature, auc, "pass")
    if feature in params.allowed:
        return Proxy(feature, auc, "allowed", params.allowed[feature])
    return Proxy(feature, auc, "fail" if auc >= params.fail_auc else "warn")


def temporal(
    parts: Mapping[str, Table], time_column: str | None, joins: Sequence[Join]
) -> Temporal:
    """On the split parts (the main table's columns): rows of a later part earlier than the last
    row of an earlier part, and per join with a datetime key, rows whose key is after the
    example's time (`time_column`)."""
    if time_column is None:
        return Temporal(None, {})
    tables = {name: as_table(part) for name, part in parts.items()}
    earlier = {}
    for i, early in enumerate(ORDER):
        end = pc.max(tables[early][time_column])
        for late in ORDER[i + 1 :]:
            earlier[f"{late}_before_{early}_end"] = _count(pc.less(tables[late][time_column], end))
    return Temporal(time_column, earlier, tuple(_join_time(tables, time_column, j) for j in joins))


def _count(flags: Any) -> int:
    """Rows where a comparison holds (a null compares as not holding)."""
    return int(pc.sum(flags).as_py() or 0)


def _join_time(tables: Mapping[str, pa.Table], time_column: str, join: Join) -> JoinTime:
    schema = tables[ORDER[0]].schema
    keys = [k for k in join.keys if _is_instant(schema.field(k).type)]
    if not keys:
        return JoinTime(join.table, None, None)
    after = sum(_count(pc.greater(t[k], t[time_column])) for t in tables.values() for k in keys)
    return JoinTime(join.table, ",".join(keys), after)


def _is_instant(kind: pa.DataType) -> bool:
    """A datetime with a time zone (the schema's `datetime`), as a time key must be."""
    return bool(pa.types.is_timestamp(kind) and kind.tz is not None)


def rows_in(rows: Table, other: Table, columns: Sequence[str]) -> int:
    """How many rows of `rows` have values in `columns` identical to some row of `other`
    (missing equals missing)."""
    mine, theirs = as_table(rows), as_table(other)
    if mine.num_rows == 0 or theirs.num_rows == 0:
        return 0
    hashes = row_hashes(mine, theirs, columns)
    ours, known = hashes[: mine.num_rows], np.sort(hashes[mine.num_rows :])
    # a binary search: np.isin (numpy 2 hashes) took 10x longer on 250,000 rows
    found = known[np.minimum(np.searchsorted(known, ours), len(known) - 1)]
    return int((found == ours).sum())


def row_hashes(first: pa.Table, second: pa.Table, columns: Sequence[str]) -> np.ndarray:
    """A 64-bit hash of each row's values in `columns`, the rows of `first` then of `second`:
    equal rows (missing equals missing) hash alike in both. A number enters as the bits of its
    float64 (-0.0 as 0.0, missing as MISSING_BITS); any other value as its index among the
    distinct values of both tables together (missing as 0)."""
    split = first.num_rows
    hashed = np.zeros(split + second.num_rows, dtype=np.uint64)
    value = np.empty_like(hashed)
    for column in columns:
        a, b = first[column], second[column]
        if is_number(a.type) and is_number(b.type):
            for rows, side in ((slice(0, split), a), (slice(split, None), b)):
                x = numbers(side)
                value[rows] = np.where(np.isnan(x), MISSING_BITS, x.view(np.uint64))
        else:
            joint = pa.concat_arrays([as_array(a), pc.cast(as_array(b), a.type, safe=False)])
            np.add(codes(joint)[0], 1, out=value, casting="unsafe")
        hashed += value
        _mix(hashed)
    return hashed


def _mix(x: np.ndarray) -> None:
    """splitmix64's finaliser, in place: every input bit moves every output bit (uint64 wraps)."""
    for shift, factor in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        x ^= x >> np.uint64(shift)
        x *= np.uint64(factor)
    x ^= x >> np.uint64(31)


def overlap(
    features: Mapping[str, Table],
    parts: Mapping[str, Table],
    columns: Sequence[str],
    key: Sequence[str],
    max_share: float,
) -> Overlap:
    """Test rows of the feature table identical to a train row in `columns` (features and
    label); and test rows of the split parts whose `key` occurs in train, when there is one."""
    test, train = features["test"], features["train"]
    by_key = rows_in(parts["test"], parts["train"], key) if key else None
    return Overlap(len(test), rows_in(test, train, columns), max_share, tuple(key), by_key)


def findings(
    proxies: Sequence[Proxy], temporal_: Temporal, overlap_: Overlap, params: LeakageParams
) -> list[Finding]:
    """Warnings and failures of the data checks, failures first, each as one line."""
    found = [_proxy_finding(p, params) for p in proxies if p.verdict in ("warn", "fail")]
    if temporal_.violations:
        found.append(Finding("temporal", "fail", _temporal_text(temporal_)))
    if overlap_.verdict != "pass":
        level: Level = "fail" if overlap_.failed else "warn"
        found.append(Finding("overlap", level, _overlap_text(overlap_)))
    return sorted(found, key=lambda f: f.level != "fail")


def _proxy_finding(p: Proxy, params: LeakageParams) -> Finding:
    text = f"{p.feature!r} scores ROC AUC {p.auc} on train alone"
    if p.verdict == "warn":
        return Finding("label proxy", "warn", f"{text} (>= leakage.warn_auc {params.warn_auc})")
    return Finding(
        "label proxy",
        "fail",
        f"{text} (>= leakage.fail_auc {params.fail_auc}): a near-copy of the label; drop the "
        "feature or list it under leakage.allowed with a reason",
    )


def _temporal_text(t: Temporal) -> str:
    counts = [f"{n} rows {name.replace('_', ' ')}" for name, n in t.earlier.items() if n]
    counts += [
        f"{j.after_example} rows joined to {j.table} at a {j.key} after the example's time"
        for j in t.joins
        if j.after_example
    ]
    return f"split by {t.time_column}: " + "; ".join(counts)


def _overlap_text(o: Overlap) -> str:
    said = []
    if o.by_key:
        said.append(f"{o.by_key} test rows have a key ({', '.join(o.key)}) that a train row has")
    if o.identical:
        said.append(
            f"{o.identical} of {o.test_rows} test rows ({o.share:.2%}) are identical to a train "
            f"row (features and label; fails above leakage.overlap_max {o.max_share:.0%})"
        )
    return "; ".join(said)
