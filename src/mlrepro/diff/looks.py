"""The grade-your-own-exam counter: how many distinct models have been scored on the test part
that revision B is scored on. Every look at a test part spends it: a model chosen among many by
their test scores is chosen on test, and its test score flatters it.

What is counted (the stages by name, as params.yaml names their sections):
- the test part: `test_part.sha256` (and `rows`) in the output of the `leakage` stage that records
  it (its JSON outputs kept in git, found in B's resolved dvc.yaml); that file is read at every
  revision;
- the revisions: every commit reachable from B (HEAD when B is the workspace), from every branch,
  remote branch and tag, and from every DVC experiment (`refs/exps/..`), and B itself when it is
  the workspace; one that lacks the file, or records another test part, is not on this one;
- scored: a metrics file of the `evaluate` stage (as B's dvc.yaml declares them) exists there;
- its model: the md5 that its dvc.lock records for the `train` stage's cached outputs (those B's
  dvc.yaml caches; all of its outputs when it caches none).
The count is the number of distinct models among the scored revisions on B's test part, B's
included; it warns past `test_looks.warn` in gates.yaml (read at A, like the gates).

Cost: one `git rev-list` and two passes of the revision reader's one `git cat-file --batch`
process (the report at every revision, then dvc.lock and the metrics files at those on B's test
part), each distinct blob parsed once, and of dvc.lock only `stages.train.outs`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mlrepro.revisions import (
    DVC_LOCK,
    WORKSPACE,
    Blob,
    DvcYamlError,
    Rev,
    Revision,
    load_many,
    lock_field,
    parse_blob,
)
from mlrepro.revisions.pipeline import join

TEST_PART_STAGE, SCORE_STAGE, MODEL_STAGE = "leakage", "evaluate", "train"
TEST_PART = "test_part"  # the report's key: {path, sha256, rows}


@dataclass(frozen=True)
class Looks:
    """The test part B is scored on, and how many models have been scored on it."""

    report: str  # the file that records the test part
    sha256: str
    rows: int | None
    models: int  # distinct models scored on it (commits, experiments, the workspace)
    revisions: int  # the scored revisions on it
    warn_at: int  # gates.yaml test_looks.warn

    @property
    def warned(self) -> bool:
        return self.models > self.warn_at


@dataclass(frozen=True)
class Scored:
    """What one revision says about the test part and the model scored on it."""

    rev: str  # a commit, or "workspace"
    test_part: str | None  # the sha256 its report records
    scored: bool  # a metrics file of the evaluate stage is there
    model: str | None  # its train outputs' md5s; None: not recorded (or not read)


@dataclass(frozen=True)
class Layout:
    """Where B's resolved dvc.yaml puts what the counter reads."""

    report: str  # the leakage stage's output that records the test part
    metrics: tuple[str, ...]  # the evaluate stage's metrics files
    model: tuple[str, ...]  # the train stage's cached outputs, as dvc.lock names them


def distinct_models(revisions: Iterable[Scored], test_part: str) -> tuple[int, int]:
    """(distinct models, revisions) among the scored revisions whose test part is `test_part`;
    a revision without a recorded model is not counted."""
    on_part = [r for r in revisions if r.scored and r.model and r.test_part == test_part]
    return len({r.model for r in on_part}), len({r.rev for r in on_part})


def count_looks(b: Revision, warn_at: int) -> Looks | None:
    """How many models have been scored on B's test part; None when B records none (no
    leakage stage, or no report with a test part there)."""
    found = layout(b)
    if found is None:
        return None
    part = recorded_part(b.load(found.report))
    assert part is not None  # layout() chose the report that records one
    revisions = scored_revisions(b, candidates(b), found, part[0])
    models, scored = distinct_models(revisions, part[0])
    return Looks(found.report, part[0], part[1], models, scored, warn_at)


def layout(b: Revision) -> Layout | None:
    try:
        outs = b.pipeline.outs()
    except DvcYamlError:
        return None
    reports = [
        o.path
        for o in outs
        if o.stage == TEST_PART_STAGE and not o.cache and o.path.lower().endswith(".json")
    ]
    b.prefetch(reports)
    report = next((p for p in reports if recorded_part(b.load(p)) is not None), None)
    if report is None:
        return None
    metrics = tuple(o.path for o in outs if o.stage == SCORE_STAGE and o.kind == "metrics")
    model = tuple(join("", o.declared) for o in outs if o.stage == MODEL_STAGE and o.cache)
    return Layout(report, metrics, model)


def recorded_part(data: Any) -> tuple[str, int | None] | None:
    """(sha256, rows) of a report's `test_part`, or None when it records none."""
    part = data.get(TEST_PART) if isinstance(data, dict) else None
    if not isinstance(part, dict) or not isinstance(part.get("sha256"), str):
        return None
    sha, rows = part["sha256"], part.get("rows")
    if not sha:
        return None
    return sha, rows if isinstance(rows, int) and not isinstance(rows, bool) else None


def candidates(b: Revision) -> list[Rev]:
    """The revisions that may have been scored: see the module docstring."""
    repo = b.repo
    starts = [sha for sha, _ in repo.experiments()] + [b.rev.commit or "HEAD"]
    commits = [Rev(sha, sha) for sha in repo.reachable(starts)]
    return commits + ([b.rev] if b.rev.commit is None else [])


def scored_revisions(
    b: Revision, revisions: Sequence[Rev], where: Layout, sha256: str
) -> list[Scored]:
    """Each revision's test part; whether it is scored and its model only for those on the test
    part `sha256` (their metrics files and dvc.lock are read only there)."""
    wanted = [(rev, where.report) for rev in revisions]
    parts = load_many(b.repo, wanted, _part_sha)
    on_part = [i for i, part in enumerate(parts) if part == sha256]
    step = 1 + len(where.metrics)  # dvc.lock, then the metrics files
    wanted = [(revisions[i], p) for i in on_part for p in (DVC_LOCK, *where.metrics)]

    def model_or_there(path: str, blob: Blob) -> Any:
        if path != DVC_LOCK:
            return blob.kind == b"blob"  # a metrics file: is it there?
        outs = lock_field(blob.data, MODEL_STAGE, "outs") if blob.kind == b"blob" else None
        return model_id(outs, where.model)

    found = load_many(b.repo, wanted, model_or_there)
    read = {i: found[k * step : (k + 1) * step] for k, i in enumerate(on_part)}
    return [
        Scored(
            rev.commit or WORKSPACE,
            parts[i],
            any(read[i][1:]) if i in read else False,
            read[i][0] if i in read else None,
        )
        for i, rev in enumerate(revisions)
    ]


def _part_sha(path: str, blob: Blob) -> str | None:
    part = recorded_part(parse_blob(path, blob))
    return part[0] if part else None


def model_id(outs: Any, paths: Sequence[str]) -> str | None:
    """The md5s of the train stage's dvc.lock `outs` entries at `paths` (all of them when
    `paths` is empty), sorted and joined; None when there are none."""
    entries = [e for e in outs if isinstance(e, dict)] if isinstance(outs, list) else []
    chosen = [e for e in entries if not paths or join("", str(e.get("path"))) in paths]
    md5s = sorted(str(e["md5"]) for e in chosen if e.get("md5"))
    return " ".join(md5s) or None
