"""`mlrepro lineage --used-by SOURCE@ID`: every commit, on every branch and tag, and every DVC
experiment whose dvc.lock records a stage that read the snapshot, with what that run made
downstream of it (models, every out with its hash) and the metrics it scored. A commit whose
dvc.lock no longer records the snapshot (a later pin) is not listed.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from mlrepro.lineage.commits import Commit, Scope
from mlrepro.lineage.records import Entry, Graph
from mlrepro.lineage.scan import History
from mlrepro.lineage.upstream import LineageError, Snapshot, snapshot
from mlrepro.revisions import (
    DVC_LOCK,
    DvcYamlError,
    Repository,
    Rev,
    Revision,
    Unreadable,
    flatten,
    load_many,
)
from mlrepro.snapshot.layout import SNAPSHOTS

MODEL_SUFFIXES = (".skops", ".pkl", ".pickle", ".joblib", ".onnx", ".pt", ".pth", ".h5", ".keras")


@dataclass(frozen=True)
class Use:
    """One commit whose pipeline read the snapshot."""

    commit: Commit
    read_by: tuple[str, ...]  # the stages that read it
    products: tuple[Entry, ...]  # the outs of those stages and of every stage after them
    metrics: dict[str, dict[str, Any]]  # each metrics file among the products, flattened

    @property
    def models(self) -> tuple[Entry, ...]:
        return tuple(p for p in self.products if is_model(p.path))

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.commit.as_dict(),
            "evidence": f"{DVC_LOCK} at {self.commit.sha}",
            "read_by": list(self.read_by),
            "models": [m.as_dict() for m in self.models],
            "products": [p.as_dict() for p in self.products],
            "metrics": self.metrics,
        }


@dataclass(frozen=True)
class UsedBy:
    source: str
    id: str
    snapshot: Snapshot | None  # its manifest, from the newest commit that read it
    scope: Scope
    scanned: int  # commits looked at
    metrics_files: tuple[str, ...]  # the metrics files dvc.yaml declares at the scope's tip
    uses: tuple[Use, ...]  # newest first
    missing: str | None = None  # what a shallow clone leaves out

    def as_dict(self) -> dict[str, Any]:
        return {
            "snapshot": f"{self.source}@{self.id}",
            "manifest": None if self.snapshot is None else self.snapshot.as_dict(),
            "scope": self.scope.describe(),
            "commits_scanned": self.scanned,
            "missing": self.missing,
            "metrics_files": list(self.metrics_files),
            "used_by": [u.as_dict() for u in self.uses],
        }


NOT_MODELS = (".json", ".yaml", ".yml", ".md", ".txt", ".csv")


def is_model(path: str) -> bool:
    """A model file by its suffix, or a file in `models/` that is not a card or a note."""
    in_models = path.split("/", 1)[0] == "models" and not path.endswith(NOT_MODELS)
    return path.endswith(MODEL_SUFFIXES) or in_models


def used_by(repo: Repository, ref: str, scope: Scope) -> UsedBy:
    """Who read the snapshot `ref` (`source@id`, the id or a unique prefix of it)."""
    source, snapshot_id = _split(ref)
    history = History.read(repo, scope)
    wanted = resolve_id(repo, history, source, snapshot_id)
    uses = []
    for commit, graph in history.holding([wanted.encode()]):
        readers = [n for n, r in graph.records.items() if r.snapshots().get(source) == wanted]
        if readers:
            uses.append(_use(commit, graph, readers))
    files = declared_metrics(repo, history)
    uses = _with_metrics(repo, uses, files)
    newest = uses[0].commit if uses else None
    manifest = None
    if newest is not None:
        reader = Revision(repo, Rev(newest.sha, newest.sha))
        manifest = snapshot(reader, source, wanted, uses[0].read_by)
    scanned = len(history.commits)
    return UsedBy(source, wanted, manifest, scope, scanned, files, tuple(uses), history.gaps())


def _split(ref: str) -> tuple[str, str]:
    source, at, snapshot_id = ref.partition("@")
    if not at or not source or not snapshot_id:
        raise LineageError(f"{ref!r}: expected SOURCE@ID (a snapshot id or a unique prefix)")
    return source, snapshot_id


def resolve_id(repo: Repository, history: History, source: str, wanted: str) -> str:
    """The snapshot id `wanted` names: an id or unique prefix among the snapshots the locks in
    scope record and the manifests in the work tree; LineageError when it names none or several."""
    folder = repo.root / SNAPSHOTS / source
    on_disk = {p.stem for p in folder.glob("*.json")} if folder.is_dir() else set()
    if wanted in on_disk:
        return wanted
    known = on_disk | {i for s, i in history.pins() if s == source}
    if wanted in known:
        return wanted
    matches = sorted(i for i in known if i.startswith(wanted))
    if len(matches) == 1:
        return matches[0]
    ref = f"{source}@{wanted}"
    if matches:
        raise LineageError(
            f"{ref}: the prefix names {len(matches)} snapshots: {', '.join(matches)}"
        )
    where = f"{posixpath.join(SNAPSHOTS.as_posix(), source)}/ or any dvc.lock in scope"
    raise LineageError(f"{ref}: unknown snapshot (not in {where}: {history.scope.describe()})")


def _use(commit: Commit, graph: Graph, readers: list[str]) -> Use:
    after = graph.downstream(readers)
    products = tuple(out for name in after for out in graph.records[name].outs)
    return Use(commit, tuple(readers), products, {})


def declared_metrics(repo: Repository, history: History) -> tuple[str, ...]:
    """The metrics files dvc.yaml declares at the tip of the scope (the branch, else HEAD), as
    `mlrepro history` reads them; none when it cannot be read there."""
    tip = repo.resolve(history.scope.branch or "HEAD")
    try:
        return Revision(repo, tip).pipeline.metrics
    except DvcYamlError:
        return ()


def _with_metrics(repo: Repository, uses: list[Use], files: tuple[str, ...]) -> list[Use]:
    """Each use with the metrics files among its products, read in one pass."""
    wanted = [(u, path) for u in uses for path in files if any(p.path == path for p in u.products)]
    parsed = load_many(repo, [(Rev(u.commit.sha, u.commit.sha), path) for u, path in wanted])
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for (use, path), data in zip(wanted, parsed, strict=True):
        if isinstance(data, dict):
            found.setdefault(use.commit.sha, {})[path] = flatten(data)
        elif isinstance(data, Unreadable):
            found.setdefault(use.commit.sha, {})[path] = {"problem": str(data)}
    return [Use(u.commit, u.read_by, u.products, found.get(u.commit.sha, {})) for u in uses]
