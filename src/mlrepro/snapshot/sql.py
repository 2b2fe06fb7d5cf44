"""SQL sources and deterministic tables: run a declared query read-only, keep the rows up to the
`as_of` cutoff, and write them as a CSV whose bytes depend only on the rows' content.

Same content gives the same bytes whatever the database's physical row order: every cell is
rendered to text by its own value (NULL as an empty field, datetimes as ISO 8601 UTC, floats as
their shortest round-trip repr), and rows are sorted by the `key` columns (else every column)
with the rendered text as the final tie-break.
"""

from __future__ import annotations

import csv
import math
import os
import sqlite3
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from mlrepro.core.errors import DataError, ParamsError
from mlrepro.core.files import READ_ONLY, digest_file
from mlrepro.core.params import Source
from mlrepro.snapshot.manifest import FileEntry

READ_ONLY_TRANSACTION = {"postgresql", "mysql", "mariadb", "oracle"}  # SET TRANSACTION READ ONLY
Row = Sequence[Any]


def where(source: Source) -> str:
    """The params.yaml key of `source`, the start of every error about it."""
    return f"params.yaml: ingest.sources.{source.name}"


# -- writing a table ------------------------------------------------------------------------


def write_table(df: pd.DataFrame, source: Source, folder: Path) -> FileEntry:
    """Write `df` to `folder/<source>.csv` in a canonical row order and format; describe it."""
    if df.empty:
        raise DataError(f"{where(source)}: {_no_rows(source)}")
    _check_columns(df, source)
    frame = df.reset_index(drop=True)
    text = pd.DataFrame({c: render_column(frame[c]) for c in frame.columns})
    order = row_order(frame, text, list(source.key) or list(frame.columns))
    path = folder / f"{source.name}.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow([str(c) for c in frame.columns])
        writer.writerows(text.take(order).itertuples(index=False, name=None))
        fh.flush()
        os.fsync(fh.fileno())
    path.chmod(READ_ONLY)  # as every file of a snapshot, from the start
    digest = digest_file(path, "sha256", "md5")
    columns = {str(c): str(t) for c, t in frame.dtypes.items()}
    return FileEntry(
        path.name, digest.bytes, digest["sha256"], digest["md5"], rows=len(frame), columns=columns
    )


def _no_rows(source: Source) -> str:
    if source.as_of is not None:
        return f"no rows up to the cutoff {source.as_of.cutoff.isoformat()}"
    return "the query returned no rows" if source.sql is not None else "no rows"


def _check_columns(df: pd.DataFrame, source: Source) -> None:
    duplicated = df.columns[df.columns.duplicated()]
    if len(duplicated):
        raise DataError(f"{where(source)}: column {duplicated[0]!r} appears twice; rename one")
    missing = [k for k in source.key if k not in df.columns]
    if missing:
        known = ", ".join(map(str, df.columns))
        raise ParamsError(f"{where(source)}.key: no column {missing[0]!r} (columns: {known})")


def render_column(col: pd.Series) -> pd.Series:
    """Each cell as the text written to the CSV; missing values as ""."""
    if isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(col.dtype):
        text = col.map(_cell, na_action="ignore")
    elif pd.api.types.is_float_dtype(col.dtype):
        values = col.to_numpy(dtype="float64", na_value=np.nan)
        text = pd.Series(values.astype(str), index=col.index)
    elif col.dtype == object:
        text = col.map(_cell)
    else:
        text = col.astype(str)
    return text.where(col.notna(), "").astype(object)


def _cell(value: object) -> str:
    """One value's text, by its own type: the same value gives the same text in any column."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(float(value))
    if isinstance(value, datetime):
        stamp = pd.Timestamp(value)
        utc = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return utc.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def row_order(frame: pd.DataFrame, text: pd.DataFrame, by: list[str]) -> np.ndarray[Any, Any]:
    """Positions of the rows sorted by `by` (NaN last), ties broken by every rendered cell.

    Columns whose values cannot be compared with each other (mixed types) sort by their text.
    Rows that tie on everything render identically, so the output never depends on input order.
    """
    tie_break = text.sort_values(list(text.columns), kind="stable").index
    try:
        ordered = frame.loc[tie_break, by].sort_values(by, kind="stable", na_position="last")
    except TypeError:
        keys = pd.DataFrame(
            {
                c: text[c].where(frame[c].notna()) if frame[c].dtype == object else frame[c]
                for c in by
            }
        )
        ordered = keys.loc[tie_break].sort_values(by, kind="stable", na_position="last")
    return ordered.index.to_numpy()


# -- running a query --------------------------------------------------------------------------


def query_to_csv(source: Source, folder: Path) -> FileEntry:
    """Run `source.sql` read-only, keep rows up to `as_of.cutoff`, write the canonical CSV.

    Dtypes are inferred from the kept rows only, so rows after the cutoff never change the bytes.
    """
    columns, rows = fetch(source)
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise DataError(f"{where(source)}: the query returns column {twice[0]!r} twice; alias one")
    if source.as_of is not None:
        rows = up_to_cutoff(columns, rows, source)
    return write_table(typed_frame(columns, rows), source, folder)


def fetch(source: Source) -> tuple[list[str], list[Row]]:
    """Column names and rows of `source.sql`, sent to the driver verbatim in a read-only session."""
    url = database_url(source)
    secrets = [s for s in (url.password, source.url, _env_url(source)) if s]
    try:
        engine = sa.create_engine(url, poolclass=NullPool)
    except sa.exc.SQLAlchemyError as exc:
        raise sql_error(source, exc, secrets) from None
    except ImportError as exc:
        raise DataError(f"{where(source)}: SQL error: driver not installed ({exc})") from None
    try:
        with engine.connect() as conn:
            _read_only(conn)
            result = conn.exec_driver_sql(
                str(source.sql), execution_options={"no_parameters": True}
            )
            if not result.returns_rows:
                raise DataError(f"{where(source)}: the SQL returns no result set (use a SELECT)")
            return list(map(str, result.keys())), list(result.fetchall())
    except sa.exc.SQLAlchemyError as exc:
        raise sql_error(source, exc, secrets) from None
    finally:
        engine.dispose()


def _env_url(source: Source) -> str | None:
    return os.environ.get(source.url_env) if source.url_env else None


def database_url(source: Source) -> URL:
    """`source.url` or the URL in env var `source.url_env`; SQLite files are opened read-only."""
    text = source.url
    if text is None:
        text = _env_url(source)
        if not text:
            raise ParamsError(
                f"{where(source)}.url_env: environment variable {source.url_env} is not set"
            )
    try:
        url = sa.make_url(text)
    except (sa.exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise DataError(f"{where(source)}: SQL error: not a database URL") from None
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return _sqlite_read_only(url)
    return url


def _sqlite_read_only(url: URL) -> URL:
    """file: URI with mode=ro; a relative path is relative to the current directory."""
    database = str(url.database)
    if not database.startswith("file:"):
        database = "file:" + quote(os.path.abspath(database), safe="/")
    return url.set(database=database, query={**url.query, "mode": "ro", "uri": "true"})


def _read_only(conn: sa.Connection) -> None:
    """Refuse writes in this session where the database can: SQLite's query_only (the file is
    also opened mode=ro) and no ATTACH; a read-only transaction where the dialect has one."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA query_only = ON")
        driver = conn.connection.dbapi_connection
        if isinstance(driver, sqlite3.Connection):  # ATTACH would create a missing file
            driver.set_authorizer(_no_attach)
    elif conn.dialect.name in READ_ONLY_TRANSACTION:
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")


def _no_attach(action: int, *_: str | None) -> int:
    return sqlite3.SQLITE_DENY if action == sqlite3.SQLITE_ATTACH else sqlite3.SQLITE_OK


def sql_error(source: Source, exc: Exception, secrets: Sequence[str]) -> DataError:
    """One line from the driver's message, with any credential blanked out."""
    orig = getattr(exc, "orig", None)
    message = str(orig if orig is not None else exc).strip()
    line = message.splitlines()[0] if message else type(exc).__name__
    for secret in sorted(secrets, key=len, reverse=True):
        line = line.replace(secret, "***")
    return DataError(f"{where(source)}: SQL error: {line}")


def up_to_cutoff(columns: list[str], rows: list[Row], source: Source) -> list[Row]:
    """The rows whose `as_of.column`, read as a UTC datetime, is at or before the cutoff.

    Naive times count as UTC; rows with no time (NULL) are left out.
    """
    assert source.as_of is not None
    column = source.as_of.column
    if column not in columns:
        raise ParamsError(f"{where(source)}.as_of.column: no column {column!r} in the query result")
    i = columns.index(column)
    times = pd.Series([_cell(row[i]) or None for row in rows], dtype=object)  # numbers refused
    try:
        when = pd.to_datetime(times, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        why = str(exc).splitlines()[0]
        raise DataError(f"{where(source)}: column {column!r}: not a date-time ({why})") from None
    keep = (when <= source.as_of.cutoff).to_numpy()
    return [row for row, kept in zip(rows, keep, strict=True) if kept]


def typed_frame(columns: list[str], rows: list[Row]) -> pd.DataFrame:
    """A frame whose dtypes come from the values alone: ints with NULLs stay integers (Int64),
    decimals stay exact, a mixed column stays object."""
    values = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    return pd.DataFrame({c: _array(list(v)) for c, v in zip(columns, values, strict=True)})


def _array(values: list[Any]) -> Any:
    try:
        return pd.array(values)
    except (ValueError, TypeError):
        return pd.array(values, dtype=object)
