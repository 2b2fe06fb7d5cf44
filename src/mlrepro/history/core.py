"""Metric values along a revision's first-parent history, read straight from git objects.

Two git processes in all: `git log --first-parent` for the commits (hash, time, subject) and one
`git cat-file --batch` (the revision reader's, `mlrepro.revisions`) for dvc.yaml at the tip, the
files it interpolates from (params.yaml, `vars:`), and then every metrics file at every commit.
Each distinct blob is parsed once. A file absent or unparsable at a commit gives None values with
a reason, never an exception; only an unknown revision, a dvc.yaml at the tip that cannot be read
or resolved, or a requested metric found at no commit raise `HistoryError`.
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from mlrepro.core.errors import MlreproError
from mlrepro.revisions import (
    Blob,
    DvcYamlError,
    Repository,
    Rev,
    Revision,
    Unreadable,
    flatten,
    parse,
)

LOG_FORMAT = "%H%x00%ct%x00%s"
Number = int | float


class HistoryError(MlreproError):
    """An unknown revision, an unreadable dvc.yaml at the tip, or a metric found at no commit."""


@dataclass(frozen=True)
class Commit:
    sha: str
    time: int  # committer time, seconds since the epoch
    subject: str

    @property
    def date(self) -> datetime:
        return datetime.fromtimestamp(self.time, UTC)


@dataclass(frozen=True)
class Metrics:
    """One metrics file (or one commit's files), flattened: `a.b` -> value."""

    numbers: dict[str, Number]  # finite ints and floats
    others: dict[str, Any]  # strings, booleans, lists, None, NaN, ...


Content = Metrics | str  # a metrics file read, or why it could not be


@dataclass(frozen=True)
class Point:
    """One commit: each metric's value or None, why each None is None, and (when every metric
    was asked for) the keys left out because their values are not numbers."""

    commit: Commit
    values: dict[str, Number | None]
    reasons: dict[str, str]
    skipped: dict[str, str]


@dataclass(frozen=True)
class History:
    rev: str
    files: tuple[str, ...]  # the metrics files dvc.yaml declares at the tip of `rev`
    metrics: tuple[str, ...]  # flattened keys; prefixed `file:` when there are several files
    points: tuple[Point, ...]  # newest first

    def as_dict(self) -> dict[str, Any]:
        return {
            "rev": self.rev,
            "files": list(self.files),
            "metrics": list(self.metrics),
            "commits": [
                {
                    "commit": p.commit.sha,
                    "time": p.commit.time,
                    "date": p.commit.date.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "subject": p.commit.subject,
                    "values": p.values,
                    "reasons": p.reasons,
                    "skipped": p.skipped,
                }
                for p in self.points
            ],
        }


def metric_history(
    repo: Path, rev: str = "HEAD", *, limit: int | None = 50, metrics: Sequence[str] = ()
) -> History:
    """The metrics declared in dvc.yaml at the tip of `rev`, at each of its last `limit`
    first-parent commits (all when None), newest first; `metrics` picks keys (default: every
    key that is a number at some commit)."""
    commits = first_parent_log(repo, rev, limit)
    # Only commits are read, whose paths are from the top whatever folder git runs in: no third
    # git process (`open_repo`) to find the top folder.
    with closing(Repository(repo)) as source:
        files = declared_files(Revision(source, Rev(rev, commits[0].sha)))
        at = [Rev(c.sha, c.sha) for c in commits]
        blobs = source.blobs([(commit, path) for commit in at for path in files])
    parsed: dict[bytes, Content] = {}
    contents = [
        [_content(path, blobs[i * len(files) + j], parsed) for j, path in enumerate(files)]
        for i in range(len(commits))
    ]
    return build_history(rev, files, commits, contents, metrics)


def declared_files(tip: Revision) -> tuple[str, ...]:
    """The metrics files dvc.yaml declares at the tip (DVC's rules: `vars`, foreach, matrix)."""
    assert tip.rev.commit is not None
    where = f"dvc.yaml at {tip.rev.name}"
    try:
        files = tip.pipeline.metrics
    except DvcYamlError as exc:
        problem = exc.problem
        if problem is None:
            raise HistoryError(f"{where}: {exc}") from None
        if problem.kind in ("missing", "folder"):
            raise HistoryError(f"{where}: not found (commit {tip.rev.commit[:7]})") from None
        if problem.kind == "invalid":
            raise HistoryError(f"{where}: not valid YAML: {problem.detail}") from None
        raise HistoryError(f"{where}: not a YAML mapping") from None
    if not files:
        raise HistoryError(f"{where}: declares no metrics files (no `metrics:` entries)")
    return files


def first_parent_log(repo: Path, rev: str, limit: int | None) -> list[Commit]:
    """`git log --first-parent` of `rev`, newest first; an unknown `rev` is a HistoryError."""
    argv = ["git", "-C", str(repo), "log", "--first-parent", f"--format={LOG_FORMAT}"]
    argv += [] if limit is None else [f"--max-count={limit}"]
    result = subprocess.run([*argv, "--end-of-options", rev, "--"], capture_output=True)
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip().splitlines()
        reason = detail[-1].removeprefix("fatal: ") if detail else f"exit {result.returncode}"
        if "not a git repository" in reason:
            raise HistoryError(f"{repo}: not a git repository")
        raise HistoryError(f"{rev}: not a revision in {repo} ({reason})")
    commits = []
    for line in result.stdout.decode(errors="replace").splitlines():
        sha, time, subject = line.split("\x00", 2)
        commits.append(Commit(sha, int(time), subject))
    if not commits:
        raise HistoryError(f"{rev}: no commits")
    return commits


def _content(path: str, blob: Blob, parsed: dict[bytes, Content]) -> Content:
    if blob.kind == b"missing":
        return f"{path}: not in this commit"
    if blob.kind != b"blob":
        return f"{path}: a {blob.kind.decode()}, not a file"
    if blob.oid not in parsed:
        parsed[blob.oid] = parse_metrics(path, blob.data)
    return parsed[blob.oid]


def parse_metrics(path: str, data: bytes) -> Content:
    """A metrics file (by its suffix, as DVC reads it: JSON, YAML or TOML) flattened to dotted
    keys and split into numbers and other values, or the reason it cannot be read."""
    doc = parse(path, data)
    if isinstance(doc, Unreadable):
        return f"{path}: not valid {doc.format}: {doc.detail}"
    if not isinstance(doc, dict):
        return f"{path}: not a mapping of metric names to values"
    parsed = Metrics({}, {})
    for key, value in flatten(doc).items():
        if number(value) is None:
            parsed.others[key] = value
        else:
            parsed.numbers[key] = value
    return parsed


def number(value: Any) -> Number | None:
    """`value` when it is a finite int or float (not a bool, not NaN or infinite), else None."""
    kind = type(value)  # exact types: a bool is not a number here
    return value if kind is int or (kind is float and math.isfinite(value)) else None


def not_a_number(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return f"not a number: {text if len(text) <= 40 else text[:39] + '…'}"


def build_history(
    rev: str,
    files: Sequence[str],
    commits: Sequence[Commit],
    contents: Sequence[Sequence[Content]],
    wanted: Sequence[str] = (),
) -> History:
    """Pure: `contents[i][j]` is file j at commit i. Columns are `wanted`, or every key that is a
    number at some commit (sorted)."""
    merged = [_merge(files, row) for row in contents]
    numeric = set().union(*(m.numbers for m, _ in merged))
    if wanted:
        seen = numeric.union(*(m.others for m, _ in merged))
        _check_wanted(wanted, seen, rev, files, len(commits))
    columns = tuple(dict.fromkeys(wanted)) if wanted else tuple(sorted(numeric))
    owner = {key: _owner(files, key) for key in columns}
    points = []
    for commit, (metrics, problems) in zip(commits, merged, strict=True):
        values = {key: metrics.numbers.get(key) for key in columns}
        reasons = {
            key: _why(key, metrics, problems.get(owner[key]), owner[key])
            for key in columns
            if values[key] is None
        }
        skipped = (
            {}
            if wanted
            else {
                key: not_a_number(raw) for key, raw in metrics.others.items() if key not in values
            }
        )
        points.append(Point(commit, values, reasons, skipped))
    return History(rev, tuple(files), columns, tuple(points))


def _merge(files: Sequence[str], row: Sequence[Content]) -> tuple[Metrics, dict[str, str]]:
    """One commit's files as one Metrics, keys prefixed `file:` when there are several; and
    {file: why it could not be read}."""
    if len(files) == 1:
        return (Metrics({}, {}), {files[0]: row[0]}) if isinstance(row[0], str) else (row[0], {})
    merged = Metrics({}, {})
    problems: dict[str, str] = {}
    for path, content in zip(files, row, strict=True):
        if isinstance(content, str):
            problems[path] = content
        else:
            merged.numbers.update((f"{path}:{k}", v) for k, v in content.numbers.items())
            merged.others.update((f"{path}:{k}", v) for k, v in content.others.items())
    return merged, problems


def _owner(files: Sequence[str], key: str) -> str:
    return files[0] if len(files) == 1 else next(f for f in files if key.startswith(f"{f}:"))


def _why(key: str, metrics: Metrics, problem: str | None, path: str) -> str:
    if problem is not None:
        return problem
    if key in metrics.others:
        return not_a_number(metrics.others[key])
    return f"{path}: no key {key.removeprefix(f'{path}:')}"


def _check_wanted(
    wanted: Sequence[str], seen: set[str], rev: str, files: Sequence[str], count: int
) -> None:
    unknown = [name for name in wanted if name not in seen]
    if not unknown:
        return
    close = get_close_matches(unknown[0], sorted(seen), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise HistoryError(
        f"{', '.join(unknown)}: no such metric in {', '.join(files)} "
        f"at any of the {count} commit(s) of {rev}{hint}"
    )
