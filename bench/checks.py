"""Benchmark the data checks against the issue's budget: all checks on the full data add at most
3 s, and at most 15% of a cold `dvc repro`, measured side by side in one run.

What the checks add: the drift and leakage stages, and what validate does beyond the schema check
it did before them (commit BEFORE: pandera column checks and a JSON report; now also the
cross-column rules, the declared handling and the validated tables in data/validate/, which split
and featurize read and DVC hashes and caches). The schema check itself is not counted: the
pipeline ran it before.

Each run (--runs, the order alternating) builds two scratch copies of this work tree (the files
git tracks or would track: no outputs, no dvc.lock, an empty DVC cache; committed in a fresh git
repository) and times a cold `dvc repro` in each:
- with checks: dvc.yaml as it is;
- without: dvc.yaml without the drift and leakage stages, train not waiting for leakage's pass
  file, and validate as committed at BEFORE (its code, schema.yaml and params.yaml under
  bench-before/ in the copy), split and featurize reading data/ingest as they did then.
Then, in the last copies, each check stage's command as DVC runs it (`sh -c CMD`), --repeats
times, and validate's command as it was at BEFORE. What the checks add is estimated three ways:
the wall and the CPU seconds of cold with - cold without (median of the pairs: every cost, DVC's
hashing, caching and lock writes included, but a 30 s run on a shared machine swings by seconds),
and drift + leakage + (validate now - validate before) of the stage commands' medians (steady,
without DVC's share). The budget is judged on the largest. Logs: bench/out/checks-*.log. Example:

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
STAGES = "stage commands' wall, summed"


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


def stage_commands(
    with_repo: Path, without_repo: Path, repeats: int
) -> dict[str, list[Measurement]]:
    """Each check stage's command, as DVC runs it, in the completed copies; and validate's as it
    was before the checks, in the copy without them."""
    now = commands(yaml.safe_load((with_repo / "dvc.yaml").read_text()))
    before = commands(yaml.safe_load((without_repo / "dvc.yaml").read_text()))
    runs = [
        ("validate", with_repo, now["validate"], "validate"),
        (VALIDATE_BEFORE, without_repo, before["validate"], "validate-before"),
        *((stage, with_repo, now[stage], stage) for stage in CHECK_STAGES),
    ]
    times: dict[str, list[Measurement]] = {name: [] for name, *_ in runs}
    for _ in range(repeats):
        for name, repo, cmd, log in runs:
            times[name].append(measure(["sh", "-c", cmd], repo, LOGS / f"checks-{log}.log"))
    return times


def added_by_stages(times: dict[str, list[Measurement]], field: str) -> float:
    """drift + leakage + (validate now - validate before), medians of `field` (wall or cpu)."""
    med = {name: statistics.median(getattr(m, field) for m in ms) for name, ms in times.items()}
    return sum(med[s] for s in CHECK_STAGES) + med["validate"] - med[VALIDATE_BEFORE]


def render(
    pairs: list[dict[str, Measurement]],
    stage_times: dict[str, list[Measurement]],
    info: dict[str, str],
    repeats: int,
) -> str:
    """The Markdown report. Three estimates of what the checks add; the budget is judged on the
    largest: wall and CPU seconds of the cold repros (with - without, the median of the pairs:
    everything, DVC's share included, but on a shared machine a 30 s run can swing by seconds),
    and the stage commands' wall seconds (steady, but without DVC's share)."""
    colds = {label: [p[label].wall for p in pairs] for label in (WITH, WITHOUT)}
    with_s, without_s = (statistics.median(colds[label]) for label in (WITH, WITHOUT))
    estimates = {
        "cold `dvc repro` wall, with - without": statistics.median(
            p[WITH].wall - p[WITHOUT].wall for p in pairs
        ),
        "cold `dvc repro` CPU, with - without": statistics.median(
            p[WITH].cpu - p[WITHOUT].cpu for p in pairs
        ),
        STAGES: added_by_stages(stage_times, "wall"),
    }
    added = max(estimates.values())
    share = added / without_s
    holds = added <= BUDGET_SECONDS and share <= BUDGET_SHARE
    lines = [
        "# Benchmark: what the data checks add to a cold `dvc repro`",
        "",
        f"Command: `{info.pop('command')}`",
        "",
        *(f"- {key}: {value}" for key, value in info.items()),
        "",
        f"{len(pairs)} run(s), each a pair of cold `dvc repro` in fresh scratch copies of the work "
        "tree (no outputs, no dvc.lock, an empty DVC cache), in alternating order. Without "
        "checks: no drift and leakage stages, train not waiting for leakage, validate as "
        f"committed at {BEFORE} (the schema check alone; split and featurize read data/ingest). "
        "The schema check is not counted: the pipeline ran it before the checks. "
        "bench/checks.py's docstring has the details.",
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
    lines += [
        "",
        "What the checks add, three ways (seconds; the budget is judged on the largest):",
        "",
        "| estimate | seconds | per run (s) |",
        "|---|--:|---|",
    ]
    per_run = {
        "cold `dvc repro` wall, with - without": [p[WITH].wall - p[WITHOUT].wall for p in pairs],
        "cold `dvc repro` CPU, with - without": [p[WITH].cpu - p[WITHOUT].cpu for p in pairs],
        STAGES: [],
    }
    for name, value in estimates.items():
        each = ", ".join(f"{v:+.2f}" for v in per_run[name]) or f"median of {repeats} each"
        lines.append(f"| {name} | {value:.2f} | {each} |")
    lines += [
        "",
        f"**Budget: at most {BUDGET_SECONDS:g} s and at most {BUDGET_SHARE:.0%} of a cold "
        f"`dvc repro`. Measured: {added:.2f} s, {share:.1%} of the cold `dvc repro` without "
        f"checks ({without_s:.1f} s; {added / with_s:.1%} of the one with them). The budget "
        f"{'holds' if holds else 'does not hold'}.**",
        "",
        f"## Where it goes: each check stage's command as DVC runs it (median of {repeats})",
        "",
        "| command | median wall (s) | median CPU (s) | wall each (s) |",
        "|---|--:|--:|---|",
    ]
    for name, ms in stage_times.items():
        wall = statistics.median(m.wall for m in ms)
        cpu = statistics.median(m.cpu for m in ms)
        each = ", ".join(f"{m.wall:.2f}" for m in ms)
        lines.append(f"| {name} | {wall:.2f} | {cpu:.2f} | {each} |")
    lines += [
        "",
        f"drift + leakage + (validate now - validate before): {estimates[STAGES]:.2f} s "
        f"wall, {added_by_stages(stage_times, 'cpu'):.2f} s CPU. The end-to-end estimates also "
        "hold DVC's share for the extra stages (starting them, hashing data/validate/ and the "
        "reports, copying them into the cache, writing dvc.lock); a difference within the spread "
        "of the runs is noise: the machine's 2 cores were shared with other jobs (load averages "
        "above).",
        "",
        "The runs without checks train on data/ingest, so the wind reading validate sets missing "
        "is still in their weather table: their model bytes differ, their work does not.",
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
        stage_times = stage_commands(tmp / f"with{last}", tmp / f"without{last}", args.repeats)
    info["data"] = (
        "all rows (params.yaml of the work tree)"
        if args.max_rows is None
        else f"earliest {args.max_rows} rows, split at {args.valid_start} / {args.test_start}"
    )
    info["load average (1 min) at end"] = f"{os.getloadavg()[0]:.2f}"
    report = render(pairs, stage_times, info, args.repeats)
    args.output.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
