"""Snapshot store helpers on tiny files: the copy pass, the manifest format, read-ahead."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from mlrepro.core.errors import DataError
from mlrepro.core.params import Source
from mlrepro.snapshot import store, take
from mlrepro.snapshot.sources import SourceFile


@pytest.mark.parametrize("size", [0, 1, 4096, 3 * (1 << 20) + 5])  # empty .. several chunks
def test_copy_new_copies_hashes_and_makes_read_only(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    (tmp_path / "src").write_bytes(data)
    seen: list[int] = []

    class Count:
        def start(self, files: int, nbytes: int) -> None: ...

        def advance(self, nbytes: int, files: int = 0) -> None:
            seen.append(nbytes)

    result = store.copy_new(tmp_path / "src", tmp_path / "dst", Count(), keep=1 << 20)
    expected = (size, hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest())
    assert result[:3] == expected
    assert result[3] == (data if size <= 1 << 20 else None)  # small files come back for describe
    assert (tmp_path / "dst").read_bytes() == data
    assert stat.S_IMODE((tmp_path / "dst").stat().st_mode) == store.READ_ONLY
    assert sum(seen) == size


def test_copy_new_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"new")
    (tmp_path / "dst").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        store.copy_new(tmp_path / "src", tmp_path / "dst")
    assert (tmp_path / "dst").read_bytes() == b"old"


def manifest(files: tuple[store.FileEntry, ...]) -> store.Manifest:
    return store.Manifest(
        id="20260101T000000Z-abcdef12",
        source="s",
        definition={"path": "raw/x", "key": []},
        taken_at="2026-01-01T00:00:00Z",
        git_commit=None,
        tools={"python": "3.11"},
        content_sha256="c" * 64,
        files=files,
    )


def test_manifest_has_sorted_keys_and_one_line_per_file(tmp_path: Path) -> None:
    files = (
        store.FileEntry("a.csv", 3, "a" * 64, "b" * 32, 1, {"z": "int64", "y": "str"}),
        store.FileEntry("dir/b.bin", 5, "d" * 64, "e" * 32),
    )
    path = tmp_path / "m.json"
    for entries in (files, ()):
        store.write_manifest(path, manifest(entries))
        assert store.read_manifest(path) == manifest(entries)
    store.write_manifest(path, manifest(files))
    text = path.read_text()
    data = json.loads(text)
    assert list(data) == [*sorted(k for k in data if k != "files"), "files"]
    lines = [line.strip().rstrip(",") for line in text.splitlines() if line.startswith("    {")]
    assert [json.loads(line)["path"] for line in lines] == ["a.csv", "dir/b.bin"]
    assert all(list(json.loads(line)) == sorted(json.loads(line)) for line in lines)


def test_read_ahead_stops_with_its_caller(tmp_path: Path) -> None:
    paths = [tmp_path / f"f{i}" for i in range(50)]
    for path in paths[:-1]:
        path.write_bytes(b"x")  # the last one is missing: the caller reports it, not read-ahead
    with store.read_ahead(paths, window=4) as done:
        for _ in paths[:10]:
            done()
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]
    with pytest.raises(RuntimeError), store.read_ahead(paths, window=4):
        raise RuntimeError("the copy failed")
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]


def test_a_file_gone_since_listing_is_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "here.csv").write_text("a\n1\n")
    listed = [SourceFile("here.csv", tmp_path / "here.csv"), SourceFile("gone.csv", tmp_path / "x")]
    monkeypatch.setattr(take, "source_files", lambda source, repo: listed)
    with pytest.raises(DataError) as caught:
        take.take(Source("s", path="raw"), tmp_path)
    assert str(caught.value) == (
        "params.yaml: ingest.sources.s: cannot copy gone.csv: No such file or directory"
    )
    assert store.list_snapshots(tmp_path, "s") == []
    assert [p.name for p in store.source_dir(tmp_path, "s").iterdir()] == [".lock"]
