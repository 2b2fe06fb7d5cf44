"""The immutable flag (`chattr +i`, through the FS_IOC_SETFLAGS ioctl): a protected file cannot be
written in place, replaced, deleted or hard-linked, not even by root. Setting it needs root
(CAP_LINUX_IMMUTABLE) and a file system that has it (ext4, xfs, btrfs); elsewhere every call
here does nothing and `protect` says so, and the files are only read-only."""

from __future__ import annotations

import fcntl
import os
import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

FS_IOC_GETFLAGS = 0x80086601  # linux/fs.h: _IOR('f', 1, long); the kernel reads and writes an int
FS_IOC_SETFLAGS = 0x40086602  # _IOW('f', 2, long)
FS_IMMUTABLE_FL = 0x10  # `chattr +i`: no write, rename, delete or hard link, not even by root


def _open(path: str | Path) -> int | None:
    try:
        return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None


def _flags(fd: int) -> int:
    """The inode flags (`lsattr`); OSError where the file system has none."""
    return int(struct.unpack("i", fcntl.ioctl(fd, FS_IOC_GETFLAGS, struct.pack("i", 0)))[0])


def _set_immutable(fd: int, immutable: bool) -> bool:
    """Set or clear the immutable flag; False when the platform refuses (not root, a file
    system without the flag)."""
    try:
        flags = _flags(fd)
        wanted = flags | FS_IMMUTABLE_FL if immutable else flags & ~FS_IMMUTABLE_FL
        if wanted != flags:
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", wanted))
    except OSError:
        return False
    return True


def protect(paths: Iterable[str | Path]) -> bool:
    """Make each file immutable (`chattr +i`): writing it in place, replacing, deleting or
    hard-linking it is refused (EPERM), even to root, until `unprotect`. A snapshot file shares
    its inode with its DVC cache object, so this protects both. Where the platform refuses the
    flag (not root, another file system) it returns False and stops: the read-only bits remain."""
    for path in paths:
        fd = _open(path)
        if fd is None:
            continue
        try:
            if not _set_immutable(fd, True):
                return False
        finally:
            os.close(fd)
    return True


def unprotect(path: str | Path) -> None:
    """Clear a file's immutable flag (and so its other names', the same inode), so that it can
    be changed or removed; nothing where the platform has no such flag."""
    fd = _open(path)
    if fd is not None:
        _set_immutable(fd, False)
        os.close(fd)


@contextmanager
def unprotected(path: str | Path) -> Iterator[None]:
    """The file's immutable flag cleared for a block that replaces or removes `path`. Afterwards
    the inode is immutable again if it still has a name: a DVC cache object, or another
    snapshot's file, is not left unprotected. Everything in mlrepro that replaces or removes a
    snapshot file or its cache object does it in this block."""
    fd = _open(path)
    if fd is None:
        yield
        return
    try:
        try:
            was = bool(_flags(fd) & FS_IMMUTABLE_FL)
        except OSError:
            was = False
        if was:
            _set_immutable(fd, False)
        try:
            yield
        finally:
            if was and os.fstat(fd).st_nlink > 0:
                _set_immutable(fd, True)
    finally:
        os.close(fd)


def unprotect_tree(folder: Path) -> int:
    """`unprotect` every file under `folder`; returns how many there are."""
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    for path in files:
        unprotect(path)
    return len(files)


def protected(path: str | Path) -> bool:
    """Whether the file's immutable flag is set."""
    fd = _open(path)
    if fd is None:
        return False
    try:
        return bool(_flags(fd) & FS_IMMUTABLE_FL)
    except OSError:
        return False
    finally:
        os.close(fd)
