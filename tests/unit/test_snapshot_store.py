"""A snapshot's way into data/snapshots on tiny files: the copy pass, the manifest format,
read-ahead, and a take that fails or is killed at each step of `store.track`."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import stat
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlrepro import dvccache
from mlrepro.core.errors import DataError
from mlrepro.core.files import READ_ONLY
from mlrepro.core.params import Source
from mlrepro.snapshot import fileio, layout, store, take
from mlrepro.snapshot.immutable import protected, unprotect_tree
from mlrepro.snapshot.manifest import (
    FileEntry,
    Manifest,
    SnapshotError,
    read_manifest,
    write_manifest,
)
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

    result = fileio.copy_new(tmp_path / "src", tmp_path / "dst", Count(), keep=1 << 20)
    expected = (size, hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest())
    assert result[:3] == expected
    assert result[3] == (data if size <= 1 << 20 else None)  # small files come back for describe
    assert (tmp_path / "dst").read_bytes() == data
    assert stat.S_IMODE((tmp_path / "dst").stat().st_mode) == READ_ONLY
    assert sum(seen) == size


def test_copy_new_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"new")
    (tmp_path / "dst").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        fileio.copy_new(tmp_path / "src", tmp_path / "dst")
    assert (tmp_path / "dst").read_bytes() == b"old"


def manifest(files: tuple[FileEntry, ...]) -> Manifest:
    return Manifest(
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
        FileEntry("a.csv", 3, "a" * 64, "b" * 32, 1, {"z": "int64", "y": "str"}),
        FileEntry("dir/b.bin", 5, "d" * 64, "e" * 32),
    )
    path = tmp_path / "m.json"
    for entries in (files, ()):
        write_manifest(path, manifest(entries))
        assert read_manifest(path) == manifest(entries)
    write_manifest(path, manifest(files))
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
    with fileio.read_ahead(paths, window=4) as done:
        for _ in paths[:10]:
            done()
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]
    with pytest.raises(RuntimeError), fileio.read_ahead(paths, window=4):
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
    assert layout.list_snapshots(tmp_path, "s") == []
    assert [p.name for p in layout.source_dir(tmp_path, "s").iterdir()] == [".lock"]


@pytest.fixture(autouse=True)
def removable(tmp_path: Path) -> Iterator[None]:
    """Snapshot files are immutable (as root on ext4): clear the flag, so pytest can remove them."""
    yield
    unprotect_tree(tmp_path)


def immutable_flag_available(folder: Path) -> bool:
    """Whether this process can set the immutable flag on files in `folder` (root on ext4)."""
    probe = folder / ".probe"
    probe.write_bytes(b"")
    fd = os.open(probe, os.O_RDONLY)
    try:
        flags = struct.unpack("i", fcntl.ioctl(fd, 0x80086601, struct.pack("i", 0)))[0]
        fcntl.ioctl(fd, 0x40086602, struct.pack("i", flags | 0x10))
        fcntl.ioctl(fd, 0x40086602, struct.pack("i", flags))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
        probe.unlink()


def items_source(repo: Path, text: str = "a,b\n1,x\n") -> Source:
    (repo / "raw").mkdir(exist_ok=True)
    (repo / "raw" / "items.csv").write_text(text)
    return Source("s", path="raw/items.csv")


def left(repo: Path) -> list[str]:
    return sorted(p.name for p in layout.source_dir(repo, "s").iterdir())


class Killed(BaseException):
    """A SIGKILL: nothing after it runs, no cleanup either (`forget` is switched off)."""


def test_a_take_failing_while_it_is_tracked_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of disk (or a corrupt cache object) after the folder is in place: not a snapshot, and
    nothing of it is left (it used to be listed, with a manifest but no .dvc or .gitignore)."""
    source = items_source(tmp_path)

    def full(repo: Path, manifest: Manifest) -> None:
        raise DataError(".dvc/cache: cannot write: No space left on device")

    monkeypatch.setattr(store, "seed_cache", full)
    with pytest.raises(DataError):
        take.take(source, tmp_path)
    assert layout.list_snapshots(tmp_path, "s") == []
    assert left(tmp_path) == [".lock"]


@pytest.mark.parametrize("where", ["seed_cache", "protect", "write_manifest"])
def test_a_killed_take_is_never_listed_and_the_next_take_clears_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    source = items_source(tmp_path)

    def killed(*args: object) -> None:
        raise Killed

    monkeypatch.setattr(store, "forget", lambda *args: None)
    monkeypatch.setattr(store, where, killed)
    with pytest.raises(Killed):
        take.take(source, tmp_path)
    folder = layout.source_dir(tmp_path, "s")
    [snapshot_id] = [p.name for p in folder.iterdir() if p.is_dir() and p.name[0] != "."]
    assert not list(folder.glob("*.json"))  # killed before its manifest was written
    assert f"/{snapshot_id}" in (folder / ".gitignore").read_text()  # git never adds its bytes
    assert layout.list_snapshots(tmp_path, "s") == []
    with pytest.raises(SnapshotError, match="has no snapshots"):
        layout.resolve_ref(tmp_path, "s@latest", {})
    monkeypatch.undo()

    (tmp_path / "raw" / "items.csv").write_text("a,b\n2,y\n")  # new content: a new snapshot
    taken = take.take(source, tmp_path).manifest
    assert [m.id for m in layout.list_snapshots(tmp_path, "s")] == [taken.id]
    expected = [".gitignore", ".lock", taken.id, f"{taken.id}.dvc", f"{taken.id}.json"]
    assert left(tmp_path) == expected
    ignore = layout.source_dir(tmp_path, "s") / ".gitignore"
    assert ignore.read_text() == f"/{taken.id}\n"
    assert snapshot_id != taken.id


def test_an_untracked_manifest_is_not_listed_until_the_next_take_tracks_it(
    tmp_path: Path,
) -> None:
    """What older versions left when killed after the manifest: a manifest, no .dvc file and no
    .gitignore entry. Not listed or pinnable; the next take tracks it (its bytes are intact)."""
    source = items_source(tmp_path)
    first = take.take(source, tmp_path).manifest
    folder = layout.data_dir(tmp_path, "s", first.id)
    folder.with_suffix(".dvc").unlink()
    (folder.parent / ".gitignore").unlink()
    assert layout.list_snapshots(tmp_path, "s") == []
    with pytest.raises(SnapshotError):
        layout.resolve_ref(tmp_path, f"s@{first.id}", {})
    again = take.take(source, tmp_path)
    assert again.reused and again.manifest.id == first.id
    assert folder.with_suffix(".dvc").is_file()
    assert (folder.parent / ".gitignore").read_text() == f"/{first.id}\n"


def test_take_makes_the_files_and_their_cache_objects_immutable(tmp_path: Path) -> None:
    if not immutable_flag_available(tmp_path):
        pytest.skip("the immutable flag needs root on a file system that has it")
    m = take.take(items_source(tmp_path), tmp_path).manifest
    [entry] = m.files
    path = layout.data_dir(tmp_path, "s", m.id) / entry.path
    cached = dvccache.object_path(tmp_path, entry.md5)
    assert path.stat().st_ino == cached.stat().st_ino
    assert protected(path) and protected(cached)
    with pytest.raises(PermissionError):
        open(path, "r+b")  # noqa: SIM115 - refused, even to root
    fileio.remove_tree(path.parent)  # the snapshot goes; its cache object stays protected
    assert not path.parent.exists() and protected(cached)
    assert hash_of(cached) == entry.sha256


def hash_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
