"""A private copy of a file for a stage: a reflink where the filesystem supports it (no bytes
copied, and a write to the copy never reaches the original), else a real copy. Never a hard link,
through which a write could reach a snapshot or the DVC cache."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)


def private_copy(src: Path, dst: Path) -> str:
    """Copy src to dst (which must not exist); return the method used: "reflink" or "copy"."""
    with open(src, "rb") as fin, open(dst, "xb") as fout:
        try:
            fcntl.ioctl(fout.fileno(), FICLONE, fin.fileno())
            return "reflink"
        except OSError:
            pass
    os.unlink(dst)
    shutil.copyfile(src, dst)
    return "copy"
