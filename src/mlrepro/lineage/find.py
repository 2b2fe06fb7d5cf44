"""`mlrepro lineage --find HASH|FILE`: which commits and experiments made something with this
hash, and since when it has had it.

- An md5 (what DVC records): a stage's out in a dvc.lock; a file inside a folder out (through the
  folder's `.dir` listing in the local DVC cache); a file of a pinned snapshot (its manifest).
- A sha256: a pinned snapshot (its content sha256) or one of its files (its manifest), or a file
  that a JSON out beside a model records with both hashes (the model card's `model`), looked up
  by that md5.
- A git object id (40 hex digits, as the model card names its code): the commits that brought
  that file or folder in (`git log --find-object`).
- A FILE: its md5 and sha256, both looked up.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrepro.core.files import digest_file
from mlrepro.dvccache import local_cache
from mlrepro.lineage.commits import Commit, Scope
from mlrepro.lineage.scan import History
from mlrepro.lineage.upstream import LineageError
from mlrepro.lineage.usedby import is_model
from mlrepro.revisions import DVC_LOCK, Repository, Rev, Unreadable, load_many
from mlrepro.revisions.cache import cached_listing
from mlrepro.revisions.revision import manifest_path

HEX = re.compile(r"[0-9a-f]+")
DIR_MD5 = re.compile(rb"md5: ([0-9a-f]{32}\.dir)$", re.MULTILINE)


@dataclass(frozen=True)
class Query:
    text: str  # as the user gave it
    md5: frozenset[str] = frozenset()
    sha256: frozenset[str] = frozenset()
    git_object: str | None = None


def query(text: str) -> Query:
    """A hash (md5, md5 + `.dir`, sha256, git object id) or a file whose hashes to look up."""
    path = Path(text)
    if path.is_dir():
        raise LineageError(f"{text}: a folder; give the md5 dvc.lock records for it (….dir)")
    if path.is_file():
        digests = digest_file(path, "md5", "sha256")
        return Query(text, frozenset({digests["md5"]}), frozenset({digests["sha256"]}))
    value = text.strip().lower()
    bare = value.removesuffix(".dir")
    if HEX.fullmatch(bare) and len(bare) == 32:
        return Query(text, md5=frozenset({value}))
    if HEX.fullmatch(value) and len(value) == 64:
        return Query(text, sha256=frozenset({value}))
    if HEX.fullmatch(value) and len(value) == 40:
        return Query(text, git_object=value)
    raise LineageError(
        f"{text!r}: not a file, nor a hash (md5: 32 hex digits, sha256: 64, git object id: 40)"
    )


@dataclass(frozen=True)
class Match:
    path: str
    kind: str  # output, file in output, snapshot, snapshot file, git object
    stage: str | None  # the stage that made it (an output)
    hash: str
    evidence: str  # what records it: dvc.lock, a folder's cached listing, a manifest, git log
    commits: tuple[Commit, ...]  # newest first
    via: str | None = None  # a sha256 matched through a record of both hashes

    @property
    def since(self) -> Commit:
        return self.commits[-1]

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "stage": self.stage,
            "hash": self.hash,
            "evidence": self.evidence,
            "via": self.via,
            "since": self.since.as_dict(),
            "latest": self.commits[0].as_dict(),
            "commits": [c.as_dict() for c in self.commits],
        }


@dataclass(frozen=True)
class Found:
    query: Query
    scope: Scope
    scanned: int
    matches: tuple[Match, ...]
    missing: str | None = None  # what a shallow clone leaves out

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query.text,
            "md5": sorted(self.query.md5),
            "sha256": sorted(self.query.sha256),
            "git_object": self.query.git_object,
            "scope": self.scope.describe(),
            "commits_scanned": self.scanned,
            "missing": self.missing,
            "found": [m.as_dict() for m in self.matches],
        }


@dataclass
class _Hits:
    """Commits per (path, kind, stage, hash, evidence, via), in history order."""

    found: dict[tuple[str, str, str | None, str, str, str | None], list[Commit]] = field(
        default_factory=dict
    )

    def add(self, key: tuple[str, str, str | None, str, str, str | None], commit: Commit) -> None:
        commits = self.found.setdefault(key, [])
        if not commits or commits[-1].sha != commit.sha:
            commits.append(commit)

    def matches(self) -> tuple[Match, ...]:
        made = [Match(k[0], k[1], k[2], k[3], k[4], tuple(c), k[5]) for k, c in self.found.items()]
        return tuple(sorted(made, key=lambda m: (-m.commits[0].time, m.path, m.kind)))


def find(repo: Repository, wanted: Query, scope: Scope) -> Found:
    """Everything in scope with one of the query's hashes."""
    history = History.read(repo, scope)
    hits = _Hits()
    if wanted.git_object:
        _git_objects(repo, history, wanted.git_object, hits)
        return Found(wanted, scope, len(history.commits), hits.matches(), history.gaps())
    md5s = dict.fromkeys(wanted.md5, None) | _snapshot_hits(repo, history, wanted, hits)
    if wanted.sha256:
        md5s |= _recorded_md5s(repo, history, wanted.sha256)
    _outputs(history, md5s, hits)
    _folder_files(repo, history, set(md5s), hits)
    return Found(wanted, scope, len(history.commits), hits.matches(), history.gaps())


def _outputs(history: History, md5s: dict[str, str | None], hits: _Hits) -> None:
    """Stage outs with one of `md5s` (`.dir` or not), in each commit's dvc.lock."""
    bare = {m.removesuffix(".dir"): via for m, via in md5s.items()}
    for commit, graph in history.holding([m.encode() for m in bare]):
        for name, record in graph.records.items():
            for out in record.outs:
                md5 = (out.md5 or "").removesuffix(".dir")
                if md5 in bare:
                    key = (out.path, "output", name, out.md5 or md5, DVC_LOCK, bare[md5])
                    hits.add(key, commit)


def _folder_files(repo: Repository, history: History, md5s: set[str], hits: _Hits) -> None:
    """Files inside folder outs whose cached `.dir` listing gives one of `md5s`."""
    inside: dict[str, list[tuple[str, str]]] = {}
    seen: set[bytes] = set()
    cache = local_cache(repo.root)
    for blob in history.locks:
        if blob.kind == b"blob" and blob.oid not in seen:
            seen.add(blob.oid)
            for found in DIR_MD5.findall(blob.data):
                folder = found.decode()
                if folder not in inside:
                    listing = cached_listing(repo.root, folder, cache) or []
                    inside[folder] = [(rel, md5) for rel, md5 in listing if md5 in md5s]
    folders = {d: files for d, files in inside.items() if files}
    for commit, graph in history.holding([d.encode() for d in folders]):
        for name, record in graph.records.items():
            for out in record.outs:
                for rel, md5 in folders.get(out.md5 or "", []):
                    path = posixpath.join(out.path, rel)
                    evidence = f"{out.path} listing ({out.md5}) in the DVC cache, {DVC_LOCK}"
                    hits.add((path, "file in output", name, md5, evidence, None), commit)


def _snapshot_hits(
    repo: Repository, history: History, wanted: Query, hits: _Hits
) -> dict[str, str | None]:
    """Pinned snapshots (content sha256) and their files (md5 or sha256) with a wanted hash;
    each snapshot's commits are those whose dvc.lock records a stage reading it."""
    pins = history.pins()
    manifests = load_many(
        repo, [(Rev(c.sha, c.sha), manifest_path(s, i)) for (s, i), c in pins.items()]
    )
    for (source, snapshot_id), data in zip(pins, manifests, strict=True):
        if isinstance(data, Unreadable) or not isinstance(data, dict):
            continue
        where = manifest_path(source, snapshot_id)
        found = _in_manifest(data, wanted, f"data/snapshots/{source}/{snapshot_id}")
        if not found:
            continue
        for commit, graph in history.holding([snapshot_id.encode()]):
            if any(r.snapshots().get(source) == snapshot_id for r in graph.records.values()):
                for path, kind, digest in found:
                    hits.add((path, kind, None, digest, where, None), commit)
    return {}


def _in_manifest(data: dict[str, Any], wanted: Query, folder: str) -> list[tuple[str, str, str]]:
    found = []
    if data.get("content_sha256") in wanted.sha256:
        found.append((folder, "snapshot", str(data["content_sha256"])))
    for entry in data.get("files") or []:
        if not isinstance(entry, dict):
            continue
        for name, hashes in (("md5", wanted.md5), ("sha256", wanted.sha256)):
            if entry.get(name) in hashes:
                found.append((f"{folder}/{entry.get('path')}", "snapshot file", str(entry[name])))
    return found


def _recorded_md5s(
    repo: Repository, history: History, sha256s: Iterable[str]
) -> dict[str, str | None]:
    """md5s that a JSON out beside a model records together with a wanted sha256 (the model
    card's `model: {path, md5, sha256}`), each with where it was recorded. Which outs those
    are is read from the dvc.lock at each ref's tip: parsing every lock would cost more."""
    cards = sorted(
        {
            out.path
            for graph in history.tip_graphs()
            for record in graph.records.values()
            if any(is_model(o.path) and not o.path.endswith(".json") for o in record.outs)
            for out in record.outs
            if out.path.endswith(".json")
        }
    )
    asked = [(Rev(c.sha, c.sha), path) for c in history.commits for path in cards]
    needles = [s.encode() for s in sha256s]
    blobs = history.repo.blobs(asked)
    found: dict[str, str | None] = {}
    for (_, path), blob in zip(asked, blobs, strict=True):
        if blob.kind == b"blob" and any(n in blob.data for n in needles):
            for md5, key in _pairs(_json(blob.data), set(sha256s)):
                found.setdefault(md5, f"{path}: {key}")
    return found


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _pairs(doc: Any, sha256s: set[str], prefix: str = "") -> list[tuple[str, str]]:
    """(md5, dotted key) of each mapping in `doc` that holds a wanted `sha256` and an `md5`."""
    found = []
    if isinstance(doc, dict):
        if doc.get("sha256") in sha256s and isinstance(doc.get("md5"), str):
            found.append((doc["md5"], f"{prefix}sha256".lstrip(".")))
        for key, value in doc.items():
            found += _pairs(value, sha256s, f"{prefix}{key}.")
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += _pairs(value, sha256s, f"{prefix}{i}.")
    return found


def _git_objects(repo: Repository, history: History, oid: str, hits: _Hits) -> None:
    """The commits in scope that brought in the git object `oid`, and at which path."""
    in_scope = {c.sha: c for c in history.commits}
    argv = ["log", "--no-walk=unsorted", "--format=%x00%H", "--raw", "--no-abbrev"]
    stdin = "".join(f"{sha}\n" for sha in in_scope)
    listed = repo.git_input([*argv, f"--find-object={oid}", "--stdin"], stdin)
    sha = ""
    for line in listed.splitlines():
        if line.startswith("\0"):
            sha = line[1:]
        elif line.startswith(":") and sha in in_scope:
            meta, path = line.split("\t", 1)
            if meta.split()[3] == oid:
                key = (path, "git object", None, oid, "git log --find-object", None)
                hits.add(key, in_scope[sha])
