"""Render the results of `mlrepro snapshot` commands as terminal text or JSON.

Each function takes what a command's library call returned and gives the text to print, without
its final newline. Nothing here reads files or imports pandas: the results arrive as data.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from mlrepro.snapshot.changes import SnapshotDiff, TableDiff
    from mlrepro.snapshot.integrity import Damage
    from mlrepro.snapshot.manifest import Manifest
    from mlrepro.snapshot.repair import RepairResult
    from mlrepro.snapshot.take import TakeResult

ORIGINS = {  # where `repair` found the intact bytes, as a repair line names it
    "DVC cache": "the DVC cache",
    "work tree": "the work tree",
    "DVC remote": "the DVC remote",
    "source": "a new take of the source (exact sha256)",
}


def render_json(data: Any) -> str:
    """A result's `as_dict()` (or a list of them), indented, keys sorted."""
    return json.dumps(data, indent=2, sort_keys=True)


def render_take(result: TakeResult) -> str:
    m = result.manifest
    if result.reused:
        return f"{m.source}: content identical to {m.source}@{m.id}; reusing it"
    return f"took {m.source}@{m.id}: {len(m.files)} file(s), {m.rows} rows, {m.bytes} bytes"


def render_list(rows: Sequence[dict[str, Any]]) -> str:
    """A table of `Manifest.summary()` rows, each with a `pinned` flag."""
    lines = [f"{'source':<10} {'id':<26} {'taken (UTC)':<21} {'rows':>10} {'bytes':>12}  sha256"]
    for r in rows:
        pin = "  pinned" if r["pinned"] else ""
        lines.append(
            f"{r['source']:<10} {r['id']:<26} {r['taken_at']:<21} {_n(r['rows']):>10} "
            f"{r['bytes']:>12}  {r['sha256'][:12]}{pin}"
        )
    return "\n".join(lines)


def render_show(m: Manifest) -> str:
    """The manifest: where it came from, then each file with its hash and column dtypes."""
    lines = [
        f"{m.source}@{m.id}  taken {m.taken_at}  commit {m.git_commit or '—'}",
        f"source: {json.dumps(m.definition, sort_keys=True)}",
        f"content sha256: {m.content_sha256}",
    ]
    for f in m.files:
        lines.append(f"  {f.path}  {f.bytes} B  {_n(f.rows)} rows  sha256 {f.sha256}")
        lines += [f"      {column}: {dtype}" for column, dtype in (f.columns or {}).items()]
    return "\n".join(lines)


def _n(value: int | None) -> str:
    return "—" if value is None else str(value)


def render_diff(d: SnapshotDiff) -> str:
    """One line per file: status, rows A -> B, +added -removed ~changed, schema changes."""
    keys = sorted({", ".join(f.key) for f in d.files if f.key})
    header = f"{d.source}: {d.a_id} -> {d.b_id}" + "".join(f" (key: {k})" for k in keys)
    rows = [["status", "file", "rows A -> B", "+added -removed ~changed", "schema"]]
    rows += [[f.status, f.file, _rows(f), _changes(f), _schema(f)] for f in d.files]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    tail = ["identical" if d.files else "identical (no files)"] if d.identical else []
    return "\n".join([header, *lines, *tail])


def _num(value: int | None) -> str:
    return "-" if value is None else str(value)


def _rows(f: TableDiff) -> str:
    if f.rows_a is None and f.rows_b is None:
        return ""
    return f"{_num(f.rows_a)} -> {_num(f.rows_b)}"


def _changes(f: TableDiff) -> str:
    if f.added is None:
        return ""
    changed = "" if f.changed is None else f" ~{f.changed}"
    return f"+{f.added} -{f.removed}{changed}"


def _schema(f: TableDiff) -> str:
    parts = [f"+{c}" for c in f.columns_added] + [f"-{c}" for c in f.columns_removed]
    parts += [f"{c}: {a} -> {b}" for c, (a, b) in f.dtype_changes.items()]
    return ", ".join(parts)


def render_pin(source: str, snapshot_id: str, old: str | None, params_file: str) -> str:
    """What `pin` did: nothing (`old` is the id already pinned) or a new pin to commit."""
    if old == snapshot_id:
        return f"{source} is already pinned to {snapshot_id}"
    was = old or "unpinned"
    return f"pinned {source}@{snapshot_id} (was {was}) in {params_file}; commit it"


def render_verify(
    checked: Sequence[Manifest], problems: Sequence[Damage], repairs: Sequence[str]
) -> str:
    """One line per damaged copy, one repair command per damaged snapshot, and a summary."""
    lines = [p.line() for p in problems] + [f"repair: {command}" for command in repairs]
    lines.append(f"verified {len(checked)} snapshot(s): {'damage found' if problems else 'ok'}")
    return "\n".join(lines)


def render_verify_json(
    checked: Sequence[Manifest], problems: Sequence[Damage], repairs: Sequence[str]
) -> str:
    report = {"checked": [f"{m.source}@{m.id}" for m in checked], "ok": not problems}
    problem_dicts = [p.as_dict() for p in problems]
    return json.dumps({**report, "problems": problem_dicts, "repair": list(repairs)}, indent=2)


def render_repair(result: RepairResult) -> str:
    """One line per damaged file (which copies, and where the intact bytes came from, or why
    none were found), one per extra file removed, and a summary."""
    lines = []
    for f in result.files:
        copies = ", ".join(f.damaged)
        if f.origin is None:
            lines.append(f"{result.snapshot}: {f.file}: cannot repair ({copies}): {result.why}")
        else:
            lines.append(f"{result.snapshot}: {f.file}: {copies} restored from {ORIGINS[f.origin]}")
    lines += [f"{result.snapshot}: {name}: extra file removed" for name in result.extras]
    if not result.ok:
        failed = sum(1 for f in result.files if f.origin is None)
        lines.append(f"{result.snapshot}: {failed} file(s) could not be repaired")
        return "\n".join(lines)
    done = f"repaired {len(result.files)} file(s)" if result.files or result.extras else "intact"
    guard = "immutable" if result.immutable else "read-only (no immutable flag on this platform)"
    lines.append(f"{result.snapshot}: {done}; files {guard}")
    return "\n".join(lines)


def render_unprotect(ref: str, count: int) -> str:
    return (
        f"unprotected {ref}: {count} file(s) and their DVC cache objects can be removed; "
        f"mlrepro snapshot repair {ref} protects them again"
    )


def render_unprotect_all(count: int, snapshots: Path) -> str:
    """After `unprotect --all`: `count` files under `snapshots` (the snapshots folder)."""
    return (
        f"cleared the immutable flag of {count} file(s) under {snapshots} and "
        ".dvc/cache; mlrepro snapshot repair SOURCE@ID sets it again"
    )
