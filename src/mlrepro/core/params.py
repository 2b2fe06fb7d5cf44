"""params.yaml, read into typed sections; every bad value is a ParamsError naming its key.

One section per stage (`ingest`, `validate`, `split`, `featurize`, `train`, `evaluate`, `drift`)
plus the top-level `seed` and `threads`. Stages call `load_params()` and take the section they
need.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from mlrepro.core.errors import MlreproError, ParamsError

PARAMS_FILE = "params.yaml"
SCHEMA_FILE = "schema.yaml"
PARTS = ("train", "valid", "test")
_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
)


class _Node:
    """A mapping in params.yaml with its dotted key, so errors name `file: key.sub`."""

    def __init__(self, data: Any, key: str, file: str) -> None:
        if not isinstance(data, dict):
            raise ParamsError(f"{file}: {key or 'top level'}: expected a mapping, got {data!r}")
        self.data, self.key, self.file = data, key, file

    def _name(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def fail(self, name: str, why: str) -> ParamsError:
        return ParamsError(f"{self.file}: {self._name(name)}: {why}")

    def raw(self, name: str, default: Any = ...) -> Any:
        if name not in self.data:
            if default is ...:
                raise self.fail(name, "missing")
            return default
        return self.data[name]

    def node(self, name: str) -> _Node:
        return _Node(self.raw(name), self._name(name), self.file)

    def typed(self, name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        value = self.raw(name, default)
        if value is None and default is None:
            return None
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if not ok:
            names = " or ".join(k.__name__ for k in kinds)
            raise self.fail(name, f"expected {names}, got {value!r}")
        return value

    def number(
        self, name: str, lo: float, hi: float, default: Any = ..., *, kind: Any = (int, float)
    ) -> Any:
        value = self.typed(name, kind, default)
        if value is not None and not lo <= value <= hi:
            raise self.fail(name, f"must be between {lo} and {hi}, got {value!r}")
        return value

    def integer(self, name: str, lo: int, hi: int, default: Any = ...) -> int:
        return int(self.number(name, lo, hi, default, kind=int))

    def names(self, name: str, default: Any = ...) -> list[str]:
        value = self.raw(name, default)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(name, f"expected a list of column names, got {value!r}")
        return list(value)

    def mapping(self, name: str, default: Any = ...) -> dict[str, Any]:
        return dict(_Node(self.raw(name, default), self._name(name), self.file).data)

    def timestamp(self, name: str) -> datetime | None:
        """An ISO date or date-time, as an aware UTC datetime (UTC unless it says otherwise);
        words like 'now' are refused. Parsed without pandas, so `mlrepro` starts fast."""
        value = self.raw(name, None)
        if value is None:
            return None
        text = str(value)
        try:
            if not _ISO_DATE.match(text):
                raise ValueError(text)
            stamp = datetime.fromisoformat(text)
        except ValueError:
            raise self.fail(name, f"expected a date like 2013-10-01, got {value!r}") from None
        return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)

    def unknown(self, allowed: set[str]) -> None:
        extra = sorted(set(self.data) - allowed)
        if extra:
            raise self.fail(extra[0], f"unknown key (known: {', '.join(sorted(allowed))})")


@dataclass(frozen=True)
class AsOf:
    """Point in time: rows whose `column` is after `cutoff` are left out of a snapshot."""

    column: str
    cutoff: datetime


@dataclass(frozen=True)
class Source:
    """A declared raw source: files (a file, directory or glob, in the repo, under `root`, or
    inside an installed `package`) or an SQL query against `url` / the URL in env var `url_env`."""

    name: str
    path: str | None = None
    package: str | None = None
    root: str | None = None
    sql: str | None = None
    url: str | None = None
    url_env: str | None = None
    key: tuple[str, ...] = ()
    as_of: AsOf | None = None

    def definition(self) -> dict[str, Any]:
        """The declaration as plain data, for manifests (never holds a credential)."""
        out: dict[str, Any] = {
            k: v for k, v in vars(self).items() if v not in (None, ()) and k not in {"as_of"}
        }
        out["key"] = list(self.key)
        if self.as_of is not None:
            out["as_of"] = {"column": self.as_of.column, "cutoff": self.as_of.cutoff.isoformat()}
        return out


@dataclass(frozen=True)
class IngestParams:
    sources: tuple[Source, ...]
    main: str
    max_rows: int | None
    pins: dict[str, str] = field(default_factory=dict)

    def source(self, name: str) -> Source:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources)
        raise ParamsError(f"params.yaml: ingest.sources: no source {name!r} (known: {known})")


@dataclass(frozen=True)
class SplitParams:
    time_column: str | None
    valid_start: datetime | None
    test_start: datetime | None
    valid_fraction: float
    test_fraction: float


@dataclass(frozen=True)
class Join:
    table: str
    keys: tuple[str, ...]
    columns: dict[str, str]  # right-table column -> name in the feature table


@dataclass(frozen=True)
class DatetimeParts:
    column: str
    timezone: str
    parts: dict[str, str]  # part (hour, weekday, month, day, dayofyear) -> feature name


@dataclass(frozen=True)
class FeaturizeParams:
    target_column: str
    target_greater_than: float | None
    label: str
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]
    excluded: dict[str, str]
    joins: tuple[Join, ...] = ()
    datetime: DatetimeParts | None = None
    target_equals: str | None = None  # label = target == this (a string column)
    target_in: tuple[str, ...] | None = None  # label = target is one of these (a string column)

    @property
    def features(self) -> list[str]:
        return [*self.categorical, *self.numeric]

    @property
    def target_values(self) -> tuple[str, ...] | None:
        """The values that make the label 1 for a string target (`equals` or `in`), else None."""
        if self.target_equals is not None:
            return (self.target_equals,)
        return self.target_in


@dataclass(frozen=True)
class EvaluateParams:
    threshold: float
    calibration_bins: int
    importance_repeats: int
    importance_max_rows: int
    curve_points: int


@dataclass(frozen=True)
class Thresholds:
    """A drift measure's verdict: `warn` from this value on, `fail` from that one."""

    warn: float
    fail: float


DRIFT_METHODS = {"numeric": ("psi", "wasserstein"), "categorical": ("jensenshannon", "linf")}
DRIFT_THRESHOLDS = {m: Thresholds(0.1, 0.2) for ms in DRIFT_METHODS.values() for m in ms}
DRIFT_FAIL_ON = ("never", "feature", "dataset")


@dataclass(frozen=True)
class DriftParams:
    """`drift:` (pipeline/drift.py): quantile bins, thresholds per method and their overrides
    per feature, the failing share that is dataset drift, what stops the stage, the PNG's size."""

    bins: int = 10
    thresholds: dict[str, Thresholds] = field(default_factory=lambda: dict(DRIFT_THRESHOLDS))
    features: dict[str, dict[str, Thresholds]] = field(default_factory=dict)
    dataset_share: float = 0.5
    fail_on: str = "never"
    plot_top: int = 6

    def limits(self, feature: str, method: str) -> Thresholds:
        return self.features.get(feature, {}).get(method, self.thresholds[method])


@dataclass(frozen=True)
class LeakageParams:
    """`leakage:` (pipeline/leakage.py): the folds and numeric bins of the out-of-fold label-proxy
    ROC AUC, the AUC that warns and the one that fails, the features allowed to score high
    (feature -> reason), and the share of test rows identical to a train row that fails."""

    folds: int = 5
    bins: int = 20
    warn_auc: float = 0.75
    fail_auc: float = 0.9
    allowed: dict[str, str] = field(default_factory=dict)
    overlap_max: float = 0.05


@dataclass(frozen=True)
class Params:
    seed: int
    ingest: IngestParams
    split: SplitParams
    featurize: FeaturizeParams
    train: dict[str, Any] = field(default_factory=dict)
    evaluate: EvaluateParams | None = None
    threads: int | None = 1  # OpenMP/BLAS threads of train and evaluate; None: library default
    drift: DriftParams = field(default_factory=DriftParams)
    leakage: LeakageParams = field(default_factory=LeakageParams)


DATETIME_PARTS = ("hour", "weekday", "month", "day", "dayofyear")


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """Read and check params.yaml; raise ParamsError naming the first bad key."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ParamsError(f"{file}: cannot read: {exc.strerror}") from None
    return parse_params(text, file)


def parse_params(text: str, file: str = PARAMS_FILE) -> Params:
    """params.yaml's text (from disk or a revision) checked; ParamsError names the first bad
    key, in `file`."""
    root = _Node(load_yaml(text, file, ParamsError), "", file)
    root.unknown(
        {"seed", "threads", "ingest", "validate", "split", "featurize", "train", "evaluate"}
        | {"drift", "leakage"}
    )
    threads = root.raw("threads", 1)
    featurize = parse_featurize(root.node("featurize"))
    return Params(
        seed=root.integer("seed", 0, 2**32 - 1),
        ingest=parse_ingest(root.node("ingest")),
        split=parse_split(root.node("split")),
        featurize=featurize,
        train=root.mapping("train"),
        evaluate=parse_evaluate(root.node("evaluate")),
        threads=None if threads is None else root.integer("threads", 1, 4096, 1),
        drift=(
            parse_drift(root.node("drift"), featurize)
            if root.raw("drift", None) is not None
            else DriftParams()
        ),
        leakage=(
            parse_leakage(root.node("leakage"), featurize)
            if root.raw("leakage", None) is not None
            else LeakageParams()
        ),
    )


def load_yaml(text: str, file: str, error: type[MlreproError]) -> Any:
    """YAML text as data (safe types only). Malformed YAML, or a key given twice in one mapping
    (PyYAML would silently keep the last), raises `error` naming the file, key and line."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        twice = _duplicate_key(node, "") if node is not None else None
        if twice is not None:
            key, first, again = twice
            raise error(f"{file}: {key}: given twice (lines {first} and {again})")
        return loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise error(f"{file}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    finally:
        loader.dispose()


def _duplicate_key(node: yaml.Node, key: str) -> tuple[str, int, int] | None:
    """The first key (dotted) that a mapping under `node` holds twice, and both its lines."""
    children: list[tuple[str, yaml.Node]] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[tuple[str, str], int] = {}
        for name, value in node.value:
            line, text = name.start_mark.line + 1, str(name.value)
            dotted = f"{key}.{text}" if key else text
            if isinstance(name, yaml.ScalarNode) and name.tag != "tag:yaml.org,2002:merge":
                if (name.tag, text) in seen:
                    return dotted, seen[name.tag, text], line
                seen[name.tag, text] = line
            children.append((dotted, value))
    elif isinstance(node, yaml.SequenceNode):
        children = [(f"{key}[{i}]", item) for i, item in enumerate(node.value)]
    for dotted, child in children:
        found = _duplicate_key(child, dotted)
        if found is not None:
            return found
    return None


SOURCE_KEYS = {"path", "package", "root", "sql", "url", "url_env", "key", "as_of"}


def parse_ingest(node: _Node) -> IngestParams:
    node.unknown({"sources", "pins", "main", "max_rows"})
    sources_node = node.node("sources")
    sources = tuple(parse_source(sources_node.node(name), name) for name in sources_node.data)
    if not sources:
        raise node.fail("sources", "declare at least one source")
    main = node.typed("main", str)
    if main not in sources_node.data:
        raise node.fail("main", f"{main!r} is not one of the sources")
    max_rows = node.typed("max_rows", int, None)
    if max_rows is not None and max_rows < 1:
        raise node.fail("max_rows", f"must be a positive integer or null, got {max_rows!r}")
    pins = node.mapping("pins") if node.raw("pins", None) is not None else {}
    for name, pin in pins.items():
        if name not in sources_node.data:
            raise node.fail(f"pins.{name}", "no such source")
        if not isinstance(pin, str):
            raise node.fail(f"pins.{name}", f"expected a snapshot id, got {pin!r}")
    return IngestParams(sources, main, max_rows, dict(pins))


def parse_source(entry: _Node, name: str) -> Source:
    entry.unknown(SOURCE_KEYS)
    sql = entry.typed("sql", str, None)
    path = entry.typed("path", str, None)
    if (sql is None) == (path is None):
        raise entry.fail("path", "declare exactly one of path (files) or sql (a query)")
    url, url_env = entry.typed("url", str, None), entry.typed("url_env", str, None)
    if sql is not None and (url is None) == (url_env is None):
        raise entry.fail("url", "an sql source needs url or url_env (an environment variable)")
    if url is not None and ("@" in url.split("://", 1)[-1].split("/", 1)[0] or "password" in url):
        raise entry.fail(
            "url", "holds credentials: put the URL in an environment variable (url_env)"
        )
    as_of = None
    if entry.raw("as_of", None) is not None:
        node = entry.node("as_of")
        node.unknown({"column", "cutoff"})
        cutoff = node.timestamp("cutoff")
        if cutoff is None:
            raise node.fail("cutoff", "missing")
        as_of = AsOf(node.typed("column", str), cutoff)
    return Source(
        name=name,
        path=path,
        package=entry.typed("package", str, None),
        root=entry.typed("root", str, None),
        sql=sql,
        url=url,
        url_env=url_env,
        key=tuple(entry.names("key", [])),
        as_of=as_of,
    )


def parse_split(node: _Node) -> SplitParams:
    node.unknown({"time_column", "valid_start", "test_start", "valid_fraction", "test_fraction"})
    params = SplitParams(
        time_column=node.typed("time_column", str, None),
        valid_start=node.timestamp("valid_start"),
        test_start=node.timestamp("test_start"),
        valid_fraction=node.number("valid_fraction", 0.0, 1.0, 0.15),
        test_fraction=node.number("test_fraction", 0.0, 1.0, 0.15),
    )
    if params.time_column is not None:
        if params.valid_start is None or params.test_start is None:
            raise node.fail("valid_start", "valid_start and test_start are needed with time_column")
        if params.valid_start >= params.test_start:
            raise node.fail("test_start", "must be later than valid_start")
    elif params.valid_fraction + params.test_fraction >= 1:
        raise node.fail("test_fraction", "valid_fraction + test_fraction must be below 1")
    return params


def parse_featurize(node: _Node) -> FeaturizeParams:
    node.unknown({"target", "categorical", "numeric", "excluded", "joins", "datetime"})
    target = node.node("target")
    target.unknown({"column", "greater_than", "equals", "in", "label"})
    joins = []
    for i, item in enumerate(node.typed("joins", list, [])):
        join = _Node(item, f"{node.key}.joins[{i}]", node.file)
        join.unknown({"table", "keys", "columns"})
        columns = join.raw("columns")
        if isinstance(columns, list):
            columns = {c: c for c in join.names("columns")}
        columns = _Node(columns, f"{join.key}.columns", node.file).data
        joins.append(Join(join.typed("table", str), tuple(join.names("keys")), dict(columns)))
    excluded = node.mapping("excluded", {})
    params = FeaturizeParams(
        target_column=target.typed("column", str),
        target_greater_than=target.typed("greater_than", (int, float), None),
        label=target.typed("label", str, "label"),
        categorical=tuple(node.names("categorical", [])),
        numeric=tuple(node.names("numeric", [])),
        excluded={str(k): str(v) for k, v in excluded.items()},
        joins=tuple(joins),
        datetime=_parse_datetime(node),
        target_equals=_target_value(target, "equals"),
        target_in=_target_values(target),
    )
    given = [k for k in ("greater_than", "equals", "in") if target.raw(k, None) is not None]
    if len(given) > 1:
        raise target.fail(given[1], f"give one of greater_than, equals, in (also {given[0]})")
    _check_features(node, params)
    return params


QUOTE = "put it in quotes: YAML reads yes, no, on, off and numbers as other types"


def _target_value(target: _Node, name: str) -> str | None:
    """`equals:` a string; YAML reads `yes`, `no`, `1` as other types, so those need quotes."""
    value = target.raw(name, None)
    if value is not None and not isinstance(value, str):
        raise target.fail(name, f"expected a string, got {value!r} ({QUOTE})")
    return value


def _target_values(target: _Node) -> tuple[str, ...] | None:
    values = target.raw("in", None)
    if values is None:
        return None
    if not isinstance(values, list) or not values:
        raise target.fail("in", f"expected a list of values, got {values!r}")
    for value in values:
        if not isinstance(value, str):
            raise target.fail("in", f"expected strings, got {value!r} ({QUOTE})")
    return tuple(values)


def _parse_datetime(node: _Node) -> DatetimeParts | None:
    if node.raw("datetime", None) is None:
        return None
    dt = node.node("datetime")
    dt.unknown({"column", "timezone", "parts"})
    parts = dt.mapping("parts")
    for part in parts:
        if part not in DATETIME_PARTS:
            raise dt.fail(f"parts.{part}", f"unknown part (known: {', '.join(DATETIME_PARTS)})")
    timezone = dt.typed("timezone", str, "UTC")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise dt.fail(
            "timezone", f"unknown time zone {timezone!r} (an IANA name like America/New_York)"
        ) from None
    return DatetimeParts(dt.typed("column", str), timezone, parts)


def _check_features(node: _Node, params: FeaturizeParams) -> None:
    if not params.features:
        raise node.fail("categorical", "declare at least one feature in categorical or numeric")
    seen: set[str] = set()
    for key, names in (("categorical", params.categorical), ("numeric", params.numeric)):
        for name in names:
            if name in seen:
                raise node.fail(key, f"feature {name!r} is listed twice")
            seen.add(name)
            if name in params.excluded:
                raise node.fail(key, f"{name!r} is excluded ({params.excluded[name]})")
            if name in (params.target_column, params.label):
                raise node.fail(key, f"{name!r} is the target and cannot be a feature")


def parse_evaluate(node: _Node) -> EvaluateParams:
    node.unknown(
        {
            "threshold",
            "calibration_bins",
            "importance_repeats",
            "importance_max_rows",
            "curve_points",
        }
    )
    return EvaluateParams(
        threshold=node.number("threshold", 0.0, 1.0),
        calibration_bins=node.integer("calibration_bins", 2, 1000, 10),
        importance_repeats=node.integer("importance_repeats", 1, 1000, 5),
        importance_max_rows=node.integer("importance_max_rows", 1, 10**9, 10000),
        curve_points=node.integer("curve_points", 10, 100000, 200),
    )


def parse_drift(node: _Node, featurize: FeaturizeParams) -> DriftParams:
    node.unknown({"bins", "thresholds", "features", "dataset_share", "fail_on", "plot_top"})
    defaults = dict(DRIFT_THRESHOLDS)
    if node.raw("thresholds", None) is not None:
        defaults |= _thresholds(node.node("thresholds"), defaults, tuple(defaults))
    kinds = dict.fromkeys(featurize.categorical, "categorical")
    kinds |= dict.fromkeys(featurize.numeric, "numeric")
    overrides = {}
    if node.raw("features", None) is not None:
        features = node.node("features")
        for name in features.data:
            if name not in kinds:
                raise features.fail(name, "not a feature (featurize.categorical or numeric)")
            methods = DRIFT_METHODS[kinds[name]]
            overrides[str(name)] = _thresholds(features.node(name), defaults, methods)
    fail_on = node.typed("fail_on", str, "never")
    if fail_on not in DRIFT_FAIL_ON:
        raise node.fail("fail_on", f"expected one of {', '.join(DRIFT_FAIL_ON)}, got {fail_on!r}")
    return DriftParams(
        bins=node.integer("bins", 2, 1000, 10),
        thresholds=defaults,
        features=overrides,
        dataset_share=node.number("dataset_share", 0.0, 1.0, 0.5),
        fail_on=fail_on,
        plot_top=node.integer("plot_top", 1, 100, 6),
    )


def _thresholds(
    node: _Node, base: dict[str, Thresholds], methods: tuple[str, ...]
) -> dict[str, Thresholds]:
    """`{method: {warn, fail}}` for the methods `node` names; a level it leaves out: `base`."""
    node.unknown(set(methods))
    out = {}
    for method in node.data:
        limits = node.node(method)
        limits.unknown({"warn", "fail"})
        warn = limits.number("warn", 0.0, 1e9, base[method].warn)
        fail = limits.number("fail", 0.0, 1e9, base[method].fail)
        if warn > fail:
            raise limits.fail("warn", f"must be at most fail ({fail}), got {warn!r}")
        out[str(method)] = Thresholds(float(warn), float(fail))
    return out


def parse_leakage(node: _Node, featurize: FeaturizeParams) -> LeakageParams:
    node.unknown({"folds", "bins", "warn_auc", "fail_auc", "allowed", "overlap_max"})
    warn = float(node.number("warn_auc", 0.5, 1.0, 0.75))
    fail = float(node.number("fail_auc", 0.5, 1.0, 0.9))
    if warn > fail:
        raise node.fail("warn_auc", f"must be at most fail_auc ({fail}), got {warn!r}")
    reasons: dict[str, str] = {}
    if node.raw("allowed", None) is not None:
        allowed = node.node("allowed")
        for name, reason in allowed.data.items():
            if name not in featurize.features:
                raise allowed.fail(name, "not a feature (featurize.categorical or numeric)")
            if not isinstance(reason, str) or not reason.strip():
                raise allowed.fail(name, f"expected the reason it is allowed, got {reason!r}")
            reasons[str(name)] = reason
    return LeakageParams(
        folds=node.integer("folds", 2, 100, 5),
        bins=node.integer("bins", 2, 1000, 20),
        warn_auc=warn,
        fail_auc=fail,
        allowed=reasons,
        overlap_max=float(node.number("overlap_max", 0.0, 1.0, 0.05)),
    )


def check_train(train: dict[str, Any], file: str = PARAMS_FILE) -> None:
    """`train:` through HistGradientBoostingClassifier's own argument checks, the ones its `fit`
    runs first, so `mlrepro params check` refuses exactly what the train stage would. Callers
    first refuse the keys the project sets itself (`model.check_estimator_params`)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.utils._param_validation import InvalidParameterError

    unknown = sorted(set(train) - set(HistGradientBoostingClassifier().get_params()))
    if unknown:
        raise ParamsError(
            f"{file}: train.{unknown[0]}: unknown argument of HistGradientBoostingClassifier"
        )
    try:
        HistGradientBoostingClassifier(**train)._validate_params()
    except InvalidParameterError as exc:
        message = str(exc).splitlines()[0]
        key = message.split("'")[1] if "'" in message else "?"
        raise ParamsError(f"{file}: train.{key}: {message}") from None
