"""The committed schema file: per table, its columns (dtype, nullability, range, categories, the
environments a column is known in, the handling of out-of-domain values) and its cross-column
rules.

`parse_table` turns raw text columns into the declared dtypes (naming the column and row of the
first value that does not parse). `in_environment` gives the view of a table in TRAINING or
SERVING (TFDV's environments: every column is in both unless `not_in` says otherwise);
`check_serving` refuses a feature that is not known at serving time. The checks themselves, run
with pandera, are in `anomalies`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlrepro.core.errors import DataError, ParamsError, SchemaError
from mlrepro.core.params import PARAMS_FILE, SCHEMA_FILE, FeaturizeParams, load_yaml

if TYPE_CHECKING:
    from collections.abc import Iterator

# schema dtype -> the pandas dtype of the typed working copy. A `date` is a calendar date (no time
# of day, no time zone): 2013-01-05 is the 5th in every time zone.
DTYPES = {
    "int": "Int64",
    "float": "float64",
    "string": "string",
    "bool": "boolean",
    "datetime": "datetime64[us, UTC]",
    "date": "date32[day][pyarrow]",
}
TIME_DTYPES = ("datetime", "date")
_TRUE, _FALSE = {"true", "t", "1", "yes"}, {"false", "f", "0", "no"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

TRAINING, SERVING = "TRAINING", "SERVING"
ENVIRONMENTS = (TRAINING, SERVING)
# What happens to a value outside the declared domain (min, max, allowed), or to a row that breaks
# a rule: the anomaly's severity follows (stop: error, the stage stops; else warn, the run goes on).
HANDLINGS = {"stop": "error", "keep": "warn", "drop": "warn", "missing": "warn"}
RULE_HANDLINGS = ("stop", "keep", "drop")
OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
    "==": operator.eq,
    "!=": operator.ne,
}
_RULE = re.compile(r"^\s*(\w+)\s*(<=|>=|==|!=|<|>)\s*(\w+)\s*$")
COLUMN_KEYS = {"dtype", "nullable", "min", "max", "allowed", "not_in", "handling", "description"}


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    dtype: str
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    allowed: tuple[Any, ...] | None = None  # values of the column's dtype
    not_in: tuple[str, ...] = ()  # environments the column is not known in (SERVING: the label)
    handling: str = "stop"  # of values outside min / max / allowed: stop, keep, drop, missing


@dataclass(frozen=True)
class Rule:
    """A cross-column rule `left OP right` (two columns of one table); a row where either side is
    missing passes, as pandera's and TFDV's checks skip nulls."""

    left: str
    op: str
    right: str
    handling: str = "stop"  # stop, keep or drop (the row)

    @property
    def text(self) -> str:
        return f"{self.left} {self.op} {self.right}"

    @property
    def columns(self) -> tuple[str, str]:
        return self.left, self.right

    def holds(self, df: pd.DataFrame) -> pd.Series:
        """True where the rule holds or cannot be judged (a side is missing)."""
        left, right = df[self.left], df[self.right]
        result = OPERATORS[self.op](left, right).astype("boolean").fillna(False)
        holds: pd.Series = (result | left.isna() | right.isna()).astype(bool)
        return holds


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[ColumnSpec, ...]
    rules: tuple[Rule, ...] = ()

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSpec | None:
        return next((c for c in self.columns if c.name == name), None)


def load_schema(path: str | Path = SCHEMA_FILE) -> dict[str, TableSpec]:
    """Read the schema file; raise SchemaError naming the bad entry."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaError(f"{file}: cannot read: {exc.strerror}") from None
    return parse_schema(text, file)


def parse_schema(text: str, file: str = SCHEMA_FILE) -> dict[str, TableSpec]:
    """The schema file's text (from disk or a revision) checked; SchemaError names the bad
    entry, in `file`."""
    data = load_yaml(text, file, SchemaError)
    tables = data.get("tables") if isinstance(data, dict) else None
    if not isinstance(tables, dict) or not tables:
        raise SchemaError(f"{file}: expected a 'tables:' mapping of table name -> columns")
    return {name: _table(file, name, spec) for name, spec in tables.items()}


def _table(file: str, name: str, spec: Any) -> TableSpec:
    columns = spec.get("columns") if isinstance(spec, dict) else None
    if not isinstance(columns, dict) or not columns:
        raise SchemaError(f"{file}: tables.{name}: expected a 'columns:' mapping")
    unknown = set(spec) - {"columns", "rules", "description"}
    if unknown:
        raise SchemaError(f"{file}: tables.{name}: unknown key {sorted(unknown)[0]!r}")
    cols = tuple(_column(file, name, c, s) for c, s in columns.items())
    rules = spec.get("rules") or []
    if not isinstance(rules, list):
        raise SchemaError(f"{file}: tables.{name}.rules: expected a list of {{check: a <= b}}")
    by_name = {c.name: c for c in cols}
    where = f"{file}: tables.{name}.rules"
    return TableSpec(
        name, cols, tuple(_rule(f"{where}[{i}]", r, by_name) for i, r in enumerate(rules))
    )


def _column(file: str, table: str, name: str, spec: Any) -> ColumnSpec:
    where = f"{file}: tables.{table}.columns.{name}"
    if not isinstance(spec, dict):
        raise SchemaError(f"{where}: expected a mapping like {{dtype: int}}")
    unknown = set(spec) - COLUMN_KEYS
    if unknown:
        raise SchemaError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    if spec.get("dtype") not in DTYPES:
        raise SchemaError(f"{where}: dtype must be one of {', '.join(DTYPES)}")
    nullable = spec.get("nullable", True)
    if not isinstance(nullable, bool):
        raise SchemaError(f"{where}.nullable: expected true or false, got {nullable!r}")
    low, high = (_bound(f"{where}.{b}", spec["dtype"], spec.get(b)) for b in ("min", "max"))
    if low is not None and high is not None and low > high:
        raise SchemaError(f"{where}: min {low} is greater than max {high}: no value fits")
    allowed = spec.get("allowed")
    if allowed is not None and not isinstance(allowed, list):
        raise SchemaError(f"{where}.allowed: expected a list of values, got {allowed!r}")
    handling = spec.get("handling", "stop")
    if handling not in HANDLINGS:
        raise SchemaError(f"{where}.handling: expected one of {', '.join(HANDLINGS)}")
    if handling == "missing" and not nullable:
        raise SchemaError(f"{where}.handling: missing needs a nullable column (nullable: false)")
    return ColumnSpec(
        name=name,
        dtype=spec["dtype"],
        nullable=nullable,
        min=low,
        max=high,
        allowed=None if allowed is None else _allowed(f"{where}.allowed", spec["dtype"], allowed),
        not_in=_environments(f"{where}.not_in", spec.get("not_in", [])),
        handling=handling,
    )


def _bound(where: str, dtype: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemaError(f"{where}: expected a number, got {value!r}")
    if dtype not in ("int", "float"):
        raise SchemaError(f"{where}: not supported for {dtype} columns")
    return value


def _allowed(where: str, dtype: str, values: list[Any]) -> tuple[Any, ...]:
    """The allowed values as the column's parsed values hold them (1, not '1', in an int column),
    so that a valid value is never refused for its type."""
    if dtype == "string":
        return tuple(str(v) for v in values)
    kinds: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "bool": (bool,)}
    if dtype not in kinds:
        raise SchemaError(f"{where}: not supported for {dtype} columns")
    for value in values:
        if not isinstance(value, kinds[dtype]) or (isinstance(value, bool) and dtype != "bool"):
            raise SchemaError(f"{where}: {value!r} is not {dtype}")
    return tuple(float(v) if dtype == "float" else v for v in values)


def _environments(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or any(v not in ENVIRONMENTS for v in value):
        raise SchemaError(f"{where}: expected a list of {' or '.join(ENVIRONMENTS)}, got {value!r}")
    if set(value) == set(ENVIRONMENTS):
        raise SchemaError(f"{where}: a column in no environment is never read; remove it")
    return tuple(value)


def _rule(where: str, spec: Any, columns: dict[str, ColumnSpec]) -> Rule:
    if not isinstance(spec, dict) or set(spec) - {"check", "handling", "description"}:
        raise SchemaError(f"{where}: expected a mapping like {{check: dewp <= temp}}")
    match = _RULE.match(str(spec.get("check", "")))
    if match is None:
        raise SchemaError(
            f"{where}.check: expected 'COLUMN OP COLUMN' with OP one of {' '.join(OPERATORS)}, "
            f"got {spec.get('check')!r}"
        )
    left, op, right = match.groups()
    for name in (left, right):
        if name not in columns:
            raise SchemaError(f"{where}.check: {name!r} is not a column of the table")
    if not _comparable(columns[left].dtype, columns[right].dtype, op):
        raise SchemaError(
            f"{where}.check: {left!r} ({columns[left].dtype}) and {right!r} "
            f"({columns[right].dtype}) cannot be compared with {op}"
        )
    handling = spec.get("handling", "stop")
    if handling not in RULE_HANDLINGS:
        raise SchemaError(f"{where}.handling: expected one of {', '.join(RULE_HANDLINGS)}")
    return Rule(left, op, right, handling)


def _comparable(left: str, right: str, op: str) -> bool:
    numbers = ("int", "float")
    same = left == right or (left in numbers and right in numbers)
    return same and (left not in ("string", "bool") or op in ("==", "!="))


def in_environment(spec: TableSpec, environment: str) -> TableSpec:
    """The table as it is known in `environment`: its columns not marked `not_in` it, and the
    rules on those columns only."""
    if environment not in ENVIRONMENTS:
        raise SchemaError(f"unknown environment {environment!r} ({', '.join(ENVIRONMENTS)})")
    columns = tuple(c for c in spec.columns if environment not in c.not_in)
    names = {c.name for c in columns}
    rules = tuple(r for r in spec.rules if set(r.columns) <= names)
    return replace(spec, columns=columns, rules=rules)


def serving_view(spec: TableSpec) -> TableSpec:
    """What serving input must hold: the table without the label and what is known only later."""
    return in_environment(spec, SERVING)


def parse_table(raw: pd.DataFrame, spec: TableSpec, *, file: str) -> pd.DataFrame:
    """Raw text columns -> the declared dtypes. Raise DataError naming file, column and row."""
    missing = [c for c in spec.names if c not in raw.columns]
    if missing:
        raise DataError(f"{file}: column {missing[0]!r} is missing (table {spec.name})")
    return pd.DataFrame({c.name: _parse_column(raw[c.name], c, file) for c in spec.columns})


def clean_text(text: pd.Series) -> pd.Series:
    """Cells as the schema reads them: stripped; empty and NA are missing."""
    return text.astype("string").str.strip().replace({"": pd.NA, "NA": pd.NA})


def _parse_column(text: pd.Series, col: ColumnSpec, file: str) -> pd.Series:
    text = clean_text(text)
    if col.dtype == "string":
        return text
    parsed = parse_values(text, col.dtype)
    bad = parsed.isna() & text.notna()
    if col.dtype == "int" and not bad.any():
        bad = parsed.notna() & (parsed != parsed.round())
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise DataError(
            f"{file}: column {col.name!r} row {row + 1}: {text.iloc[row]!r} is not {col.dtype}"
        )
    dtype: Any = DTYPES[col.dtype]
    return parsed.astype(dtype)


def parse_values(text: pd.Series, dtype: str) -> pd.Series:
    """Clean text -> values of a non-string dtype; a value that does not parse is missing."""
    if dtype == "datetime":
        return pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    if dtype == "date":  # YYYY-MM-DD only: a time of day would be lost
        dates = text.where(text.str.match(_DATE).fillna(False).astype(bool))
        return pd.to_datetime(dates, errors="coerce", format="%Y-%m-%d")
    if dtype == "bool":
        lower = text.str.lower()
        return lower.map(lambda v: True if v in _TRUE else False if v in _FALSE else pd.NA)
    return pd.to_numeric(text, errors="coerce")


@dataclass(frozen=True)
class Origin:
    """A table column that a feature is made from, and how (`via`: joined on, a part of)."""

    table: str
    column: str
    via: str = ""


def feature_origins(
    featurize: FeaturizeParams, main: str, schema: dict[str, TableSpec]
) -> dict[str, tuple[Origin, ...]]:
    """For every column of the feature table, the schema columns it is made from: a main-table
    column itself; a joined column its right-table column and the join keys on both sides; a
    calendar part the origins of its timestamp column. Unknown tables and columns are left out
    (the checks that name them run elsewhere)."""
    origins: dict[str, tuple[Origin, ...]] = {}
    if main in schema:
        origins = {c.name: (Origin(main, c.name),) for c in schema[main].columns}
    for join in featurize.joins:
        right = schema.get(join.table)
        if right is None:
            continue
        keys = [o for k in join.keys for o in origins.get(k, ())]
        keys += [Origin(join.table, k) for k in join.keys if right.column(k) is not None]
        via = f"joined on {', '.join(join.keys)}"
        for column, name in join.columns.items():
            if right.column(column) is not None:
                own = Origin(join.table, column)
                origins[name] = (own, *(replace(k, via=via) for k in keys))
    if featurize.datetime is not None:
        source = origins.get(featurize.datetime.column, ())
        part_of = f"a part of {featurize.datetime.column!r}"
        for name in featurize.datetime.parts.values():
            origins[name] = tuple(replace(o, via=o.via or part_of) for o in source)
    return origins


def check_serving(
    featurize: FeaturizeParams,
    main: str,
    schema: dict[str, TableSpec],
    *,
    params_file: str = PARAMS_FILE,
    schema_file: str = SCHEMA_FILE,
) -> None:
    """Refuse a feature made from a column that is not in SERVING: a model trained on it could
    not be given it when it predicts (TFDV's environments)."""
    origins = feature_origins(featurize, main, schema)
    for key, name in _features(featurize):
        for origin in origins.get(name, ()):
            column = schema[origin.table].column(origin.column)
            if column is not None and SERVING in column.not_in:
                how = f"{origin.via}: " if origin.via else ""
                raise ParamsError(
                    f"{params_file}: featurize.{key}: train uses {name!r}, which is not known at "
                    f"serving time ({how}{schema_file}: tables.{origin.table}.columns."
                    f"{origin.column}: not_in: [SERVING])"
                )


def _features(featurize: FeaturizeParams) -> Iterator[tuple[str, str]]:
    for key, names in (("categorical", featurize.categorical), ("numeric", featurize.numeric)):
        for name in names:
            yield key, name
