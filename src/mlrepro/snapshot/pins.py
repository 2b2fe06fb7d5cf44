"""Pins live in params.yaml (`ingest.pins.<source>: <id>`), so a pin change is a tracked param:
the ingest stage depends on it and `git log -p params.yaml` is the data's history.

The file is edited by a round trip (`yamledit`) that keeps its comments, blank lines, quotes, flow
or block style and indents: only the pin's line changes, or one line is added.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from mlrepro.core.errors import ParamsError
from mlrepro.core.files import atomic_path


def set_pin(text: str, source: str, snapshot_id: str) -> str:
    """params.yaml text with `ingest.pins.<source>` set to `snapshot_id`. An existing pin keeps
    its line and comment; a new one goes last in `pins` (a block, one pin a line, unless `pins`
    is a non-empty flow mapping, which stays one); `pins: null` or `{}` becomes a block."""
    from mlrepro.snapshot import yamledit  # ruamel: when a pin is set, not when the CLI starts

    try:
        doc = yamledit.load(text)
    except ValueError as exc:
        raise ParamsError(f"params.yaml: not valid YAML: {exc}") from None
    ingest = doc.root.get("ingest") if yamledit.is_mapping(doc.root) else None
    if not yamledit.is_mapping(ingest):
        raise ParamsError("params.yaml: ingest: missing")
    pins = ingest.get("pins")
    if pins is not None and not yamledit.is_mapping(pins):
        raise ParamsError(f"params.yaml: ingest.pins: expected a mapping, got {pins!r}")
    if not pins:  # absent, null or {}: a new block
        if "pins" in ingest:
            yamledit.replace(doc, ingest, "pins", yamledit.block({source: snapshot_id}))
        else:
            yamledit.append(ingest, "pins", yamledit.block({source: snapshot_id}))
    elif source in pins:
        yamledit.replace(doc, pins, source, snapshot_id)
    elif yamledit.is_flow(pins):
        yamledit.append_flow(ingest, "pins", source, snapshot_id)
    else:
        yamledit.append(pins, source, snapshot_id)
    return doc.dump()


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
