"""File helpers shared by the stages: hashing, atomic and deterministic writes, reads that fail
with one line naming the file."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrepro.core.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync it and rename it into place, so a
    reader (or DVC) sees the old file or the complete new one, never a partial write."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the mode a plain open() would
    try:
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
