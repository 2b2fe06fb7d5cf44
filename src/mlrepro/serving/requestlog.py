"""The request log of `mlrepro serve`, for monitoring: JSON Lines files in one folder, one record
per predicted row, one per refused request.

- `requests.jsonl` is the current file; when a record would take it past `max_bytes` it is
  renamed `requests-<UTC stamp>-<seq>.jsonl` (seq counts up across restarts, so it orders the
  files even if the clock does not) and the oldest rotated files beyond `keep` are removed.
- Writes are serialised by a lock (the server predicts on several threads) and flushed per
  request; one process writes a folder (an exclusive `flock` on `.lock`).
- A write that fails (a full disk) never stops the server: the file is cut back to its last whole
  record, the records are counted as dropped, and one warning line goes to stderr when writing
  stops working and one when it works again; `status()` reports the count for /health.
- A folder the log creates gets a `.gitignore` of `*`: request data is never committed by
  accident (`git add -A`).

`read_records(folder)` reads every file back, oldest first (a line cut short by a kill at the end
of a file is skipped).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import re
import sys
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from mlrepro.core.errors import DataError, MlreproError

LOG_DIR = "logs/serving"  # under the repository's root
CURRENT = "requests.jsonl"
LOCK = ".lock"
MIB = 1 << 20
DEFAULT_MAX_MIB = 64.0
DEFAULT_KEEP = 10  # rotated files kept beside the current one
ROTATED = re.compile(r"^requests-(\d{8}T\d{6}Z)-(\d+)\.jsonl$")


class LogError(MlreproError):
    """The log folder cannot be created, or another server writes it."""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def json_line(record: Mapping[str, Any]) -> bytes:
    text = json.dumps(record, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return (text + "\n").encode("utf-8")


class RequestLog:
    """Open with `RequestLog.open(folder, ...)`; `write(records)` from any thread."""

    def __init__(self, folder: Path, lock: BinaryIO, *, max_bytes: int, keep: int) -> None:
        self.folder, self.max_bytes, self.keep = folder, max_bytes, keep
        self.current = folder / CURRENT
        self.written = self.dropped = 0
        self.problem: str | None = None  # why the last write failed; None once one works
        self._lock = threading.Lock()
        self._folder_lock = lock
        self._file: BinaryIO | None = None
        self._size = 0
        self._seq = max((seq for seq, _ in rotated_files(folder)), default=0)

    @classmethod
    def open(
        cls, folder: Path, *, max_bytes: int = int(DEFAULT_MAX_MIB * MIB), keep: int = DEFAULT_KEEP
    ) -> RequestLog:
        """The log in `folder` (created, with its `.gitignore`, when missing); LogError in one
        line when it cannot be created or another process holds it."""
        try:
            if not folder.is_dir():
                folder.mkdir(parents=True)
                (folder / ".gitignore").write_text("*\n", encoding="utf-8")
            lock = (folder / LOCK).open("ab")
        except OSError as exc:
            raise LogError(f"{folder}: cannot write the request log: {exc.strerror}") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise LogError(
                f"{folder}: another mlrepro serve writes its request log there (use --log DIR)"
            ) from None
        return cls(folder, lock, max_bytes=max(1, max_bytes), keep=max(0, keep))

    def write(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Append `records`; never raises for a write that fails (see the module's docstring)."""
        try:
            lines = [json_line(r) for r in records]
        except (TypeError, ValueError) as exc:  # a value JSON cannot hold: a bug, not the disk
            with self._lock:
                self.dropped += len(records)
            print(f"mlrepro serve: warning: records not logged: {exc}", file=sys.stderr)
            return
        with self._lock:
            before = self.written
            try:
                self._append(lines)
            except OSError as exc:
                self._failed(exc, len(lines) - (self.written - before))
            else:
                self._worked()

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "folder": str(self.folder),
                "written": self.written,
                "dropped": self.dropped,
                "problem": self.problem,
            }

    def close(self) -> None:
        with self._lock:
            self._close_file()
            self._folder_lock.close()  # releases the flock

    def _append(self, lines: list[bytes]) -> None:
        chunk: list[bytes] = []
        size = self._open_size()
        for line in lines:
            if size and size + len(line) > self.max_bytes:
                self._flush(chunk)
                chunk = []
                self._rotate()
                size = 0
            chunk.append(line)
            size += len(line)
        self._flush(chunk)

    def _open_size(self) -> int:
        if self._file is None:
            self._file = self.current.open("ab")
            self._size = os.fstat(self._file.fileno()).st_size
        return self._size

    def _flush(self, chunk: list[bytes]) -> None:
        if not chunk:
            return
        data = b"".join(chunk)
        self._open_size()
        assert self._file is not None
        try:
            self._file.write(data)
            self._file.flush()
        except OSError:
            self._cut_back()
            raise
        self._size += len(data)
        self.written += len(chunk)

    def _cut_back(self) -> None:
        """After a failed write: drop the half-written bytes, reopen on the next write."""
        size = self._size
        self._close_file()
        with contextlib.suppress(OSError):  # gone, or not a regular file: the next open starts
            os.truncate(self.current, size)

    def _rotate(self) -> None:
        self._close_file()
        self._seq += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        with contextlib.suppress(FileNotFoundError):  # removed by hand: a new one starts
            os.replace(self.current, self.folder / f"requests-{stamp}-{self._seq:06d}.jsonl")
        self._size = 0
        for _, old in rotated_files(self.folder)[: -self.keep or None]:
            old.unlink(missing_ok=True)

    def _close_file(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):  # its buffer could not be written: counted
                self._file.close()
            self._file = None

    def _failed(self, exc: OSError, dropped: int) -> None:
        self.dropped += dropped
        if self.problem is None:
            self.problem = f"{self.current}: cannot write: {exc.strerror or exc}"
            print(
                f"mlrepro serve: warning: {self.problem}; request records are dropped until it "
                "can (counted on /health)",
                file=sys.stderr,
                flush=True,
            )

    def _worked(self) -> None:
        if self.problem is not None:
            self.problem = None
            print(
                f"mlrepro serve: the request log is written again ({self.dropped} records "
                "dropped so far)",
                file=sys.stderr,
                flush=True,
            )


def rotated_files(folder: Path) -> list[tuple[int, Path]]:
    """The rotated files of `folder`, oldest (lowest seq) first."""
    found = []
    for path in folder.iterdir() if folder.is_dir() else ():
        match = ROTATED.match(path.name)
        if match:
            found.append((int(match.group(2)), path))
    return sorted(found)


def log_files(folder: Path) -> list[Path]:
    """Every file of the log, oldest first: the rotated ones, then the current one."""
    current = folder / CURRENT
    return [p for _, p in rotated_files(folder)] + ([current] if current.is_file() else [])


def read_records(folder: Path) -> list[dict[str, Any]]:
    """Every record of the log in `folder`, oldest first; DataError naming the file and line
    for a line that is not a JSON object (a last line cut short by a kill is skipped)."""
    if not folder.is_dir():
        raise DataError(f"{folder}: no request log there (mlrepro serve --log DIR writes one)")
    records = []
    for path in log_files(folder):
        text = path.read_bytes().decode("utf-8", errors="replace")
        lines = text.split("\n")
        lines.pop()  # after the last newline: "" or a record a kill cut short
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not isinstance(record, dict):
                raise DataError(f"{path}:{number}: not a JSON record")
            records.append(record)
    return records


def prediction_records(
    base: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    features: Sequence[Mapping[str, Any]],
    outputs: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """One record per predicted row: `base` (time, request, model_md5, commit), status 200, the
    row's position, its input as sent, the features the model saw, the output."""
    return [
        {**base, "status": 200, "row": i, "input": dict(row), "features": plain(f), "output": o}
        for i, (row, f, o) in enumerate(zip(rows, features, outputs, strict=True))
    ]


def refusal_record(
    base: Mapping[str, Any], status: int, error: Mapping[str, Any], rows: Any = None
) -> dict[str, Any]:
    """One record for a refused request: its status and error, and its rows when they parsed."""
    record = {**base, "status": status, "error": dict(error)}
    return record if rows is None else {**record, "input": rows}


def plain(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row of plain values (`predict.output_records`) as JSON: NaN, a missing number, as null."""
    return {
        str(k): None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()
    }
