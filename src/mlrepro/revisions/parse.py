"""Parse a file read at a revision as DVC does (by its suffix: `.json` JSON, `.toml` TOML, any
other YAML), or say why it cannot be: `Unreadable`, data that each command words its own way."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from mlrepro.revisions.git import Blob

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Kind = Literal["missing", "folder", "invalid", "not a mapping", "not a snapshot manifest"]


@dataclass(frozen=True)
class Unreadable:
    """Why a file at a revision gave no data: absent there, a folder, not valid `format` (what
    was wrong in `detail`, with its line), or not what the caller needs (a mapping, a manifest)."""

    kind: Kind
    format: str = ""  # JSON, YAML or TOML
    detail: str = ""

    def __str__(self) -> str:
        """The wording of `mlrepro diff` notes and `verify` errors."""
        if self.kind == "invalid":
            return f"unparsable: {self.detail}"
        return "not found" if self.kind in ("missing", "folder") else self.kind


def file_format(path: str) -> str:
    suffix = path.lower().rpartition(".")[2] if "." in path.rpartition("/")[2] else ""
    return {"json": "JSON", "toml": "TOML"}.get(suffix, "YAML")


def parse(path: str, data: bytes) -> Any:
    """The parsed content, or an Unreadable saying why there is none."""
    fmt = file_format(path)
    try:
        if fmt == "JSON":
            return json.loads(data)
        if fmt == "TOML":
            import tomllib  # rare: not imported by every `mlrepro history`

            return tomllib.loads(data.decode("utf-8"))
        return yaml.load(data, Loader=Loader)
    except json.JSONDecodeError as exc:
        return Unreadable("invalid", fmt, f"{exc.msg} (line {exc.lineno})")
    except yaml.YAMLError as exc:
        return Unreadable("invalid", fmt, yaml_problem(exc))
    except ValueError as exc:  # bad UTF-8, bad TOML
        return Unreadable("invalid", fmt, first_line(exc))


def parse_blob(path: str, blob: Blob) -> Any:
    """A blob read at a revision, parsed; an Unreadable when it is absent or a folder."""
    if blob.kind == b"missing":
        return Unreadable("missing")
    if blob.kind != b"blob":
        return Unreadable("folder")
    return parse(path, blob.data)


def as_mapping(data: Any) -> dict[str, Any] | Unreadable:
    if isinstance(data, Unreadable | dict):
        return data
    return Unreadable("not a mapping")


def flatten(data: Mapping[Any, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings to dotted keys, as DVC does: {"test": {"tp": 1}} -> {"test.tp": 1};
    lists and empty mappings are values. (Parsed files hold dicts: `dict` is checked, not the
    slower `Mapping`, as this runs per key of every metrics file of `mlrepro history`.)"""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem and exc.problem_mark:
        return f"{exc.problem} (line {exc.problem_mark.line + 1})"
    return first_line(exc)
