"""The pure parts of `mlrepro remote push`: which multipart uploads it aborts, which outputs a
cache object belongs to, and the lines it prints (the e2e tests run it against an S3 server)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mlrepro.dvccache import file_md5
from mlrepro.remote.cachecheck import CacheCheck, CacheProblem, owners
from mlrepro.remote.objects import Output
from mlrepro.remote.render import render_push
from mlrepro.remote.transfer import PushResult
from mlrepro.remote.uploads import Upload, key_prefix, stale, started_since

NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
MD5 = "0123456789abcdef0123456789abcdef"


def upload(name: str, hours_ago: float) -> Upload:
    return Upload(f"dvc/files/md5/{name}", name, NOW - timedelta(hours=hours_ago))


def test_key_prefix_is_the_folder_below_the_bucket() -> None:
    assert key_prefix("s3://bucket/dvc") == "dvc/"
    assert key_prefix("s3://bucket/a/b/") == "a/b/"
    assert key_prefix("s3://bucket") == ""


def test_stale_uploads_are_older_than_the_limit() -> None:
    listed = [upload("new", 1), upload("day", 24), upload("old", 25)]
    assert stale(listed, NOW) == [listed[2]]  # STALE_AFTER: a day
    assert stale(listed, NOW, timedelta(minutes=30)) == listed


def test_started_since_keeps_only_new_upload_ids() -> None:
    listed = [upload("a", 0), upload("b", 0)]
    assert started_since(listed, {"a"}) == [listed[1]]
    assert started_since(listed, set()) == listed


def test_owners_are_the_outputs_holding_a_path() -> None:
    outs = [Output("data/parts", "x.dir", None), Output("data/parts2", "y", 3)]
    assert owners(outs, ("data/parts/p1.bin",)) == ("data/parts",)
    assert owners(outs, ("data/parts",)) == ("data/parts",)
    assert owners(outs, ("data/parts2",)) == ("data/parts2",)
    assert owners(outs, ("elsewhere",)) == ()


def test_file_md5_over_several_chunks(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"one line\n")
    assert file_md5(path) == ("c668bc14490a9d0acee3a0dbac1ec9b9", 9)  # md5sum's answer
    data = bytes(range(256)) * (3 * 4096 + 1)  # 3 MiB and 256 bytes
    path.write_bytes(data)
    assert file_md5(path) == (hashlib.md5(data).hexdigest(), len(data))


def problem(paths: tuple[str, ...], md5: str, outputs: tuple[str, ...]) -> CacheProblem:
    name = f".dvc/cache/files/md5/{md5[:2]}/{md5[2:]}"
    return CacheProblem("corrupt", "cache", paths, name, md5, "f" * 32, outputs=outputs)


def test_a_corrupt_object_is_one_line_naming_object_output_and_hashes() -> None:
    member = problem(("data/parts/p1.bin",), MD5, ("data/parts",))
    listing = problem(("data/parts",), f"{MD5}.dir", ("data/parts",))
    result = PushResult("s3://b/dvc", CacheCheck(2, 10, (member, listing)))
    assert render_push(result).splitlines() == [
        f".dvc/cache/files/md5/01/{MD5[2:]}: corrupt in the local cache (data/parts/p1.bin, "
        f"output data/parts): md5 expected {MD5}, actual {'f' * 32}",
        f".dvc/cache/files/md5/01/{MD5[2:]}.dir: corrupt in the local cache (listing of output "
        f"data/parts): md5 expected {MD5}, actual {'f' * 32}",
        "refused to push to s3://b/dvc: 2 corrupt object(s) in the local cache; nothing was sent",
    ]
    assert result.as_dict()["ok"] is False


def test_a_clean_push_says_what_it_hashed_then_dvc_summary() -> None:
    result = PushResult("s3://b/dvc", CacheCheck(3, 300, ()), "3 files pushed", stale_aborted=1)
    assert render_push(result).splitlines() == [
        "hashed 3 object(s), 300 bytes, before sending: ok",
        "aborted 1 multipart upload(s) older than a day",
        "3 files pushed",
    ]
