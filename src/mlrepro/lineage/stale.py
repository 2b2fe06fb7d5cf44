"""Whether a revision's dvc.lock still tells the truth about its own commit: a stage's deps that
git tracks (code, schema files) hashed at the revision as DVC hashes them (a file's md5; a
folder's `.dir` listing, without what .dvcignore excludes), and the params it recorded compared
with the params files there. A difference means the outputs were made by other code or params
than the revision holds (edited, committed, never re-run): lineage says so beside its answer.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable, Iterable

from mlrepro.dvccache import dir_listing, listing_name
from mlrepro.lineage.records import Entry, StageRecord
from mlrepro.revisions import Revision, Unreadable, flatten


class Checker:
    """Compares stages' dvc.lock records with one revision; each path is hashed once."""

    def __init__(self, revision: Revision) -> None:
        self.revision = revision
        self.ignored = revision.dvcignored()
        self.md5s: dict[str, str | None] = {}

    def stale(self, record: StageRecord, made: Iterable[str]) -> tuple[str, ...]:
        """One line per dep (not made by a stage: `made`) or param of `record` whose value at
        the revision differs from the one dvc.lock recorded."""
        skip = set(made)
        sources = [d for d in record.deps if d.path not in skip and d.md5 is not None]
        return (*self._deps(sources), *_stale_params(self.revision, record))

    def _deps(self, deps: list[Entry]) -> Iterable[str]:
        for dep in deps:
            if dep.path not in self.md5s:
                self.md5s[dep.path] = dvc_md5(self.revision, dep.path, self.ignored)
            now = self.md5s[dep.path]
            if now is not None and now != dep.md5:
                yield f"{dep.path}: md5 {now} here, {dep.md5} in dvc.lock"


def dvc_md5(revision: Revision, path: str, ignored: Callable[[str], bool]) -> str | None:
    """DVC's md5 of `path` at the revision: a file's, or a folder's `.dir` listing name; None
    when git has nothing there (a DVC-tracked input, or absent)."""
    data = revision.read(path)
    if data is not None:
        return hashlib.md5(data).hexdigest()
    files = [f for f in revision.repo.files(revision.rev, path) if not ignored(f)]
    if not files:
        return None
    blobs = revision.repo.blobs([(revision.rev, f) for f in files])
    listing = [
        (posixpath.relpath(f, path), hashlib.md5(b.data).hexdigest())
        for f, b in zip(files, blobs, strict=True)
    ]
    return listing_name(dir_listing(listing))


def _stale_params(revision: Revision, record: StageRecord) -> list[str]:
    found = []
    for file, values in record.params.items():
        data = revision.mapping(file)
        if isinstance(data, Unreadable):
            continue
        now = flatten(data)
        for key, value in values.items():
            current = now.get(key, _ABSENT)
            if current != value:
                shown = "absent" if current is _ABSENT else repr(current)
                found.append(f"{file}: {key} = {shown} here, {value!r} in dvc.lock")
    return found


_ABSENT = object()
