"""One pass over history for `--used-by` and `--find`: every commit in scope (`commits`), its
dvc.lock read through one `git cat-file --batch` process, each distinct lock parsed at most once
and only when its text holds what is searched for (a snapshot id or a hash is plain text in the
YAML, so a lock without it cannot match).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from mlrepro.lineage.commits import Commit, Scope, list_commits, shallow_roots
from mlrepro.lineage.records import Graph, StageRecord, stage_record, stage_records
from mlrepro.revisions import DVC_LOCK, Blob, Repository, Rev, parse, stage_blocks

PIN_LINE = re.compile(rb"^ +([\w.-]+): '?(\d{8}T\d{6}Z-[0-9a-f]{8})'?$", re.MULTILINE)


@dataclass
class History:
    """The commits in scope, newest first, and their dvc.lock blobs."""

    repo: Repository
    scope: Scope
    commits: list[Commit]
    locks: list[Blob]  # commits[i]'s dvc.lock (kind b"missing" when it has none)
    shallow: tuple[str, ...]  # a shallow clone's commits whose parents it lacks
    _graphs: dict[bytes, Graph] = field(default_factory=dict)
    _stages: dict[bytes, tuple[str, StageRecord] | None] = field(default_factory=dict)

    @classmethod
    def read(cls, repo: Repository, scope: Scope) -> History:
        commits = list_commits(repo, scope)
        locks = repo.blobs([(Rev(c.sha, c.sha), DVC_LOCK) for c in commits])
        return cls(repo, scope, commits, locks, shallow_roots(repo))

    def gaps(self) -> str | None:
        """What a shallow clone leaves out, in one sentence; None when nothing is missing."""
        if not self.shallow:
            return None
        roots = ", ".join(sha[:7] for sha in self.shallow)
        return (
            f"a shallow clone: the commits before {roots} are not here, and this answer "
            "cannot name them (git fetch --unshallow)"
        )

    def holding(self, needles: Sequence[bytes]) -> Iterator[tuple[Commit, Graph]]:
        """Each commit whose dvc.lock's text holds one of `needles`, with the lock parsed."""
        for commit, blob in zip(self.commits, self.locks, strict=True):
            if blob.kind == b"blob" and any(n in blob.data for n in needles):
                yield commit, self.graph(blob)

    def graph(self, blob: Blob) -> Graph:
        """The lock's stages and their graph: each distinct stage text parsed once (most
        commits change a stage or two), the whole file when it is not in DVC's layout."""
        if blob.oid not in self._graphs:
            records = self._by_blocks(blob.data)
            if records is None:
                lock = parse(DVC_LOCK, blob.data)
                records = stage_records(lock if isinstance(lock, dict) else {})
            self._graphs[blob.oid] = Graph.of(records)
        return self._graphs[blob.oid]

    def _by_blocks(self, data: bytes) -> dict[str, StageRecord] | None:
        blocks = stage_blocks(data)
        if blocks is None:
            return None
        records = {}
        for block in blocks:
            if block not in self._stages:
                self._stages[block] = _one_stage(block)
            found = self._stages[block]
            if found is None:
                return None
            records[found[0]] = found[1]
        return records

    def tip_graphs(self) -> list[Graph]:
        """The parsed dvc.lock of each commit a ref points at (branch, tag, experiment)."""
        tips = zip(self.commits, self.locks, strict=True)
        return [self.graph(blob) for commit, blob in tips if commit.refs and blob.kind == b"blob"]

    def pins(self) -> dict[tuple[str, str], Commit]:
        """Every (source, snapshot id) a dvc.lock in scope records, with the newest commit that
        does: found in the text (`source: <id>` lines) of each distinct stage, not by parsing
        every lock."""
        found: dict[tuple[str, str], Commit] = {}
        seen_locks: set[bytes] = set()
        seen_blocks: set[bytes] = set()
        for commit, blob in zip(self.commits, self.locks, strict=True):
            if blob.kind != b"blob" or blob.oid in seen_locks:
                continue
            seen_locks.add(blob.oid)
            for block in stage_blocks(blob.data) or [blob.data]:
                if block not in seen_blocks:
                    seen_blocks.add(block)
                    for source, snapshot_id in PIN_LINE.findall(block):
                        found.setdefault((source.decode(), snapshot_id.decode()), commit)
        return found


def _one_stage(block: bytes) -> tuple[str, StageRecord] | None:
    """A stage's text from dvc.lock parsed alone, or None when it is not one stage's mapping."""
    parsed = parse(DVC_LOCK, block)
    if not isinstance(parsed, dict) or len(parsed) != 1:
        return None
    [(name, stage)] = parsed.items()
    return (str(name), stage_record(str(name), stage)) if isinstance(stage, dict) else None
