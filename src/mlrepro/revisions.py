"""Read a project's files at a revision without checking anything out.

A revision is any git rev (commit, tag, branch, `HEAD~2`), a DVC experiment name (a ref
`refs/exps/<baseline sha[:2]>/<baseline sha[2:]>/<name>`), or `workspace` (the files on disk).
Files at a commit come from git's object database (`commit.tree / path`): the work tree and the
index are never written. A missing or unparsable file gives no values plus a reason, not an error.
"""

from __future__ import annotations

import json
import posixpath
import re
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git
import yaml

from mlrepro.core.errors import MlreproError
from mlrepro.core.params import PARAMS_FILE
from mlrepro.snapshot.store import Manifest, manifest_path

WORKSPACE = "workspace"
DVC_YAML = "dvc.yaml"
DVC_LOCK = "dvc.lock"
_VAR = re.compile(r"\$\{\s*([^}]+?)\s*\}")


class RevError(MlreproError):
    """An unknown revision, one that this shallow clone lacks, or not a git repository."""


@dataclass(frozen=True)
class Rev:
    name: str  # as the user wrote it, or "workspace"
    commit: str | None  # None: the workspace


@dataclass(frozen=True)
class Pin:
    id: str
    rows: int | None = None  # from the snapshot manifest at the revision, when present
    bytes: int | None = None


@dataclass(frozen=True)
class RevFiles:
    """Everything `mlrepro diff` reads from one revision."""

    rev: Rev
    metrics: dict[str, dict[str, Any]]  # metrics file -> flattened key -> value
    reasons: dict[str, str]  # file -> why it gave no values
    params: dict[str, Any]  # params.yaml, flattened
    stages: dict[str, dict[str, dict[str, str]]]  # dvc.lock: stage -> deps|outs -> path -> hash
    pins: dict[str, Pin]  # params.yaml ingest.pins


@contextmanager
def open_repo(path: Path) -> Iterator[git.Repo]:
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise RevError(f"{path}: not inside a git repository") from None
    try:
        yield repo
    finally:
        repo.close()


def default_base(repo: git.Repo) -> str:
    """The current branch's upstream (e.g. origin/main) when set, else `main`."""
    try:
        upstream = repo.active_branch.tracking_branch()
    except TypeError:  # detached HEAD
        return "main"
    return upstream.name if upstream is not None else "main"


def resolve_rev(repo: git.Repo, name: str | None) -> Rev:
    """A git rev, tag, branch or DVC experiment name; None or "workspace" is the workspace."""
    if name is None or name == WORKSPACE:
        return Rev(WORKSPACE, None)
    commit = _rev_parse(repo, name) or _experiment(repo, name)
    if commit is None:
        raise _unknown(repo, name)
    return Rev(name, commit)


def _rev_parse(repo: git.Repo, name: str) -> str | None:
    try:
        out = repo.git.rev_parse("--verify", "--quiet", "--end-of-options", f"{name}^{{commit}}")
    except git.GitCommandError:
        return None
    return str(out).strip() or None


def _experiment(repo: git.Repo, name: str) -> str | None:
    out = repo.git.for_each_ref("--format=%(objectname) %(refname)", "refs/exps")
    found = set()
    for line in str(out).splitlines():
        sha, ref = line.split(" ", 1)
        parts = ref.split("/")
        if len(parts) == 5 and len(parts[2]) == 2 and parts[4] == name:
            found.add(sha)
    if len(found) > 1:
        raise RevError(f"experiment name '{name}' names {len(found)} experiments; use a commit")
    return found.pop() if found else None


def _unknown(repo: git.Repo, name: str) -> RevError:
    if (Path(repo.git_dir) / "shallow").exists():
        return RevError(
            f"unknown revision '{name}' in this shallow clone: if it exists upstream, run "
            f"`git fetch --unshallow` (or `git fetch origin {name}`)"
        )
    return RevError(f"unknown revision '{name}': not a commit, tag, branch or DVC experiment")


def read_bytes(repo: git.Repo, rev: Rev, path: str) -> bytes | None:
    """The file's bytes at `rev`, or None when it does not exist there."""
    if rev.commit is None:
        file = Path(str(repo.working_tree_dir)) / path
        return file.read_bytes() if file.is_file() else None
    try:
        blob = repo.commit(rev.commit).tree / path
    except KeyError:
        return None
    if blob.type != "blob":
        return None
    data: bytes = blob.data_stream.read()
    return data


def load(repo: git.Repo, rev: Rev, path: str) -> tuple[Any, str | None]:
    """(parsed JSON, YAML or TOML by suffix, None) or (None, why not)."""
    raw = read_bytes(repo, rev, path)
    if raw is None:
        return None, "not found"
    try:
        return _parse(raw.decode("utf-8"), path), None
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:  # JSON/TOML errors: ValueError
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, f"unparsable: {detail}"


def _parse(text: str, path: str) -> Any:
    if path.endswith(".json"):
        return json.loads(text)
    if path.endswith(".toml"):
        return tomllib.loads(text)
    return yaml.safe_load(text)


def flatten(data: Mapping[Any, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings to dotted keys, as DVC does: {"test": {"tp": 1}} -> {"test.tp": 1}."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def read_rev(repo: git.Repo, rev: Rev) -> RevFiles:
    params, _ = load(repo, rev, PARAMS_FILE)
    params = params if isinstance(params, dict) else {}
    metrics, reasons = read_metrics(repo, rev, params)
    lock, _ = load(repo, rev, DVC_LOCK)
    return RevFiles(
        rev=rev,
        metrics=metrics,
        reasons=reasons,
        params=flatten(params),
        stages=lock_hashes(lock),
        pins=read_pins(repo, rev, params),
    )


def read_metrics(
    repo: git.Repo, rev: Rev, params: dict[str, Any]
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Every metrics file that dvc.yaml declares at `rev`, flattened; reasons for the rest."""
    dvc_yaml, why = load(repo, rev, DVC_YAML)
    if not isinstance(dvc_yaml, dict):
        return {}, {DVC_YAML: why or "not a mapping"}
    try:
        paths = metrics_paths(dvc_yaml, _context(repo, rev, dvc_yaml, params))
    except KeyError as exc:
        return {}, {DVC_YAML: f"cannot resolve ${{{exc.args[0]}}} in a metrics path"}
    metrics, reasons = {}, {}
    for path in paths:
        data, why = load(repo, rev, path)
        if isinstance(data, dict):
            metrics[path] = flatten(data)
        else:
            reasons[path] = why or "not a mapping"
    return metrics, reasons


def metrics_paths(dvc_yaml: dict[str, Any], context: dict[str, Any]) -> list[str]:
    """The `metrics:` entries of every stage (and the top level), `${...}` resolved."""
    found = [(".", entry) for entry in dvc_yaml.get("metrics") or []]
    for stage in (dvc_yaml.get("stages") or {}).values():
        if isinstance(stage, dict):
            found += [(stage.get("wdir", "."), entry) for entry in stage.get("metrics") or []]
    paths = []
    for wdir, entry in found:
        path = entry if isinstance(entry, str) else next(iter(entry))
        paths.append(posixpath.normpath(posixpath.join(wdir, interpolate(path, context))))
    return list(dict.fromkeys(paths))


def interpolate(text: str, context: dict[str, Any]) -> str:
    """Replace `${a.b}` with its value in `context`; KeyError names an unknown one."""
    return _VAR.sub(lambda m: str(_lookup(context, m.group(1))), text)


def _lookup(context: dict[str, Any], dotted: str) -> Any:
    node: Any = context
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


def _context(
    repo: git.Repo, rev: Rev, dvc_yaml: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """DVC's interpolation context: params.yaml, then each `vars:` entry (a mapping or a file)."""
    context = dict(params)
    for entry in dvc_yaml.get("vars") or []:
        if isinstance(entry, dict):
            context.update(entry)
        elif isinstance(entry, str) and entry != PARAMS_FILE:
            data, _ = load(repo, rev, entry.split(":", 1)[0])
            context.update(data if isinstance(data, dict) else {})
    return context


def lock_hashes(lock: Any) -> dict[str, dict[str, dict[str, str]]]:
    """dvc.lock as stage -> "deps"/"outs" -> path -> its hash fields (md5, size, ...) as text."""
    stages = lock.get("stages") if isinstance(lock, dict) else None
    result: dict[str, dict[str, dict[str, str]]] = {}
    for name, stage in (stages or {}).items():
        if isinstance(stage, dict):
            result[name] = {kind: _entry_hashes(stage.get(kind)) for kind in ("deps", "outs")}
    return result


def _entry_hashes(entries: Any) -> dict[str, str]:
    hashes = {}
    for entry in entries or []:
        if isinstance(entry, dict) and "path" in entry:
            rest = {k: v for k, v in entry.items() if k != "path"}
            hashes[str(entry["path"])] = json.dumps(rest, sort_keys=True, default=str)
    return hashes


def read_pins(repo: git.Repo, rev: Rev, params: dict[str, Any]) -> dict[str, Pin]:
    """params.yaml ingest.pins, each with rows and bytes from its manifest at `rev` when present."""
    ingest = params.get("ingest")
    pins = ingest.get("pins") if isinstance(ingest, dict) else None
    if not isinstance(pins, dict):
        return {}
    return {str(s): _pin(repo, rev, str(s), str(i)) for s, i in pins.items() if i is not None}


def _pin(repo: git.Repo, rev: Rev, source: str, snapshot_id: str) -> Pin:
    data, _ = load(repo, rev, manifest_path(Path(), source, snapshot_id).as_posix())
    try:
        manifest = Manifest.from_dict(data)
    except (TypeError, KeyError):  # absent or not a manifest: the id alone
        return Pin(snapshot_id)
    return Pin(snapshot_id, manifest.rows, manifest.bytes)
