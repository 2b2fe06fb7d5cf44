"""Metric values along a revision's first-parent history, read straight from git objects.

Two git processes in all: `git log --first-parent` for the commits (hash, time, subject) and one
`git cat-file --batch` fed `<commit>:<path>` for dvc.yaml at the tip and then for every metrics
file at every commit. Each distinct blob is parsed once. A file absent or unparsable at a commit
gives None values with a reason, never an exception; only an unknown revision, an unreadable
dvc.yaml at the tip or a requested metric found at no commit raise `HistoryError`.
"""

from __future__ import annotations

import contextlib
import json
import math
import posixpath
import re
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from difflib import get_close_matches
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import yaml

from mlrepro.core.errors import MlreproError

DVC_YAML = "dvc.yaml"
LOG_FORMAT = "%H%x00%ct%x00%s"
VAR = re.compile(r"\$\{\s*([^}\s]+)\s*\}")
OBJECT_TYPES = (b"blob", b"tree", b"commit", b"tag")
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
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
    with CatFile(repo) as cat:
        commits = first_parent_log(repo, rev, limit)
        [dvc_yaml] = cat.read([f"{commits[0].sha}:{DVC_YAML}"])
        where = f"{DVC_YAML} at {rev}"
        if dvc_yaml.kind != b"blob":
            raise HistoryError(f"{where}: not found (commit {commits[0].sha[:7]})")
        files = metrics_files(dvc_yaml.data, where)
        blobs = cat.read([f"{c.sha}:{path}" for c in commits for path in files])
    parsed: dict[bytes, Content] = {}
    contents = [
        [_content(path, blobs[i * len(files) + j], parsed) for j, path in enumerate(files)]
        for i in range(len(commits))
    ]
    return build_history(rev, files, commits, contents, metrics)


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


@dataclass(frozen=True)
class Blob:
    name: str  # what was asked for, `<commit>:<path>`
    oid: bytes  # b"" when missing
    kind: bytes  # b"blob", b"tree", ... or b"missing"
    data: bytes


class CatFile:
    """One `git cat-file --batch` process: `read(names)` returns the objects in order; a name
    that does not resolve (the file absent at that commit) comes back with kind b"missing"."""

    def __init__(self, repo: Path) -> None:
        self.proc = subprocess.Popen(
            ["git", "-C", str(repo), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin: IO[bytes] = self.proc.stdin
        self.stdout: IO[bytes] = self.proc.stdout

    def __enter__(self) -> CatFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with contextlib.suppress(BrokenPipeError):
            self.stdin.close()
        self.stdout.close()
        self.proc.wait()

    def read(self, names: Sequence[str]) -> list[Blob]:
        # Write from a thread: a long request list and the answers could otherwise fill both pipes.
        payload = "".join(f"{name}\n" for name in names).encode()
        writer = threading.Thread(target=self._write, args=(payload,), daemon=True)
        writer.start()
        try:
            return [self._read_one(name) for name in names]
        finally:
            writer.join()

    def _write(self, payload: bytes) -> None:
        try:
            self.stdin.write(payload)
            self.stdin.flush()
        except BrokenPipeError:  # git exited; _read_one reports it
            pass

    def _read_one(self, name: str) -> Blob:
        header = self.stdout.readline()
        if not header:
            raise HistoryError(f"git cat-file --batch stopped before {name}")
        parts = header.rstrip(b"\n").rsplit(b" ", 2)
        if len(parts) != 3 or parts[1] not in OBJECT_TYPES or not parts[2].isdigit():
            return Blob(name, b"", b"missing", b"")  # "<name> missing" or "<name> ambiguous"
        data = self.stdout.read(int(parts[2]) + 1)[:-1]  # the content, then a newline
        return Blob(name, parts[0], parts[1], data)


def metrics_files(text: bytes, where: str) -> tuple[str, ...]:
    """The metrics paths a dvc.yaml declares (stages' `metrics:` and top-level `metrics:`), with
    `${...}` resolved from its inline `vars:` and each stage's `wdir` applied."""
    try:
        doc = yaml.load(text, Loader=Loader)
    except yaml.YAMLError as exc:
        raise HistoryError(f"{where}: not valid YAML: {_yaml_problem(exc)}") from None
    if not isinstance(doc, dict):
        raise HistoryError(f"{where}: not a YAML mapping")
    variables = _inline_vars(doc.get("vars"))
    found: list[str] = []
    for stage in (doc.get("stages") or {}).values():
        if isinstance(stage, dict) and not {"foreach", "matrix"} & stage.keys():
            wdir = _resolve(str(stage.get("wdir", ".")), variables, where)
            found += [posixpath.join(wdir, _resolve(p, variables, where)) for p in _paths(stage)]
    found += [_resolve(p, variables, where) for p in _paths(doc)]
    files = tuple(dict.fromkeys(posixpath.normpath(p) for p in found))
    if not files:
        raise HistoryError(f"{where}: declares no metrics files (no `metrics:` entries)")
    return files


def _paths(section: Mapping[str, Any]) -> Iterator[str]:
    for entry in section.get("metrics") or []:
        yield from (map(str, entry) if isinstance(entry, dict) else [str(entry)])


def _inline_vars(entries: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for entry in entries if isinstance(entries, list) else [entries]:
        if isinstance(entry, dict):  # file names (params.yaml, x.yaml:key) are not read
            merged.update(entry)
    return merged


def _resolve(value: str, variables: Mapping[str, Any], where: str) -> str:
    def lookup(match: re.Match[str]) -> str:
        node: Any = variables
        for part in match.group(1).split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None or isinstance(node, dict | list):
            raise HistoryError(
                f"{where}: cannot resolve {match.group(0)} from its inline vars "
                "(vars files such as params.yaml are not read)"
            )
        return str(node)

    return VAR.sub(lookup, value)


def _content(path: str, blob: Blob, parsed: dict[bytes, Content]) -> Content:
    if blob.kind == b"missing":
        return f"{path}: not in this commit"
    if blob.kind != b"blob":
        return f"{path}: a {blob.kind.decode()}, not a file"
    if blob.oid not in parsed:
        parsed[blob.oid] = parse_metrics(path, blob.data)
    return parsed[blob.oid]


def parse_metrics(path: str, data: bytes) -> Content:
    """A metrics file (JSON, or YAML by its suffix) flattened to dotted keys and split into
    numbers and other values, or the reason it cannot be read."""
    is_yaml = path.lower().endswith((".yaml", ".yml"))
    try:
        doc = yaml.load(data, Loader=Loader) if is_yaml else json.loads(data)
    except json.JSONDecodeError as exc:
        return f"{path}: not valid JSON: {exc.msg} (line {exc.lineno})"
    except (ValueError, yaml.YAMLError) as exc:  # bad UTF-8, or bad YAML
        problem = _yaml_problem(exc) if isinstance(exc, yaml.YAMLError) else _first_line(exc)
        return f"{path}: not valid {'YAML' if is_yaml else 'JSON'}: {problem}"
    if not isinstance(doc, dict):
        return f"{path}: not a mapping of metric names to values"
    parsed = Metrics({}, {})
    for key, value in flatten(doc):
        if number(value) is None:
            parsed.others[key] = value
        else:
            parsed.numbers[key] = value
    return parsed


def flatten(doc: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested mappings as (`a.b.c`, value) pairs; lists and empty mappings are values."""
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            yield from flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


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


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem and exc.problem_mark:
        return f"{exc.problem} (line {exc.problem_mark.line + 1})"
    return _first_line(exc)
