"""`diff_revs`: metrics, params, pinned snapshots and dvc.lock stages between two revisions.

Results are data (`RevDiff`, frozen); `mlrepro.diff.render` renders them. Old, new and change
agree with `dvc metrics diff --json A B` (change = new - old).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from mlrepro.diff.gates import (
    GATES_FILE,
    Gate,
    Verdict,
    check_gates_match,
    fails,
    gate_for,
    load_gates,
    parse_gates_text,
    verdict,
)
from mlrepro.revisions import (
    Pin,
    Rev,
    RevFiles,
    default_base,
    open_repo,
    read_bytes,
    read_rev,
    resolve_rev,
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
    note: str | None = None  # why old or new is absent


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
class RevDiff:
    a: Rev
    b: Rev
    metrics: tuple[MetricRow, ...]
    params: tuple[ParamChange, ...]
    stages: tuple[StageChange, ...]
    pins: tuple[PinChange, ...]
    notes: tuple[str, ...]  # files that gave no values, and why
    gated: bool  # a gates file was found

    @property
    def failures(self) -> tuple[MetricRow, ...]:
        return tuple(row for row in self.metrics if row.fails)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["gate_failed"] = bool(self.failures)
        return data


def diff_revs(
    repo_path: Path,
    a: str | None = None,
    b: str | None = None,
    *,
    gates: Sequence[Gate] | None = None,
) -> RevDiff:
    """Compare revision `a` (default: the upstream branch, else main) with `b` (default: the
    workspace). Gates come from gates.yaml at `a`, the base, so that a change cannot loosen the
    gates that judge it (else from the work tree). Reads only; checks nothing out."""
    with open_repo(repo_path) as repo:
        rev_a = resolve_rev(repo, default_base(repo) if a is None else a)
        rev_b = resolve_rev(repo, b)
        old, new = read_rev(repo, rev_a), read_rev(repo, rev_b)
        base_gates = read_bytes(repo, rev_a, GATES_FILE)
        root = Path(str(repo.working_tree_dir))
    if gates is not None:
        found: Sequence[Gate] | None = tuple(gates)
    elif base_gates is not None:
        found = parse_gates_text(base_gates.decode("utf-8"), f"{GATES_FILE} at {rev_a.name}")
    else:
        found = load_gates(root / GATES_FILE)
    return diff_files(old, new, found)


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
    why = files.reasons.get(row.file, f"no {row.key}")
    return MetricRow(**{**asdict(row), "note": f"{files.rev.name}: {row.file}: {why}"})


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
