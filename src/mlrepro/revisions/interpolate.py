"""DVC's interpolation of dvc.yaml (`dvc/parsing/`, DVC 3), as pure functions on plain data.

- The context: params.yaml (when present) and then each top-level `vars:` entry, in order: a
  mapping, a file (`f.yaml`, relative to dvc.yaml's folder) or some of its keys (`f.yaml:a,b`).
  Mappings merge key by key; a value defined twice is an error; naming a file already loaded
  whole again is a no-op (so `vars: [params.yaml]` changes nothing). A stage's own `vars:` adds
  to a copy of the context, relative to its `wdir`. Keys that are not strings are dropped.
- `${a.b}`, `${a[0]}`, `${ a.b }`: a value of the context; `\\${` is a literal `${`. A string that
  is exactly one reference becomes the value itself (a number stays a number); inside a longer
  string it is text (`true`/`false` for booleans). In a stage field a reference must be a
  string, number or boolean (a mapping in `cmd` becomes `--key value` arguments); `foreach`,
  `matrix` and the top-level sections take anything.
- Values read from vars files are tracked: DVC shows the ones a stage used as params.
"""

from __future__ import annotations

import copy
import posixpath
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mlrepro.core.errors import MlreproError
from mlrepro.revisions.parse import Unreadable, flatten

REFERENCE = re.compile(r"(?<!\\)\$\{(?P<inner>.*?)\}")
EXPRESSION = re.compile(r"[^.\[\]]+(?:\.[^.\[\]]+|\[[^.\[\]]+\])*")
PRIMITIVES = (int, float, str, bytes, bool)
# DVC's default params file and vars source (`ParamsDependency.DEFAULT_PARAMS_FILE`): the file
# mlrepro.core.params.PARAMS_FILE names (a unit test keeps them equal), not imported from there
# as that module takes longer to import than `mlrepro history` takes to run.
PARAMS_FILE = "params.yaml"

Path = tuple[str, ...]
Origin = tuple[str, Path]  # a vars file, and the key path of the value in it
Entry = tuple[Any, Any, Origin | None]  # foreach/matrix data: key or index, value, origin
ReadData = Callable[[str], Any]  # repo-relative path -> its parsed content, or an Unreadable


class InterpolationError(MlreproError):
    """dvc.yaml cannot be resolved: a reference to nothing, a bad vars entry, ..."""


class Context:
    """The values `${...}` can name, and where each came from."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.origins: dict[Path, Origin | None] = {}  # context path -> source (None: inline)
        self.imports: dict[str, list[str] | None] = {}  # vars file -> keys loaded (None: all)
        self.reserved: set[str] = set()  # `item` and `key` while a foreach stage resolves
        self.used: dict[str, dict[str, Any]] | None = None  # file -> dotted key -> value

    def clone(self) -> Context:
        new = Context()
        new.data = copy.deepcopy(self.data)
        new.origins, new.imports = dict(self.origins), copy.deepcopy(self.imports)
        new.reserved, new.used = set(self.reserved), self.used
        return new

    def load_vars(self, entries: Any, read: ReadData, wdir: str, default: str | None) -> None:
        """`default` (the params file) when it exists, then every `vars:` entry."""
        if default and not _is_missing(read(_join(wdir, default))):
            self.merge_file(default, read, wdir)
        if entries is None:
            return
        if not isinstance(entries, list):
            raise InterpolationError("vars: not a list")
        if has_reference(entries):
            raise InterpolationError("vars: interpolating is not allowed")
        for index, entry in enumerate(entries):
            if isinstance(entry, str):
                self.merge_file(entry, read, wdir)
            elif isinstance(entry, dict):
                self.merge(entry, None)
            else:
                raise InterpolationError(f"vars[{index}]: not a file name or a mapping")

    def merge_file(self, entry: str, read: ReadData, wdir: str) -> None:
        """`file` or `file:key1,key2`, relative to `wdir`."""
        name, _, listed = entry.partition(":")
        path = _join(wdir, name)
        keys = [k for k in listed.split(",") if k] or None
        if path in self.imports:
            if keys is None and self.imports[path] is None:
                return  # the whole file again
            self._check_loaded(path, entry, keys)
        data = read(path)
        if isinstance(data, Unreadable):
            why = "does not exist" if data.kind == "missing" else str(data)
            raise InterpolationError(
                f"vars: '{path}' {'is a directory' if data.kind == 'folder' else why}"
            )
        if not isinstance(data, dict):
            raise InterpolationError(
                f"vars: expected a mapping, got {type(data).__name__} in '{path}'"
            )
        if keys is not None:
            missing = [k for k in keys if k not in data]
            if missing:
                raise InterpolationError(f"vars: could not find '{missing[0]}' in '{path}'")
            data = {k: data[k] for k in keys}
        self.merge(data, path)
        self.imports[path] = (
            keys if path not in self.imports else [*(self.imports[path] or []), *(keys or [])]
        )

    def _check_loaded(self, path: str, entry: str, keys: list[str] | None) -> None:
        loaded = self.imports[path]
        if loaded is None:
            raise InterpolationError(
                f"vars: cannot load '{entry}': '{path}' is loaded whole already"
            )
        if keys is None or set(keys) & set(loaded):
            raise InterpolationError(
                f"vars: cannot load '{entry}': '{path}' is partly loaded already"
            )

    def merge(self, update: dict[Any, Any], source: str | None, at: Path = ()) -> None:
        """Merge mappings key by key; a value that is already there is an error."""
        into = self._node(at)
        for key, value in update.items():
            if not isinstance(key, str):
                continue  # as DVC: only string keys can be named
            path = (*at, key)
            if not at and key in self.reserved:
                raise InterpolationError(f"vars: attempted to modify reserved key '{key}'")
            if isinstance(into.get(key), dict) and isinstance(value, dict):
                self.merge(value, source, path)
            elif key in into:
                raise InterpolationError(
                    f"vars: cannot redefine '{'.'.join(path)}' from {_source(source)} as it "
                    f"already exists in {_source(self.origin(path))}"
                )
            else:
                into[key] = _string_keys(value)
                self.origins[path] = None if source is None else (source, path)

    def _node(self, at: Path) -> dict[str, Any]:
        node = self.data
        for part in at:
            node = node[part]
        return node

    def origin(self, path: Path) -> Origin | None:
        """The vars file (and key path in it) of a context path, None for inline values."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.origins:
                found = self.origins[path[:end]]
                return None if found is None else (found[0], found[1] + path[end:])
        return None

    @contextmanager
    def binding(self, values: dict[str, Any], origins: dict[Path, Origin | None]) -> Iterator[None]:
        """`item` and `key` of one foreach or matrix stage, reserved while it resolves."""
        before = {k: self.data[k] for k in values if k in self.data}
        saved = {p: o for p, o in self.origins.items() if p[0] in values}
        self.data.update(values)
        for path in saved:
            del self.origins[path]
        self.origins.update(origins)
        added = set(values) - self.reserved
        self.reserved |= added
        try:
            yield
        finally:
            self.reserved -= added
            for key in values:
                self.data.pop(key, None)
            self.data.update(before)
            for path in [p for p in self.origins if p[0] in values]:
                del self.origins[path]
            self.origins.update(saved)

    def select(self, expression: str) -> tuple[Any, Origin | None]:
        """The value `a.b[0]` names, and its origin; tracked when it is from a vars file."""
        if not EXPRESSION.fullmatch(expression):
            raise InterpolationError(f"${{{expression}}}: not a valid reference")
        parts = tuple(p.strip() for p in expression.replace("[", ".").replace("]", "").split("."))
        node: Any = self.data
        for depth, part in enumerate(parts):
            node = _child(node, part, expression, parts[:depth])
        origin = self.origin(parts)
        if origin is not None and self.used is not None and not isinstance(node, dict):
            self.used.setdefault(origin[0], {})[".".join(origin[1])] = node
        return node, origin

    def resolve(self, value: Any, field: str | None) -> Any:
        """`value` (keys too) with every `${...}` replaced; `field` is the stage field it is in
        (None: a top-level section, foreach or matrix, where a reference may be anything)."""
        if isinstance(value, dict):
            return {self.resolve(k, field): self.resolve(v, field) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.resolve(v, field) for v in value)
        if isinstance(value, str):
            return self.resolve_text(value, field)
        return value

    def resolve_text(self, text: str, field: str | None) -> Any:
        matches = list(REFERENCE.finditer(text))
        if len(matches) == 1 and matches[0].group(0) == text:
            value, _ = self.select(matches[0]["inner"])
            _check_type(value, field, matches[0]["inner"])
            return value
        out, end = "", 0
        for match in matches:
            value, _ = self.select(match["inner"])
            _check_type(value, field, match["inner"])
            out += text[end : match.start()] + to_text(value)
            end = match.end()
        return (out + text[end:]).replace("\\${", "${")

    def resolve_entries(self, data: Any) -> tuple[bool, list[Entry]]:
        """foreach or matrix data (a list or mapping, or a reference to one): whether it is a
        mapping, and its (key or index, value, origin) entries. Not tracked (as in DVC): the
        values a generated stage uses through `${item}` are."""
        used, self.used = self.used, None
        try:
            return self._entries(data)
        finally:
            self.used = used

    def _entries(self, data: Any) -> tuple[bool, list[Entry]]:
        origin: Origin | None = None
        if isinstance(data, str):
            data, origin = self._resolve_entry(data)
        if not isinstance(data, list | dict):
            raise InterpolationError(f"expected a list or mapping, got {type(data).__name__}")
        pairs = data.items() if isinstance(data, dict) else enumerate(data)
        entries: list[Entry] = [
            (k, v, (origin[0], (*origin[1], str(k)))) if origin else (k, *self._resolve_entry(v))
            for k, v in pairs
        ]
        return isinstance(data, dict), entries

    def _resolve_entry(self, value: Any) -> tuple[Any, Origin | None]:
        if isinstance(value, str):
            matches = list(REFERENCE.finditer(value))
            if len(matches) == 1 and matches[0].group(0) == value:
                return self.select(matches[0]["inner"])
        return self.resolve(value, None), None


def has_reference(value: Any) -> bool:
    if isinstance(value, dict):
        return any(has_reference(k) or has_reference(v) for k, v in value.items())
    if isinstance(value, list):
        return any(map(has_reference, value))
    return isinstance(value, str) and REFERENCE.search(value) is not None


def to_text(value: Any) -> str:
    """A value inside a longer string, as DVC writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return as_arguments(value)
    return str(value)


def as_arguments(mapping: dict[str, Any]) -> str:
    """A mapping in `cmd`: `--key value` per flattened key; true booleans as flags, false ones
    left out, lists as several values (DVC's default `parsing` config)."""
    import shlex

    words = []
    for key, value in flatten(mapping).items():
        if isinstance(value, bool):
            words += [f"--{key}"] if value else []
        elif isinstance(value, str):
            words += [f"--{key}", shlex.quote(value)]
        elif isinstance(value, list):
            if any(isinstance(v, list | dict) for v in value):
                raise InterpolationError(f"cannot interpolate nested lists in '{key}'")
            items = [shlex.quote(v) if isinstance(v, str) else str(v) for v in value]
            words += [f"--{key}", *items] if items else []
        else:
            words += [f"--{key}", str(value)]
    return " ".join(words)


def _check_type(value: Any, field: str | None, expression: str) -> None:
    if value is None or isinstance(value, PRIMITIVES) or field is None or "foreach" in field:
        return
    if isinstance(value, dict) and field == "cmd":
        return
    raise InterpolationError(
        f"cannot interpolate ${{{expression}}}: it is a {type(value).__name__}, not a string, "
        "number or boolean"
    )


def _child(node: Any, part: str, expression: str, at: Path) -> Any:
    if isinstance(node, dict) and part in node:
        return node[part]
    if isinstance(node, list) and _is_index(part) and -len(node) <= int(part) < len(node):
        return node[int(part)]
    where = f"'{'.'.join(at)}' has no '{part}'" if at else f"no '{part}' in the vars"
    if at and not isinstance(node, dict | list):
        where = f"'{'.'.join(at)}' is a {type(node).__name__}, it has no '{part}'"
    raise InterpolationError(f"cannot resolve ${{{expression}}}: {where}")


def _is_index(part: str) -> bool:
    return part.lstrip("-").isdigit()


def _string_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _string_keys(v) for k, v in value.items() if isinstance(k, str)}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    return value


def _source(origin: str | Origin | None) -> str:
    if origin is None:
        return "an inline vars mapping"
    return f"'{origin if isinstance(origin, str) else origin[0]}'"


def _join(wdir: str, path: str) -> str:
    return posixpath.normpath(posixpath.join(wdir, path))


def _is_missing(data: Any) -> bool:
    return isinstance(data, Unreadable) and data.kind == "missing"
