"""`diff_revs`: metrics, params, pinned snapshots and dvc.lock stages between two revisions.

Each revision is read once, by `mlrepro.revisions` (`RevFiles` is what diff takes from it);
`mlrepro.diff.looks` counts the models scored on B's test part over the whole history.
Results are data (`RevDiff`, frozen); `mlrepro.diff.render` renders them. Old, new and change
agree with `dvc metrics diff --json A B` (change = new - old), params with `dvc params diff`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from mlrepro.core.params import PARAMS_FILE
from mlrepro.diff.gates import (
    GATES_FILE,
    Gate,
    GatesConfig,
    Verdict,
    check_gates_match,
    fails,
    gate_for,
    load_config,
    parse_config_text,
    verdict,
)
from mlrepro.diff.looks import Looks, count_looks
from mlrepro.revisions import (
    DVC_YAML,
    DvcYamlError,
    Pin,
    Repository,
    Rev,
    Revision,
    Unreadable,
    lock_hashes,
    open_repo,
)

Status = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class MetricRow:
    key: str  # flattened, e.g. test.roc_auc
    file: str
    old: Any  # None: absent at A (see note)
    new: Any
    change: float | None  # new - old, when both are numbers
    rel_change: float | None  # change / |old|
    mark: str  # ↑ ↓ = or "" for no numeric change
    verdict: Verdict
    fails: bool  # fails `--gate`
    note: str | None = None  # why old or new is absent: "<rev>: <why>"


@dataclass(frozen=True)
class ParamChange:
    key: str
    old: Any
    new: Any


@dataclass(frozen=True)
class StageChange:
    stage: str
    status: Status
    deps: tuple[str, ...] = ()  # paths whose hash changed, appeared or vanished
    outs: tuple[str, ...] = ()


@dataclass(frozen=True)
class PinChange:
    source: str
    old: Pin | None
    new: Pin | None


@dataclass(frozen=True)
class RevFiles:
    """What `mlrepro diff` compares of one revision."""

    rev: Rev
    metrics: dict[str, dict[str, Any]]  # metrics file -> flattened key -> value
    reasons: dict[str, str]  # file -> why it gave no values
    params: dict[str, Any]  # flattened; keys of a params file other than params.yaml: `file:key`
    stages: dict[str, dict[str, dict[str, str]]]  # dvc.lock: stage -> deps|outs -> path -> hash
    pins: dict[str, Pin]  # params.yaml ingest.pins


@dataclass(frozen=True)
class RevDiff:
    a: Rev
    b: Rev
    metrics: tuple[MetricRow, ...]
    params: tuple[ParamChange, ...]
    stages: tuple[StageChange, ...]
    pins: tuple[PinChange, ...]
    notes: tuple[str, ...]  # files that gave no values, and why
    gated: bool  # a gates file was found
    test_looks: Looks | None = None  # models scored on B's test part (None: B records none)

    @property
    def failures(self) -> tuple[MetricRow, ...]:
        return tuple(row for row in self.metrics if row.fails)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["gate_failed"] = bool(self.failures)
        if self.test_looks is not None:
            data["test_looks"]["warned"] = self.test_looks.warned
        return data


def diff_revs(
    repo_path: Path,
    a: str | None = None,
    b: str | None = None,
    *,
    config: GatesConfig | None = None,
) -> RevDiff:
    """Compare revision `a` (default: the upstream branch, else main) with `b` (default: the
    workspace). Reads only; checks nothing out."""
    with open_repo(repo_path) as repo:
        old, new = revision_pair(repo, a, b)
        return compare(old, new, config)


def revision_pair(repo: Repository, a: str | None, b: str | None) -> tuple[Revision, Revision]:
    """Revisions `a` (default: the upstream branch, else main) and `b` (default: workspace)."""
    rev_a = repo.resolve(repo.default_base() if a is None else a)
    return Revision(repo, rev_a), Revision(repo, repo.resolve(b))


def compare(old: Revision, new: Revision, config: GatesConfig | None = None) -> RevDiff:
    """The differences of two revisions, and how many models have been scored on the new one's
    test part. The gates file (unless given) comes from gates.yaml at `old`, the base, so that a
    change cannot loosen the gates that judge it (else from the work tree)."""
    if config is None and (base_gates := old.read(GATES_FILE)) is not None:
        where = f"{GATES_FILE} at {old.rev.name}"
        config = parse_config_text(base_gates.decode("utf-8"), where)
    elif config is None:
        config = load_config(old.repo.root / GATES_FILE)
    warn_at = (config or GatesConfig()).test_looks_warn
    result = diff_files(rev_files(old), rev_files(new), None if config is None else config.gates)
    return replace(result, test_looks=count_looks(new, warn_at))


def rev_files(revision: Revision) -> RevFiles:
    metrics: dict[str, dict[str, Any]] = {}
    reasons: dict[str, str] = {}
    try:
        for path, values in revision.metrics().items():
            if isinstance(values, Unreadable):
                reasons[path] = str(values)
            else:
                metrics[path] = values
    except DvcYamlError as exc:
        reasons[DVC_YAML] = str(exc)
    params = {
        key if path == PARAMS_FILE else f"{path}:{key}": value
        for path, values in revision.params().items()
        for key, value in values.items()
    }
    stages = lock_hashes(revision.lock)
    return RevFiles(revision.rev, metrics, reasons, params, stages, revision.pins())


def diff_files(old: RevFiles, new: RevFiles, gates: Sequence[Gate] | None) -> RevDiff:
    """Two revisions' files -> their differences, with a verdict per metric."""
    keys = {k for files in (old, new) for values in files.metrics.values() for k in values}
    check_gates_match(gates or (), keys, f"{old.rev.name} or {new.rev.name}")
    return RevDiff(
        a=old.rev,
        b=new.rev,
        metrics=metric_rows(old, new, gates or ()),
        params=param_changes(old.params, new.params),
        stages=stage_changes(old.stages, new.stages),
        pins=pin_changes(old.pins, new.pins),
        notes=tuple(_notes(old) + _notes(new)),
        gated=gates is not None,
    )


def _notes(files: RevFiles) -> list[str]:
    return [f"{files.rev.name}: {path}: {why}" for path, why in files.reasons.items()]


def metric_rows(old: RevFiles, new: RevFiles, gates: Sequence[Gate]) -> tuple[MetricRow, ...]:
    rows = []
    for file in dict.fromkeys([*old.metrics, *old.reasons, *new.metrics, *new.reasons]):
        a, b = old.metrics.get(file, {}), new.metrics.get(file, {})
        for key in dict.fromkeys([*a, *b]):
            rows.append(_row(key, file, a.get(key), b.get(key), gate_for(key, gates)))
            if key not in a or key not in b:
                rows[-1] = _with_note(rows[-1], old if key not in a else new)
    return tuple(rows)


def _row(key: str, file: str, old: Any, new: Any, gate: Gate | None) -> MetricRow:
    change = new - old if _number(old) and _number(new) else None
    rel = change / abs(old) if change is not None and old != 0 else None
    result = verdict(old, new, gate)
    return MetricRow(key, file, old, new, change, rel, _mark(change), result, fails(result, gate))


def _with_note(row: MetricRow, files: RevFiles) -> MetricRow:
    """The row's note: why the value is absent at that side (the file is the row's own)."""
    if row.file in files.reasons:
        why = files.reasons[row.file]
    else:
        why = "no such key" if row.file in files.metrics else "not a metrics file there"
    return replace(row, note=f"{files.rev.name}: {why}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _mark(change: float | None) -> str:
    if change is None or math.isnan(change):
        return ""
    return "↑" if change > 0 else "↓" if change < 0 else "="


def param_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[ParamChange, ...]:
    keys = dict.fromkeys([*old, *new])
    return tuple(ParamChange(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k))


def stage_changes(
    old: dict[str, dict[str, dict[str, str]]], new: dict[str, dict[str, dict[str, str]]]
) -> tuple[StageChange, ...]:
    changes = []
    for stage in dict.fromkeys([*old, *new]):
        if stage not in old or stage not in new:
            changes.append(StageChange(stage, "added" if stage in new else "removed"))
            continue
        deps, outs = (_changed(old[stage][k], new[stage][k]) for k in ("deps", "outs"))
        if deps or outs:
            changes.append(StageChange(stage, "changed", deps, outs))
    return tuple(changes)


def _changed(old: dict[str, str], new: dict[str, str]) -> tuple[str, ...]:
    return tuple(p for p in dict.fromkeys([*old, *new]) if old.get(p) != new.get(p))


def pin_changes(old: dict[str, Pin], new: dict[str, Pin]) -> tuple[PinChange, ...]:
    sources = dict.fromkeys([*old, *new])
    return tuple(
        PinChange(s, old.get(s), new.get(s))
        for s in sources
        if getattr(old.get(s), "id", None) != getattr(new.get(s), "id", None)
    )
