"""What one revision holds: its dvc.yaml (resolved), dvc.lock, params, metrics, pinned
snapshots and the outputs DVC caches, read from git's objects or the work tree, never checked
out. Each file is read and parsed once per `Revision`; a file absent or unreadable gives an
`Unreadable` (a reason), not an exception, except dvc.yaml for what needs it (`DvcYamlError`).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mlrepro.core.errors import MlreproError
from mlrepro.revisions.git import Blob, Repository, Rev
from mlrepro.revisions.interpolate import PARAMS_FILE, InterpolationError
from mlrepro.revisions.parse import Unreadable, as_mapping, flatten, parse_blob
from mlrepro.revisions.pipeline import Pipeline, join, resolve_pipeline

if TYPE_CHECKING:
    from mlrepro.revisions.cache import CachedFiles
    from mlrepro.snapshot.manifest import Manifest

DVC_YAML = "dvc.yaml"
DVC_LOCK = "dvc.lock"
DVCIGNORE = ".dvcignore"
DVC_FILE_SUFFIX = ".dvc"


class DvcYamlError(MlreproError):
    """dvc.yaml at a revision is absent, unparsable, not a mapping, or cannot be resolved;
    `problem` is the Unreadable for the first three."""

    def __init__(self, message: str, problem: Unreadable | None = None) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True)
class Pin:
    id: str
    rows: int | None = None  # from the snapshot manifest at the revision, when present
    bytes: int | None = None


@dataclass(frozen=True)
class CachedOutput:
    """An output DVC keeps in its cache (a stage's, or a .dvc file's), by its recorded hash."""

    path: str  # relative to the repository
    md5: str  # ends in .dir for a folder
    size: int | None
    hash: str  # "md5" (DVC 3), "md5-dos2unix" (an entry DVC 2 wrote, without `hash:`)
    declared: str  # what records it: "dvc.lock" or the .dvc file


class Revision:
    """One revision of the repository, read on demand."""

    def __init__(self, repo: Repository, rev: Rev) -> None:
        self.repo, self.rev = repo, rev
        self._files: dict[str, Any] = {}

    def read(self, path: str) -> bytes | None:
        """The file's bytes, or None when it is absent (or a folder)."""
        return self.repo.read(self.rev, path)

    def load(self, path: str) -> Any:
        """The file parsed (by its suffix), or an Unreadable."""
        self.prefetch([path])
        return self._files[path]

    def prefetch(self, paths: Iterable[str]) -> None:
        """Read and parse the files not read yet, all at once (one request to git)."""
        wanted = [p for p in dict.fromkeys(paths) if p not in self._files]
        blobs = self.repo.blobs([(self.rev, path) for path in wanted])
        self._files.update((p, parse_blob(p, b)) for p, b in zip(wanted, blobs, strict=True))

    def mapping(self, path: str) -> dict[str, Any] | Unreadable:
        return as_mapping(self.load(path))

    @cached_property
    def pipeline(self) -> Pipeline:
        """dvc.yaml, resolved with DVC's rules (`pipeline`, `interpolate`)."""
        doc = self.mapping(DVC_YAML)
        if isinstance(doc, Unreadable):
            raise DvcYamlError(str(doc), doc)
        try:
            return resolve_pipeline(doc, self.load)
        except InterpolationError as exc:
            raise DvcYamlError(str(exc)) from None

    @cached_property
    def lock(self) -> dict[str, Any]:
        """dvc.lock; {} when absent or unreadable (`mapping(DVC_LOCK)` says why)."""
        lock = self.mapping(DVC_LOCK)
        return {} if isinstance(lock, Unreadable) else lock

    def metrics(self) -> dict[str, dict[str, Any] | Unreadable]:
        """Every metrics file dvc.yaml declares, flattened (`test.roc_auc`), or why not."""
        files = self.pipeline.metrics
        self.prefetch(files)
        found: dict[str, dict[str, Any] | Unreadable] = {}
        for path in files:
            data = self.mapping(path)
            found[path] = data if isinstance(data, Unreadable) else flatten(data)
        return found

    def params(self) -> dict[str, dict[str, Any]]:
        """The params `dvc params show` gives, per file, flattened (an empty mapping is no
        param): params.yaml whole, the keys stages track in other files, the vars-file values
        stages use. A params file that cannot be read is left out; without a readable dvc.yaml,
        params.yaml alone."""
        try:
            pipeline: Pipeline | None = self.pipeline
        except DvcYamlError:
            pipeline = None
        files = pipeline.params if pipeline else {PARAMS_FILE: None}
        self.prefetch(files)
        found = {}
        for path, keys in files.items():
            data = self.mapping(path)
            if not isinstance(data, Unreadable):
                found[path] = _select(flatten(data), keys)
        for path, used in (pipeline.used_vars if pipeline else {}).items():
            if path not in files:
                found[path] = dict(used)
        return found

    def pinned(self) -> dict[str, Any]:
        """params.yaml `ingest.pins`: source -> snapshot id, as written."""
        params = self.mapping(PARAMS_FILE)
        ingest = {} if isinstance(params, Unreadable) else params.get("ingest")
        pins = ingest.get("pins") if isinstance(ingest, dict) else None
        return {str(s): i for s, i in pins.items()} if isinstance(pins, dict) else {}

    def manifest(self, source: str, snapshot_id: str) -> Manifest | Unreadable:
        """The snapshot's manifest at this revision."""
        from mlrepro.snapshot.manifest import Manifest

        data = self.load(manifest_path(source, snapshot_id))
        if isinstance(data, Unreadable):
            return data
        try:
            return Manifest.from_dict(data)
        except (TypeError, KeyError, AttributeError):
            return Unreadable("not a snapshot manifest")

    def pins(self) -> dict[str, Pin]:
        """Each pinned snapshot, with rows and bytes from its manifest when there is one."""
        pins = {s: str(i) for s, i in self.pinned().items() if i is not None}
        self.prefetch(manifest_path(s, i) for s, i in pins.items())
        found = {}
        for source, snapshot_id in pins.items():
            manifest = self.manifest(source, snapshot_id)
            found[source] = (
                Pin(snapshot_id)
                if isinstance(manifest, Unreadable)
                else Pin(snapshot_id, manifest.rows, manifest.bytes)
            )
        return found

    def cached_outputs(self) -> list[CachedOutput]:
        """Every output DVC caches with its hash recorded: the cached outputs of dvc.yaml's
        stages, as dvc.lock records them, and those of every .dvc file (not in .dvcignore).
        DvcYamlError when dvc.yaml is there but cannot be read or resolved."""
        found = self._stage_outputs()
        ignored = ignore_rules(self.read(DVCIGNORE))
        dvc_files = [
            p for p in self.repo.files(self.rev) if p.endswith(DVC_FILE_SUFFIX) and not ignored(p)
        ]
        self.prefetch(dvc_files)
        for path in dvc_files:
            found += _dvc_file_outputs(path, self.mapping(path))
        return found

    def dvcignored(self) -> Callable[[str], bool]:
        """A test for repo-relative paths: whether the root .dvcignore at this revision
        excludes them from what DVC hashes."""
        return ignore_rules(self.read(DVCIGNORE))

    def cached_files(self, path: str) -> CachedFiles:
        """The files DVC caches at or under `path` (a stage's output, a file in a folder output,
        a folder of outputs), with the md5 dvc.lock records (a folder's listing is read from the
        local cache). DvcYamlError when dvc.yaml is there but cannot be read or resolved."""
        from mlrepro.revisions.cache import files_at

        return files_at(self.repo.root, self._stage_outputs(), path)

    def cached_bytes(self, md5: str) -> bytes | None:
        """The local DVC cache's object `md5`, checked; None when the cache lacks it."""
        from mlrepro.revisions.cache import read_object

        return read_object(self.repo.root, md5)

    def _stage_outputs(self) -> list[CachedOutput]:
        doc = self.load(DVC_YAML)
        if isinstance(doc, Unreadable) and doc.kind == "missing":
            return []
        locked = self.lock.get("stages")
        found = []
        for out in self.pipeline.outs():
            stage = locked.get(out.stage) if isinstance(locked, dict) else None
            entry = _lock_entry(stage, out.declared)
            if out.cache and entry is not None and entry.get("md5"):
                found.append(_cached(out.path, entry, DVC_LOCK))
        return found


def load_many(
    repo: Repository,
    wanted: Sequence[tuple[Rev, str]],
    parse: Callable[[str, Blob], Any] = parse_blob,
) -> list[Any]:
    """Each (revision, path) parsed by `parse` (default: by its suffix, or an Unreadable), in
    order: every file at a commit is read in one `git cat-file --batch` pass, and each distinct
    blob is parsed once (revisions that share a file share the parsed value: never change it)."""
    parsed: dict[tuple[str, bytes], Any] = {}
    found = []
    for (_, path), blob in zip(wanted, repo.blobs(wanted), strict=True):
        if not blob.oid:  # in the work tree, or missing: nothing to share
            found.append(parse(path, blob))
            continue
        key = (path, blob.oid)
        if key not in parsed:
            parsed[key] = parse(path, blob)
        found.append(parsed[key])
    return found


def _lock_entry(stage: Any, declared: str) -> dict[str, Any] | None:
    """A stage's dvc.lock `outs` entry for the output dvc.yaml declares as `declared`."""
    entries = stage.get("outs") if isinstance(stage, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and join("", str(entry.get("path"))) == join("", declared):
            return entry
    return None


def _dvc_file_outputs(path: str, data: dict[str, Any] | Unreadable) -> list[CachedOutput]:
    """The cached outputs a .dvc file records, their paths relative to its folder."""
    outs = [] if isinstance(data, Unreadable) else data.get("outs")
    if not isinstance(data, dict) or not isinstance(outs, list):
        return []
    folder = join(posixpath.dirname(path), str(data.get("wdir") or "."))
    return [
        _cached(join(folder, str(out["path"])), out, path)
        for out in outs
        if isinstance(out, dict) and out.get("md5") and "path" in out and out.get("cache", True)
    ]


def _cached(path: str, entry: dict[str, Any], declared: str) -> CachedOutput:
    size = entry.get("size")
    hash_name = str(entry.get("hash") or "md5-dos2unix")  # as DVC 3 names an entry without one
    return CachedOutput(
        path, str(entry["md5"]), size if isinstance(size, int) else None, hash_name, declared
    )


def _select(flat: dict[str, Any], keys: tuple[str, ...] | None) -> dict[str, Any]:
    """The flattened entries at or under any of `keys` (all of them when None), but for empty
    mappings (`flatten` keeps them as values; DVC's params have none)."""
    return {
        k: v
        for k, v in flat.items()
        if not isinstance(v, dict)
        and (keys is None or any(k == w or k.startswith(f"{w}.") for w in keys))
    }


def ignore_rules(text: bytes | None) -> Callable[[str], bool]:
    """A test for repo-relative paths from the root .dvcignore (gitignore patterns)."""
    if not text:
        return lambda path: False
    import pathspec  # DVC's own dependency for .dvcignore; imported only when there is one

    lines = text.decode("utf-8", errors="replace").splitlines()
    return pathspec.GitIgnoreSpec.from_lines(lines).match_file


def manifest_path(source: str, snapshot_id: str) -> str:
    """A snapshot manifest's repo-relative path (`snapshot.layout` knows the layout)."""
    from pathlib import Path

    from mlrepro.snapshot.layout import manifest_path as layout_path

    return layout_path(Path(), source, snapshot_id).as_posix()


def lock_hashes(lock: dict[str, Any]) -> dict[str, dict[str, dict[str, str]]]:
    """dvc.lock as stage -> "deps"/"outs" -> path -> its hash fields (md5, size, ...) as text."""
    stages = lock.get("stages")
    result: dict[str, dict[str, dict[str, str]]] = {}
    for name, stage in (stages if isinstance(stages, dict) else {}).items():
        if isinstance(stage, dict):
            result[name] = {kind: _entry_hashes(stage.get(kind)) for kind in ("deps", "outs")}
    return result


def _entry_hashes(entries: Any) -> dict[str, str]:
    hashes = {}
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and "path" in entry:
            rest = {k: v for k, v in entry.items() if k != "path"}
            hashes[str(entry["path"])] = json.dumps(rest, sort_keys=True, default=str)
    return hashes
