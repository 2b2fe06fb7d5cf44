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

Measured in one run, each `dvc repro` cold in a fresh pair of copies, the order alternating:
1. --repeats pairs of the pipeline up to the checks: `dvc repro drift leakage` with checks
   (ingest, validate, split, featurize, drift, leakage) against `dvc repro featurize` without
   (ingest, the old validate, split, featurize). Added = with - without, the median of the pairs:
   what the checks add to a cold repro, DVC's share (hashing and caching their outputs and
   data/validate/, the run cache, dvc.lock) included, without the noise of train and evaluate,
   which run the same in both and are most of a repro;
2. --runs pairs of the whole cold `dvc repro`: what the added seconds are a share of, and their
   difference as a cross-check (the same seconds plus two 30 s runs' noise);
3. in the last copies of step 1, --repeats times each check stage's command alone (`sh -c CMD`,
   as DVC runs it), and validate's at BEFORE: which part of the added seconds is the stages'
   processes.
Logs: bench/out/checks-*.log. Example:

    .venv/bin/python bench/checks.py --runs 3 --output bench/CHECKS_RESULTS.md
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
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
PREFIX = {WITH: ["drift", "leakage"], WITHOUT: ["featurize"]}  # step 1's `dvc repro` targets


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


def cold_repro(
    tmp: Path, label: str, name: str, args: argparse.Namespace, *, prefix: bool
) -> tuple[Measurement, Path]:
    """A cold `dvc repro` (of PREFIX[label] with `prefix`) in a fresh copy, and the copy."""
    tag = f"{name}-{'with' if label == WITH else 'without'}"
    repo = work_tree_copy(tmp / tag, args)
    if label == WITHOUT:
        without_checks(repo)
    log = LOGS / f"checks-{tag}.log"
    result = measure(["dvc", "repro", *(PREFIX[label] if prefix else [])], repo, log)
    ran = log.read_text()
    expected = ["validate", *CHECK_STAGES] if label == WITH else ["validate"]
    if not all(f"Running stage '{s}'" in ran for s in expected):
        raise SystemExit(f"{tag}: not every stage ran (see {log})")
    if prefix and "Running stage 'train'" in ran:
        raise SystemExit(f"{tag}: train ran (see {log})")
    return result, repo


def pairs(
    tmp: Path, name: str, count: int, args: argparse.Namespace, *, prefix: bool
) -> tuple[list[dict[str, Measurement]], dict[str, Path]]:
    """`count` pairs of cold repros, the order alternating; the copies of the last pair."""
    found: list[dict[str, Measurement]] = []
    copies: dict[str, Path] = {}
    for run in range(1, count + 1):
        pair = {}
        for label in (WITH, WITHOUT) if run % 2 else (WITHOUT, WITH):
            pair[label], copies[label] = cold_repro(tmp, label, f"{name}{run}", args, prefix=prefix)
        found.append(pair)
        print(f"{name} {run}: " + ", ".join(f"{k} {m.wall:.2f} s" for k, m in pair.items()))
    return found, copies


def stage_commands(copies: dict[str, Path], repeats: int) -> dict[str, list[Measurement]]:
    """Step 3: each check stage's command alone, in the completed copies of step 1."""
    now = commands(yaml.safe_load((copies[WITH] / "dvc.yaml").read_text()))
    before = commands(yaml.safe_load((copies[WITHOUT] / "dvc.yaml").read_text()))
    plan = [
        ("validate", copies[WITH], now["validate"], "validate"),
        (VALIDATE_BEFORE, copies[WITHOUT], before["validate"], "validate-before"),
        *((stage, copies[WITH], now[stage], stage) for stage in CHECK_STAGES),
    ]
    found: dict[str, list[Measurement]] = {name: [] for name, *_ in plan}
    for _ in range(repeats):
        for name, repo, cmd, tag in plan:
            found[name].append(measure(["sh", "-c", cmd], repo, LOGS / f"checks-cmd-{tag}.log"))
    return found


def median(runs: list[Measurement], field: str = "wall") -> float:
    return statistics.median(getattr(m, field) for m in runs)


def differences(found: list[dict[str, Measurement]], field: str = "wall") -> list[float]:
    return [getattr(p[WITH], field) - getattr(p[WITHOUT], field) for p in found]


def render(
    prefixes: list[dict[str, Measurement]],
    wholes: list[dict[str, Measurement]],
    stages: dict[str, list[Measurement]],
    info: dict[str, str],
) -> str:
    """The Markdown report: the machine, the verdict, then steps 1 to 3 of the docstring."""
    added = statistics.median(differences(prefixes))
    whole = {label: median([p[label] for p in wholes]) for label in (WITH, WITHOUT)}
    share = added / whole[WITHOUT]
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
        "The schema check is not counted: the pipeline ran it before the checks. Every `dvc "
        "repro` was cold, in a fresh scratch copy of the work tree (no outputs, no dvc.lock, an "
        "empty DVC cache); bench/checks.py's docstring has the details.",
        "",
        f"**Budget: at most {BUDGET_SECONDS:g} s and at most {BUDGET_SHARE:.0%} of a cold "
        f"`dvc repro`. The checks add {added:.2f} s: {share:.1%} of a cold `dvc repro` without "
        f"them ({whole[WITHOUT]:.1f} s), {added / whole[WITH]:.1%} of one with them "
        f"({whole[WITH]:.1f} s). The budget {'holds' if holds else 'does not hold'}.**",
        "",
        f"## 1. The pipeline up to the checks ({len(prefixes)} pairs)",
        "",
        "| what | median wall (s) | median CPU (s) | wall per run (s) |",
        "|---|--:|--:|---|",
    ]
    rows = [
        (f"`dvc repro {' '.join(PREFIX[WITH])}`, {WITH}", [p[WITH] for p in prefixes]),
        (f"`dvc repro {' '.join(PREFIX[WITHOUT])}`, {WITHOUT}", [p[WITHOUT] for p in prefixes]),
    ]
    for label, runs in rows:
        each = ", ".join(f"{m.wall:.2f}" for m in runs)
        lines.append(f"| {label} | {median(runs):.2f} | {median(runs, 'cpu'):.2f} | {each} |")
    each = ", ".join(f"{d:+.2f}" for d in differences(prefixes))
    cpu = statistics.median(differences(prefixes, "cpu"))
    lines += [
        f"| **added by the checks** (with - without) | **{added:.2f}** | {cpu:.2f} | {each} |",
        "",
        f"## 2. The whole cold `dvc repro` ({len(wholes)} pairs)",
        "",
        "| what | median wall (s) | median CPU (s) | peak memory (MiB) | wall per run (s) |",
        "|---|--:|--:|--:|---|",
    ]
    for label in (WITH, WITHOUT):
        runs = [p[label] for p in wholes]
        each = ", ".join(f"{m.wall:.1f}" for m in runs)
        lines.append(
            f"| cold `dvc repro`, {label} | {whole[label]:.2f} | {median(runs, 'cpu'):.1f} "
            f"| {median(runs, 'rss'):.0f} | {each} |"
        )
    diffs = differences(wholes)
    lines += [
        "",
        f"Cross-check, with - without per pair: {', '.join(f'{d:+.2f}' for d in diffs)} s "
        f"(median {statistics.median(diffs):+.2f} s): the same seconds as step 1 plus the noise "
        "of train and evaluate (most of a repro) on 2 cores that other jobs shared (load "
        "averages above).",
        "",
        f"## 3. The check stages' commands alone (median of {len(next(iter(stages.values())))})",
        "",
        "| command (as DVC runs it) | median wall (s) | median CPU (s) | wall each (s) |",
        "|---|--:|--:|---|",
    ]
    for name, runs in stages.items():
        each = ", ".join(f"{m.wall:.2f}" for m in runs)
        lines.append(f"| {name} | {median(runs):.2f} | {median(runs, 'cpu'):.2f} | {each} |")
    processes = sum(median(stages[s]) for s in ("validate", *CHECK_STAGES)) - median(
        stages[VALIDATE_BEFORE]
    )
    lines += [
        "",
        f"Processes: drift + leakage + validate - validate as at {BEFORE} = {processes:.2f} s of "
        f"the {added:.2f} s added; the rest, {added - processes:.2f} s, is DVC's share for them "
        "(starting two more stages, hashing and caching data/validate/ and the reports, the run "
        "cache, dvc.lock) and noise.",
        "",
        "The copies without checks train on data/ingest, so the wind reading validate sets "
        "missing is still in their weather table: their model bytes differ, their work does not.",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="pairs of whole cold repros")
    parser.add_argument("--repeats", type=int, default=5, help="pairs up to the checks (step 1)")
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
    with scratch("mlrepro-checks-") as tmp:
        prefixes, copies = pairs(tmp, "prefix", args.repeats, args, prefix=True)
        wholes, _ = pairs(tmp, "whole", args.runs, args, prefix=False)
        stages = stage_commands(copies, args.repeats)
    info["data"] = (
        "all rows (params.yaml of the work tree)"
        if args.max_rows is None
        else f"earliest {args.max_rows} rows, split at {args.valid_start} / {args.test_start}"
    )
    info["load average (1 min) at end"] = f"{os.getloadavg()[0]:.2f}"
    report = render(prefixes, wholes, stages, info)
    args.output.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
