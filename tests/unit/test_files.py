"""core.files: stable atomic JSON, emptied output folders, hashing, one-line read errors."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from mlrepro.core.errors import DataError
from mlrepro.core.files import (
    CHUNK,
    Hashing,
    atomic_path,
    digest_file,
    fresh_dir,
    read_json,
    sha256_file,
    write_json,
)


def test_write_json_is_stable(tmp_path: Path) -> None:
    path = tmp_path / "out" / "m.json"  # the parent is created
    write_json(path, {"b": 1, "a": {"z": [1, 2], "y": "é"}})
    assert path.read_text(encoding="utf-8") == (
        '{\n  "a": {\n    "y": "é",\n    "z": [\n      1,\n      2\n    ]\n  },\n  "b": 1\n}\n'
    )
    assert read_json(path) == {"a": {"y": "é", "z": [1, 2]}, "b": 1}
    assert os.listdir(path.parent) == ["m.json"]


def test_write_json_refuses_nan_and_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    write_json(path, {"ok": True})
    with pytest.raises(ValueError):
        write_json(path, {"auc": float("nan")})
    assert (read_json(path), os.listdir(tmp_path)) == ({"ok": True}, ["m.json"])


def test_atomic_path_leaves_no_temp_file_after_an_exception(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(path) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("boom")
    assert (path.read_bytes(), os.listdir(tmp_path)) == (b"old", ["model.bin"])


def test_write_json_gives_the_usual_file_mode(tmp_path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    write_json(tmp_path / "m.json", {})
    assert oct((tmp_path / "m.json").stat().st_mode & 0o777) == oct(0o666 & ~umask)


def test_fresh_dir_empties_without_following_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    out = tmp_path / "out"
    (out / "sub" / "deeper").mkdir(parents=True)
    (out / "sub" / "deeper" / "a.txt").write_text("a")
    (out / "b.txt").write_text("b")
    (out / "link").symlink_to(outside, target_is_directory=True)
    assert fresh_dir(out) == out
    assert list(out.iterdir()) == []
    assert (outside / "keep.txt").read_text() == "keep"
    assert fresh_dir(tmp_path / "new" / "dir").is_dir()


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    data = bytes(range(256)) * (CHUNK // 256 * 2 + 3)  # more than two read chunks
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_digest_file_gives_every_hash_from_one_pass(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 18) + 7)  # several of hashlib.file_digest's blocks
    path = tmp_path / "blob"
    path.write_bytes(data)
    seen: list[int] = []
    got = digest_file(path, "sha256", "md5", progress=seen.append)
    assert got.bytes == len(data) == sum(seen) and len(seen) > 1
    assert got.hexdigests == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
    }
    assert digest_file(path)["sha256"] == got["sha256"]  # sha256 when no hash is named
    with open(path, "rb") as fh:  # a file object: what it still holds
        fh.seek(7)
        assert digest_file(fh, "md5")["md5"] == hashlib.md5(data[7:]).hexdigest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert digest_file(empty, "md5") == Hashing("md5").result()


def test_read_json_errors_are_one_line_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    with pytest.raises(DataError) as missing:
        read_json(path)
    path.write_text('{"a": 1,\n}')
    with pytest.raises(DataError) as broken:
        read_json(path)
    assert str(missing.value) == f"{path}: file not found (run the stage that writes it first)"
    message = str(broken.value)  # the JSON parser's own wording varies across Python versions
    assert message.startswith(f"{path}: not valid JSON: ") and message.endswith(" (line 2)")
    assert "\n" not in message
