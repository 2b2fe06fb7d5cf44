"""What one commit's dvc.lock says was run: each stage's command, the params it read with their
values, its deps and outs with their hashes, and the pinned snapshots it read. The graph between
stages follows the paths: a dep is made by the stage whose out is that path or a folder holding
it. Pure functions on a parsed dvc.lock; nothing here reads git.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlrepro.revisions import flatten

PINS_KEY = "ingest.pins."  # params.yaml `ingest.pins.<source>`: the snapshot a stage reads
SNAPSHOTS_DIR = "data/snapshots/"  # `snapshot.layout.SNAPSHOTS`: a dep inside one is a read too


@dataclass(frozen=True)
class Entry:
    """A dep or an out as dvc.lock records it."""

    path: str
    md5: str | None
    size: int | None = None
    nfiles: int | None = None

    def as_dict(self) -> dict[str, Any]:
        found = {"path": self.path, "md5": self.md5, "size": self.size, "nfiles": self.nfiles}
        return {k: v for k, v in found.items() if v is not None or k == "md5"}


@dataclass(frozen=True)
class StageRecord:
    """One stage's entry in dvc.lock."""

    name: str
    cmd: str
    params: dict[str, dict[str, Any]]  # params file -> flattened key -> value
    deps: tuple[Entry, ...]
    outs: tuple[Entry, ...]

    def snapshots(self) -> dict[str, str]:
        """The pinned snapshots this stage read, source -> id: through its params
        (`ingest.pins.<source>`, also when it tracks all of `ingest`) or a dep in a snapshot."""
        found = {
            key.removeprefix(PINS_KEY): str(value)
            for values in self.params.values()
            for key, value in values.items()
            if key.startswith(PINS_KEY) and value is not None
        }
        for dep in self.deps:
            if dep.path.startswith(SNAPSHOTS_DIR):
                parts = dep.path.removeprefix(SNAPSHOTS_DIR).split("/")
                if len(parts) >= 2 and not parts[1].endswith((".json", ".dvc")):
                    found.setdefault(parts[0], parts[1])
        return dict(sorted(found.items()))

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.name,
            "cmd": self.cmd,
            "params": self.params,
            "deps": [d.as_dict() for d in self.deps],
            "outs": [o.as_dict() for o in self.outs],
        }


def stage_records(lock: Mapping[str, Any]) -> dict[str, StageRecord]:
    """Every stage of a parsed dvc.lock, by name, in the file's order; odd entries are skipped."""
    stages = lock.get("stages")
    found = {}
    for name, stage in (stages if isinstance(stages, dict) else {}).items():
        if isinstance(stage, dict):
            found[str(name)] = stage_record(str(name), stage)
    return found


def stage_record(name: str, stage: dict[str, Any]) -> StageRecord:
    """One stage's dvc.lock entry (a mapping) as a StageRecord."""
    cmd = stage.get("cmd")
    params = stage.get("params")
    return StageRecord(
        name,
        " && ".join(map(str, cmd)) if isinstance(cmd, list) else str(cmd or ""),
        {
            str(file): flatten(values) if isinstance(values, dict) else {}
            for file, values in (params if isinstance(params, dict) else {}).items()
        },
        _entries(stage.get("deps")),
        _entries(stage.get("outs")),
    )


def _entries(entries: Any) -> tuple[Entry, ...]:
    found = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and "path" in entry:
            md5 = entry.get("md5") or entry.get("etag") or entry.get("checksum")
            found.append(
                Entry(
                    posixpath.normpath(str(entry["path"])),
                    None if md5 is None else str(md5),
                    _int(entry.get("size")),
                    _int(entry.get("nfiles")),
                )
            )
    return tuple(found)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def within(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or inside it (repo-relative, normalised)."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def producer(records: Mapping[str, StageRecord], path: str) -> tuple[StageRecord, Entry] | None:
    """The stage whose out is `path` or a folder holding it, with that out; the innermost."""
    best: tuple[StageRecord, Entry] | None = None
    for record in records.values():
        for out in record.outs:
            if within(path, out.path) and (best is None or len(out.path) > len(best[1].path)):
                best = (record, out)
    return best


@dataclass(frozen=True)
class Graph:
    """The stages of one dvc.lock and, for each, the stages that made its deps."""

    records: dict[str, StageRecord]
    inputs: dict[str, dict[str, tuple[str, ...]]]  # stage -> maker stage -> the dep paths

    @classmethod
    def of(cls, records: dict[str, StageRecord]) -> Graph:
        outs = {out.path: name for name, r in records.items() for out in r.outs}
        edges: dict[str, dict[str, tuple[str, ...]]] = {}
        for name, record in records.items():
            made: dict[str, list[str]] = {}
            for dep in record.deps:
                maker = _maker(outs, dep.path)
                if maker is not None and maker != name:
                    made.setdefault(maker, []).append(dep.path)
            edges[name] = {k: tuple(v) for k, v in made.items()}
        return cls(records, edges)

    def upstream(self, start: str) -> list[str]:
        """`start` and every stage it depends on, sources first (a topological order)."""
        order: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name not in seen:
                seen.add(name)
                for parent in self.inputs[name]:
                    visit(parent)
                order.append(name)

        visit(start)
        return order

    def downstream(self, starts: Iterable[str]) -> list[str]:
        """`starts` and every stage that depends on them, directly or not, in dvc.lock's order."""
        reached = set(starts)
        changed = True
        while changed:
            changed = False
            for name, parents in self.inputs.items():
                if name not in reached and not reached.isdisjoint(parents):
                    reached.add(name)
                    changed = True
        return [name for name in self.records if name in reached]


def _maker(outs: Mapping[str, str], path: str) -> str | None:
    """The stage whose out is `path` or the innermost folder holding it (`outs`: out path ->
    stage), looked up folder by folder."""
    while path:
        if path in outs:
            return outs[path]
        path = posixpath.dirname(path)
    return None
