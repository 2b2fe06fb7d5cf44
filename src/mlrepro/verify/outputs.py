"""Compare the outputs of a verify run with a dvc.lock, and explain each difference: the files of
a folder that changed, the keys and values of a JSON file, and for a model file whether it makes
the same predictions (different bytes, same model) or not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlrepro import dvccache
from mlrepro import revisions as revs
from mlrepro.pipeline.modelfile import md5 as md5_of

MODEL_SUFFIXES = (".skops",)  # model files whose predictions verify compares
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")  # never loaded
SHOWN_CHANGES = 50  # changes kept per output; the count says how many there were


@dataclass(frozen=True)
class Change:
    key: str  # a file of a folder ("valid/roc.json"), or a JSON key ("test.roc_auc")
    old: Any
    new: Any

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class ModelCheck:
    """Predicted probabilities of the expected and the produced model on the same rows."""

    data: str  # the table they were compared on
    rows: int
    differing: int  # rows whose probability is not bit-equal
    max_difference: float

    @property
    def same(self) -> bool:
        return self.differing == 0

    def as_dict(self) -> dict[str, Any]:
        return {**vars(self), "same_predictions": self.same}


@dataclass(frozen=True)
class OutputCheck:
    stage: str
    path: str
    expected: str | None  # md5 in the reference dvc.lock (None: not there)
    actual: str | None  # md5 the run wrote (None: not written)
    changes: tuple[Change, ...] = ()
    changed: int = 0  # how many changes there were (changes keeps the first SHOWN_CHANGES)
    model: ModelCheck | None = None
    detail: str | None = None  # why a difference could not be explained further

    @property
    def identical(self) -> bool:
        return self.expected is not None and self.expected == self.actual

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "path": self.path,
            "identical": self.identical,
            "expected": self.expected,
            "actual": self.actual,
            "changes": [c.as_dict() for c in self.changes],
            "changed": self.changed,
            "model": None if self.model is None else self.model.as_dict(),
            "detail": self.detail,
        }


def out_hashes(lock: Any, stage: str) -> dict[str, str]:
    """A stage's outs in a parsed dvc.lock: path -> md5."""
    stages = lock.get("stages") if isinstance(lock, dict) else None
    entry = (stages or {}).get(stage) or {}
    return {str(o["path"]): str(o.get("md5")) for o in entry.get("outs") or [] if "path" in o}


def compare_stage(expected_lock: Any, actual_lock: Any, stage: str) -> list[OutputCheck]:
    expected, actual = out_hashes(expected_lock, stage), out_hashes(actual_lock, stage)
    return [
        OutputCheck(stage, path, expected.get(path), actual.get(path))
        for path in [*expected, *(p for p in actual if p not in expected)]
    ]


class Side(Protocol):
    """One side of a comparison: reads an output's bytes or its folder listing by path + md5."""

    def read(self, path: str, md5: str) -> bytes | None: ...

    def listing(self, path: str, md5: str) -> dict[str, str] | None: ...


def cached_object(repo: Path, md5: str) -> bytes | None:
    """The bytes of the DVC cache object with this md5 (`.dir` listings too), or None when it is
    absent or its content does not have that md5."""
    obj = dvccache.object_path(repo, md5)
    if not obj.is_file():
        return None
    data = obj.read_bytes()
    return data if md5_of(data) == md5.removesuffix(".dir") else None


class CheckoutSide:
    """The files a verify run wrote in its checkout, each checked against the md5 its run's
    dvc.lock records before it is used."""

    def __init__(self, checkout: Path) -> None:
        self.checkout = checkout

    def read(self, path: str, md5: str) -> bytes | None:
        file = self.checkout / path
        data = file.read_bytes() if file.is_file() else None
        return data if data is not None and md5_of(data) == md5 else None

    def listing(self, path: str, md5: str) -> dict[str, str] | None:
        top = self.checkout / path
        if not top.is_dir():
            return None
        files = sorted(p for p in top.rglob("*") if p.is_file())
        return {p.relative_to(top).as_posix(): md5_of(p.read_bytes()) for p in files}


class RevisionSide:
    """The outputs a commit recorded: git-tracked ones from git's objects, cached ones from the
    user's DVC cache; every object is checked against its md5 before it is used."""

    def __init__(self, revision: revs.Revision, user_repo: Path) -> None:
        self.revision, self.user_repo = revision, user_repo

    def read(self, path: str, md5: str) -> bytes | None:
        data = self.revision.read(path)
        if data is not None and md5_of(data) == md5:
            return data
        return cached_object(self.user_repo, md5)

    def listing(self, path: str, md5: str) -> dict[str, str] | None:
        if md5.endswith(".dir"):
            listing = cached_object(self.user_repo, md5)
            if listing is not None:
                return {e["relpath"]: e["md5"] for e in json.loads(listing)}
        repo, rev = self.revision.repo, self.revision.rev
        names = repo.files(rev, path)
        if not names:
            return None
        blobs = repo.blobs([(rev, name) for name in names])
        return {
            Path(name).relative_to(path).as_posix(): md5_of(blob.data)
            for name, blob in zip(names, blobs, strict=True)
        }


def flat(data: Any, prefix: str = "") -> dict[str, Any]:
    """JSON to dotted keys, list items by index: {"a": [{"b": 1}]} -> {"a[0].b": 1}."""
    if isinstance(data, dict) and data:
        items: Iterator[tuple[str, Any]] = (
            (f"{prefix}.{k}" if prefix else str(k), v) for k, v in data.items()
        )
    elif isinstance(data, list) and data:
        items = ((f"{prefix}[{i}]", v) for i, v in enumerate(data))
    else:
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in items:
        out.update(flat(value, key))
    return out


def json_changes(old: bytes, new: bytes, prefix: str = "") -> list[Change] | None:
    """The keys whose values differ (None where a side lacks the key); None if not JSON."""
    try:
        a, b = flat(json.loads(old)), flat(json.loads(new))
    except ValueError:
        return None
    keys = [*a, *(k for k in b if k not in a)]
    return [Change(f"{prefix}{k}", a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)]


@dataclass
class Explanation:
    changes: list[Change] = field(default_factory=list)
    detail: str | None = None


def explain(check: OutputCheck, old: Side, new: Side) -> OutputCheck:
    """`check` with its changes filled in (folder files, JSON keys) where both sides are known."""
    if check.identical or check.expected is None or check.actual is None:
        return check
    if check.expected.endswith(".dir") or check.actual.endswith(".dir"):
        found = _explain_folder(check, old, new)
    else:
        found = _explain_file(check.path, check.expected, check.actual, old, new, "")
    return OutputCheck(
        check.stage,
        check.path,
        check.expected,
        check.actual,
        tuple(found.changes[:SHOWN_CHANGES]),
        len(found.changes),
        detail=found.detail,
    )


def _explain_folder(check: OutputCheck, old: Side, new: Side) -> Explanation:
    assert check.expected is not None and check.actual is not None
    a, b = old.listing(check.path, check.expected), new.listing(check.path, check.actual)
    if a is None or b is None:
        return Explanation(detail="the expected folder listing is not in the local cache")
    found = Explanation()
    for name in sorted(set(a) | set(b)):
        if a.get(name) == b.get(name):
            continue
        if a.get(name) and b.get(name) and name.endswith(".json"):
            inner = _explain_file(f"{check.path}/{name}", a[name], b[name], old, new, f"{name}: ")
            if inner.changes:
                found.changes.extend(inner.changes)
                continue
        found.changes.append(Change(name, a.get(name), b.get(name)))
    return found


def _explain_file(
    path: str, expected: str, actual: str, old: Side, new: Side, prefix: str
) -> Explanation:
    if not path.endswith(".json"):
        return Explanation()
    a, b = old.read(path, expected), new.read(path, actual)
    if a is None or b is None:
        return Explanation(detail="the expected file is not in git or the local cache")
    changes = json_changes(a, b, prefix)
    return Explanation(changes or [], None if changes is not None else "not valid JSON")
