"""Listing a directory source: names relative to it, sorted by path parts, symlinks checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlrepro.core.errors import DataError, ParamsError
from mlrepro.core.params import Source
from mlrepro.snapshot.sources import source_files


def test_directory_listing_is_sorted_by_parts_and_follows_inner_file_links(tmp_path: Path) -> None:
    top = tmp_path / "repo" / "raw"
    for name in ("a/b.csv", "a-c.csv", "z.csv", "a/inner/d.csv"):
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_text(name)
    (top / "link.csv").symlink_to(top / "z.csv")  # inside the repo: allowed, read from its target
    (top / "linked-dir").symlink_to(top / "a", target_is_directory=True)  # not entered
    files = source_files(Source("s", path="raw"), tmp_path / "repo")
    names = [f.name for f in files]
    assert names == ["a/b.csv", "a/inner/d.csv", "a-c.csv", "link.csv", "z.csv"]
    assert {f.name: f.path for f in files}["link.csv"] == (top / "z.csv").resolve()


def test_a_link_out_of_the_repo_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside.csv").write_text("secret")
    top = tmp_path / "repo" / "raw"
    (top / "sub").mkdir(parents=True)
    (top / "ok.csv").write_text("a")
    (top / "sub" / "out.csv").symlink_to(tmp_path / "outside.csv")
    with pytest.raises(ParamsError, match=r"raw/sub/out.csv escapes the repo \(symlink\)$"):
        source_files(Source("s", path="raw"), tmp_path / "repo")


def test_an_empty_directory_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "repo" / "raw").mkdir(parents=True)
    with pytest.raises(DataError, match=r"^params.yaml: ingest.sources.s: 'raw' matches no file"):
        source_files(Source("s", path="raw"), tmp_path / "repo")
