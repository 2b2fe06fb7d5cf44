"""The committed schema file: per table, its columns with dtype, nullability, range and categories.

`parse_table` turns raw text columns into the declared dtypes (naming the column and row of the
first value that does not parse); `check_table` runs the declared checks with pandera and returns
every violation as data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa

from mlrepro.core.errors import DataError, SchemaError
from mlrepro.core.params import SCHEMA_FILE, load_yaml

# schema dtype -> the pandas dtype of the typed working copy
DTYPES = {
    "int": "Int64",
    "float": "float64",
    "string": "string",
    "bool": "boolean",
    "datetime": "datetime64[us, UTC]",
}
_TRUE, _FALSE = {"true", "t", "1", "yes"}, {"false", "f", "0", "no"}


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    dtype: str
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    allowed: tuple[Any, ...] | None = None  # values of the column's dtype


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[ColumnSpec, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class Violation:
    table: str
    column: str | None
    check: str
    failures: int
    examples: tuple[str, ...]

    def line(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        if self.check == "column present":
            return f"{where}: column is missing"
        shown = ", ".join(self.examples)
        return f"{where}: {self.check} fails for {self.failures} value(s), e.g. {shown}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "examples": list(self.examples)}


def load_schema(path: str | Path = SCHEMA_FILE) -> dict[str, TableSpec]:
    """Read the schema file; raise SchemaError naming the bad entry."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaError(f"{file}: cannot read: {exc.strerror}") from None
    data = load_yaml(text, file, SchemaError)
    tables = data.get("tables") if isinstance(data, dict) else None
    if not isinstance(tables, dict) or not tables:
        raise SchemaError(f"{file}: expected a 'tables:' mapping of table name -> columns")
    return {name: _table(file, name, spec) for name, spec in tables.items()}


def _table(file: str, name: str, spec: Any) -> TableSpec:
    columns = spec.get("columns") if isinstance(spec, dict) else None
    if not isinstance(columns, dict) or not columns:
        raise SchemaError(f"{file}: tables.{name}: expected a 'columns:' mapping")
    return TableSpec(name, tuple(_column(file, name, c, s) for c, s in columns.items()))


def _column(file: str, table: str, name: str, spec: Any) -> ColumnSpec:
    where = f"{file}: tables.{table}.columns.{name}"
    if not isinstance(spec, dict):
        raise SchemaError(f"{where}: expected a mapping like {{dtype: int}}")
    unknown = set(spec) - {"dtype", "nullable", "min", "max", "allowed", "description"}
    if unknown:
        raise SchemaError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    if spec.get("dtype") not in DTYPES:
        raise SchemaError(f"{where}: dtype must be one of {', '.join(DTYPES)}")
    nullable = spec.get("nullable", True)
    if not isinstance(nullable, bool):
        raise SchemaError(f"{where}.nullable: expected true or false, got {nullable!r}")
    for bound in ("min", "max"):
        value = spec.get(bound)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise SchemaError(f"{where}.{bound}: expected a number, got {value!r}")
    low, high = spec.get("min"), spec.get("max")
    if low is not None and high is not None and low > high:
        raise SchemaError(f"{where}: min {low} is greater than max {high}: no value fits")
    allowed = spec.get("allowed")
    if allowed is not None and not isinstance(allowed, list):
        raise SchemaError(f"{where}.allowed: expected a list of values, got {allowed!r}")
    return ColumnSpec(
        name=name,
        dtype=spec["dtype"],
        nullable=nullable,
        min=low,
        max=high,
        allowed=None if allowed is None else _allowed(f"{where}.allowed", spec["dtype"], allowed),
    )


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


def parse_table(raw: pd.DataFrame, spec: TableSpec, *, file: str) -> pd.DataFrame:
    """Raw text columns -> the declared dtypes. Raise DataError naming file, column and row."""
    missing = [c for c in spec.names if c not in raw.columns]
    if missing:
        raise DataError(f"{file}: column {missing[0]!r} is missing (table {spec.name})")
    return pd.DataFrame({c.name: _parse_column(raw[c.name], c, file) for c in spec.columns})


def _parse_column(text: pd.Series, col: ColumnSpec, file: str) -> pd.Series:
    text = text.astype("string").str.strip().replace({"": pd.NA, "NA": pd.NA})
    if col.dtype == "string":
        return text
    parsed: pd.Series
    if col.dtype == "datetime":
        parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    elif col.dtype == "bool":
        lower = text.str.lower()
        parsed = lower.map(lambda v: True if v in _TRUE else False if v in _FALSE else pd.NA)
    else:
        parsed = pd.to_numeric(text, errors="coerce")
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


def pandera_schema(spec: TableSpec) -> pa.DataFrameSchema:
    columns = {}
    for col in spec.columns:
        checks = []
        if col.min is not None:
            checks.append(pa.Check.ge(col.min))
        if col.max is not None:
            checks.append(pa.Check.le(col.max))
        if col.allowed is not None:
            checks.append(pa.Check.isin(list(col.allowed)))
        columns[col.name] = pa.Column(DTYPES[col.dtype], checks, nullable=col.nullable)
    return pa.DataFrameSchema(columns, name=spec.name, strict=False)


def check_table(df: pd.DataFrame, spec: TableSpec, *, max_examples: int = 5) -> list[Violation]:
    """Every schema violation of `df` (columns, dtypes, nulls, ranges, categories) as data."""
    try:
        pandera_schema(spec).validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return _violations(spec, exc.failure_cases, max_examples)
    return []


def _violations(spec: TableSpec, cases: pd.DataFrame, max_examples: int) -> list[Violation]:
    out = []
    cases = cases.astype({"column": "object", "check": "string"})
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=True):
        if str(check) == "column_in_dataframe":  # the failure case is the missing column's name
            for missing in group["failure_case"]:
                out.append(Violation(spec.name, str(missing), "column present", 1, ()))
            continue
        column_name = None if column is None or column != column else str(column)
        examples = tuple(_example(v) for v in group["failure_case"].head(max_examples))
        check_name = _check_name(str(check), spec, column_name)
        out.append(Violation(spec.name, column_name, check_name, len(group), examples))
    return out


def _check_name(check: str, spec: TableSpec, column: str | None) -> str:
    """pandera's check id -> the words of the schema file (`>= 0`, `allowed`, `not null`)."""
    col = next((c for c in spec.columns if c.name == column), None)
    if check == "not_nullable":
        return "not null"
    if check.startswith("dtype("):
        return f"dtype {check[6:-1]}"
    if check.startswith("greater_than_or_equal_to(") and col is not None:
        return f">= {col.min}"
    if check.startswith("less_than_or_equal_to(") and col is not None:
        return f"<= {col.max}"
    if check.startswith("isin(") and col is not None:
        return "allowed categories"
    return check


def _example(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "null"
    return str(value)
