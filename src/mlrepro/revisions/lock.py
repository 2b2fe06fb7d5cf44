"""One field of one stage of a dvc.lock (`stages.train.outs`), parsed alone.

A command that reads one stage's record at hundreds of revisions (the test-looks counter of
`mlrepro diff`) would spend nearly all its time parsing whole lock files: this project's is 12 KB
of YAML, 4 ms each; the `outs:` of one stage is a few lines. DVC writes dvc.lock in one layout
(`schema: '2.0'`, then `stages:` with two spaces per level and each list at the indentation of
its key), so a field's lines can be cut out and parsed on their own. Anything else (a file in
another layout, lines that do not parse alone, a stage or field not found so) is parsed whole, by
the same rules as every file read at a revision (`parse`); the answer is the same either way.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from mlrepro.revisions.parse import Loader, Unreadable, parse

HEADER = b"schema: '2.0'\nstages:\n"  # how DVC 3 starts every dvc.lock it writes
LOCK_FILE = "dvc.lock"


STAGE_START = re.compile(rb"\n(?=  [^ \n])")  # a line at two spaces: the next stage's name


def stage_blocks(data: bytes) -> list[bytes] | None:
    """The text of each stage of dvc.lock bytes in DVC's layout (from its `  name:` line to the
    next), each a YAML mapping of one stage when parsed alone; None for a file in any other
    layout (parse it whole). Many commits' lock files share most stages' text: a reader of many
    revisions parses each distinct block once."""
    if not data.startswith(HEADER):
        return None
    body = data[len(HEADER) - 1 :]  # from the newline that ends `stages:`
    if re.search(rb"\n[^ \n]", body):  # a top-level key after `stages:`
        return None
    return [b for b in STAGE_START.split(body) if b.strip()]


def lock_field(data: bytes, stage: str, field: str) -> Any:
    """`stages.<stage>.<field>` of dvc.lock bytes; None when the file, the stage or the field
    is not there, or the file is not a lock file (not YAML, not mappings)."""
    if data.startswith(HEADER):
        found = _cut(data, stage, field)
        if found is not _WHOLE:
            return found
    return _lookup(parse(LOCK_FILE, data), stage, field)


_WHOLE = object()  # the cut-out lines did not parse alone: parse the whole file


def _cut(data: bytes, stage: str, field: str) -> Any:
    top = len(HEADER) - 1  # the newline that ends `stages:`
    end = _next_line(data, rb"\n[^ \n]", top, len(data))  # a top-level key after stages
    stage_lines = _block(data, top, end, 2, stage)
    field_lines = stage_lines and _block(data, stage_lines[0], stage_lines[1], 4, field)
    if not field_lines:  # absent, or written another way: the whole file says which
        return _WHOLE
    try:
        found = yaml.load(b"_:" + data[field_lines[0] : field_lines[1]], Loader=Loader)
    except yaml.YAMLError:
        return _WHOLE
    value = found.get("_") if isinstance(found, dict) else None
    return value.get(field) if isinstance(value, dict) and field in value else _WHOLE


def _block(data: bytes, start: int, end: int, indent: int, key: str) -> tuple[int, int] | None:
    """Where the line `key:` at `indent` spaces (in data[start:end], each line taken with the
    newline before it) and the lines under it are: up to the next line at that indentation or
    less that is not a list item of its own."""
    head = b"\n" + b" " * indent + key.encode() + b":"
    at = data.find(head, start, end)
    while at >= 0 and data[at + len(head) : at + len(head) + 1] not in (b" ", b"\t", b"\n"):
        at = data.find(head, at + 1, end)  # `train@big:` is not `train:`
    if at < 0:
        return None
    sibling = rb"\n(?: {0,%d}[^ \n]| {%d}[^ \n-])" % (indent - 1, indent)
    return at, _next_line(data, sibling, at + len(head), end)


def _next_line(data: bytes, pattern: bytes, start: int, end: int) -> int:
    """Where the first match of `pattern` (a newline, then the line's start) is, else `end`."""
    found = re.compile(pattern).search(data, start, end)
    return found.start() if found else end


def _lookup(lock: Any, stage: str, field: str) -> Any:
    if isinstance(lock, Unreadable) or not isinstance(lock, dict):
        return None
    stages = lock.get("stages")
    entry = stages.get(stage) if isinstance(stages, dict) else None
    return entry.get(field) if isinstance(entry, dict) else None
