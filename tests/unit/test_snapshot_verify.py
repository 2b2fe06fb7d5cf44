"""Snapshot verify's data and rendering: every damaged copy on its own line, named by its path."""

from __future__ import annotations

from pathlib import Path

import yaml

from mlrepro.snapshot.integrity import RAW, Damage

PROJECT = Path(__file__).resolve().parents[2]


def test_raw_folder_is_the_one_dvc_yaml_gives_ingest() -> None:
    dvc = yaml.safe_load((PROJECT / "dvc.yaml").read_text())
    paths = next(v["paths"] for v in dvc["vars"] if "paths" in v)
    assert paths["raw"] == RAW.as_posix()


def test_each_copy_is_one_line_naming_its_path() -> None:
    sums = {"expected": "sha256 aa", "actual": "sha256 bb (3 B)"}
    lines = [
        Damage(
            "s@1", "a.csv", "modified", **sums, copy="work tree", path="data/snapshots/s/1/a.csv"
        ),
        Damage("s@1", "a.csv", "cache corrupt", **sums, copy="DVC cache", path=".dvc/cache/x"),
        Damage("s@1", "a.csv", "missing", copy="data/raw", path="data/raw/s/a.csv"),
    ]
    assert [p.line() for p in lines] == [
        "s@1: a.csv: modified in the work tree: data/snapshots/s/1/a.csv "
        "(expected sha256 aa, actual sha256 bb (3 B))",
        "s@1: a.csv: cache corrupt: .dvc/cache/x (expected sha256 aa, actual sha256 bb (3 B))",
        "s@1: a.csv: missing in data/raw: data/raw/s/a.csv",
    ]
