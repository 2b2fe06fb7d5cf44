"""Pins live in params.yaml (`ingest.pins.<source>: <id>`), so a pin change is a tracked param:
the ingest stage depends on it and `git log -p params.yaml` is the data's history.

The file is edited as text, one line, so that its comments and layout stay as they are.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from mlrepro.core.errors import ParamsError
from mlrepro.core.files import atomic_path


def set_pin(text: str, source: str, snapshot_id: str) -> str:
    """params.yaml text with `ingest.pins.<source>` set to `snapshot_id` (block style)."""
    lines = text.splitlines(keepends=True)
    start = _find(lines, r"ingest:", 0, len(lines), indent=0)
    if start is None:
        raise ParamsError("params.yaml: ingest: missing")
    end = _block_end(lines, start, indent=0)
    pins = _find(lines, r"pins:", start + 1, end, indent=2)
    entry = f"    {source}: {snapshot_id}\n"
    if pins is None:
        lines.insert(_last_content(lines, start, end) + 1, "  pins:\n" + entry)
        return "".join(lines)
    inline = re.match(r"^  pins:\s*([^\s#][^#]*?)\s*(#.*)?$", lines[pins].rstrip("\n"))
    if inline:  # `pins: null` or `pins: {a: b}`: rewrite in block style, one source a line
        value = yaml.safe_load(inline.group(1)) or {}
        if not isinstance(value, dict):
            raise ParamsError(f"params.yaml: ingest.pins: expected a mapping, got {value!r}")
        comment = f"  {inline.group(2)}" if inline.group(2) else ""
        block = [f"  pins:{comment}\n", *(f"    {k}: {v}\n" for k, v in value.items())]
        lines[pins : pins + 1] = block
    pins_end = _block_end(lines, pins, indent=2)
    line = _find(lines, rf"{re.escape(source)}:", pins + 1, pins_end, indent=4)
    if line is None:
        lines.insert(_last_content(lines, pins, pins_end) + 1, entry)
    else:
        note = re.search(r"\s+#.*$", lines[line].rstrip("\n"))
        lines[line] = entry.rstrip("\n") + (note.group(0) if note else "") + "\n"
    return "".join(lines)


def _find(lines: list[str], key: str, lo: int, hi: int, *, indent: int) -> int | None:
    pattern = re.compile(rf"^ {{{indent}}}{key}(\s|$)")
    return next((i for i in range(lo, hi) if pattern.match(lines[i])), None)


def _block_end(lines: list[str], start: int, *, indent: int) -> int:
    """Index after the last line that belongs to the block opened at `start`."""
    for i in range(start + 1, len(lines)):
        stripped = lines[i].strip()
        content = stripped and not stripped.startswith("#")
        if content and len(lines[i]) - len(lines[i].lstrip(" ")) <= indent:
            return i
    return len(lines)


def _last_content(lines: list[str], start: int, end: int) -> int:
    i = end - 1
    while i > start and not lines[i].strip():
        i -= 1
    return i


def write_pin(params_file: Path, source: str, snapshot_id: str) -> str | None:
    """Set the pin in the file; return the previous pin. Checked by reading the file back."""
    try:
        text = params_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ParamsError(f"{params_file}: cannot read: {exc.strerror}") from None
    old = ((yaml.safe_load(text) or {}).get("ingest") or {}).get("pins") or {}
    new_text = set_pin(text, source, snapshot_id)
    pins = ((yaml.safe_load(new_text) or {}).get("ingest") or {}).get("pins") or {}
    if pins.get(source) != snapshot_id:
        raise ParamsError(f"{params_file}: ingest.pins: could not set {source}")
    with atomic_path(params_file) as tmp:
        tmp.write_text(new_text, encoding="utf-8")
    previous = old.get(source)
    return None if previous is None else str(previous)
