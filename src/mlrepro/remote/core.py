"""The S3 remote: add it without credentials, open it through DVC's config, check it answers.

Credentials never go into the tracked `.dvc/config`: they come from the environment
(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE) or `dvc remote modify --local`. Every
command first refuses a tracked config that holds one; no message ever shows a secret's value.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from mlrepro.core.errors import MlreproError
from mlrepro.remote.credentials import Secret, config_secrets, redact, url_credential

DEFAULT_NAME = "storage"
TRACKED_CONFIG = Path(".dvc") / "config"
CREDENTIALS_HINT = (
    "use the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) or dvc remote modify --local"
)


class RemoteError(MlreproError):
    """The remote is not configured, cannot be reached, refuses the credentials or has no bucket."""


@dataclass(frozen=True)
class RemoteInfo:
    name: str
    url: str
    bucket: str
    endpoint: str | None

    def where(self) -> str:
        at = f" at {redact(self.endpoint)}" if self.endpoint else ""
        return f"remote {self.name!r} ({redact(self.url)}{at})"


def parse_s3_url(url: str) -> str:
    """The bucket of `s3://BUCKET[/PREFIX]`; refuses other schemes and embedded credentials."""
    if url_credential(url):
        raise RemoteError(
            f"{redact(url)}: credentials do not belong in the URL; {CREDENTIALS_HINT}"
        )
    parsed = split_url(url)
    if parsed is None or parsed.scheme != "s3" or not parsed.hostname:
        raise RemoteError(f"{url}: not an S3 URL (expected s3://BUCKET/PREFIX)")
    return parsed.hostname


def split_url(url: str) -> SplitResult | None:
    try:
        return urlsplit(url)
    except ValueError:  # a malformed [IPv6] host
        return None


def check_endpoint(endpoint: str) -> None:
    """Refuses an `--endpoint` that holds credentials (naming it with ***) or is not http(s)."""
    if url_credential(endpoint):
        raise RemoteError(
            f"--endpoint {redact(endpoint)}: credentials do not belong in the endpoint URL; "
            f"{CREDENTIALS_HINT}"
        )
    parsed = split_url(endpoint)
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise RemoteError(f"--endpoint {endpoint}: not an http(s) URL (http://HOST[:PORT])")


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
    refuse_tracked_secrets(repo)
    bucket = parse_s3_url(url)
    if endpoint:
        check_endpoint(endpoint)
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


def tracked_secrets(repo: Path) -> list[Secret]:
    """Every credential in the tracked .dvc/config (there should be none), read as DVC reads it."""
    from configobj import ConfigObjError
    from dvc.config import Config, ConfigError

    path = repo / TRACKED_CONFIG
    if not path.is_file():
        return []
    try:
        conf = Config.load_file(str(path))
    except ConfigError as exc:  # configobj's message quotes the line, which may hold a secret
        cause = exc.__cause__
        first = (getattr(cause, "errors", None) or [cause])[0]  # several errors: the first
        line = getattr(first, "line_number", None) if isinstance(cause, ConfigObjError) else None
        at = f" (line {line})" if line else ""
        raise RemoteError(f"{TRACKED_CONFIG}: not a valid DVC config{at}") from None
    return config_secrets(conf)


def refuse_tracked_secrets(repo: Path) -> None:
    """Every command calls this first: one line naming each credential git tracks, never its
    value, and how to move it to the git-ignored .dvc/config.local."""
    found = tracked_secrets(repo)
    if found:
        keys = ", ".join(s.key() for s in found)
        what = "a credential" if len(found) == 1 else "credentials"
        raise RemoteError(f"{TRACKED_CONFIG}: {keys}: {what} in a tracked file; {found[0].fix()}")


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
