"""Benchmark the data checks against the issue's budget: all checks on the full data add at most
3 s, and at most 15% of a cold `dvc repro`, measured side by side in one run.

What the checks add: the drift and leakage stages, and what validate does beyond the schema check
it did before them (commit BEFORE: pandera column checks and a JSON report; now also the
cross-column rules, the declared handling and the validated tables in data/validate/, which split
and featurize read and DVC hashes and caches). The schema check itself is not counted: the
pipeline ran it before.

Two scratch copies of this work tree (the files git tracks or would track: no outputs, no
dvc.lock, an empty DVC cache; committed in a fresh git repository):
- with checks: dvc.yaml as it is;
- without: dvc.yaml without the drift and leakage stages, train not waiting for leakage's pass
  file, and validate as committed at BEFORE (its code, schema.yaml and params.yaml under
  bench-before/ in the copy), split and featurize reading data/ingest as they did then.

Measured in one run:
1. --runs pairs of cold `dvc repro`, one in each copy, in alternating order (fresh copies each);
2. in the last pair's copies, --repeats times each: every check stage as DVC runs it
   (`dvc repro --force --no-run-cache --single-item STAGE`: the command, then DVC hashing and
   caching its outputs, saving the run cache, writing dvc.lock), validate as it was at BEFORE the
   same way in the copy without checks, a no-op `dvc repro` in each (DVC's start-up and status
   check, which a cold repro pays once whatever its stages), and each stage's command alone.
Added = (drift - no-op) + (leakage - no-op) + (validate - no-op) - (validate before - no-op'),
medians of step 2: what the checks add to a cold repro, DVC's share included. The cold repros of
step 1 are what that is a share of, and their paired difference is a cross-check: it holds the
same seconds, but 30 s runs of scikit-learn on 2 shared cores swing by more than that, so it
cannot judge 3 s. Logs: bench/out/checks-*.log. Example:

    .venv/bin/python bench/checks.py --runs 3 --output bench/CHECKS_RESULTS.md
"""

from __future__ import annotations

import argparse
import io
import math
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from pipeline import BENCH, LOGS, ROOT, Measurement, git, machine, measure, scratch
from plain import commands

BUDGET_SECONDS, BUDGET_SHARE = 3.0, 0.15
BEFORE = "9cafbec"  # the last commit before the checks: validate was the schema check alone
BEFORE_DIR = "bench-before"
CHECK_STAGES = ("drift", "leakage")  # stages that exist only for the checks
WITH, WITHOUT = "with checks", "without checks"
VALIDATE_BEFORE = f"validate as at {BEFORE} (schema check)"
NOOP = "dvc repro (no-op)"


def work_tree_copy(dest: Path, args: argparse.Namespace) -> Path:
    """The work tree's files that git tracks or would track, as they are now (edits included),
    committed in a new repository at `dest`; with --max-rows, params.yaml keeps the earliest."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file() and name != "dvc.lock":  # a deleted file is still listed as cached
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    if args.max_rows is not None:
        path = dest / "params.yaml"
        params = yaml.safe_load(path.read_text())
        params["ingest"]["max_rows"] = args.max_rows
        params["split"].update(valid_start=args.valid_start, test_start=args.test_start)
        path.write_text(yaml.safe_dump(params, sort_keys=False))
    git("init", "-q", cwd=dest)
    git("add", "-A", cwd=dest)
    commit(dest, "-qm", "the work tree")
    return dest


def commit(repo: Path, *argv: str) -> None:
    git("-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", *argv, cwd=repo)


def without_checks(repo: Path) -> None:
    """Make `repo` the pipeline as it ran before the checks (see the module docstring)."""
    archive = subprocess.run(
        ["git", "archive", BEFORE, "src", "schema.yaml", "params.yaml"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(repo / BEFORE_DIR, filter="data")
    path = repo / "dvc.yaml"
    pipeline = yaml.safe_load(path.read_text())
    stages = pipeline["stages"]
    for name in CHECK_STAGES:
        del stages[name]
    stages["train"]["deps"] = [d for d in stages["train"]["deps"] if "leakage" not in str(d)]
    pipeline["plots"] = [p for p in pipeline.get("plots", []) if "drift" not in str(p)]
    report = "${paths.reports}/validate.json"
    stages["validate"] = {
        "cmd": f"cd {BEFORE_DIR} && PYTHONPATH=src python -m mlrepro.stages.validate "
        f"--data ../${{paths.ingest}} --report ../{report}",
        "deps": [
            f"{BEFORE_DIR}/src/mlrepro/core",
            f"{BEFORE_DIR}/src/mlrepro/pipeline/schema.py",
            f"{BEFORE_DIR}/src/mlrepro/stages/validate.py",
            f"{BEFORE_DIR}/schema.yaml",
            "${paths.ingest}",
        ],
        "outs": [{report: {"cache": False}}],
    }
    for name in ("split", "featurize"):
        stage = stages[name]
        stage["cmd"] = stage["cmd"].replace("${paths.validate}", "${paths.ingest}")
        deps = [d.replace("${paths.validate}", "${paths.ingest}") for d in stage["deps"]]
        stage["deps"] = list(dict.fromkeys(deps + ([report] if name == "split" else [])))
    path.write_text(yaml.safe_dump(pipeline, sort_keys=False))
    commit(repo, "-qam", "without checks")


def cold_repro(tmp: Path, label: str, run: int, args: argparse.Namespace) -> Measurement:
    repo = work_tree_copy(tmp / f"{'with' if label == WITH else 'without'}{run}", args)
    if label == WITHOUT:
        without_checks(repo)
    log = LOGS / f"checks-run{run}-{'with' if label == WITH else 'without'}.log"
    result = measure(["dvc", "repro"], repo, log)
    ran = log.read_text()
    expected = ["validate", *CHECK_STAGES] if label == WITH else ["validate"]
    if not all(f"Running stage '{s}'" in ran for s in expected):
        raise SystemExit(f"run {run} ({label}): not every stage ran (see {log})")
    return result


def stage_runs(with_repo: Path, without_repo: Path, repeats: int) -> dict[str, Runs]:
    """Step 2 of the module docstring, in the completed copies: each name -> its runs under DVC
    and of its command alone (none for the no-ops)."""
    now = commands(yaml.safe_load((with_repo / "dvc.yaml").read_text()))
    before = commands(yaml.safe_load((without_repo / "dvc.yaml").read_text()))
    plan = [
        (NOOP, with_repo, None, None),
        (f"{NOOP}, {WITHOUT}", without_repo, None, None),
        ("validate", with_repo, "validate", now["validate"]),
        (VALIDATE_BEFORE, without_repo, "validate", before["validate"]),
        *((stage, with_repo, stage, now[stage]) for stage in CHECK_STAGES),
    ]
    found: dict[str, Runs] = {name: Runs([], []) for name, *_ in plan}
    for _ in range(repeats):
        for name, repo, stage, cmd in plan:
            tag = name.split()[0] + ("-before" if repo == without_repo else "")
            single = ["--force", "--no-run-cache", "--single-item", stage] if stage else []
            log = LOGS / f"checks-dvc-{tag}.log"
            found[name].dvc.append(measure(["dvc", "repro", *single], repo, log))
            if stage and f"Running stage '{stage}'" not in log.read_text():
                raise SystemExit(f"{name}: the stage did not run (see {log})")
            if cmd is not None:
                log = LOGS / f"checks-cmd-{tag}.log"
                found[name].cmd.append(measure(["sh", "-c", cmd], repo, log))
    return found


@dataclass(frozen=True)
class Runs:
    dvc: list[Measurement]  # `dvc repro` runs
    cmd: list[Measurement]  # the stage's command alone

    def wall(self, which: str = "dvc") -> float:
        runs = self.dvc if which == "dvc" else self.cmd
        return statistics.median(m.wall for m in runs) if runs else math.nan


def added_seconds(runs: dict[str, Runs]) -> float:
    """(drift - no-op) + (leakage - no-op) + (validate - no-op) - (validate before - no-op')."""
    noop, noop_before = runs[NOOP].wall(), runs[f"{NOOP}, {WITHOUT}"].wall()
    checks = sum(runs[s].wall() - noop for s in ("validate", *CHECK_STAGES))
    return checks - (runs[VALIDATE_BEFORE].wall() - noop_before)


def render(
    pairs: list[dict[str, Measurement]], runs: dict[str, Runs], info: dict[str, str], repeats: int
) -> str:
    """The Markdown report: the machine, the cold repros, what the checks add, where it goes."""
    colds = {label: [p[label].wall for p in pairs] for label in (WITH, WITHOUT)}
    with_s, without_s = (statistics.median(colds[label]) for label in (WITH, WITHOUT))
    added = added_seconds(runs)
    share = added / without_s
    holds = added <= BUDGET_SECONDS and share <= BUDGET_SHARE
    lines = [
        "# Benchmark: what the data checks add to a cold `dvc repro`",
        "",
        f"Command: `{info.pop('command')}`",
        "",
        *(f"- {key}: {value}" for key, value in info.items()),
        "",
        "Without checks: no drift and leakage stages, train not waiting for leakage, validate as "
        f"committed at {BEFORE} (the schema check alone; split and featurize read data/ingest). "
        "The schema check is not counted: the pipeline ran it before the checks. Every command "
        "ran in scratch copies of the work tree; bench/checks.py's docstring has the details.",
        "",
        f"**Budget: at most {BUDGET_SECONDS:g} s and at most {BUDGET_SHARE:.0%} of a cold "
        f"`dvc repro`. The checks add {added:.2f} s, {share:.1%} of a cold `dvc repro` without "
        f"them ({without_s:.1f} s; {added / with_s:.1%} of one with them, {with_s:.1f} s). The "
        f"budget {'holds' if holds else 'does not hold'}.**",
        "",
        f"## What each check costs under DVC (median of {repeats})",
        "",
        "`dvc repro --force --no-run-cache --single-item STAGE` in a completed copy, less the "
        "no-op `dvc repro` of that copy (DVC's start-up and status check, paid once by any "
        "repro); the command alone is what the stage's process takes, the rest DVC's share "
        "(hashing and caching the stage's outputs, the run cache, dvc.lock).",
        "",
        "| stage | under DVC, less the no-op (s) | its command alone (s) | DVC's share (s) "
        "| under DVC, each run (s) |",
        "|---|--:|--:|--:|---|",
    ]
    noops = {False: runs[NOOP].wall(), True: runs[f"{NOOP}, {WITHOUT}"].wall()}
    for name, found in runs.items():
        if not found.cmd:
            each = ", ".join(f"{m.wall:.2f}" for m in found.dvc)
            lines.append(f"| {name} | {found.wall():.2f} (the no-op itself) | | | {each} |")
            continue
        net = found.wall() - noops[name == VALIDATE_BEFORE]
        alone = found.wall("cmd")
        each = ", ".join(f"{m.wall:.2f}" for m in found.dvc)
        lines.append(f"| {name} | {net:.2f} | {alone:.2f} | {net - alone:.2f} | {each} |")
    lines += [
        "",
        f"Added = drift + leakage + validate - validate as at {BEFORE}, each less its copy's "
        f"no-op: {added:.2f} s.",
        "",
        f"## The cold repros ({len(pairs)} pairs, fresh copies, alternating order)",
        "",
        "| what | median wall (s) | median CPU (s) | peak memory (MiB) | wall per run (s) |",
        "|---|--:|--:|--:|---|",
    ]
    for label in (WITH, WITHOUT):
        cpu = statistics.median(p[label].cpu for p in pairs)
        rss = statistics.median(p[label].rss for p in pairs)
        each = ", ".join(f"{s:.1f}" for s in colds[label])
        wall = with_s if label == WITH else without_s
        lines.append(f"| cold `dvc repro`, {label} | {wall:.2f} | {cpu:.1f} | {rss:.0f} | {each} |")
    diffs = [p[WITH].wall - p[WITHOUT].wall for p in pairs]
    lines += [
        "",
        f"Cross-check, with - without per pair: {', '.join(f'{d:+.2f}' for d in diffs)} s "
        f"(median {statistics.median(diffs):+.2f} s). Each pair measures the same seconds as "
        "above plus the noise of two 30 s runs (train and evaluate are most of them) on a "
        "machine whose 2 cores other jobs shared (load averages above): a spread wider than the "
        "budget, so the budget is judged on the per-stage medians.",
        "",
        "The copies without checks train on data/ingest, so the wind reading validate sets "
        "missing is still in their weather table: their model bytes differ, their work does not.",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="pairs of cold repros (median)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each stage command")
    parser.add_argument("--max-rows", type=int, help="ingest.max_rows for a quick check")
    parser.add_argument("--valid-start", default="2013-01-18", help="with --max-rows")
    parser.add_argument("--test-start", default="2013-01-22", help="with --max-rows")
    parser.add_argument("--output", type=Path, default=BENCH / "CHECKS_RESULTS.md")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.repeats < 1:
        parser.error("--runs and --repeats must be at least 1")
    return args


def main() -> int:
    args = parse_args()
    info = {"command": " ".join([".venv/bin/python", "bench/checks.py", *sys.argv[1:]])}
    info |= machine(git("rev-parse", "HEAD").strip())
    info["commit (cloned)"] = info.pop("commit (cloned)") + " plus the work tree's edits (copied)"
    pairs: list[dict[str, Measurement]] = []
    with scratch("mlrepro-checks-") as tmp:
        for run in range(1, args.runs + 1):
            order = (WITH, WITHOUT) if run % 2 else (WITHOUT, WITH)
            pairs.append({label: cold_repro(tmp, label, run, args) for label in order})
            print(f"run {run}: " + ", ".join(f"{k} {m.wall:.2f} s" for k, m in pairs[-1].items()))
        last = args.runs
        runs = stage_runs(tmp / f"with{last}", tmp / f"without{last}", args.repeats)
    info["data"] = (
        "all rows (params.yaml of the work tree)"
        if args.max_rows is None
        else f"earliest {args.max_rows} rows, split at {args.valid_start} / {args.test_start}"
    )
    info["load average (1 min) at end"] = f"{os.getloadavg()[0]:.2f}"
    report = render(pairs, runs, info, args.repeats)
    args.output.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
