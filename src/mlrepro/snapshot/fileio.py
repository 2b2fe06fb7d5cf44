"""Low-level file I/O for snapshots: the copy pass (copy, sha256 and DVC's md5 in one read), the
read-ahead that keeps the disk busy, hashing with progress, fsync of folders, and removing
snapshot files that are read-only or immutable. Plain os calls where a loop runs once per file."""

from __future__ import annotations

import errno
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from mlrepro.core.errors import DataError
from mlrepro.core.files import CHUNK, READ_ONLY, Hashing, digest_file
from mlrepro.dvccache import HASH
from mlrepro.snapshot.immutable import unprotected
from mlrepro.snapshot.progress import Progress

READ_AHEAD_BYTES = 8 << 20  # larger files are read ahead by the kernel as they are read


def copy_new(
    src: str | Path, dst: str | Path, progress: Progress | None = None, *, keep: int = 0
) -> tuple[int, str, str, bytes | None]:
    """Copy src to a new, read-only dst byte for byte, computing size, sha256 and md5 (DVC's
    hash) in the same pass. Returns those and, for a file of at most `keep` bytes, its content
    (read in one call). Not fsynced here: `store.commit` syncs once for all files before the
    folder is renamed into place. Plain os calls: for 10,000 small files, file objects cost
    more than the copying itself."""
    hashing = Hashing("sha256", HASH, progress=progress.advance if progress else None)
    fin = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, READ_ONLY)
        try:
            expected = os.fstat(fin).st_size
            small = expected <= keep
            chunk = os.read(fin, expected + 1 if small else CHUNK)  # small: the whole file
            first = chunk
            while chunk:
                hashing.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fout, view) :]
                if small and hashing.bytes <= expected:
                    break  # asked for one byte more than the file holds: at its end
                chunk = os.read(fin, CHUNK)
        finally:
            os.close(fout)
    finally:
        os.close(fin)
    digest = hashing.result()
    size = digest.bytes
    return size, digest["sha256"], digest[HASH], first if size == len(first) <= keep else None


@contextmanager
def read_ahead(paths: list[Path], window: int = 256) -> Iterator[Callable[[], None]]:
    """Ask the kernel for the next files while the caller processes one: a thread opens up to
    `window` files ahead of it and advises the kernel it will need them (their inodes are read
    and their bytes requested, so the disk always has work). On a cold page cache this takes a
    directory of 10,000 small files from the disk in two thirds of the time. Yields the call
    that marks one file as processed. Files it cannot open are left to the caller to report."""
    ahead, stop = threading.Semaphore(window), threading.Event()

    def run() -> None:
        for path in paths:
            while not ahead.acquire(timeout=0.1):
                if stop.is_set():
                    return
            if stop.is_set():
                return
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if os.fstat(fd).st_size <= READ_AHEAD_BYTES:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
            except OSError:
                pass
            finally:
                os.close(fd)

    thread = threading.Thread(target=run, name="read-ahead", daemon=True)
    if len(paths) > 1 and hasattr(os, "posix_fadvise"):
        thread.start()
    try:
        yield ahead.release
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()


def hash_file(path: Path, progress: Progress | None = None) -> tuple[int, str]:
    """Size and sha256 of a file, reporting the bytes to `progress` as they are read."""
    digest = digest_file(path, "sha256", progress=progress.advance if progress else None)
    return digest.bytes, digest["sha256"]


def link_or_copy(src: str | Path, dst: str | Path, sha256: str | None = None) -> bool:
    """Make `dst` a new name of `src` (a hard link; FileExistsError if `dst` exists) and return
    True; where the two are on different file systems (a DVC cache elsewhere), put a read-only
    copy there instead, checked against `sha256` first, and return False."""
    try:
        os.link(src, dst)
        return True
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    tmp = f"{dst}.{os.getpid()}.copy"
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, READ_ONLY)
        if sha256 is not None and hash_file(Path(tmp))[1] != sha256:
            raise DataError(f"{src}: changed while it was copied to {dst}")
        os.link(tmp, dst)  # in place complete or not at all; refuses an existing dst
    finally:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
    return False


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_tree(path: Path) -> None:
    """Remove a folder of snapshot files (immutable, read-only, in read-only folders). A file
    whose inode has another name, a DVC cache object, keeps that one immutable."""
    if not path.exists():
        return
    _make_writable(path)
    for file in [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]:
        with suppress(OSError):
            remove_file(file)
    shutil.rmtree(path, ignore_errors=True)


def remove_file(path: str | Path) -> None:
    """Remove one name of a snapshot file or DVC cache object, if it exists; the inode stays
    immutable if it has another name."""
    with suppress(FileNotFoundError), unprotected(path):
        os.unlink(path)


def _make_writable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
