"""Snapshot verify's data and rendering: every damaged copy on its own line, named by its path."""

from __future__ import annotations

from mlrepro.snapshot.integrity import Damage


def test_each_copy_is_one_line_naming_its_path() -> None:
    sums = {"expected": "sha256 aa", "actual": "sha256 bb (3 B)"}
    lines = [
        Damage(
            "s@1", "a.csv", "modified", **sums, copy="work tree", path="data/snapshots/s/1/a.csv"
        ),
        Damage("s@1", "a.csv", "cache corrupt", **sums, copy="DVC cache", path=".dvc/cache/x"),
        Damage("s@1", "b.csv", "missing", copy="work tree", path="data/snapshots/s/1/b.csv"),
    ]
    assert [p.line() for p in lines] == [
        "s@1: a.csv: modified in the work tree: data/snapshots/s/1/a.csv "
        "(expected sha256 aa, actual sha256 bb (3 B))",
        "s@1: a.csv: cache corrupt: .dvc/cache/x (expected sha256 aa, actual sha256 bb (3 B))",
        "s@1: b.csv: missing in the work tree: data/snapshots/s/1/b.csv",
    ]
