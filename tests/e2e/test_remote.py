"""`mlrepro remote` and `dvc push` / `dvc pull` against a real S3 API server (moto's standalone
server on 127.0.0.1, started and stopped here): round trips, integrity, credentials and faults."""

from __future__ import annotations

import filecmp
import json
import os
import signal
import socket
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlrepro.remote.core import CREDENTIALS_HINT, tracked_secrets
from tests.conftest import PROJECT, Repo, tool_env
from tests.runner import Result, mlrepro, mlrepro_process, wait_for

pytestmark = pytest.mark.e2e

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# made at run time, so that no credential-shaped string is written in this file
SECRET = f"pw-{uuid.uuid4().hex}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class S3:
    """The server's endpoint and a boto3 client on it; each test makes its own bucket."""

    def __init__(self, endpoint: str) -> None:
        import boto3

        self.endpoint = endpoint
        self.client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")

    def bucket(self) -> str:
        name = f"t-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def get(self, bucket: str, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def require_auth(self, on: bool) -> None:
        """moto checks credentials (it knows none, so every key is wrong) or accepts any."""
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth",
            data=b"0" if on else b"inf",
            headers={"Content-Type": "text/plain"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {**CREDENTIALS, "AWS_DEFAULT_REGION": "us-east-1"}.items():
            mp.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            mp.delenv(name, raising=False)
        server.start()
        try:
            yield S3(f"http://127.0.0.1:{port}")
        finally:
            server.stop()


def run(
    repo: Path, *cmd: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=repo, env=env or tool_env(), capture_output=True, text=True, timeout=300
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result


def add_remote(repo: Repo, s3: S3, bucket: str) -> None:
    mlrepro(repo.path, "remote", "add", f"s3://{bucket}/dvc", "--endpoint", s3.endpoint)
    repo.commit_all("remote")


def fresh_clone(repo: Repo, tmp_path: Path, name: str = "clone") -> Repo:
    target = tmp_path / name
    ok(run(tmp_path, "git", "clone", "-q", str(repo.path), str(target)))
    assert not (target / ".dvc" / "cache").exists()
    return Repo(target)


def cached_files(repo: Path) -> list[Path]:
    """Every file DVC tracks in the work tree (outputs of dvc.lock and .dvc files)."""
    from mlrepro.remote.objects import outputs

    found = []
    for out in outputs(repo, None):
        root = repo / out.path
        found += [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return found


def test_round_trip_into_a_fresh_clone(pipeline_repo: Repo, s3: S3, tmp_path: Path) -> None:
    bucket = s3.bucket()
    # the template restores the pinned snapshots into the work tree but not into the DVC cache
    snapshots = sorted(
        str(p.relative_to(pipeline_repo.path))
        for p in (pipeline_repo.path / "data" / "snapshots").glob("*/*.dvc")
    )
    pipeline_repo.dvc("commit", "--force", "--quiet", *snapshots)
    add_remote(pipeline_repo, s3, bucket)
    ok(pipeline_repo.run("dvc", "push", "--jobs", "4", check=False))
    assert tracked_secrets(pipeline_repo.path) == []
    config = (pipeline_repo.path / ".dvc" / "config").read_text()
    assert "testing" not in config and "verify = true" in config, config

    clone = fresh_clone(pipeline_repo, tmp_path)
    pulled = mlrepro(clone.path, "remote", "pull", "--json")
    assert json.loads(pulled.stdout)["ok"], pulled.stdout
    files = cached_files(pipeline_repo.path)
    names = {p.relative_to(pipeline_repo.path).as_posix() for p in files}
    assert any(n.startswith("data/snapshots/") for n in names), names
    assert any(n.startswith("train/") or "model" in n for n in names), names
    for path in files:
        twin = clone.path / path.relative_to(pipeline_repo.path)
        assert filecmp.cmp(path, twin, shallow=False), twin
    metrics = PROJECT / "evaluate" / "metrics.json"
    rel = metrics.relative_to(PROJECT)
    assert filecmp.cmp(pipeline_repo.path / rel, clone.path / rel, shallow=False)
    assert "up to date" in clone.dvc("status").stdout.lower()
    repro = clone.dvc("repro")
    assert "Running stage" not in repro.stdout, repro.stdout
    assert clone.git("status", "--porcelain").stdout == ""


def small_repo(tmp_path: Path, files: int = 3, size: int = 64) -> Repo:
    """A git + DVC repo with a tracked folder and a tracked file."""
    path = tmp_path / "small"
    (path / "data" / "parts").mkdir(parents=True)
    for i in range(files):
        (path / "data" / "parts" / f"p{i:04}.bin").write_bytes(os.urandom(size))
    (path / "data" / "single.txt").write_text("one line\n")
    repo = Repo(path)
    repo.git("init", "-q", "-b", "main")
    repo.dvc("init", "-q")
    repo.dvc("add", "-q", "data/parts", "data/single.txt")
    repo.commit_all("data")
    return repo


def object_key(repo: Repo, relpath: str) -> str:
    """The remote key of a file's object (DVC 3: PREFIX/files/md5/xx/rest)."""
    from mlrepro.remote.objects import entries, local_reader, outputs

    for entry in entries(outputs(repo.path, None), local_reader(repo.path), {}):
        if relpath in entry.paths:
            return f"dvc/files/md5/{entry.md5[:2]}/{entry.md5[2:]}"
    raise AssertionError(relpath)


@pytest.mark.parametrize("damage", ["bitflip", "truncate"])
def test_corrupt_object_is_named_and_never_left(s3: S3, tmp_path: Path, damage: str) -> None:
    repo = small_repo(tmp_path)
    bucket = s3.bucket()
    add_remote(repo, s3, bucket)
    mlrepro(repo.path, "remote", "push")
    key = object_key(repo, "data/parts/p0001.bin")
    good = s3.get(bucket, key)
    bad = bytes([good[0] ^ 1]) + good[1:] if damage == "bitflip" else good[:-10]
    s3.put(bucket, key, bad)
    md5 = key.replace("/", "").removeprefix("dvcfilesmd5")

    verify = mlrepro(repo.path, "remote", "verify", code=1)
    assert f"data/parts/p0001.bin: corrupt in the remote (s3://{bucket}/{key})" in verify.stdout
    assert f"md5 expected {md5}, actual " in verify.stdout, verify.stdout
    report = json.loads(
        mlrepro(repo.path, "remote", "verify", "--rev", "HEAD", "--json", code=1).stdout
    )
    assert [p["paths"] for p in report["problems"]] == [["data/parts/p0001.bin"]]

    clone = fresh_clone(repo, tmp_path)
    pulled = mlrepro(clone.path, "remote", "pull", code=1)
    assert f"data/parts/p0001.bin: corrupt in the remote (s3://{bucket}/{key})" in pulled.stdout
    assert not (clone.path / "data" / "parts" / "p0001.bin").exists()
    for path in cached_files(clone.path):  # whatever was checked out is right
        original = repo.path / path.relative_to(clone.path)
        assert filecmp.cmp(original, path, shallow=False), path

    # plain `dvc pull` (verify = true on the remote) does not check the bad object out either
    plain = fresh_clone(repo, tmp_path, "plain")
    assert plain.dvc("pull", check=False).returncode != 0
    assert not (plain.path / "data" / "parts" / "p0001.bin").exists()


def test_pull_removes_damage_even_without_dvc_verify(s3: S3, tmp_path: Path) -> None:
    repo = small_repo(tmp_path)
    bucket = s3.bucket()
    add_remote(repo, s3, bucket)
    mlrepro(repo.path, "remote", "push")
    key = object_key(repo, "data/single.txt")
    s3.put(bucket, key, b"one linE\n")
    clone = fresh_clone(repo, tmp_path)
    clone.dvc("remote", "modify", "--local", "storage", "verify", "false")
    pulled = mlrepro(clone.path, "remote", "pull", code=1)
    assert "data/single.txt: corrupt in the workspace (data/single.txt)" in pulled.stdout
    assert not (clone.path / "data" / "single.txt").exists()


def test_credentials_from_local_config_only(s3: S3, tmp_path: Path) -> None:
    repo = small_repo(tmp_path)
    bucket = s3.bucket()
    add_remote(repo, s3, bucket)
    env = {k: v for k, v in tool_env().items() if k not in CREDENTIALS}
    for option, value in (("access_key_id", "testing"), ("secret_access_key", "testing")):
        ok(run(repo.path, "dvc", "remote", "modify", "--local", "storage", option, value, env=env))
    ok(run(repo.path, "dvc", "push", env=env))
    assert tracked_secrets(repo.path) == []
    assert "testing" in (repo.path / ".dvc" / "config.local").read_text()
    assert repo.git("status", "--porcelain").stdout == ""  # config.local is git-ignored
    mlrepro_process(repo.path, "remote", "verify", env=dict.fromkeys(CREDENTIALS))
    (repo.path / ".dvc" / "config").write_text(
        (repo.path / ".dvc" / "config").read_text() + "    secret_access_key = oops\n"
    )
    assert [s.key() for s in tracked_secrets(repo.path)] == [
        "'remote \"storage\"'.secret_access_key"
    ]


def test_killed_push_then_push_again(s3: S3, tmp_path: Path) -> None:
    repo = small_repo(tmp_path, files=200, size=256 * 1024)
    bucket = s3.bucket()
    add_remote(repo, s3, bucket)
    push = subprocess.Popen(
        ["dvc", "push", "--jobs", "2"],
        cwd=repo.path,
        env=tool_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for(lambda: len(s3.keys(bucket)) >= 5, what="5 objects pushed", interval=0.05)
    os.killpg(push.pid, signal.SIGKILL)
    push.wait()
    partial = len(s3.keys(bucket))
    assert 0 < partial < 202, partial  # killed mid-transfer
    mlrepro(repo.path, "remote", "push")
    assert len(s3.keys(bucket)) == 202
    mlrepro(repo.path, "remote", "verify")
    clone = fresh_clone(repo, tmp_path)
    assert json.loads(mlrepro(clone.path, "remote", "pull", "--json").stdout)["files"] == 201
    for path in cached_files(repo.path):
        assert filecmp.cmp(path, clone.path / path.relative_to(repo.path), shallow=False)


def one_line_error(result: Result) -> str:
    assert result.stdout == "", result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_faults_are_one_line_and_lose_nothing(s3: S3, tmp_path: Path) -> None:
    repo = small_repo(tmp_path)
    bucket = s3.bucket()
    add_remote(repo, s3, bucket)
    before = {p: p.read_bytes() for p in cached_files(repo.path)}
    cache = sorted((repo.path / ".dvc" / "cache").rglob("*"))

    repo.dvc("remote", "modify", "storage", "url", "s3://no-such-bucket/dvc")
    for verb in ("push", "verify", "pull"):
        line = one_line_error(mlrepro(repo.path, "remote", verb, code=2))
        assert "bucket 'no-such-bucket' does not exist" in line and s3.endpoint in line, line

    repo.dvc("remote", "modify", "storage", "url", f"s3://{bucket}/dvc")
    s3.require_auth(True)
    try:
        for verb in ("push", "verify"):
            line = one_line_error(mlrepro(repo.path, "remote", verb, code=2))
            assert f"access to bucket '{bucket}' denied" in line and s3.endpoint in line, line
    finally:
        s3.require_auth(False)

    down = f"http://127.0.0.1:{free_port()}"
    repo.dvc("remote", "modify", "storage", "endpointurl", down)
    line = one_line_error(mlrepro(repo.path, "remote", "push", code=2))
    assert f"at {down}): cannot reach the S3 endpoint" in line, line

    assert {p: p.read_bytes() for p in cached_files(repo.path)} == before
    assert sorted((repo.path / ".dvc" / "cache").rglob("*")) == cache


def no_secret(repo: Path, *results: Result) -> None:
    for result in results:
        assert SECRET not in result.stdout + result.stderr, result
    assert SECRET not in (repo / ".dvc" / "config").read_text()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (
            (f"s3://AKEY:{SECRET}@bucket/x",),
            "s3://***@bucket/x: credentials do not belong in the URL",
        ),
        ((f"s3://AKEY:a/{SECRET}@bucket/x",), "s3://***@bucket/x: credentials do not belong in"),
        (("s3://b/x", "--endpoint", f"http://u:{SECRET}@127.0.0.1:5555"), "--endpoint http://***@"),
        (("s3://b/x", "--endpoint", f"https://{SECRET}@s3.example"), "--endpoint https://***@s3."),
        (
            ("s3://b/x", "--endpoint", f"http://127.0.0.1:5555/?access_key=AK&secret={SECRET}"),
            "--endpoint http://127.0.0.1:5555/?access_key=***&secret=***: credentials do not",
        ),
    ],
)
def test_add_refuses_credentials_and_never_echoes_them(
    tmp_path: Path, args: tuple[str, ...], named: str
) -> None:
    repo = small_repo(tmp_path)
    before = (repo.path / ".dvc" / "config").read_text()
    result = mlrepro(repo.path, "remote", "add", *args, code=2)
    line = one_line_error(result)
    assert line.startswith(f"mlrepro: error: {named}") and line.endswith(CREDENTIALS_HINT), line
    no_secret(repo.path, result)
    assert (repo.path / ".dvc" / "config").read_text() == before  # nothing was added


def test_add_refuses_other_urls(tmp_path: Path) -> None:
    repo = small_repo(tmp_path)
    line = one_line_error(mlrepro(repo.path, "remote", "add", "gs://bucket/x", code=2))
    assert "gs://bucket/x: not an S3 URL" in line
    line = one_line_error(
        mlrepro(repo.path, "remote", "add", "s3://b/x", "--endpoint", "host:5555", code=2)
    )
    assert line == "mlrepro: error: --endpoint host:5555: not an http(s) URL (http://HOST[:PORT])"


def test_every_command_refuses_a_tracked_secret(s3: S3, tmp_path: Path) -> None:
    repo = small_repo(tmp_path)
    bucket = s3.bucket()
    add_remote(repo, s3, bucket)
    verbs = [("add", f"s3://{bucket}/dvc"), ("push",), ("pull",), ("verify",)]
    # the case: a secret set in the tracked config with plain `dvc remote modify`
    repo.dvc("remote", "modify", "storage", "secret_access_key", SECRET)
    for verb in verbs:
        result = mlrepro(repo.path, "remote", *verb, code=2)
        assert one_line_error(result) == (
            "mlrepro: error: .dvc/config: 'remote \"storage\"'.secret_access_key: a credential "
            "in a tracked file; move it: dvc remote modify --local storage secret_access_key ..."
        ), verb
        assert SECRET not in result.stdout + result.stderr, verb

    # moved as the line says: every command works again, and git tracks no secret
    repo.dvc("remote", "modify", "--unset", "storage", "secret_access_key")
    repo.dvc("remote", "modify", "--local", "storage", "access_key_id", "testing")
    repo.dvc("remote", "modify", "--local", "storage", "secret_access_key", SECRET)
    mlrepro(repo.path, "remote", "push")
    mlrepro(repo.path, "remote", "verify")
    assert tracked_secrets(repo.path) == []
    no_secret(repo.path)

    # an endpoint with user:password@ in the tracked config is a credential too
    endpoint = s3.endpoint.replace("http://", f"http://testing:{SECRET}@")
    repo.dvc("remote", "modify", "storage", "endpointurl", endpoint)
    for verb in verbs:
        result = mlrepro(repo.path, "remote", *verb, code=2)
        assert one_line_error(result) == (
            "mlrepro: error: .dvc/config: 'remote \"storage\"'.endpointurl: a credential in a "
            "tracked file; set the URL without it (dvc remote modify storage endpointurl URL), "
            "the credential with --local"
        ), verb
        assert SECRET not in result.stdout + result.stderr, verb


def test_an_unreadable_tracked_config_is_named_without_its_lines(tmp_path: Path) -> None:
    repo = small_repo(tmp_path)
    config = repo.path / ".dvc" / "config"
    config.write_text(config.read_text() + f"secret_access_key {SECRET}\n")
    lines = config.read_text().count("\n")
    result = mlrepro(repo.path, "remote", "push", code=2)
    assert (
        one_line_error(result)
        == f"mlrepro: error: .dvc/config: not a valid DVC config (line {lines})"
    )
    assert SECRET not in result.stdout + result.stderr


def test_help_ends_with_an_example() -> None:
    for verb in ("add", "push", "pull", "verify"):
        result = mlrepro(PROJECT, "remote", verb, "--help")
        assert result.code == 0 and "Example: mlrepro remote" in result.stdout, verb
