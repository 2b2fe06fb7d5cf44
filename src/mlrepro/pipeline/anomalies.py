"""A table checked against its schema with pandera, every anomaly returned as data, and the
declared handling applied.

An anomaly is one check failing in one column (or one cross-column rule), with the count, a few
example values and the keys of the first failing rows. Its severity follows from the column's
(or rule's) `handling`: `stop` is an error (the stage stops); `keep`, `drop` (the row) and
`missing` (the value) are warnings, and the run goes on with the handling applied and counted.
A missing column, a wrong dtype and a null in a non-nullable column are always errors.

Column checks run first and their handling is applied; the rules then run on what is left, so a
value already set missing or a row already dropped breaks no rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pandera.pandas as pa

from mlrepro.pipeline.schema import DTYPES, HANDLINGS, ColumnSpec, Rule, TableSpec

EXAMPLES = 5  # example values and row keys per anomaly
ALWAYS_ERROR = ("present", "not null")  # and every `dtype ...`: what no handling can mend


@dataclass(frozen=True)
class Anomaly:
    table: str
    column: str | None  # None for a rule over several columns
    rule: str  # the schema's words: `>= 0`, `<= 200`, `allowed categories`, `dewp <= temp`
    handling: str  # stop, keep, drop, missing
    count: int  # failing values (a rule: failing rows)
    examples: tuple[str, ...]  # distinct failing values, first ones by row
    rows: tuple[dict[str, Any], ...] = ()  # key columns (or `row`: position) of the first rows
    positions: tuple[int, ...] = field(default=(), repr=False, compare=False)  # every row

    @property
    def severity(self) -> str:
        return HANDLINGS[self.handling]

    def line(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        if self.rule == "present":
            return f"{where}: column is missing"
        unit = "value(s)" if self.column else "row(s)"
        shown = ", ".join(self.examples)
        done = {"keep": " (kept)", "drop": " (rows dropped)", "missing": " (set missing)"}
        return f"{where}: {self.rule} fails for {self.count} {unit}, e.g. {shown}" + done.get(
            self.handling, ""
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "column": self.column,
            "rule": self.rule,
            "severity": self.severity,
            "handling": self.handling,
            "count": self.count,
            "examples": list(self.examples),
            "rows": list(self.rows),
        }


@dataclass(frozen=True)
class Handled:
    """A table after its anomalies were handled: the rows kept, and what was done."""

    table: pd.DataFrame
    anomalies: tuple[Anomaly, ...]
    rows_in: int
    rows_dropped: int
    set_missing: dict[str, int]

    @property
    def changed(self) -> bool:
        """Whether a row was dropped or a value set missing."""
        return self.rows_dropped > 0 or bool(self.set_missing)

    def summary(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_out": len(self.table),
            "columns": len(self.table.columns),
            "rows_dropped": self.rows_dropped,
            "values_set_missing": self.set_missing,
        }


def column_schema(spec: TableSpec) -> pa.DataFrameSchema:
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


def rule_schema(rules: Sequence[Rule]) -> pa.DataFrameSchema:
    checks = [pa.Check(rule.holds, name=rule.text, error=rule.text) for rule in rules]
    return pa.DataFrameSchema(checks=checks, strict=False)


def check_table(df: pd.DataFrame, spec: TableSpec, *, keys: Sequence[str] = ()) -> list[Anomaly]:
    """Every anomaly of `df` (columns, dtypes, nulls, ranges, categories, then rules), as data,
    nothing handled. `keys` name the rows in the report (else their position)."""
    anomalies = column_anomalies(df, spec, keys)
    return [*anomalies, *rule_anomalies(df, spec, keys, anomalies)]


def column_anomalies(df: pd.DataFrame, spec: TableSpec, keys: Sequence[str]) -> list[Anomaly]:
    cases = _failures(column_schema(spec), df)
    out = []
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=True):
        if check == "column_in_dataframe":  # the failure case is the missing column's name
            for missing in group["failure_case"]:
                out.append(Anomaly(spec.name, str(missing), "present", "stop", 1, ()))
            continue
        col = spec.column(str(column))
        name = _check_name(str(check), col)
        handling = "stop" if col is None or _always_error(name) else col.handling
        out.append(_anomaly(df, spec.name, col.name if col else None, name, handling, group, keys))
    return out


def rule_anomalies(
    df: pd.DataFrame, spec: TableSpec, keys: Sequence[str], found: Sequence[Anomaly] = ()
) -> list[Anomaly]:
    """The rules whose columns are present with their declared dtype (else there is an error
    already, and the comparison would mean nothing)."""
    broken = {a.column for a in found if a.rule == "present" or a.rule.startswith("dtype")}
    rules = [r for r in spec.rules if not broken & set(r.columns)]
    if not rules:
        return []
    columns = sorted({c for r in rules for c in r.columns})
    cases = _failures(rule_schema(rules), df[columns])
    out = []
    for rule in rules:
        group = cases[cases["check"] == rule.text].drop_duplicates("index")
        if group.empty:
            continue
        cells = df.loc[group["index"].head(EXAMPLES), list(rule.columns)]
        examples = tuple(
            ", ".join(f"{c}={_text(v)}" for c, v in row.items()) for _, row in cells.iterrows()
        )
        positions = tuple(int(i) for i in group["index"])
        out.append(
            Anomaly(
                spec.name,
                None,
                rule.text,
                rule.handling,
                len(positions),
                examples,
                row_keys(df, positions[:EXAMPLES], keys),
                positions,
            )
        )
    return out


def handle(df: pd.DataFrame, spec: TableSpec, *, keys: Sequence[str] = ()) -> Handled:
    """Check `df`, apply each anomaly's handling (drop the rows, set the values missing), then
    check the rules on the result and drop their rows where declared. Row positions in the
    anomalies are those of `df` (after `reset_index`)."""
    df = df.reset_index(drop=True)
    columns = column_anomalies(df, spec, keys)
    handled, set_missing = _apply(df, columns)
    rules = rule_anomalies(handled, spec, keys, columns)
    handled, _ = _apply(handled, rules)
    return Handled(
        table=handled.reset_index(drop=True),
        anomalies=(*columns, *rules),
        rows_in=len(df),
        rows_dropped=len(df) - len(handled),
        set_missing=set_missing,
    )


def _apply(df: pd.DataFrame, anomalies: Sequence[Anomaly]) -> tuple[pd.DataFrame, dict[str, int]]:
    set_missing: dict[str, int] = {}
    missing = [a for a in anomalies if a.handling == "missing" and a.column is not None]
    if missing:
        df = df.copy()
    for a in missing:
        df.loc[list(a.positions), a.column] = pd.NA
        set_missing[str(a.column)] = set_missing.get(str(a.column), 0) + a.count
    drop = sorted({p for a in anomalies if a.handling == "drop" for p in a.positions})
    return (df.drop(index=drop) if drop else df), set_missing


def _failures(schema: pa.DataFrameSchema, df: pd.DataFrame) -> pd.DataFrame:
    """pandera's failure cases (column, check, failure_case, index), rows in order."""
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases: pd.DataFrame = exc.failure_cases.astype({"column": "object", "check": "object"})
        return cases.sort_values("index", kind="stable", na_position="first")
    return pd.DataFrame(columns=["column", "check", "failure_case", "index"])


def _anomaly(
    df: pd.DataFrame,
    table: str,
    column: str | None,
    name: str,
    handling: str,
    group: pd.DataFrame,
    keys: Sequence[str],
) -> Anomaly:
    positions = tuple(int(i) for i in group["index"].dropna())
    examples = tuple(dict.fromkeys(_text(v) for v in group["failure_case"]))[:EXAMPLES]
    rows = row_keys(df, positions[:EXAMPLES], keys)
    return Anomaly(table, column, name, handling, len(group), examples, rows, positions)


def row_keys(
    df: pd.DataFrame, positions: Sequence[int], keys: Sequence[str]
) -> tuple[dict[str, Any], ...]:
    """Each row by its key columns' values (JSON-ready), or by its position without keys."""
    if not keys or any(k not in df.columns for k in keys):
        return tuple({"row": p} for p in positions)
    return tuple({k: _key(df.at[p, k]) for k in keys} for p in positions)


def _check_name(check: str, col: ColumnSpec | None) -> str:
    """pandera's check id -> the words of the schema file (`>= 0`, `allowed`, `not null`)."""
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


def _always_error(name: str) -> bool:
    return name in ALWAYS_ERROR or name.startswith("dtype ")


def _text(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "null"
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def _key(value: Any) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):  # a timestamp or date
        return value.isoformat()
    if hasattr(value, "item"):  # a numpy scalar
        return value.item()
    return str(value)
