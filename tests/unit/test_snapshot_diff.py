"""snapshot.diff: rows added / removed / changed by key or as whole rows, schema changes, files
present in one snapshot only; on tiny files with hand-built manifests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mlrepro.core.errors import DataError
from mlrepro.snapshot.changes import (
    SnapshotDiff,
    TableDiff,
    diff_snapshots,
    recorded_key,
)
from mlrepro.snapshot.describe import describe_table
from mlrepro.snapshot.manifest import FileEntry, Manifest, content_hash

FLIGHTS_A = "id,carrier,delay\n1,AA,5\n2,UA,-3\n3,DL,0\n4,AA,12\n"
# 1 removed, 2 changed (delay), 3 unchanged, 5 added; rows in another order
FLIGHTS_B = "id,carrier,delay\n5,B6,7\n3,DL,0\n2,UA,-4\n4,AA,12\n"


def snapshot(
    root: Path, snapshot_id: str, files: dict[str, str], key: tuple[str, ...] = ()
) -> tuple[Manifest, Path]:
    """Write `files` under root/<id>/ and build their manifest as `take` would."""
    folder = root / snapshot_id
    entries = []
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        data = path.read_bytes()
        rows, columns = describe_table(path)
        sha, md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()
        entries.append(FileEntry(name, len(data), sha, md5, rows, columns))
    manifest = Manifest(
        id=snapshot_id,
        source="flights",
        definition={"name": "flights", "path": "raw", "key": list(key)},
        taken_at="2024-01-01T00:00:00Z",
        git_commit=None,
        tools={},
        content_sha256=content_hash(entries),
        files=tuple(entries),
    )
    return manifest, folder


def diff(
    tmp_path: Path, a: dict[str, str], b: dict[str, str], key: tuple[str, ...] = ()
) -> SnapshotDiff:
    (ma, da), (mb, db) = snapshot(tmp_path, "A", a), snapshot(tmp_path, "B", b)
    return diff_snapshots(ma, da, mb, db, key)


def test_same_content_is_identical_without_reading_the_files(tmp_path: Path) -> None:
    files = {"flights.csv": FLIGHTS_A, "README.txt": "hello\n"}
    (ma, da), (mb, _) = snapshot(tmp_path, "A", files), snapshot(tmp_path, "B", files)
    result = diff_snapshots(ma, da, mb, tmp_path / "not-there", ["id"])
    assert result.as_dict() == {
        "source": "flights",
        "a_id": "A",
        "b_id": "B",
        "identical": True,
        "files": [
            TableDiff("README.txt", "same").as_dict(),
            TableDiff("flights.csv", "same", 4, 4, 0, 0, 0, key=["id"]).as_dict(),
        ],
    }
    assert result.identical


def test_rows_added_removed_and_changed_by_key(tmp_path: Path) -> None:
    result = diff(tmp_path, {"flights.csv": FLIGHTS_A}, {"flights.csv": FLIGHTS_B}, ("id",))
    assert result.files == [
        TableDiff(
            file="flights.csv",
            status="changed",
            rows_a=4,
            rows_b=4,
            added=1,
            removed=1,
            changed=1,
            key=["id"],
            examples={"added": [{"id": "5"}], "removed": [{"id": "1"}], "changed": [{"id": "2"}]},
        )
    ]
    assert not result.identical


def test_a_composite_key_and_examples_in_file_order_up_to_five(tmp_path: Path) -> None:
    a = "day,flight,delay\n" + "".join(f"1,{n},0\n" for n in range(8))
    b = "day,flight,delay\n" + "".join(f"1,{n},1\n" for n in range(7, -1, -1)) + "2,0,0\n"
    (table,) = diff(tmp_path, {"f.csv": a}, {"f.csv": b}, ("day", "flight")).files
    assert (table.added, table.removed, table.changed) == (1, 0, 8)
    assert table.examples == {
        "added": [{"day": "2", "flight": "0"}],
        "changed": [{"day": "1", "flight": str(n)} for n in range(5)],
    }


def test_values_are_compared_as_exact_text(tmp_path: Path) -> None:
    a = "id,x,y\n1,1,\n2,NA,a\n3,007,a\n"
    b = "id,x,y\n1,1.0,\n2,,a\n3,007,a\n"  # 1 -> 1.0 and NA -> "" are changes
    (table,) = diff(tmp_path, {"t.csv": a}, {"t.csv": b}, ("id",)).files
    assert (table.changed, table.examples) == (2, {"changed": [{"id": "1"}, {"id": "2"}]})


def test_without_a_key_rows_are_multisets(tmp_path: Path) -> None:
    a = "x,y\n1,a\n1,a\n2,b\n"
    b = "x,y\n2,b\n3,c\n1,a\n2,b\n"  # one (1,a) fewer, one (2,b) and one (3,c) more
    result = diff(tmp_path, {"t.csv": a}, {"t.csv": b})
    assert result.as_dict()["files"] == [
        {
            "file": "t.csv",
            "status": "changed",
            "rows_a": 3,
            "rows_b": 4,
            "added": 2,
            "removed": 1,
            "changed": None,
            "columns_added": [],
            "columns_removed": [],
            "dtype_changes": {},
            "key": [],
            "examples": {
                "added": [{"x": "2", "y": "b"}, {"x": "3", "y": "c"}],
                "removed": [{"x": "1", "y": "a"}],
            },
        }
    ]


def test_reordered_rows_without_a_key_differ_in_bytes_only(tmp_path: Path) -> None:
    (table,) = diff(tmp_path, {"t.csv": "x\n1\n2\n"}, {"t.csv": "x\n2\n1\n"}).files
    assert table == TableDiff("t.csv", "changed", 2, 2, 0, 0, None)


def test_schema_changes_and_rows_over_the_common_columns(tmp_path: Path) -> None:
    a = "id,dest,delay,old\n1,BOS,5,x\n2,LAX,3,y\n"
    b = "id,dest,delay,new\n1,BOS,5.5,p\n2,LAX,3,q\n"  # delay int64 -> float64
    (table,) = diff(tmp_path, {"t.csv": a}, {"t.csv": b}, ("id",)).files
    assert table == TableDiff(
        file="t.csv",
        status="changed",
        rows_a=2,
        rows_b=2,
        added=0,
        removed=0,
        changed=1,
        columns_added=["new"],
        columns_removed=["old"],
        dtype_changes={"delay": ("int64", "float64")},
        key=["id"],
        examples={"changed": [{"id": "1"}]},
    )


def test_a_duplicated_key_is_a_one_line_error_naming_file_and_key(tmp_path: Path) -> None:
    b = "id,delay\n1,5\n2,3\n1,4\n"
    with pytest.raises(DataError) as caught:
        diff(tmp_path, {"t.csv": FLIGHTS_A}, {"t.csv": b}, ("id",))
    message = str(caught.value)
    assert message == f"{tmp_path / 'B' / 't.csv'}: key (id) is not unique: {{'id': '1'}} repeats"


def test_a_missing_key_column_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"A/t\.csv: no key column 'flight'$"):
        diff(tmp_path, {"t.csv": "id\n1\n"}, {"t.csv": "id\n2\n"}, ("flight",))


def test_files_in_one_snapshot_only(tmp_path: Path) -> None:
    a = {"old.csv": "x\n1\n2\n", "old.bin": "xx"}
    b = {"new.csv": "x\n1\n", "new.bin": "yy"}
    result = diff(tmp_path, a, b, ("x",))
    assert result.files == [
        TableDiff("new.bin", "added"),
        TableDiff("new.csv", "added", None, 1, 1, 0, 0, key=["x"]),
        TableDiff("old.bin", "removed"),
        TableDiff("old.csv", "removed", 2, None, 0, 2, 0, key=["x"]),
    ]


def test_a_non_table_file_is_compared_by_hash(tmp_path: Path) -> None:
    result = diff(
        tmp_path, {"notes.txt": "a\n", "same.json": "{}"}, {"notes.txt": "b\n", "same.json": "{}"}
    )
    assert result.files == [TableDiff("notes.txt", "changed"), TableDiff("same.json", "same")]


def test_tsv_and_compressed_names_are_tables(tmp_path: Path) -> None:
    (table,) = diff(tmp_path, {"t.TSV": "x\ty\n1\t2\n"}, {"t.TSV": "x\ty\n1\t3\n"}, ("x",)).files
    assert (table.rows_a, table.changed) == (1, 1)


def test_as_dict_is_json_and_stable(tmp_path: Path) -> None:
    a = "id,delay\n1,5\n"
    b = "id,delay\n1,5.5\n"
    result = diff(tmp_path, {"t.csv": a}, {"t.csv": b}, ("id",))
    text = json.dumps(result.as_dict(), sort_keys=True)
    assert json.loads(text) == result.as_dict()
    assert result.as_dict()["files"][0]["dtype_changes"] == {"delay": ["int64", "float64"]}


def test_recorded_key_is_the_key_both_manifests_declare(tmp_path: Path) -> None:
    a, _ = snapshot(tmp_path, "A", {}, key=("id",))
    b, _ = snapshot(tmp_path, "B", {}, key=("id",))
    c, _ = snapshot(tmp_path, "C", {}, key=("id", "day"))
    assert (recorded_key(a, b), recorded_key(a, c)) == (("id",), ())


def test_without_a_key_or_common_columns_only_row_counts_differ(tmp_path: Path) -> None:
    (table,) = diff(tmp_path, {"t.csv": "x\n1\n"}, {"t.csv": "y\n1\n2\n"}).files
    assert table == TableDiff("t.csv", "changed", 1, 2, 1, 0, None, ["y"], ["x"])


def test_an_unreadable_table_is_a_one_line_error(tmp_path: Path) -> None:
    (ma, da), (mb, db) = (
        snapshot(tmp_path, "A", {"t.csv": "x\n1\n"}),
        snapshot(tmp_path, "B", {"t.csv": "x\n2\n"}),
    )
    (db / "t.csv").unlink()
    with pytest.raises(DataError, match=r"B/t\.csv: cannot read as a table: .*No such file"):
        diff_snapshots(ma, da, mb, db)
