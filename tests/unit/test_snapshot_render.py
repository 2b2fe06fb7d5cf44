"""snapshot.render: the text `mlrepro snapshot diff`, `list` and `repair` print, from hand-built
results (what the commands compute is tested in test_snapshot_diff and the e2e tests)."""

from __future__ import annotations

from mlrepro.snapshot.changes import SnapshotDiff, TableDiff
from mlrepro.snapshot.render import render_diff, render_list, render_repair
from mlrepro.snapshot.repair import FileRepair, RepairResult


def test_render_diff() -> None:
    files = [
        TableDiff(
            "flights.csv",
            "changed",
            4,
            4,
            1,
            1,
            0,
            columns_added=["dep_delay"],
            columns_removed=["delay"],
            key=["id"],
        ),
        TableDiff("gone.csv", "removed", 1, None, 0, 1, 0, key=["id"]),
        TableDiff("notes.txt", "same"),
    ]
    text = render_diff(SnapshotDiff("flights", "A", "B", files))
    assert text == (
        "flights: A -> B (key: id)\n"
        "status   file         rows A -> B  +added -removed ~changed  schema\n"
        "changed  flights.csv  4 -> 4       +1 -1 ~0                  +dep_delay, -delay\n"
        "removed  gone.csv     1 -> -       +0 -1 ~0\n"
        "same     notes.txt"
    ), text


def test_render_diff_of_identical_snapshots() -> None:
    same = SnapshotDiff("flights", "A", "B", [TableDiff("t.csv", "same", 1, 1, 0, 0, None)])
    assert render_diff(same) == (
        "flights: A -> B\n"
        "status  file   rows A -> B  +added -removed ~changed  schema\n"
        "same    t.csv  1 -> 1       +0 -0\n"
        "identical"
    ), render_diff(same)
    empty = render_diff(SnapshotDiff("flights", "A", "B", []))
    assert empty.splitlines()[-1] == "identical (no files)", empty


def test_render_diff_names_dtype_changes() -> None:
    table = TableDiff(
        "t.csv", "changed", 2, 2, 0, 0, 1, dtype_changes={"delay": ("int64", "float64")}
    )
    text = render_diff(SnapshotDiff("flights", "A", "B", [table]))
    assert text.splitlines()[-1].endswith("+0 -0 ~1                  delay: int64 -> float64"), text


def test_render_list_marks_the_pinned_snapshot() -> None:
    row = {"source": "flights", "id": "20240101T000000Z-1a2b3c4d", "bytes": 3, "sha256": "a" * 64}
    row["taken_at"] = "2024-01-01T00:00:00Z"
    text = render_list([{**row, "rows": None, "pinned": True}, {**row, "rows": 7, "pinned": False}])
    assert text.splitlines() == [
        "source     id                         taken (UTC)                 rows        bytes  "
        "sha256",
        "flights    20240101T000000Z-1a2b3c4d  2024-01-01T00:00:00Z           —            3  "
        "aaaaaaaaaaaa  pinned",
        "flights    20240101T000000Z-1a2b3c4d  2024-01-01T00:00:00Z           7            3  "
        "aaaaaaaaaaaa",
    ], text


def test_render_repair_names_each_file_and_where_its_bytes_came_from() -> None:
    restored = FileRepair("a.csv", ("work tree", "DVC cache"), "DVC remote")
    ok = RepairResult("s@1", (restored,), ("x.tmp",), immutable=True)
    assert render_repair(ok).splitlines() == [
        "s@1: a.csv: work tree, DVC cache restored from the DVC remote",
        "s@1: x.tmp: extra file removed",
        "s@1: repaired 1 file(s); files immutable",
    ]
    lost = FileRepair("a.csv", ("DVC cache",), None)
    failed = RepairResult(
        "s@1", (lost, FileRepair("b.csv", ("work tree",), "DVC cache")), why="no DVC remote"
    )
    assert render_repair(failed).splitlines() == [
        "s@1: a.csv: cannot repair (DVC cache): no DVC remote",
        "s@1: b.csv: work tree restored from the DVC cache",
        "s@1: 1 file(s) could not be repaired",
    ]
    intact = render_repair(RepairResult("s@1", ()))
    assert intact == "s@1: intact; files read-only (no immutable flag on this platform)", intact
