"""`mlrepro remote push` against the real S3 API server of test_remote.py: it hashes what it
sends and refuses corrupt cache objects, and a push stopped by a signal (or by the death of
mlrepro) leaves no dvc process and aborts the multipart upload it had started."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from mlrepro.remote import uploads
from mlrepro.remote.transfer import push
from tests.conftest import Repo
from tests.e2e.test_remote import S3, add_remote, s3, small_repo  # noqa: F401 - s3 is a fixture
from tests.runner import mlrepro, processes_in, start_mlrepro, wait_for

pytestmark = pytest.mark.e2e

BIG_MIB = 160  # s3fs sends 100 MiB and more as a multipart upload of 50 MiB parts


def cache_path(repo: Repo, md5: str) -> Path:
    return repo.path / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def md5_of(repo: Repo, relpath: str) -> str:
    """The md5 (with .dir for a folder) that the workspace records for `relpath`."""
    from mlrepro.remote.objects import entries, local_reader, outputs

    for entry in entries(outputs(repo.path, None), local_reader(repo.path), {}):
        if relpath in entry.paths:
            return entry.md5
    raise AssertionError(relpath)


def flip_bit(path: Path) -> bytes:
    """Flip one bit in the middle of a (read-only) cache file; returns the new bytes."""
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    return bytes(data)


@pytest.mark.parametrize(
    ("target", "output", "owner"),
    [
        ("data/parts/p0001.bin", "data/parts", "data/parts/p0001.bin, output data/parts"),
        ("data/single.txt", "data/single.txt", "output data/single.txt"),
        ("data/parts", "data/parts", "listing of output data/parts"),
    ],
)
def test_push_refuses_a_corrupt_cache_object(
    s3: S3,  # noqa: F811 - the fixture
    tmp_path: Path,
    target: str,
    output: str,
    owner: str,
) -> None:
    repo = small_repo(tmp_path)
    bucket = s3.bucket()
    add_remote(repo, s3, bucket)
    md5 = md5_of(repo, target)
    bad = flip_bit(cache_path(repo, md5))
    name = f".dvc/cache/files/md5/{md5[:2]}/{md5[2:]}"

    result = mlrepro(repo.path, "remote", "push", code=1)
    assert result.stdout.splitlines() == [
        f"{name}: corrupt in the local cache ({owner}): md5 expected "
        f"{md5.removesuffix('.dir')}, actual {hashlib.md5(bad).hexdigest()}",
        f"refused to push to s3://{bucket}/dvc: 1 corrupt object(s) in the local cache; "
        "nothing was sent",
    ], result.stdout
    assert s3.keys(bucket) == []  # not even the intact objects
    report = json.loads(mlrepro(repo.path, "remote", "push", "--json", code=1).stdout)
    assert [(p["object"], p["outputs"]) for p in report["problems"]] == [(name, [output])]

    # the fix the README gives: drop the object, store the intact work tree copy again
    cache_path(repo, md5).unlink()
    repo.dvc("commit", "--force", "--quiet", output)
    pushed = mlrepro(repo.path, "remote", "push")
    assert "hashed 5 object(s)" in pushed.stdout, pushed.stdout
    assert len(s3.keys(bucket)) == 5  # 3 parts, their listing, single.txt
    mlrepro(repo.path, "remote", "verify")


def test_push_hashes_only_what_the_remote_lacks(
    s3: S3,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    repo = small_repo(tmp_path)
    bucket = s3.bucket()
    add_remote(repo, s3, bucket)
    first = mlrepro(repo.path, "remote", "push")
    assert first.stdout.splitlines()[0].startswith("hashed 5 object(s), "), first.stdout
    (repo.path / "data" / "parts" / "p0003.bin").write_bytes(b"new part")
    repo.dvc("add", "-q", "data/parts")
    again = mlrepro(repo.path, "remote", "push")  # the new part and the new listing
    assert again.stdout.splitlines()[0].startswith("hashed 2 object(s)"), again.stdout
    assert len(s3.keys(bucket)) == 7


@pytest.fixture
def big_repo(tmp_path: Path) -> Iterator[Repo]:
    """small_repo plus a BIG_MIB file; afterwards kills whatever still runs in it."""
    repo = small_repo(tmp_path)
    with open(repo.path / "data" / "big.bin", "wb") as fh:
        for _ in range(BIG_MIB):
            fh.write(os.urandom(2**20))
    repo.dvc("add", "-q", "data/big.bin")
    repo.commit_all("big")
    yield repo
    for line in processes_in(repo.path):  # only when the test failed: no orphan outlives it
        os.kill(int(line.split()[0]), signal.SIGKILL)


def open_uploads(server: S3, bucket: str) -> list[tuple[str, str]]:
    listed = server.client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return sorted((u["Key"], u["UploadId"]) for u in listed)


def start_upload(server: S3, bucket: str, key: str) -> tuple[str, str]:
    upload_id: str = server.client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    return key, upload_id


def push_until_multipart(repo: Repo, server: S3, bucket: str) -> subprocess.Popen[str]:
    """`mlrepro remote push` in the background, returned once its multipart upload is open."""
    before = set(open_uploads(server, bucket))
    proc = start_mlrepro(
        repo.path,
        "remote",
        "push",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a signal for it never reaches pytest
    )
    wait_for(
        lambda: set(open_uploads(server, bucket)) - before or proc.poll() is not None,
        timeout=120,
        what="a multipart upload",
    )
    if not set(open_uploads(server, bucket)) - before:  # the push ended first
        out, err = proc.communicate()
        raise AssertionError(f"no multipart upload seen; exit {proc.returncode}\n{out}\n{err}")
    return proc


def gone(folder: Path, seconds: float) -> list[str]:
    """The processes still in `folder` after waiting up to `seconds` for them to exit."""
    with contextlib.suppress(AssertionError):
        wait_for(lambda: not processes_in(folder), timeout=seconds, what="them", interval=0.05)
    return processes_in(folder)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_push_stops_dvc_and_aborts_its_upload(
    s3: S3,  # noqa: F811 - the fixture
    big_repo: Repo,
    sig: signal.Signals,
) -> None:
    bucket = s3.bucket()
    add_remote(big_repo, s3, bucket)
    # not under the remote's prefix (one open before the push under it would look stale to
    # the push: moto lists every upload as initiated in 2010; see test_abort_started...)
    foreign = [start_upload(s3, bucket, "dvc-other/files/md5/00/x")]
    proc = push_until_multipart(big_repo, s3, bucket)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert processes_in(big_repo.path) == []  # dvc stopped with mlrepro, not left running
    assert open_uploads(s3, bucket) == foreign  # its upload aborted, no other
    assert proc.returncode == 128 + sig, f"exit {proc.returncode}\n{out}\n{err}"
    assert err.splitlines() == [
        f"mlrepro: error: remote 'storage' (s3://{bucket}/dvc at {s3.endpoint}): push "
        f"interrupted by {sig.name}: stopped dvc push; aborted 1 multipart upload(s) it left "
        f"under s3://{bucket}/dvc/; push again to finish"
    ], err

    mlrepro(big_repo.path, "remote", "push")
    assert f"dvc/files/md5/{md5_of(big_repo, 'data/big.bin')[:2]}" in str(s3.keys(bucket))
    mlrepro(big_repo.path, "remote", "verify")


def test_killed_mlrepro_takes_dvc_with_it(
    s3: S3,  # noqa: F811 - the fixture
    big_repo: Repo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = s3.bucket()
    add_remote(big_repo, s3, bucket)
    proc = push_until_multipart(big_repo, s3, bucket)
    proc.kill()  # SIGKILL: no handler runs, only the kernel's PR_SET_PDEATHSIG
    proc.communicate(timeout=60)
    assert gone(big_repo.path, 15) == []
    md5 = md5_of(big_repo, "data/big.bin")
    key = f"dvc/files/md5/{md5[:2]}/{md5[2:]}"
    assert key not in s3.keys(bucket)  # dvc died mid-upload instead of finishing as an orphan
    assert [k for k, _ in open_uploads(s3, bucket)] == [key]  # which nothing could abort

    # the next push aborts open uploads under its prefix older than uploads.STALE_AFTER (moto
    # lists every upload as initiated in 2010; the limit of 0 keeps this test true on real S3)
    monkeypatch.setattr(uploads, "STALE_AFTER", timedelta(0))
    result = push(big_repo.path)
    assert result.stale_aborted == 1 and result.summary, result
    assert open_uploads(s3, bucket) == []
    assert key in s3.keys(bucket)


def test_abort_started_leaves_other_uploads(
    s3: S3,  # noqa: F811 - the fixture
) -> None:
    import s3fs

    bucket = s3.bucket()
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3.endpoint})
    earlier = start_upload(s3, bucket, "dvc/files/md5/aa/earlier")
    before = {u.upload_id for u in uploads.list_uploads(fs, bucket, "dvc/")}
    outside = start_upload(s3, bucket, "dvc2/files/md5/bb/outside")
    ours = start_upload(s3, bucket, "dvc/files/md5/cc/ours")
    aborted = uploads.abort_started(fs, bucket, "dvc/", before)
    assert [(u.key, u.upload_id) for u in aborted] == [ours]
    assert open_uploads(s3, bucket) == sorted([earlier, outside])
