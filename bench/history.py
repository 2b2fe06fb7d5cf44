"""Benchmark `mlrepro history -n all` against `dvc metrics show -A`, `dvc exp show -A`, the floor.

For each size (default 100 and 1,000 commits) a git + DVC repo is generated with `git fast-import`:
a dvc.yaml whose evaluate stage declares `evaluate/metrics.json` (cache: false, the path from
`vars:`) and commits that each change params.yaml and the metrics file (26 numbers, like this
project's). Then, side by side and warm (median of --runs; a command that takes longer than
--repeat-below seconds runs once): the library call `metric_history(repo, limit=None)` in this
process; the CLI as a subprocess; `dvc metrics show -A --json`; `dvc exp show -A --json` (killed
after --timeout); and the floor, one `git cat-file --batch` fed the same `<commit>:<path>` names.
Goals: history at least 10x faster than `dvc metrics show -A` and at most 5x the floor. The values
history reads are checked against dvc's. Repos live under bench/out/history/ and are deleted at the
end. Example:

    .venv/bin/python bench/history.py --output bench/HISTORY_RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline import COMMAND, bench_env

from mlrepro.history.core import flatten, metric_history

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out" / "history"
METRICS = "evaluate/metrics.json"
DVC_YAML = f"""\
vars:
  - paths:
      metrics: {METRICS}
stages:
  evaluate:
    cmd: python evaluate.py
    params:
      - train
    metrics:
      - ${{paths.metrics}}:
          cache: false
"""
START = 1_700_000_000
MLREPRO_GOAL, FLOOR_GOAL = 10.0, 5.0
LIB, CLI, HARNESS = "mlrepro history (library, in-process)", "mlrepro history (CLI)", "harness"
DVC_METRICS, DVC_EXP = "dvc metrics show -A --json", "dvc exp show -A --json"
FLOOR = "git cat-file --batch (floor)"
HARNESS_CODE = (
    "import argparse, sys; from mlrepro.history.cli import add_commands; "
    "p = argparse.ArgumentParser(prog='mlrepro'); add_commands(p.add_subparsers(dest='noun')); "
    "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
)


@dataclass(frozen=True)
class Timing:
    walls: list[float]  # seconds, one per run; empty when it timed out
    timed_out: float | None = None  # the timeout hit, seconds

    @property
    def wall(self) -> float | None:
        return statistics.median(self.walls) if self.walls else None


def metrics(i: int) -> dict[str, Any]:
    def part(base: float, rows: int) -> dict[str, Any]:
        names = ("accuracy", "average_precision", "brier", "ece", "log_loss", "positive_rate")
        values = {n: round(base + k / 10 + (i % 97) / 1e4, 6) for k, n in enumerate(names)}
        confusion = {"fn": rows // 4 + i, "fp": rows // 50, "tn": rows // 2, "tp": rows // 5 - i}
        scores = {"precision": round(base + 0.2, 6), "recall": round(base - 0.5, 6)}
        return {**values, "confusion": confusion, **scores, "roc_auc": round(base + i / 1e5, 6)}

    return {"test": {**part(0.6, 54065), "rows": 54065}, "valid": {**part(0.55, 28635)}}


def make_repo(path: Path, commits: int) -> list[str]:
    """A git + DVC repo of `commits` commits, each changing params.yaml and the metrics file;
    returns the commit hashes, newest first."""
    path.mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], path)
    run(["dvc", "init", "-q"], path)
    dvc_files = {
        p: (path / p).read_bytes() for p in (".dvc/config", ".dvc/.gitignore", ".dvcignore")
    }
    stream = bytearray()
    for i in range(commits):
        files = dict(dvc_files, **{"dvc.yaml": DVC_YAML.encode()}) if i == 0 else {}
        files["params.yaml"] = f"train:\n  learning_rate: {0.001 * (i + 1):.3f}\n".encode()
        files[METRICS] = (json.dumps(metrics(i), indent=2, sort_keys=True) + "\n").encode()
        stream += commit_command(i, files)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=bytes(stream), check=True)
    run(["git", "reset", "-q", "--hard", "main"], path)
    return run(["git", "rev-list", "main"], path).split()


def commit_command(i: int, files: dict[str, bytes]) -> bytes:
    message = f"train {i}: learning rate {0.001 * (i + 1):.3f}".encode()
    out = b"commit refs/heads/main\n"
    out += f"committer Bench <bench@mlrepro.invalid> {START + 60 * i} +0000\n".encode()
    out += b"data %d\n%s\n" % (len(message), message)
    for name, data in files.items():
        out += b"M 100644 inline %s\ndata %d\n%s\n" % (name.encode(), len(data), data)
    return out


def run(argv: list[str], cwd: Path) -> str:
    result = subprocess.run(argv, cwd=cwd, env=bench_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {cwd}: {result.stderr.strip()}")
    return result.stdout


def timed(
    call: Callable[[], Any], *, runs: int, repeat_below: float, warm_up: bool = False
) -> Timing:
    if warm_up:
        call()
    walls: list[float] = []
    while len(walls) < runs:
        start = time.perf_counter()
        call()
        walls.append(time.perf_counter() - start)
        if walls[-1] > repeat_below:
            break
    return Timing(walls)


def command(
    argv: list[str], cwd: Path, log: Path, *, stdin: Path | None = None
) -> Callable[[], Any]:
    def call() -> None:
        with log.open("wb") as out, (stdin or Path(os.devnull)).open("rb") as inp:
            result = subprocess.run(
                argv, cwd=cwd, env=bench_env(), stdin=inp, stdout=out, stderr=subprocess.PIPE
            )
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {result.stderr.decode()[-500:]}")

    return call


def with_timeout(argv: list[str], cwd: Path, log: Path, args: argparse.Namespace) -> Timing:
    walls: list[float] = []
    for _ in range(args.runs):
        with log.open("wb") as out:
            start = time.perf_counter()
            try:
                subprocess.run(argv, cwd=cwd, env=bench_env(), stdout=out, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                return Timing(walls, timed_out=args.timeout)
            walls.append(time.perf_counter() - start)
        if walls[-1] > args.repeat_below:  # slow enough that one run is a fair measurement
            break
    return Timing(walls)


def cli_wired() -> bool:
    probe = subprocess.run(["mlrepro", "history", "--help"], env=bench_env(), capture_output=True)
    return probe.returncode == 0


def check_values(repo: Path, dvc_log: Path) -> str:
    """Compare every numeric value history reads with `dvc metrics show -A --json`'s."""
    ours = {p.commit.sha: p.values for p in metric_history(repo, limit=None).points}
    theirs = {
        sha: dict(flatten(entry["data"][METRICS]["data"]))
        for sha, entry in json.loads(dvc_log.read_text()).items()
        if sha != "workspace"
    }
    if ours != theirs:
        raise SystemExit(f"history and dvc metrics show disagree in {repo}")
    return f"{len(ours)} commits x {len(next(iter(ours.values())))} metrics equal"


def one_size(commits: int, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    repo = tmp / f"repo{commits}"
    build = time.perf_counter()
    shas = make_repo(repo, commits)
    build = time.perf_counter() - build
    names = tmp / f"names{commits}.txt"
    names.write_text("".join(f"{sha}:{METRICS}\n" for sha in shas))
    logs = tmp / f"logs{commits}"
    logs.mkdir()
    r = {"runs": args.runs, "repeat_below": args.repeat_below}
    history_argv = ["history", "-n", "all", "--format", "json"]
    cli_argv = ["mlrepro", *history_argv] if cli_wired() else None
    harness_argv = [sys.executable, "-c", HARNESS_CODE, *history_argv]
    times: dict[str, Timing] = {
        FLOOR: timed(
            command(["git", "cat-file", "--batch"], repo, logs / "floor", stdin=names),
            warm_up=True,
            **r,
        ),
        "git log --first-parent (part of history)": timed(
            command(
                ["git", "log", "--first-parent", "--format=%H%x00%ct%x00%s"], repo, logs / "log"
            ),
            warm_up=True,
            **r,
        ),
        LIB: timed(lambda: metric_history(repo, limit=None), warm_up=True, **r),
        f"{CLI}: `python -c` {HARNESS} with only the history noun": timed(
            command(harness_argv, repo, logs / "harness"), warm_up=True, **r
        ),
    }
    if cli_argv:
        times[f"{CLI}: `mlrepro history`"] = timed(command(cli_argv, repo, logs / "cli"), **r)
    dvc_metrics = ["dvc", "metrics", "show", "-A", "--json"]
    times[DVC_METRICS] = with_timeout(dvc_metrics, repo, logs / "dvc-metrics", args)
    exp = with_timeout(["dvc", "exp", "show", "-A", "--json"], repo, logs / "dvc-exp", args)
    times[f"{DVC_EXP}, first run"] = Timing(exp.walls[:1], exp.timed_out)
    if len(exp.walls) > 1:
        times[f"{DVC_EXP}, later runs (DVC caches per-commit results in .dvc/tmp/exps/cache)"] = (
            Timing(exp.walls[1:])
        )
    checked = check_values(repo, logs / "dvc-metrics") if times[DVC_METRICS].walls else "not run"
    blob_bytes = len(shas) * len((repo / METRICS).read_bytes())
    return {
        "commits": commits,
        "build": build,
        "times": times,
        "checked": checked,
        "bytes": blob_bytes,
        "wired": cli_argv is not None,
    }


def machine() -> dict[str, str]:
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )

    def version(*argv: str) -> str:
        return subprocess.run(argv, env=bench_env(), capture_output=True, text=True).stdout.strip()

    return {
        "date (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "commit": version("git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD")
        + (
            " (work tree has changes)"
            if version("git", "-C", str(ROOT), "status", "--short")
            else ""
        ),
        "CPUs (nproc)": str(os.cpu_count()),
        "RAM": f"{mem_kib / 1024**2:.1f} GiB",
        "file system of the temp dir (`stat -f -c %T`)": version(
            "stat", "-f", "-c", "%T", str(OUT)
        ),
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "git": version("git", "--version"),
        "DVC": version("dvc", "--version"),
        "load average (1 min) at start": f"{os.getloadavg()[0]:.2f}",
        "`mlrepro --version` (full CLI start-up, s)": f"{startup('mlrepro', '--version'):.2f}",
        "`python -c pass` (start-up of Python, s)": f"{startup(sys.executable, '-c', 'pass'):.3f}",
    }


def startup(*argv: str) -> float:
    return min(timed(command(list(argv), ROOT, Path(os.devnull)), runs=3, repeat_below=60).walls)


def cell(t: Timing) -> str:
    return f"> {t.timed_out:.0f} (timeout)" if t.wall is None else f"{t.wall:.3f}"


def ratio(a: Timing, b: Timing) -> str:
    if a.wall is None:
        return f"> {a.timed_out / b.wall:,.1f}" if b.wall and a.timed_out else "—"
    return f"{a.wall / b.wall:,.1f}" if b.wall else "—"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def render_size(result: dict[str, Any]) -> list[str]:
    times: dict[str, Timing] = result["times"]
    floor, dvc = times[FLOOR], times[DVC_METRICS]
    lines = [
        f"## {result['commits']:,} commits",
        "",
        f"Repo built with `git fast-import` in {result['build']:.1f} s; the metrics blobs total "
        f"{result['bytes']:,} bytes. Values checked against `dvc metrics show -A`: "
        f"{result['checked']}.",
        "",
        "| way | wall (s, median) | runs | dvc metrics show / this | this / floor |",
        "|---|--:|--:|--:|--:|",
    ]
    for label, t in times.items():
        runs = ", ".join(f"{w:.3f}" for w in t.walls) or "—"
        lines.append(f"| {label} | {cell(t)} | {runs} | {ratio(dvc, t)} | {ratio(t, floor)} |")
    lines.append("")
    for label, t in times.items():
        if label.startswith(CLI) or label == LIB:
            fast = dvc.wall is None or (t.wall is not None and dvc.wall / t.wall >= MLREPRO_GOAL)
            near = (
                t.wall is not None and floor.wall is not None and t.wall / floor.wall <= FLOOR_GOAL
            )
            lines.append(
                f"- {label}: {ratio(dvc, t)}x faster than dvc metrics show -A, goal >= "
                f"{MLREPRO_GOAL:.0f}x: {verdict(fast)}; {ratio(t, floor)}x the floor, goal <= "
                f"{FLOOR_GOAL:.0f}x: {verdict(near)}"
            )
    if not result["wired"]:
        lines.append(
            "- `mlrepro history` was not wired into `mlrepro` when this ran; the CLI row is a "
            "`python -c` harness that registers only this noun (the same code path as cli.main)."
        )
    return [*lines, ""]


def render(results: list[dict[str, Any]], info: dict[str, str], args: argparse.Namespace) -> str:
    return "\n".join(
        [
            "# Benchmark: `mlrepro history` against `dvc metrics show -A`, `dvc exp show -A` and "
            "`git cat-file --batch`",
            "",
            f"Command: `{COMMAND}`",
            "",
            *(f"- {key}: {value}" for key, value in info.items()),
            "",
            f"Warm page cache. Each command runs --runs={args.runs} times, or once when a run "
            f"takes over {args.repeat_below:.0f} s; the fast ones run once untimed first. DVC's "
            f"are killed after {args.timeout:.0f} s. The floor reads exactly the "
            "blobs history reads (`<commit>:evaluate/metrics.json` for every commit) with one "
            "`git cat-file --batch`, names fed from a file. history also runs `git log` (its own "
            "row) and reads dvc.yaml at the tip.",
            "",
            *(line for r in results for line in render_size(r)),
        ]
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--runs", type=int, default=5, help="default: %(default)s")
    parser.add_argument("--repeat-below", type=float, default=30.0, help="seconds")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds, for dvc's commands")
    parser.add_argument("--output", type=Path, help="write the Markdown report here too")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    info = machine()
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        results = []
        for commits in args.commits:
            results.append(one_size(commits, Path(tmp), args))
            print(f"{commits} commits done", file=sys.stderr)
    report = render(results, info, args)
    print(report)
    if args.output:
        args.output.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
