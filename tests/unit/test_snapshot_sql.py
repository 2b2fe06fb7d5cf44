"""SQL sources against real SQLite files: same content gives the same bytes whatever the physical
row order, `as_of` ignores later rows, the database is never written, errors are one line."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest

from mlrepro.core.errors import DataError, ParamsError
from mlrepro.core.params import AsOf, Source
from mlrepro.snapshot.manifest import FileEntry
from mlrepro.snapshot.sql import query_to_csv, write_table

ROWS = [
    (1, "JFK", 10.5, "2013-01-01 05:15:00"),
    (2, "LGA", None, "2013-01-01T06:00:00Z"),
    (3, "EWR, NJ", -3.25, "2013-01-02 07:30:00+01:00"),
    (4, None, 0.1, "2013-01-02 23:59:59"),
    (5, "JFK", 1e20, "2013-01-03 00:00:00"),
]
LATER = [(6.5, "LGA", 2.0, "2013-01-05 12:00:00"), (None, "late", 7.5, "2013-02-01")]
SQL = "SELECT id, origin, delay, at FROM flights"
CUTOFF = pd.Timestamp("2013-01-02 23:59:59", tz="UTC")

Take = Callable[..., FileEntry]


def execute(db: Path, *statements: str, rows: Sequence[Sequence[object]] = ()) -> None:
    """Run statements (then insert `rows` into flights) on the SQLite file and commit."""
    with closing(sqlite3.connect(db)) as conn:
        for statement in statements:
            conn.execute(statement)
        if rows:
            conn.executemany("INSERT INTO flights VALUES (?, ?, ?, ?)", rows)
        conn.commit()


def select(db: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return list(conn.execute(sql).fetchall())


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "flights.db"
    execute(path, "CREATE TABLE flights (id INTEGER, origin TEXT, delay REAL, at TEXT)", rows=ROWS)
    return path


@pytest.fixture
def take(tmp_path: Path, db: Path) -> Take:
    """Query into a fresh folder each call; keyword arguments override the Source's fields."""
    count = iter(range(1000))

    def run(**fields: object) -> FileEntry:
        folder = tmp_path / f"take{next(count)}"
        folder.mkdir()
        declared: dict[str, object] = {"name": "flights", "sql": SQL, "url": f"sqlite:///{db}"}
        return query_to_csv(Source(**{**declared, **fields}), folder)  # type: ignore[arg-type]

    return run


def csv_text(tmp_path: Path, entry: FileEntry) -> str:
    """The file the latest take wrote."""
    folder = max(tmp_path.glob("take*"), key=lambda p: int(p.name.removeprefix("take")))
    return (folder / entry.path).read_text(encoding="utf-8")


def assert_one_line(exc: pytest.ExceptionInfo[Exception], start: str) -> str:
    message = str(exc.value)
    assert "\n" not in message, message
    assert message.startswith(start), message
    return message


def test_same_query_on_unchanged_data_gives_identical_bytes(take: Take, tmp_path: Path) -> None:
    first, second = take(), take()
    assert first == second
    assert (first.path, first.rows) == ("flights.csv", 5)
    assert first.columns == {"id": "Int64", "origin": "string", "delay": "Float64", "at": "string"}
    assert csv_text(tmp_path, first) == (
        "id,origin,delay,at\n"
        "1,JFK,10.5,2013-01-01 05:15:00\n"
        "2,LGA,,2013-01-01T06:00:00Z\n"
        '3,"EWR, NJ",-3.25,2013-01-02 07:30:00+01:00\n'
        "4,,0.1,2013-01-02 23:59:59\n"
        "5,JFK,1e+20,2013-01-03 00:00:00\n"
    )


@pytest.mark.parametrize("key", [(), ("origin",)], ids=["no-key", "key"])
def test_physical_row_order_does_not_change_the_bytes(
    take: Take, db: Path, key: tuple[str, ...]
) -> None:
    before = take(key=key)
    execute(db, "DELETE FROM flights WHERE id IN (1, 3)", rows=[ROWS[2], ROWS[0]])
    execute(db, "VACUUM")
    assert [r[0] for r in select(db, "SELECT id FROM flights")] == [2, 4, 5, 3, 1]
    assert take(key=key).sha256 == before.sha256


def test_key_orders_rows_and_ties_are_broken_by_content(take: Take, tmp_path: Path) -> None:
    entry = take(sql="SELECT origin, delay FROM flights", key=("origin",))
    assert csv_text(tmp_path, entry).splitlines() == [
        "origin,delay",
        '"EWR, NJ",-3.25',
        "JFK,10.5",
        "JFK,1e+20",
        "LGA,",
        ",0.1",
    ]


def test_as_of_keeps_rows_up_to_the_cutoff(take: Take, tmp_path: Path) -> None:
    entry = take(as_of=AsOf("at", CUTOFF))
    assert entry.rows == 4
    assert "2013-01-03" not in csv_text(tmp_path, entry)


def test_rows_appended_after_the_cutoff_do_not_change_the_bytes(take: Take, db: Path) -> None:
    before = take(as_of=AsOf("at", CUTOFF))
    execute(db, rows=LATER)  # a fractional and a NULL id: dtypes come from kept rows
    after = take(as_of=AsOf("at", CUTOFF))
    assert after == before
    assert take().rows == len(ROWS) + len(LATER)


def test_as_of_column_must_be_in_the_result(take: Take) -> None:
    with pytest.raises(ParamsError) as exc:
        take(as_of=AsOf("departed", CUTOFF))
    assert_one_line(exc, "params.yaml: ingest.sources.flights.as_of.column: no column 'departed'")


@pytest.mark.parametrize("column", ["origin", "id"])
def test_an_as_of_column_that_is_not_a_time_is_an_error(take: Take, column: str) -> None:
    with pytest.raises(DataError) as exc:
        take(as_of=AsOf(column, CUTOFF))
    assert_one_line(exc, f"params.yaml: ingest.sources.flights: column {column!r}: not a date-time")


def test_nothing_up_to_the_cutoff_is_an_error(take: Take) -> None:
    with pytest.raises(DataError) as exc:
        take(as_of=AsOf("at", pd.Timestamp("2000-01-01", tz="UTC")))
    assert_one_line(exc, "params.yaml: ingest.sources.flights: no rows up to the cutoff")


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("DELETE FROM flights", "attempt to write a readonly database"),
        ("INSERT INTO flights VALUES (9, 'x', 1.0, '2013-01-01')", "attempt to write a readonly"),
        ("SELECT 1; DELETE FROM flights", "You can only execute one statement at a time"),
        ("ATTACH DATABASE 'elsewhere.db' AS other", "not authorized"),
    ],
    ids=["delete", "insert", "two-statements", "attach"],
)
def test_the_database_is_opened_read_only(take: Take, db: Path, sql: str, why: str) -> None:
    with pytest.raises(DataError) as exc:
        take(sql=sql)
    assert_one_line(exc, f"params.yaml: ingest.sources.flights: SQL error: {why}")
    assert select(db, "SELECT * FROM flights") == ROWS
    assert not (db.parent / "elsewhere.db").exists()


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("SELEC id FROM flights", 'near "SELEC": syntax error'),
        ("SELECT * FROM departures", "no such table: departures"),
        ("SELECT nope FROM flights", "no such column: nope"),
    ],
    ids=["bad-sql", "missing-table", "missing-column"],
)
def test_sql_errors_are_one_line_naming_the_source(take: Take, sql: str, why: str) -> None:
    with pytest.raises(DataError) as exc:
        take(sql=sql)
    assert_one_line(exc, f"params.yaml: ingest.sources.flights: SQL error: {why}")


def test_a_missing_database_file_is_an_error_and_is_not_created(take: Take, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    with pytest.raises(DataError) as exc:
        take(url=f"sqlite:///{missing}")
    assert_one_line(exc, "params.yaml: ingest.sources.flights: SQL error: unable to open")
    assert not missing.exists()


def test_a_relative_sqlite_path_is_relative_to_the_current_directory(
    take: Take, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(db.parent)
    assert take(url="sqlite:///flights.db") == take()


def test_an_empty_result_is_an_error(take: Take) -> None:
    with pytest.raises(DataError) as exc:
        take(sql=f"{SQL} WHERE id > 100")
    assert_one_line(exc, "params.yaml: ingest.sources.flights: the query returned no rows")


def test_the_url_can_come_from_an_environment_variable(
    take: Take, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLIGHTS_DB_URL", f"sqlite:///{db}")
    assert take(url=None, url_env="FLIGHTS_DB_URL") == take()


def test_a_missing_environment_variable_is_named(
    take: Take, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLIGHTS_DB_URL", raising=False)
    with pytest.raises(ParamsError) as exc:
        take(url=None, url_env="FLIGHTS_DB_URL")
    message = assert_one_line(exc, "params.yaml: ingest.sources.flights.url_env: ")
    assert "FLIGHTS_DB_URL" in message


@pytest.mark.parametrize(
    "url",
    ["postgresql://reader:s3cret@127.0.0.1:1/flights", "nosuchdb://reader:s3cret@host/flights"],
    ids=["no-driver-or-no-server", "unknown-dialect"],
)
def test_connection_errors_never_show_the_password(
    take: Take, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLIGHTS_DB_URL", url)
    with pytest.raises(DataError) as exc:
        take(url=None, url_env="FLIGHTS_DB_URL")
    message = assert_one_line(exc, "params.yaml: ingest.sources.flights: SQL error: ")
    assert "s3cret" not in message


def test_write_table_sorts_mixed_types_and_writes_datetimes_as_utc(tmp_path: Path) -> None:
    stamps = ["2013-01-01 06:00", "2013-01-01 05:00:00.5", None, "2013-01-01 07:00"]
    at = pd.to_datetime(pd.Series(stamps), format="ISO8601").dt.tz_localize("America/New_York")
    df = pd.DataFrame({"mixed": [1, "a", None, 2.5], "at": at})
    source = Source("mixed", path="mixed.csv")
    # one folder per write, as each take has its own: the file is read-only once written (only
    # root could write it again in place)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    entry = write_table(df, source, first)
    shuffled = write_table(df.iloc[[3, 1, 0, 2]], source, second)
    assert shuffled == entry
    assert (second / "mixed.csv").read_text(encoding="utf-8") == (
        "mixed,at\n"
        "1,2013-01-01T11:00:00Z\n"
        "2.5,2013-01-01T12:00:00Z\n"
        "a,2013-01-01T10:00:00.500000Z\n"
        ",\n"
    )


def test_write_table_names_a_missing_key_column(tmp_path: Path) -> None:
    source = Source("trips", path="trips.csv", key=("id", "carrier"))
    with pytest.raises(ParamsError) as exc:
        write_table(pd.DataFrame({"id": [1]}), source, tmp_path)
    assert_one_line(exc, "params.yaml: ingest.sources.trips.key: no column 'carrier'")
