"""Multipart uploads under the remote's prefix: list them, pick the abandoned ones, abort them.

dvc-s3 (s3fs) sends an object of 100 MiB or more as a multipart upload in 50 MiB parts; a push
killed mid-object leaves the upload open, and S3 keeps (and bills) its parts until it is aborted.
`mlrepro remote push` aborts the uploads its own push started when it is interrupted or fails
(`started_since`: not listed before the push began), and at its start those under the prefix
older than STALE_AFTER (`stale`), which a push that could not clean up (SIGKILL) left behind.
Requests go through the remote's own s3fs client, with the endpoint and credentials DVC uses.
"""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

STALE_AFTER = timedelta(hours=24)  # no push of ours keeps one object's upload open that long
SETTLE = 0.5  # seconds between the two passes of abort_started


@dataclass(frozen=True)
class Upload:
    key: str
    upload_id: str
    initiated: datetime  # the server's clock, timezone-aware


def key_prefix(url: str) -> str:
    """`s3://BUCKET/PREFIX` -> "PREFIX/" (every object DVC writes is below it); "" for none."""
    path = urlsplit(url).path.strip("/")
    return f"{path}/" if path else ""


def list_uploads(fs: Any, bucket: str, prefix: str) -> list[Upload]:
    """Every open multipart upload in `bucket` whose key starts with `prefix` (all pages)."""
    found: list[Upload] = []
    markers: dict[str, str] = {}
    while True:
        page = fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=prefix, **markers)
        found += [Upload(u["Key"], u["UploadId"], u["Initiated"]) for u in page.get("Uploads", [])]
        if not page.get("IsTruncated"):
            return found
        markers = {
            "KeyMarker": page.get("NextKeyMarker", ""),
            "UploadIdMarker": page.get("NextUploadIdMarker", ""),
        }


def started_since(listed: list[Upload], before: set[str]) -> list[Upload]:
    """The uploads that were not open when `before` (their ids) was listed."""
    return [u for u in listed if u.upload_id not in before]


def stale(listed: list[Upload], now: datetime, age: timedelta | None = None) -> list[Upload]:
    """The uploads initiated more than `age` (default STALE_AFTER) before `now`."""
    limit = STALE_AFTER if age is None else age
    return [u for u in listed if now - u.initiated > limit]


def abort_uploads(fs: Any, bucket: str, uploads: list[Upload]) -> list[Upload]:
    """Abort each upload; returns those aborted (one that is already gone counts as aborted)."""
    done = []
    for upload in uploads:
        with suppress(FileNotFoundError):  # s3fs's NoSuchUpload: completed or aborted already
            fs.call_s3(
                "abort_multipart_upload", Bucket=bucket, Key=upload.key, UploadId=upload.upload_id
            )
        done.append(upload)
    return done


def abort_started(fs: Any, bucket: str, prefix: str, before: set[str]) -> list[Upload]:
    """Abort the uploads under `prefix` that were not open when `before` was listed. Twice, a
    moment apart: a request the stopped push sent just before it died may land late."""
    done: dict[str, Upload] = {}
    for attempt in range(2):
        if attempt:
            time.sleep(SETTLE)
        listed = started_since(list_uploads(fs, bucket, prefix), before)
        done.update((u.upload_id, u) for u in abort_uploads(fs, bucket, listed))
    return list(done.values())


def reason(exc: BaseException) -> str:
    """The first line of an error from s3fs / botocore, for a one-line message."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]
