"""`mlrepro lineage PATH`: what made an artifact at a revision, from that revision's dvc.lock
alone: each stage on the way with its command, the params it read and their values, each dep
and out with its hash, down to the pinned snapshots with their manifests (source definition,
take time, content sha256, the commit that took them). Read through the one revision reader;
nothing is checked out.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from mlrepro.core.errors import MlreproError
from mlrepro.lineage.records import (
    SNAPSHOTS_DIR,
    Entry,
    Graph,
    StageRecord,
    producer,
    stage_records,
)
from mlrepro.lineage.stale import Checker
from mlrepro.revisions import DVC_LOCK, Repository, Revision, Unreadable
from mlrepro.revisions.cache import cached_listing
from mlrepro.revisions.revision import manifest_path
from mlrepro.snapshot.manifest import Manifest


class LineageError(MlreproError):
    """An unknown revision, snapshot or path; a revision without a usable dvc.lock."""


@dataclass(frozen=True)
class Snapshot:
    """A pinned snapshot a stage read, as its manifest at the revision records it."""

    source: str
    id: str
    manifest: str  # the manifest's repo-relative path: the evidence
    read_by: tuple[str, ...]  # the stages that read it
    definition: dict[str, Any] | None = None
    taken_at: str | None = None
    content_sha256: str | None = None
    git_commit: str | None = None  # the commit the take was made at
    rows: int | None = None
    bytes: int | None = None
    columns: dict[str, str] | None = None  # name -> dtype, when every file has the same
    problem: str | None = None  # why the manifest could not be read

    @property
    def ref(self) -> str:
        return f"{self.source}@{self.id}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "id": self.id,
            "manifest": self.manifest,
            "read_by": list(self.read_by),
            "definition": self.definition,
            "taken_at": self.taken_at,
            "content_sha256": self.content_sha256,
            "git_commit": self.git_commit,
            "rows": self.rows,
            "bytes": self.bytes,
            "columns": self.columns,
            "problem": self.problem,
        }


@dataclass(frozen=True)
class Step:
    """One stage on the way: its dvc.lock record and the stages that made its deps."""

    record: StageRecord
    inputs: dict[str, tuple[str, ...]]  # maker stage -> the dep paths it made
    snapshots: tuple[str, ...]  # `source@id` it read
    stale: tuple[str, ...] = ()  # deps and params that differ at the revision from the record

    def as_dict(self) -> dict[str, Any]:
        made = {path for paths in self.inputs.values() for path in paths}
        return {
            **self.record.as_dict(),
            "inputs": {k: list(v) for k, v in self.inputs.items()},
            "snapshots": list(self.snapshots),
            "sources": [d.path for d in self.record.deps if d.path not in made],
            "stale": list(self.stale),
        }


@dataclass(frozen=True)
class Node:
    """A box of the lineage graph: a snapshot, a stage, or data passed between stages."""

    id: str  # "snapshot:<source>@<id>", "stage:<name>", "data:<path>"
    kind: str  # snapshot, stage, data
    label: str  # what to print in the box: the source, stage or path
    detail: str  # a second line: the short id or hash, or the stage's command's module


@dataclass(frozen=True)
class Picture:
    nodes: tuple[Node, ...]  # snapshots, then stages and data in pipeline order
    edges: tuple[tuple[str, str], ...]  # (from node id, to node id)


@dataclass(frozen=True)
class Upstream:
    target: str  # repo-relative
    rev: str
    commit: str | None  # None: the workspace
    out: Entry  # the stage out that is the target or holds it
    md5: str | None  # the target's own md5 (a file in a folder: from the cached listing)
    steps: tuple[Step, ...]  # sources first; the last made the target
    snapshots: tuple[Snapshot, ...]
    evidence: tuple[str, ...]

    @property
    def stage(self) -> str:
        return self.steps[-1].record.name

    def graph(self) -> Picture:
        """Snapshots -> the stages that read them -> the data each stage made for the next
        -> ... -> the target. Code and params files are left out (the tables list them)."""
        nodes = {
            f"snapshot:{s.ref}": Node(f"snapshot:{s.ref}", "snapshot", s.source, s.id)
            for s in self.snapshots
        }
        edges = []
        for step in self.steps:
            name = step.record.name
            nodes[f"stage:{name}"] = Node(f"stage:{name}", "stage", name, _module(step.record.cmd))
            edges += [(f"snapshot:{ref}", f"stage:{name}") for ref in step.snapshots]
            for maker, paths in step.inputs.items():
                for path in paths:
                    data = f"data:{path}"
                    nodes.setdefault(data, Node(data, "data", path, _short(self._md5(path))))
                    edges += [(f"stage:{maker}", data), (data, f"stage:{name}")]
        target = f"data:{self.target}"
        nodes.setdefault(target, Node(target, "data", self.target, _short(self.md5)))
        edges.append((f"stage:{self.stage}", target))
        return Picture(tuple(nodes.values()), tuple(dict.fromkeys(edges)))

    def _md5(self, path: str) -> str | None:
        for step in self.steps:
            for entry in (*step.record.deps, *step.record.outs):
                if entry.path == path:
                    return entry.md5
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "rev": self.rev,
            "commit": self.commit,
            "stage": self.stage,
            "out": self.out.as_dict(),
            "md5": self.md5,
            "stages": [s.as_dict() for s in self.steps],
            "snapshots": [s.as_dict() for s in self.snapshots],
            "evidence": list(self.evidence),
        }


def upstream(repo: Repository, path: str, rev: str = "HEAD") -> Upstream:
    """The lineage of `path` (repo-relative) at `rev`: LineageError when the revision is
    unknown, has no dvc.lock, or no stage's out is or holds `path`."""
    revision = Revision(repo, repo.resolve(rev))
    at = _where(revision)
    lock = revision.mapping(DVC_LOCK)
    if isinstance(lock, Unreadable):
        raise LineageError(f"{DVC_LOCK} at {at}: {lock}")
    records = stage_records(lock)
    target = posixpath.normpath(path)
    made = producer(records, target)
    if made is None:
        raise LineageError(_not_an_output(revision, target, records, at))
    record, out = made
    graph = Graph.of(records)
    checker = Checker(revision)
    steps = tuple(
        Step(
            records[n],
            graph.inputs[n],
            tuple(f"{s}@{i}" for s, i in records[n].snapshots().items()),
            checker.stale(records[n], (p for paths in graph.inputs[n].values() for p in paths)),
        )
        for n in graph.upstream(record.name)
    )
    snapshots = read_snapshots(revision, steps)
    evidence = (f"{DVC_LOCK} at {at}", *(f"{s.manifest} at {at}" for s in snapshots))
    md5 = out.md5 if target == out.path else _file_md5(repo, out, target, at)
    return Upstream(target, rev, revision.rev.commit, out, md5, steps, snapshots, evidence)


def read_snapshots(revision: Revision, steps: tuple[Step, ...]) -> tuple[Snapshot, ...]:
    """Each snapshot the steps read, from its manifest at the revision (all read at once)."""
    readers: dict[tuple[str, str], list[str]] = {}
    for step in steps:
        for source, snapshot_id in step.record.snapshots().items():
            readers.setdefault((source, snapshot_id), []).append(step.record.name)
    revision.prefetch(manifest_path(s, i) for s, i in readers)
    return tuple(
        snapshot(revision, source, snapshot_id, tuple(by))
        for (source, snapshot_id), by in sorted(readers.items())
    )


def snapshot(revision: Revision, source: str, snapshot_id: str, by: tuple[str, ...]) -> Snapshot:
    where = manifest_path(source, snapshot_id)
    manifest = revision.manifest(source, snapshot_id)
    if isinstance(manifest, Unreadable):
        problem = f"{where}: {manifest}" if manifest.kind != "missing" else f"{where}: not found"
        return Snapshot(source, snapshot_id, where, by, problem=problem)
    return Snapshot(
        source,
        snapshot_id,
        where,
        by,
        manifest.definition,
        manifest.taken_at,
        manifest.content_sha256,
        manifest.git_commit,
        manifest.rows,
        manifest.bytes,
        manifest_columns(manifest),
    )


def manifest_columns(manifest: Manifest) -> dict[str, str] | None:
    """The columns (name -> dtype) every file of a snapshot has; None when a file records none
    or two files disagree (no one schema describes the snapshot)."""
    found = {tuple((f.columns or {}).items()) for f in manifest.files}
    return dict(found.pop()) if len(found) == 1 and () not in found else None


def _declared_by(revision: Revision, target: str) -> str | None:
    """The stage whose dvc.yaml output is or holds `target`, if dvc.yaml can be read."""
    try:
        outs = revision.pipeline.outs()
    except MlreproError:
        return None
    inside = [o for o in outs if o.path == target or target.startswith(o.path.rstrip("/") + "/")]
    return max(inside, key=lambda o: len(o.path)).stage if inside else None


def _short(md5: str | None) -> str:
    return "" if md5 is None else f"md5 {md5[:8]}"


def _module(cmd: str) -> str:
    """`mlrepro.stages.train` of `... python -m mlrepro.stages.train --data ...`, else the
    command's first word."""
    words = cmd.split()
    if "-m" in words[:-1]:
        return words[words.index("-m") + 1]
    return next((w for w in words if "=" not in w), "")


def _where(revision: Revision) -> str:
    commit = revision.rev.commit
    return "the workspace" if commit is None else f"{revision.rev.name} ({commit[:7]})"


def _file_md5(repo: Repository, out: Entry, target: str, at: str) -> str | None:
    """A file's md5 in a folder output, from the folder's listing in the local DVC cache;
    None when the cache lacks the listing. A file the listing does not hold is an error."""
    if out.md5 is None or not out.md5.endswith(".dir"):
        return None
    listing = cached_listing(repo.root, out.md5)
    if listing is None:
        return None
    inside = posixpath.relpath(target, out.path)
    found = next((md5 for rel, md5 in listing if rel == inside or rel.startswith(inside + "/")), "")
    if not found:
        raise LineageError(f"{target}: not in {out.path} as {DVC_LOCK} at {at} records it")
    return found if any(rel == inside for rel, _ in listing) else None


def _not_an_output(
    revision: Revision, target: str, records: dict[str, StageRecord], at: str
) -> str:
    if target.startswith(SNAPSHOTS_DIR):
        source, _, rest = target.removeprefix(SNAPSHOTS_DIR).partition("/")
        snapshot_id = rest.split("/")[0].removesuffix(".json").removesuffix(".dvc")
        return (
            f"{target}: a snapshot, made by `mlrepro snapshot take`, not by a stage; what read "
            f"it: mlrepro lineage --used-by {source}@{snapshot_id or 'ID'}"
        )
    declared = _declared_by(revision, target)
    if declared and declared not in records:
        return (
            f"{target}: dvc.yaml at {at} declares it (stage {declared}) but {DVC_LOCK} has no "
            "record of that stage: it was never run there (dvc repro, then commit dvc.lock)"
        )
    if not records:
        return f"{DVC_LOCK} at {at}: records no stages (run `dvc repro` and commit dvc.lock)"
    used = sorted(r.name for r in records.values() if any(d.path == target for d in r.deps))
    if used:
        return (
            f"{target}: not an output of any stage in {DVC_LOCK} at {at}: a source that "
            f"{', '.join(used)} read{'s' if len(used) == 1 else ''} (git or a .dvc file tracks it)"
        )
    return f"{target}: not an output of any stage in {DVC_LOCK} at {at}"
