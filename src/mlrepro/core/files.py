"""File helpers shared by the stages: hashing, atomic and deterministic writes, reads that fail
with one line naming the file."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from mlrepro.core.errors import DataError, MlreproError

if TYPE_CHECKING:
    import pandas as pd

CHUNK = 1 << 20
READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH  # snapshot files, DVC cache objects
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class BinaryFile(Protocol):
    """A file object opened for reading bytes: what `hashlib.file_digest` reads."""

    def readinto(self, buffer: bytearray, /) -> int: ...

    def readable(self) -> bool: ...


@dataclass(frozen=True)
class Digest:
    """A file's size and hex digests, by hashlib name: `digest["sha256"]`."""

    bytes: int
    hexdigests: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.hexdigests[name]


class Hashing:
    """Several hashlib hashes fed the same bytes, and the count: every digest from one read pass
    (`digest_file`, or a loop that also copies the bytes). `progress` gets each block's size."""

    def __init__(self, *names: str, progress: Callable[[int], None] | None = None) -> None:
        self._hashes = [hashlib.new(name) for name in names or ("sha256",)]
        self._progress = progress
        self.bytes = 0

    def update(self, data: bytes | memoryview) -> None:
        for h in self._hashes:
            h.update(data)  # releases the GIL for blocks over 2 KiB
        self.bytes += len(data)
        if self._progress:
            self._progress(len(data))

    def result(self) -> Digest:
        return Digest(self.bytes, {h.name: h.hexdigest() for h in self._hashes})


def digest_file(
    file: str | Path | BinaryFile, *names: str, progress: Callable[[int], None] | None = None
) -> Digest:
    """Size and hex digests (hashlib names; sha256 when none is given) of a file, or of what a
    binary file object (a remote's too) still holds, in one pass of `hashlib.file_digest`."""
    hashing = Hashing(*names, progress=progress)
    feed = cast("Callable[[], Any]", lambda: hashing)  # any object with update() will do
    if isinstance(file, str | Path):
        with open(file, "rb", buffering=0) as fh:
            hashlib.file_digest(fh, feed)
    else:
        hashlib.file_digest(file, feed)
    return hashing.result()


def sha256_file(path: str | Path) -> str:
    return digest_file(path, "sha256")["sha256"]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync it and rename it into place, so a
    reader (or DVC) sees the old file or the complete new one, never a partial write. The
    temporary file is removed on any failure; a full disk is one line naming `path`."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the mode open() would
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        full = disk_full(exc, target)
        if full is None:
            raise
        raise full from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def disk_full(exc: OSError, path: str | Path | None = None) -> MlreproError | None:
    """A full disk or quota (ENOSPC, EDQUOT) as one line naming the file; None for other errors."""
    if exc.errno not in DISK_FULL:
        return None
    where = path if path is not None else exc.filename or "an output"
    return MlreproError(
        f"{where}: cannot write: {os.strerror(exc.errno)} (free space, then re-run)"
    )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | Path, data: Any) -> None:
    """JSON with stable key order and a trailing newline, written atomically."""
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_json(path: str | Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (run the stage that writes it first)") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a JSON file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid JSON: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON: {exc.msg} (line {exc.lineno})") from None


def write_parquet(df: pd.DataFrame, path: str | Path) -> None:
    """Parquet with no index and fixed settings, so equal frames give equal bytes."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, engine="pyarrow", index=False, compression="zstd")


def read_parquet(path: str | Path) -> pd.DataFrame:
    try:
        import pandas as pd

        return pd.read_parquet(path, engine="pyarrow")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (run the stage that writes it first)") from None
    except OSError as exc:
        raise DataError(f"{path}: not a readable Parquet file: {exc}") from None


def fresh_dir(path: str | Path) -> Path:
    """An empty directory at `path` (its old content removed), for a stage's output folder."""
    target = Path(path)
    if target.exists():
        for child in target.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    target.mkdir(parents=True, exist_ok=True)
    return target


def remove_outputs(*paths: str | Path) -> None:
    """Remove a failed stage's outputs so nothing partial is left looking valid."""
    for path in map(Path, paths):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists() or path.is_symlink():
            path.unlink()


def tracked_files(paths: Sequence[str | Path]) -> dict[Path, bytes]:
    """The files at or under `paths` that git tracks (a stage's `cache: false` outputs), with
    their bytes before the stage runs: the work tree's, or the index's where the file is gone
    (DVC removes a stage's outputs before running it). {} outside git or without git."""
    listed = _git("ls-files", "-z", "--stage", "--", *map(str, paths))
    blobs: dict[Path, str] = {}
    for record in filter(None, (listed or b"").split(b"\0")):  # "<mode> <blob> <stage>\t<path>"
        info, _, name = record.partition(b"\t")
        mode, sha, _stage = info.split()
        if mode.startswith(b"100"):  # regular files (no symlink, no submodule)
            blobs[Path(os.fsdecode(name))] = sha.decode()
    saved: dict[Path, bytes] = {}
    missing: dict[Path, str] = {}
    for path, blob in blobs.items():
        try:
            saved[path] = path.read_bytes()
        except OSError:
            missing[path] = blob
    if missing:
        found = _git_blobs(list(missing.values()))
        saved.update({p: found[b] for p, b in missing.items() if b in found})
    return saved


def restore_files(saved: dict[Path, bytes]) -> None:
    """Write each file back (atomically; a file that cannot be written is left as it is)."""
    for path, data in saved.items():
        try:
            with atomic_path(path) as tmp:
                tmp.write_bytes(data)
        except (OSError, MlreproError):
            continue


def _git(*args: str, stdin: bytes | None = None) -> bytes | None:
    try:
        done = subprocess.run(["git", *args], input=stdin, capture_output=True, check=False)
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None


def _git_blobs(shas: list[str]) -> dict[str, bytes]:
    """The content of each blob, read in one `git cat-file --batch`."""
    out = _git("cat-file", "--batch", stdin="".join(f"{sha}\n" for sha in shas).encode())
    data, pos, found = out or b"", 0, {}
    while pos < len(data):  # per blob: "<sha> blob <size>\n<content>\n", or "<sha> missing\n"
        end = data.index(b"\n", pos)
        sha, kind, *size = data[pos:end].decode().split()
        pos = end + 1
        if kind == "blob":
            found[sha] = data[pos : pos + int(size[0])]
            pos += int(size[0]) + 1
    return found
