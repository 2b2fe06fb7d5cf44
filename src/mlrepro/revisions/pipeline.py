"""dvc.yaml resolved as DVC resolves it, and what it declares.

Every stage is resolved (`interpolate`); a `foreach` stage becomes one stage per item,
`name@key` (a list of plain values: the value is the key; a list holding lists or mappings: the
index; a mapping: its keys, also as `${key}`), a `matrix` stage one per combination,
`name@v1-v2` (`${item.axis}`, `${key}`). Paths are relative to the stage's `wdir`; the ones
returned here are relative to the repository, normalised.

- metrics: each stage's `metrics:` outputs, then the top-level `metrics:` (`dvc metrics show`).
- params: the files and keys stages list in `params:` (a name alone is a key of params.yaml
  in the stage's wdir; `{file: [keys]}`, or `{file: }` for all of it), the top-level `params:`
  files and params.yaml, whole when one of those asks for all of it (`dvc params show`).
- outs: every output (`outs:`, `metrics:`, `plots:`), with its `cache` flag.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product
from typing import Any

from mlrepro.revisions.interpolate import (
    PARAMS_FILE,
    Context,
    Entry,
    InterpolationError,
    Origin,
    ReadData,
    to_text,
)
from mlrepro.revisions.parse import Unreadable

OUTPUT_KINDS = ("outs", "metrics", "plots")


@dataclass(frozen=True)
class Out:
    stage: str
    kind: str  # outs, metrics or plots
    declared: str  # as dvc.yaml (and dvc.lock) write it, relative to the stage's wdir
    path: str  # relative to the repository
    cache: bool


@dataclass(frozen=True)
class Pipeline:
    stages: dict[str, dict[str, Any]]  # name (`name@key` for foreach/matrix) -> resolved fields
    metrics: tuple[str, ...]
    plots: tuple[Any, ...]  # the top-level `plots:` entries, resolved
    params: dict[str, tuple[str, ...] | None]  # params file -> dotted keys (None: all of it)
    used_vars: dict[str, dict[str, Any]]  # vars file -> dotted key -> value a stage used

    def outs(self) -> list[Out]:
        return stage_outs(self.stages)


def stage_outs(stages: dict[str, dict[str, Any]]) -> list[Out]:
    found = []
    for name, stage in stages.items():
        wdir = stage_wdir(stage)
        for kind in OUTPUT_KINDS:
            for declared, options in out_entries(stage.get(kind)):
                cache = options.get("cache", True) is not False
                found.append(Out(name, kind, declared, join(wdir, declared), cache))
    return found


def resolve_pipeline(doc: dict[str, Any], read: ReadData) -> Pipeline:
    """`doc`, a parsed root dvc.yaml; `read` gives the files `vars:` names, params.yaml first."""
    context = Context()
    context.load_vars(doc.get("vars"), read, "", default=PARAMS_FILE)
    context.used = {}  # what the stages use is tracked; the top-level sections are not
    stages = dict(_stages(context, doc.get("stages") or {}, read))
    used, context.used = context.used, None
    top = {key: _top(context, key, doc.get(key)) for key in ("metrics", "params", "plots")}
    metrics = [o.path for o in stage_outs(stages) if o.kind == "metrics"]
    metrics += [join("", str(path)) for path in top["metrics"]]
    params = read(PARAMS_FILE)
    has_params = not (isinstance(params, Unreadable) and params.kind == "missing")
    return Pipeline(
        stages,
        tuple(dict.fromkeys(metrics)),
        tuple(top["plots"]),
        params_files(stages, [str(path) for path in top["params"]], has_params),
        used,
    )


def _top(context: Context, section: str, entries: Any) -> list[Any]:
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise InterpolationError(f"{section}: not a list")
    try:
        resolved: list[Any] = context.resolve(entries, None)
    except InterpolationError as exc:
        raise InterpolationError(f"{section}: {exc}") from None
    return resolved


def _stages(context: Context, stages: Any, read: ReadData) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(stages, dict):
        raise InterpolationError("stages: not a mapping")
    for name, definition in stages.items():
        if not isinstance(definition, dict):
            raise InterpolationError(f"stages.{name}: not a mapping")
        if "matrix" in definition:
            yield from _matrix(context, str(name), definition, read)
        elif "foreach" in definition:
            yield from _foreach(context, str(name), definition, read)
        else:
            yield str(name), resolve_stage(context, str(name), definition, read)


def resolve_stage(
    context: Context, name: str, definition: dict[str, Any], read: ReadData
) -> dict[str, Any]:
    """One stage's fields with every `${...}` replaced, its own `vars:` added first."""
    where = f"stages.{name}"
    try:
        wdir = definition.get("wdir")
        wdir = join("", to_text(context.resolve_text(str(wdir), "wdir"))) if wdir else ""
        if definition.get("vars"):
            context = context.clone()
            context.load_vars(definition["vars"], read, wdir, default=None)
    except InterpolationError as exc:
        raise InterpolationError(f"{where}: {exc}") from None
    resolved = {}
    for field, value in definition.items():
        if field == "vars":
            continue
        try:
            resolved[field] = context.resolve(value, str(field))
        except InterpolationError as exc:
            raise InterpolationError(f"{where}.{field}: {exc}") from None
    return resolved


def _foreach(
    context: Context, name: str, definition: dict[str, Any], read: ReadData
) -> Iterator[tuple[str, dict[str, Any]]]:
    template = definition.get("do")
    if not isinstance(template, dict):
        raise InterpolationError(f"stages.{name}: a foreach stage needs a `do:` mapping")
    try:
        mapping, entries = context.resolve_entries(definition["foreach"])
    except InterpolationError as exc:
        raise InterpolationError(f"stages.{name}.foreach: {exc}") from None
    composite = any(isinstance(v, list | dict) for _, v, _ in entries)
    keyed = {
        to_text(k) if mapping else str(k) if composite else to_text(v): (v, origin)
        for k, v, origin in entries
    }
    for key, (value, origin) in keyed.items():
        values = {"item": value, "key": key} if mapping else {"item": value}
        with context.binding(values, {("item",): origin}):
            yield f"{name}@{key}", resolve_stage(context, f"{name}@{key}", template, read)


def _matrix(
    context: Context, name: str, definition: dict[str, Any], read: ReadData
) -> Iterator[tuple[str, dict[str, Any]]]:
    template = {k: v for k, v in definition.items() if k != "matrix"}
    try:
        axes = _axes(context, definition["matrix"])
    except InterpolationError as exc:
        raise InterpolationError(f"stages.{name}.matrix: {exc}") from None
    for combination in product(*axes.values()):
        item = {axis: value for axis, (_, value, _) in zip(axes, combination, strict=True)}
        key = "-".join(
            f"{axis}{index}" if isinstance(value, list | dict) else to_text(value)
            for axis, (index, value, _) in zip(axes, combination, strict=True)
        )
        origins: dict[tuple[str, ...], Origin | None] = {
            ("item", axis): origin for axis, (_, _, origin) in zip(axes, combination, strict=True)
        }
        with context.binding({"key": key, "item": item}, origins):
            yield f"{name}@{key}", resolve_stage(context, f"{name}@{key}", template, read)


def _axes(context: Context, matrix: Any) -> dict[str, list[Entry]]:
    """Each axis of a matrix as its (index, value, origin) entries."""
    mapping, axes = context.resolve_entries(matrix)
    if not mapping:
        raise InterpolationError("expected a mapping of lists")
    found: dict[str, list[Entry]] = {}
    for axis, values, origin in axes:
        if origin is not None and isinstance(values, list):
            found[str(axis)] = [
                (i, v, (origin[0], (*origin[1], str(i)))) for i, v in enumerate(values)
            ]
        else:
            found[str(axis)] = context.resolve_entries(values)[1]
    return found


def params_files(
    stages: dict[str, dict[str, Any]], top: list[str], has_params: bool
) -> dict[str, tuple[str, ...] | None]:
    """Params file -> the keys tracked in it, None for the whole file (DVC's merge rules)."""
    wanted: list[tuple[str, list[str] | None]] = []
    for stage in stages.values():
        wdir = stage_wdir(stage)
        for entry in stage.get("params") or []:
            if isinstance(entry, dict):
                wanted += [(join(wdir, str(f)), _keys(k)) for f, k in entry.items()]
            else:
                wanted.append((join(wdir, PARAMS_FILE), [str(entry)]))
    wanted += [(join("", path), None) for path in top]
    wanted += [(PARAMS_FILE, None)] if has_params else []
    whole = {path for path, keys in wanted if keys is None}
    merged: dict[str, tuple[str, ...] | None] = {}
    for path, keys in wanted:
        if path in whole:
            merged[path] = None
        else:
            merged[path] = tuple(dict.fromkeys([*(merged.get(path) or ()), *(keys or [])]))
    return merged


def _keys(keys: Any) -> list[str] | None:
    if not keys:
        return None
    return [str(k) for k in keys] if isinstance(keys, list) else [str(keys)]


def out_entries(entries: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, options) of each `outs:`/`metrics:`/`plots:` entry: `path` or `{path: {...}}`."""
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict):
            for path, options in entry.items():
                yield str(path), options if isinstance(options, dict) else {}
        else:
            yield str(entry), {}


def stage_wdir(stage: dict[str, Any]) -> str:
    wdir = stage.get("wdir")
    return join("", to_text(wdir)) if wdir else ""


def join(wdir: str, path: str) -> str:
    return posixpath.normpath(posixpath.join(wdir, path))
