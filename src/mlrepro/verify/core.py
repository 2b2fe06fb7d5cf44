"""`verify(repo, rev)`: re-run a commit from scratch and compare every output with its dvc.lock.

The run happens in a clean temporary checkout (`checkout`), with the pinned snapshots put in
place from the local cache, a remote or their sources (`snapshots`), no run-cache and no stage
output, so every stage really runs (`runner`). The result is data (`VerifyResult`); the command
renders it (`cli`).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlrepro import dvccache
from mlrepro import revisions as revs
from mlrepro.core.errors import MlreproError
from mlrepro.core.files import READ_ONLY
from mlrepro.core.params import PARAMS_FILE
from mlrepro.verify import models
from mlrepro.verify.checkout import VerifyInputError, make_checkout, remove_tree
from mlrepro.verify.environments import Environment, environments
from mlrepro.verify.outputs import (
    MODEL_SUFFIXES,
    PICKLE_SUFFIXES,
    CheckoutSide,
    OutputCheck,
    RevisionSide,
    Side,
    cached_object,
    compare_stage,
    explain,
)
from mlrepro.verify.runner import Progress, RunOutcome, repro_all
from mlrepro.verify.snapshots import SnapshotOrigin, pinned_manifests, provide

NO_THREADS = (
    "params.yaml at this commit has no `threads`: its stages used the libraries' default thread "
    "count, so the environment (cores, OMP_NUM_THREADS) may differ from the one that wrote its "
    "dvc.lock"
)


@dataclass(frozen=True)
class StageCheck:
    name: str
    seconds: float | None  # None: the stage did not run
    error: str | None  # the one-line reason it failed, or why it did not run
    outputs: tuple[OutputCheck, ...]

    @property
    def identical(self) -> bool:
        return self.error is None and all(o.identical for o in self.outputs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.name,
            "identical": self.identical,
            "seconds": None if self.seconds is None else round(self.seconds, 1),
            "error": self.error,
            "outputs": [o.as_dict() for o in self.outputs],
        }


@dataclass(frozen=True)
class RunCheck:
    """One run, each stage's outputs against a reference lock (the commit's, or another run's)."""

    label: str
    against: str  # "dvc.lock of <rev>" or "run a"
    environment: dict[str, str]
    stages: tuple[StageCheck, ...]

    @property
    def identical(self) -> bool:
        return all(s.identical for s in self.stages)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run": self.label,
            "against": self.against,
            "identical": self.identical,
            "environment": self.environment,
            "stages": [s.as_dict() for s in self.stages],
        }


@dataclass(frozen=True)
class VerifyResult:
    rev: str
    commit: str
    stage: str | None  # --stage, or None for the whole pipeline
    snapshots: tuple[SnapshotOrigin, ...]
    runs: tuple[RunCheck, ...]
    notes: tuple[str, ...]
    kept: str | None  # the checkout folder left for inspection (--keep)

    @property
    def identical(self) -> bool:
        return all(r.identical for r in self.runs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rev": self.rev,
            "commit": self.commit,
            "stage": self.stage,
            "identical": self.identical,
            "snapshots": [s.as_dict() for s in self.snapshots],
            "runs": [r.as_dict() for r in self.runs],
            "notes": list(self.notes),
            "kept": self.kept,
        }


@dataclass(frozen=True)
class Target:
    """What is verified: the commit, its dvc.lock and params, the stages in lock order."""

    revision: revs.Revision
    top: Path
    lock: dict[str, Any]
    params: dict[str, Any]
    stages: list[str]

    @property
    def rev(self) -> revs.Rev:
        return self.revision.rev


def read_target(repo: revs.Repository, rev_name: str, stage: str | None) -> Target:
    rev = repo.resolve(rev_name)
    if rev.commit is None:
        raise VerifyInputError("verify needs a commit, not the workspace: commit, then verify")
    revision = revs.Revision(repo, rev)
    lock = revision.load(revs.DVC_LOCK)
    if not isinstance(lock, dict) or not isinstance(lock.get("stages"), dict):
        why = lock if isinstance(lock, revs.Unreadable) else "has no stages"
        raise VerifyInputError(
            f"{rev_name} ({rev.commit[:12]}): dvc.lock {why}; nothing to "
            "verify (dvc repro, then commit dvc.lock)"
        )
    params = revision.load(PARAMS_FILE)
    stages = list(lock["stages"])
    if stage is not None and stage not in stages:
        raise VerifyInputError(
            f"--stage {stage}: no such stage in dvc.lock of {rev_name} "
            f"(stages: {', '.join(stages)})"
        )
    return Target(revision, repo.root, lock, params if isinstance(params, dict) else {}, stages)


def verify(
    path: Path,
    rev_name: str = "HEAD",
    *,
    aspects: tuple[str, ...] = (),
    stage: str | None = None,
    keep: bool = False,
    progress: Progress | None = None,
) -> VerifyResult:
    """Re-run `rev_name` (or one `stage` of it) in clean temporary checkouts, once, or twice under
    environments varied in `aspects`, and compare every output with its dvc.lock."""
    with revs.open_repo(path) as repo:
        target = read_target(repo, rev_name, stage)
        tmp = Path(tempfile.mkdtemp(prefix="mlrepro-verify-"))
        try:
            result = _verify(target, tmp, environments(aspects), stage, progress)
        except BaseException:
            if not keep:
                remove_tree(tmp)
            raise
        if not keep:
            remove_tree(tmp)
        return replace(result, kept=str(tmp) if keep else None)


def _verify(
    target: Target,
    tmp: Path,
    envs: list[Environment],
    stage: str | None,
    progress: Progress | None,
) -> VerifyResult:
    assert target.rev.commit is not None
    checkouts = [make_checkout(target.top, target.rev.commit, tmp / e.folder) for e in envs]
    origins: list[SnapshotOrigin] = []
    if stage is None or reads_snapshots(target.lock, stage):
        manifests = pinned_manifests(target.revision)
        origins = provide(target.top, target.params, manifests, checkouts)
    if stage is not None:
        for checkout in checkouts:
            provide_inputs(target, stage, checkout)
    outcomes = repro_all(list(zip(checkouts, envs, strict=True)), stage, progress)
    stages = [stage] if stage else target.stages
    reference = RevisionSide(target.revision, target.top)
    against = f"dvc.lock of {target.rev.name}"
    runs = [
        check_run(o, c, target.lock, reference, stages, against)
        for o, c in zip(outcomes, checkouts, strict=True)
    ]
    if len(outcomes) == 2:
        runs.append(
            check_run(
                outcomes[1],
                checkouts[1],
                outcomes[0].lock,
                CheckoutSide(checkouts[0]),
                stages,
                outcomes[0].environment.label,
            )
        )
    notes = () if "threads" in target.params else (NO_THREADS,)
    return VerifyResult(
        target.rev.name, target.rev.commit, stage, tuple(origins), tuple(runs), notes, None
    )


def reads_snapshots(lock: dict[str, Any], stage: str) -> bool:
    """Does the stage read the pinned snapshots (its locked params include ingest.pins)?"""
    params = ((lock["stages"].get(stage) or {}).get("params") or {}).get(PARAMS_FILE) or {}
    return any(k == "ingest" or k.startswith("ingest.pins") for k in params)


def check_run(
    outcome: RunOutcome,
    checkout: Path,
    reference_lock: dict[str, Any],
    reference: Side,
    stages: list[str],
    against: str,
) -> RunCheck:
    produced = CheckoutSide(checkout)
    checks = []
    for name in stages:
        error = outcome.error if outcome.failed == name else None
        if name not in outcome.seconds and error is None:
            error = "did not run" if outcome.failed is None else f"not run: {outcome.failed} failed"
        outputs = [] if error else compare_stage(reference_lock, outcome.lock, name)
        outputs = [
            explain_model(explain(o, reference, produced), reference, outcome, checkout)
            for o in outputs
        ]
        checks.append(StageCheck(name, outcome.seconds.get(name), error, tuple(outputs)))
    env = outcome.environment
    return RunCheck(env.label, against, env.describe(), tuple(checks))


def explain_model(
    check: OutputCheck, reference: Side, outcome: RunOutcome, checkout: Path
) -> OutputCheck:
    """For a model file that differs: do both models predict the same on the valid part?"""
    if check.identical or check.expected is None or check.actual is None:
        return check
    if check.path.endswith(PICKLE_SUFFIXES):
        return replace(check, detail="a pickle, never loaded: predictions not compared")
    if not check.path.endswith(MODEL_SUFFIXES):
        return check
    old = reference.read(check.path, check.expected)
    new = CheckoutSide(checkout).read(check.path, check.actual)
    if old is None or new is None:
        return OutputCheck(
            **{
                **vars(check),
                "detail": "the expected model is not in the local "
                "cache: its predictions cannot be compared",
            }
        )
    out_paths = [p for s in outcome.lock.get("stages", {}).values() for p in _outs(s)]
    tables = models.valid_tables(checkout, out_paths)
    try:
        found = models.compare_models(old, new, tables, checkout, check.path)
    except MlreproError as exc:  # untrusted types, unreadable: said, never loaded
        return replace(check, detail=str(exc))
    return replace(check, model=found)


def _outs(stage: Any) -> list[str]:
    return [str(o["path"]) for o in (stage or {}).get("outs") or [] if "path" in o]


def provide_inputs(target: Target, stage: str, checkout: Path) -> None:
    """Put the stage's locked inputs that git does not hold (outputs of earlier stages, in the
    DVC cache) into the checkout: from the user's DVC cache, else a remote; each by its md5."""
    deps = (target.lock["stages"][stage] or {}).get("deps") or []
    for dep in deps:
        path, md5 = str(dep["path"]), str(dep.get("md5"))
        if (checkout / path).exists() or not produced_by_a_stage(target.lock, path):
            continue
        local = copy_cache_objects(target.top, checkout, md5) and dvc_ok(checkout, "checkout", path)
        if not (local or dvc_ok(checkout, "pull", path)):
            raise VerifyInputError(
                f"--stage {stage}: its input {path} (md5 {md5}) is neither in the local DVC "
                "cache nor on a DVC remote of this commit; verify the whole commit instead"
            )


def produced_by_a_stage(lock: dict[str, Any], path: str) -> bool:
    return any(path in _outs(s) for s in lock["stages"].values())


def copy_cache_objects(user_repo: Path, checkout: Path, md5: str) -> bool:
    """Copy the object with this md5 (and, for a folder, every object it lists) from the user's
    DVC cache into the checkout's, each checked against its md5. False if one is missing."""
    wanted = [md5]
    if md5.endswith(".dir"):
        listing = cached_object(user_repo, md5)
        if listing is None:
            return False
        wanted += [e["md5"] for e in json.loads(listing)]
    for name in wanted:
        data = cached_object(user_repo, name)
        if data is None:
            return False
        target = dvccache.object_path(checkout, name)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(READ_ONLY)
    return True


def dvc_ok(checkout: Path, *args: str) -> bool:
    from mlrepro.remote.core import run_dvc

    return run_dvc(checkout, *args, "--quiet").returncode == 0
