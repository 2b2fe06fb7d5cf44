"""`mlrepro snapshot diff`: what changed between two snapshots of a source, file by file.

Files are matched by name. Equal sha256 means "same" without reading. CSV-like files are read as
exact text (no type parsing, no NA conversion) and compared row by row: by a key when one is given
(rows added, removed, changed), else as multisets of whole rows (added, removed). Schema changes
come from the manifests. Results are data (`SnapshotDiff`, `as_dict`); `snapshot.render` renders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from mlrepro.core.errors import DataError
from mlrepro.snapshot.describe import TABLE_SUFFIXES
from mlrepro.snapshot.manifest import FileEntry, Manifest

EXAMPLES = 5  # example keys (or rows) kept per kind
Status = Literal["added", "removed", "same", "changed"]


@dataclass(frozen=True)
class TableDiff:
    """One file. Row counts are None for a file that is not a table; `changed` is also None
    when no key is used (without a key an edited row is one removed plus one added)."""

    file: str
    status: Status
    rows_a: int | None = None
    rows_b: int | None = None
    added: int | None = None
    removed: int | None = None
    changed: int | None = None
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    dtype_changes: dict[str, tuple[str, str]] = field(default_factory=dict)
    key: list[str] = field(default_factory=list)
    examples: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "status": self.status,
            "rows_a": self.rows_a,
            "rows_b": self.rows_b,
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "columns_added": list(self.columns_added),
            "columns_removed": list(self.columns_removed),
            "dtype_changes": {c: list(t) for c, t in self.dtype_changes.items()},
            "key": list(self.key),
            "examples": {k: [dict(e) for e in v] for k, v in self.examples.items()},
        }


@dataclass(frozen=True)
class SnapshotDiff:
    source: str
    a_id: str
    b_id: str
    files: list[TableDiff]

    @property
    def identical(self) -> bool:
        return all(f.status == "same" for f in self.files)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "a_id": self.a_id,
            "b_id": self.b_id,
            "identical": self.identical,
            "files": [f.as_dict() for f in self.files],
        }


def is_table(name: str) -> bool:
    return name.lower().endswith(TABLE_SUFFIXES)


def recorded_key(a: Manifest, b: Manifest) -> tuple[str, ...]:
    """The source key recorded in both manifests' definitions, or () if they disagree."""
    key_a, key_b = a.definition.get("key") or [], b.definition.get("key") or []
    return tuple(key_a) if key_a == key_b else ()


def diff_snapshots(
    a: Manifest, a_dir: Path, b: Manifest, b_dir: Path, key: Sequence[str] = ()
) -> SnapshotDiff:
    """Compare snapshot `a` (files under a_dir) with `b` (under b_dir), file by file."""
    files_a = {e.path: e for e in a.files}
    files_b = {e.path: e for e in b.files}
    diffs = []
    for name in sorted(files_a.keys() | files_b.keys()):
        entry_a, entry_b = files_a.get(name), files_b.get(name)
        if entry_a is None or entry_b is None:
            diffs.append(_one_sided(entry_a, entry_b, list(key)))
        elif entry_a.sha256 == entry_b.sha256:
            diffs.append(_same(entry_a, entry_b, list(key)))
        elif not is_table(name):
            diffs.append(TableDiff(name, "changed"))
        else:
            diffs.append(diff_table(entry_a, a_dir / name, entry_b, b_dir / name, key))
    source = a.source if a.source == b.source else f"{a.source} -> {b.source}"
    return SnapshotDiff(source, a.id, b.id, diffs)


def _one_sided(entry_a: FileEntry | None, entry_b: FileEntry | None, key: list[str]) -> TableDiff:
    """A file in only one snapshot: all its rows are added (or removed)."""
    entry = entry_b or entry_a
    assert entry is not None
    if entry.rows is None:
        return TableDiff(entry.path, "added" if entry_b else "removed")
    if entry_b is not None:
        return TableDiff(entry.path, "added", None, entry.rows, entry.rows, 0, _zero(key), key=key)
    return TableDiff(entry.path, "removed", entry.rows, None, 0, entry.rows, _zero(key), key=key)


def _same(entry_a: FileEntry, entry_b: FileEntry, key: list[str]) -> TableDiff:
    if entry_a.rows is None:
        return TableDiff(entry_a.path, "same")
    return TableDiff(entry_a.path, "same", entry_a.rows, entry_b.rows, 0, 0, _zero(key), key=key)


def _zero(key: list[str]) -> int | None:
    return 0 if key else None


def diff_table(
    entry_a: FileEntry, path_a: Path, entry_b: FileEntry, path_b: Path, key: Sequence[str] = ()
) -> TableDiff:
    """Row and schema differences of one CSV-like file present, with different bytes, in both."""
    df_a, df_b = read_text_table(path_a), read_text_table(path_b)
    names_a = list(entry_a.columns or {c: "" for c in df_a.columns})
    names_b = list(entry_b.columns or {c: "" for c in df_b.columns})
    common = [c for c in df_a.columns if c in set(df_b.columns)]
    if key:
        where = (str(path_a), str(path_b))
        added, removed, changed, examples = keyed_changes(df_a, df_b, list(key), common, where)
    else:
        added, removed, examples = multiset_changes(df_a, df_b, common)
        changed = None
    return TableDiff(
        file=entry_a.path,
        status="changed",
        rows_a=len(df_a),
        rows_b=len(df_b),
        added=added,
        removed=removed,
        changed=changed,
        columns_added=[c for c in names_b if c not in names_a],
        columns_removed=[c for c in names_a if c not in names_b],
        dtype_changes=dtype_changes(entry_a.columns or {}, entry_b.columns or {}),
        key=list(key),
        examples=examples,
    )


def read_text_table(path: Path) -> pd.DataFrame:
    """Every cell as its exact text: no type parsing, empty cells stay "" (not NaN)."""
    sep = "\t" if path.name.lower().endswith(".tsv") else ","
    try:
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_filter=False)
    except (OSError, ValueError, UnicodeDecodeError) as exc:  # ParserError is a ValueError
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot read as a table: {reason}") from None


def dtype_changes(cols_a: dict[str, str], cols_b: dict[str, str]) -> dict[str, tuple[str, str]]:
    return {c: (t, cols_b[c]) for c, t in cols_a.items() if c in cols_b and cols_b[c] != t}


def keyed_changes(
    df_a: pd.DataFrame,
    df_b: pd.DataFrame,
    key: list[str],
    common: list[str],
    where: tuple[str, str] = ("A", "B"),
) -> tuple[int, int, int, dict[str, list[dict[str, str]]]]:
    """Rows added (key only in B), removed (key only in A), changed (same key, any differing
    value in the common columns), with up to EXAMPLES keys of each, in file order. `where` names
    the two files in errors."""
    keys_a, keys_b = _unique_keys(df_a, key, where[0]), _unique_keys(df_b, key, where[1])
    in_b, in_a = keys_a.isin(keys_b), keys_b.isin(keys_a)
    values = [c for c in common if c not in key]
    both = df_a[in_b]
    matched = df_b.iloc[keys_b.get_indexer(keys_a[in_b])]
    differs = np.zeros(len(both), dtype=bool)
    for column in values:  # column by column: stays in the (Arrow) string arrays, no copies
        differs |= np.asarray(both[column].array != matched[column].array, dtype=bool)
    kinds = {"added": df_b[~in_a], "removed": df_a[~in_b], "changed": both[differs]}
    examples = {k: _records(rows[key].head(EXAMPLES)) for k, rows in kinds.items() if len(rows)}
    return int((~in_a).sum()), int((~in_b).sum()), int(differs.sum()), examples


def _unique_keys(df: pd.DataFrame, key: list[str], file: str) -> pd.MultiIndex:
    missing = [c for c in key if c not in df.columns]
    if missing:
        raise DataError(f"{file}: no key column {missing[0]!r}")
    keys = pd.MultiIndex.from_frame(df[key])
    duplicated = keys.duplicated()
    if duplicated.any():
        first = dict(zip(key, keys[duplicated][0], strict=True))
        raise DataError(f"{file}: key ({', '.join(key)}) is not unique: {first} repeats")
    return keys


def multiset_changes(
    df_a: pd.DataFrame, df_b: pd.DataFrame, common: list[str]
) -> tuple[int, int, dict[str, list[dict[str, str]]]]:
    """Whole rows (over the common columns) only in B / only in A, counting repeats."""
    ids_a, ids_b = _row_ids(df_a, df_b, common)
    groups = int(max(ids_a.max(initial=-1), ids_b.max(initial=-1))) + 1
    count_a, count_b = np.bincount(ids_a, minlength=groups), np.bincount(ids_b, minlength=groups)
    extra_b, extra_a = np.maximum(count_b - count_a, 0), np.maximum(count_a - count_b, 0)
    kinds = {"added": (df_b, ids_b, extra_b), "removed": (df_a, ids_a, extra_a)}
    examples = {
        kind: _first_rows(df[common], ids, extra)
        for kind, (df, ids, extra) in kinds.items()
        if common and extra.any()
    }
    return int(extra_b.sum()), int(extra_a.sum()), examples


Ids = npt.NDArray[np.int64]


def _row_ids(df_a: pd.DataFrame, df_b: pd.DataFrame, columns: list[str]) -> tuple[Ids, Ids]:
    """One integer per distinct row over `columns`, shared by both frames (a groupby: ten times
    faster than hashing row tuples on a flights-sized table)."""
    if not columns:
        return np.zeros(len(df_a), dtype=np.int64), np.zeros(len(df_b), dtype=np.int64)
    both = pd.concat([df_a[columns], df_b[columns]], ignore_index=True)
    ids = np.asarray(both.groupby(columns, sort=False, dropna=False).ngroup(), dtype=np.int64)
    return ids[: len(df_a)], ids[len(df_a) :]


def _first_rows(df: pd.DataFrame, ids: Ids, extra: Ids) -> list[dict[str, str]]:
    """Up to EXAMPLES distinct rows of `df` whose id has extra copies, in file order."""
    positions = np.flatnonzero(extra[ids] > 0)
    _, first = np.unique(ids[positions], return_index=True)
    return _records(df.iloc[positions[np.sort(first)[:EXAMPLES]]])


def _records(df: pd.DataFrame) -> list[dict[str, str]]:
    return [{str(k): str(v) for k, v in row.items()} for row in df.to_dict("records")]
