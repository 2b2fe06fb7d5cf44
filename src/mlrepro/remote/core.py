"""The S3 remote: add it without credentials, open it through DVC's config, check it answers.

Credentials never go into the tracked `.dvc/config`: they come from the environment
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE) or `dvc remote modify --local`.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlrepro.core.errors import MlreproError

DEFAULT_NAME = "storage"
TRACKED_CONFIG = Path(".dvc") / "config"
# option names of dvc-s3 (and other remotes) that hold a secret
SECRET_OPTIONS = ("access_key_id", "secret_access_key", "session_token", "password", "token")


class RemoteError(MlreproError):
    """The remote is not configured, cannot be reached, refuses the credentials or has no bucket."""


@dataclass(frozen=True)
class RemoteInfo:
    name: str
    url: str
    bucket: str
    endpoint: str | None

    def where(self) -> str:
        at = f" at {self.endpoint}" if self.endpoint else ""
        return f"remote {self.name!r} ({self.url}{at})"


def parse_s3_url(url: str) -> str:
    """The bucket of `s3://BUCKET[/PREFIX]`; refuses other schemes and embedded credentials."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.hostname:
        raise RemoteError(f"{url}: not an S3 URL (expected s3://BUCKET/PREFIX)")
    if "@" in parsed.netloc:
        raise RemoteError(f"{url}: credentials do not belong in the URL; use the environment")
    return parsed.hostname


def run_dvc(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "DVC_NO_ANALYTICS": "1"},
    )


def last_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in (result.stderr + result.stdout).splitlines() if ln.startswith("ERROR")]
    return (lines or [*result.stderr.strip().splitlines(), "failed"])[0].removeprefix("ERROR: ")


def add_remote(
    repo: Path, url: str, *, endpoint: str | None = None, name: str = DEFAULT_NAME
) -> RemoteInfo:
    """`dvc remote add -d NAME URL` (replacing one of that name), the endpoint and `verify =
    true` (DVC re-hashes what it pulls), all in the tracked config; no credentials."""
    bucket = parse_s3_url(url)
    steps = [
        ("remote", "add", "--default", "--force", name, url),
        ("remote", "modify", name, "verify", "true"),
    ]
    if endpoint:
        steps.append(("remote", "modify", name, "endpointurl", endpoint))
    for step in steps:
        result = run_dvc(repo, *step)
        if result.returncode != 0:
            command = " ".join(step)
            raise RemoteError(f"{repo / TRACKED_CONFIG}: dvc {command}: {last_error(result)}")
    return RemoteInfo(name, url, bucket, endpoint)


def tracked_secrets(repo: Path) -> list[str]:
    """`section.option` of every credential in the tracked .dvc/config (there should be none)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(repo / TRACKED_CONFIG)
    return [
        f"{section}.{option}"
        for section in parser.sections()
        for option in parser.options(section)
        if option in SECRET_OPTIONS
    ]


def remote_info(dvc_repo: Any, name: str | None) -> RemoteInfo:
    """The named remote (default: core.remote) from DVC's merged config."""
    config = dvc_repo.config
    name = name or config["core"].get("remote")
    if not name:
        raise RemoteError(
            f"{TRACKED_CONFIG}: no default remote (mlrepro remote add s3://BUCKET/PREFIX)"
        )
    if name not in config["remote"]:
        raise RemoteError(f"{TRACKED_CONFIG}: no remote named {name!r}")
    section = config["remote"][name]
    url = section["url"]
    return RemoteInfo(name, url, parse_s3_url(url), section.get("endpointurl"))


def check_reachable(odb: Any, info: RemoteInfo) -> None:
    """One request to the bucket; a failure becomes one line naming the endpoint and bucket."""
    try:
        odb.fs.fs.info(info.bucket)
    except FileNotFoundError:
        raise RemoteError(f"{info.where()}: bucket {info.bucket!r} does not exist") from None
    except PermissionError:
        raise RemoteError(
            f"{info.where()}: access to bucket {info.bucket!r} denied; check the credentials "
            "(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or dvc remote modify --local)"
        ) from None
    except Exception as exc:  # botocore / aiohttp connection errors share no base class
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RemoteError(f"{info.where()}: cannot reach the S3 endpoint: {reason}") from None
