"""Benchmark `mlrepro lineage --used-by` and `--find` against `mlrepro history` and the DVC way.

For each size (default 100 and 1,000 commits) a git + DVC repo is generated with `git fast-import`,
without running the pipeline (bench/lineage_repos.py, whose docstring says what each commit
changes): this project's dvc.yaml, params.yaml, dvc.lock, snapshot manifests and reports at HEAD,
then commits that change `train.learning_rate`, `evaluate.threshold` (every fourth) or a snapshot
pin (every 50th), on main, three branches, tags and DVC experiments.

Questions, asked of every commit on every ref: `--used-by` the flights snapshot pinned a quarter
of the way along main (replaced later); `--find` the md5 of the model at half-way (several commits
share it); `--find` the content sha256 of that flights snapshot. Side by side and warm (median of
--runs, taken in rounds of one run of each call so that the load of a shared machine falls on
all alike; a call longer than --repeat-below seconds runs once): the library calls in this
process; `mlrepro history` (library and CLI) on the same repo; the CLI as a subprocess (a
`python -c` stand-in while `mlrepro lineage` is not wired); the DVC way, a script over the same
commits that reads each commit's dvc.lock with `dvc.api.read` or with one `dvc.repo.Repo` and its
`brancher`, answers the question and is checked against the library's answer; and `dvc dag` (the
workspace only). On the larger repos the `dvc.api.read` way reads an evenly spaced sample of
--dvc-sample commits and is extrapolated linearly, as the report says. A library call over the
goal at 1,000 commits (or every one, --profile) is profiled with cProfile. Goals (issue 13):
library <= 1 s at 1,000 commits; CLI <= 3x `mlrepro history`; >= 10x faster than the DVC way.
Repos live under bench/out/lineage/ for the run and are deleted at the end. Example:

    .venv/bin/python bench/lineage.py --output bench/LINEAGE_RESULTS.md
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from history import command, run, startup
from lineage_render import LIB_GOAL, library_hits, render
from lineage_repos import ROOT, Base, Plan, Snap, State, make_repo, model_md5, read_base
from pipeline import bench_env

from mlrepro.history.core import metric_history
from mlrepro.lineage.commits import Scope
from mlrepro.lineage.find import Found, find, query
from mlrepro.lineage.usedby import UsedBy, used_by
from mlrepro.revisions import open_repo

OUT = ROOT / "bench" / "out" / "lineage"
QUESTIONS = ("used-by", "find md5", "find sha256")
HISTORY_CODE = (
    "import argparse, sys; from mlrepro.history.cli import add_commands; "
    "p = argparse.ArgumentParser(prog='mlrepro'); add_commands(p.add_subparsers(dest='noun')); "
    "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
)
STAND_IN_CODE = """\
import json, sys
from pathlib import Path
from mlrepro.lineage.commits import Scope
from mlrepro.revisions import open_repo
with open_repo(Path.cwd()) as repo:
    if sys.argv[1] == "--used-by":
        from mlrepro.lineage.usedby import used_by
        result = used_by(repo, sys.argv[2], Scope())
    else:
        from mlrepro.lineage.find import find, query
        result = find(repo, query(sys.argv[2]), Scope())
    print(json.dumps(result.as_dict(), indent=2))
"""


# --- timing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    walls: list[float]  # seconds, one per run
    cpus: list[float]  # user + system seconds of this process and the children it waited for

    @property
    def wall(self) -> float | None:
        return statistics.median(self.walls) if self.walls else None

    @property
    def cpu(self) -> float | None:
        return statistics.median(self.cpus) if self.cpus else None


def cpu_now() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def together(
    calls: dict[Any, Callable[[], Any]], args: argparse.Namespace, *, warm_up: bool = True
) -> dict[Any, Timing]:
    """Each call --runs times, in rounds of one run of each, so that the changing load of this
    shared machine falls on all of them alike; a call slower than --repeat-below runs once."""
    if warm_up:
        for call in calls.values():
            call()
    walls: dict[Any, list[float]] = {key: [] for key in calls}
    cpus: dict[Any, list[float]] = {key: [] for key in calls}
    for _ in range(args.runs):
        for key, call in calls.items():
            if walls[key] and walls[key][0] > args.repeat_below:
                continue
            cpu, start = cpu_now(), time.perf_counter()
            call()
            walls[key].append(time.perf_counter() - start)
            cpus[key].append(cpu_now() - cpu)
    return {key: Timing(walls[key], cpus[key]) for key in calls}


# --- the questions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Questions:
    """What is asked of a repo."""

    snapshot: Snap  # flights, pinned a quarter of the way along main and replaced later
    model: str  # the model's md5 at half-way along main

    def argv(self, question: str) -> list[str]:
        if question == "used-by":
            return ["--used-by", f"flights@{self.snapshot.id}"]
        return ["--find", self.model if question == "find md5" else self.snapshot.sha256]


def questions(base: Base, the_plan: Plan) -> Questions:
    main = [the_plan.steps[mark - 1].state for mark in the_plan.main]
    snap = main[len(main) // 4].pins["flights"]
    if main[-1].pins["flights"] == snap:
        raise SystemExit(f"flights@{snap.id} is never replaced: make more commits")
    return Questions(snap, model_md5(main[len(main) // 2]))


def library(path: Path, question: str, q: Questions) -> UsedBy | Found:
    with open_repo(path) as repo:
        if question == "used-by":
            return used_by(repo, f"flights@{q.snapshot.id}", Scope())
        return find(repo, query(q.argv(question)[1]), Scope())


# --- the DVC way --------------------------------------------------------------------------------

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the parser the library uses, to be fair
Read = Callable[[str], str]  # a file at the commit being looked at


def asker(question: str, q: Questions) -> Callable[[dict[str, Any], Read], bool]:
    """How a user's script answers `question` from one commit's parsed dvc.lock."""
    manifests: dict[tuple[str, str], str | None] = {}  # snapshots are immutable: read each once

    def pins(lock: dict[str, Any]) -> set[tuple[str, str]]:
        return {
            (key.removeprefix("ingest.pins."), str(value))
            for stage in (lock.get("stages") or {}).values()
            for values in (stage.get("params") or {}).values()
            for key, value in _flat(values)
            if key.startswith("ingest.pins.")
        }

    def outs(lock: dict[str, Any]) -> set[str]:
        return {
            str(out.get("md5", "")).removesuffix(".dir")
            for stage in (lock.get("stages") or {}).values()
            for out in stage.get("outs") or []
        }

    def sha256(pin: tuple[str, str], read: Read) -> str | None:
        if pin not in manifests:
            try:
                text = read(f"data/snapshots/{pin[0]}/{pin[1]}.json")
                manifests[pin] = json.loads(text).get("content_sha256")
            except FileNotFoundError:
                manifests[pin] = None
        return manifests[pin]

    def ask(lock: dict[str, Any], read: Read) -> bool:
        if question == "used-by":
            return ("flights", q.snapshot.id) in pins(lock)
        if question == "find md5":
            return q.model in outs(lock)
        return any(sha256(pin, read) == q.snapshot.sha256 for pin in pins(lock))

    return ask


def _flat(values: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(values, dict):
        for key, value in values.items():
            yield from _flat(value, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), values


def every_commit(path: Path) -> list[str]:
    """The commits lineage looks at: every branch and tag, and every experiment."""
    exps = run(["git", "for-each-ref", "--format=%(objectname)", "refs/exps"], path).split()
    listed = run(["git", "rev-list", "--branches", "--remotes", "--tags", *exps], path)
    return listed.split()


def dvc_api(path: Path, shas: list[str], ask: Callable[..., bool]) -> list[str]:
    """`dvc.api.read(..., rev=sha)` for each commit (a DVC repo opened per call)."""
    import dvc.api

    hits = []
    for sha in shas:

        def read(name: str, sha: str = sha) -> str:
            return str(dvc.api.read(name, repo=str(path), rev=sha))

        if ask(yaml.load(read("dvc.lock"), Loader=Loader) or {}, read):
            hits.append(sha)
    return hits


def dvc_brancher(path: Path, shas: list[str], ask: Callable[..., bool]) -> list[str]:
    """One `dvc.repo.Repo`; its `brancher` switches `repo.fs` to each commit in turn."""
    from dvc.repo import Repo

    hits = []
    with Repo(str(path)) as repo:

        def read(name: str) -> str:
            return str(repo.fs.read_text(repo.fs.join(repo.root_dir, name)))

        for sha in repo.brancher(revs=shas, workspace=False, sha_only=True):
            if ask(yaml.load(read("dvc.lock"), Loader=Loader) or {}, read):
                hits.append(sha)
    return hits


DVC_WAYS = (  # label, script, whether it reads a sample on the larger repos (it is slow)
    ('`dvc.api.read("dvc.lock", rev=sha)` per commit', dvc_api, True),
    ("one `dvc.repo.Repo`, `repo.brancher(revs=...)`, `repo.fs.read_text`", dvc_brancher, False),
)


@dataclass(frozen=True)
class DvcRun:
    way: str
    question: str
    timing: Timing
    read: int  # commits read
    total: int  # commits in scope
    checked: str

    @property
    def estimate(self) -> float | None:
        """The wall for every commit in scope: measured, or extrapolated linearly."""
        wall = self.timing.wall
        return None if wall is None else wall * self.total / self.read


def dvc_runs(
    path: Path, q: Questions, lib: dict[str, set[str]], args: argparse.Namespace
) -> list[DvcRun]:
    shas = every_commit(path)
    step = max(1, len(shas) // args.dvc_sample) if args.dvc_sample else 1
    got: dict[tuple[str, str], tuple[list[str], list[str]]] = {}  # commits read, hits
    calls = {}
    for way, scan, sampled in DVC_WAYS:
        read = shas[::step] if sampled else shas
        scan(path, read[:3], asker("used-by", q))  # imports DVC, warms its caches
        for question in QUESTIONS:

            def call(
                scan: Callable[..., list[str]] = scan,
                read: list[str] = read,
                key: tuple[str, str] = (way, question),
            ) -> None:
                got[key] = (read, scan(path, read, asker(key[1], q)))

            calls[(way, question)] = call
    found = []
    for (way, question), timing in together(calls, args, warm_up=False).items():
        read, hits = got[(way, question)]
        expected = lib[question] & set(read)
        if set(hits) != expected:
            raise SystemExit(f"{way}, {question}: {len(hits)} commits, library {len(expected)}")
        checked = f"{len(hits)} of {len(read)} commits, as the library"
        found.append(DvcRun(way, question, timing, len(read), len(shas), checked))
    return found


# --- one size -----------------------------------------------------------------------------------


def cli_wired() -> bool:
    probe = subprocess.run(["mlrepro", "lineage", "--help"], env=bench_env(), capture_output=True)
    return probe.returncode == 0 and b"--used-by" in probe.stdout


def cli_argv(question: str, q: Questions, wired: bool) -> list[str]:
    if wired:
        return ["mlrepro", "lineage", *q.argv(question), "--format", "json"]
    return [sys.executable, "-c", STAND_IN_CODE, *q.argv(question)]


Profiled = tuple[str, int, float, float]  # function, calls, own seconds, cumulative seconds


def profile(call: Callable[[], Any], top: int) -> tuple[float, list[Profiled], list[Profiled]]:
    """One call under cProfile: its wall, the `top` functions by own time, and the `top` of
    mlrepro's by cumulative time."""
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.runcall(call)
    wall = time.perf_counter() - start
    stats: Any = pstats.Stats(profiler, stream=io.StringIO())
    rows = []
    for (file, line, name), (_, calls, own, cumulative, _) in stats.stats.items():
        where = (
            name
            if file == "~"
            else f"{file.split('site-packages/')[-1].split('/src/')[-1]}:{line}({name})"
        )
        rows.append((where, calls, own, cumulative))
    ours = [r for r in rows if r[0].startswith("mlrepro/")]
    return (
        wall,
        sorted(rows, key=lambda r: -r[2])[:top],
        sorted(ours, key=lambda r: -r[3])[:top],
    )


def one_size(
    commits: int, tmp: Path, base: Base, start: State, args: argparse.Namespace
) -> dict[str, Any]:
    repo = tmp / f"repo{commits}"
    build = time.perf_counter()
    the_plan = make_repo(repo, commits, base, start)
    build = time.perf_counter() - build
    q = questions(base, the_plan)
    results = {question: library(repo, question, q) for question in QUESTIONS}  # warms up too
    history = metric_history(repo, "HEAD", limit=None)
    in_process: dict[str, Callable[[], Any]] = {
        question: lambda question=question: library(repo, question, q) for question in QUESTIONS
    }
    in_process["history"] = lambda: metric_history(repo, "HEAD", limit=None)
    lib = together(in_process, args, warm_up=False)
    history_lib = lib.pop("history")
    logs = tmp / f"logs{commits}"
    logs.mkdir()
    wired = cli_wired()
    history_argv = ["history", "-n", "all", "--format", "json"]
    harness_argv = [sys.executable, "-c", HISTORY_CODE, *history_argv]
    subprocesses = {
        "history": command(["mlrepro", *history_argv], repo, logs / "history"),
        "harness": command(harness_argv, repo, logs / "harness"),
    }
    labels = {}
    for question in QUESTIONS:
        argv = cli_argv(question, q, wired)
        subprocesses[question] = command(argv, repo, logs / question.replace(" ", "-"))
        labels[question] = (
            " ".join(argv) if wired else f"`python -c` stand-in, {' '.join(q.argv(question))}"
        )
    cli = together(subprocesses, args)
    history_cli, harness = cli.pop("history"), cli.pop("harness")
    dvc = dvc_runs(repo, q, {k: library_hits(v) for k, v in results.items()}, args)
    dag = together({"dag": command(["dvc", "dag"], repo, logs / "dag")}, args)["dag"]
    profiles = {
        question: profile(lambda question=question: library(repo, question, q), args.top)
        for question, t in lib.items()
        if args.profile or (commits >= 1000 and (t.wall or 0.0) > LIB_GOAL)
    }
    return {
        "commits": commits,
        "build": build,
        "plan": the_plan,
        "questions": q,
        "results": results,
        "history": len(history.points),
        "lib": lib,
        "history_lib": history_lib,
        "cli": {question: (labels[question], t) for question, t in cli.items()},
        "history_cli": history_cli,
        "harness": harness,
        "wired": wired,
        "dvc": dvc,
        "dag": dag,
        "profiles": profiles,
    }


def machine() -> dict[str, str]:
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )

    def version(*argv: str) -> str:
        return subprocess.run(argv, env=bench_env(), capture_output=True, text=True).stdout.strip()

    changed = (
        " (work tree has changes)" if version("git", "-C", str(ROOT), "status", "--short") else ""
    )
    return {
        "date (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "commit": version("git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD") + changed,
        "CPUs (nproc)": str(os.cpu_count()),
        "RAM": f"{mem_kib / 1024**2:.1f} GiB",
        "file system of the temp dir (`stat -f -c %T`)": version(
            "stat", "-f", "-c", "%T", str(OUT)
        ),
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "git": version("git", "--version"),
        "DVC": version("dvc", "--version"),
        "PyYAML": f"{yaml.__version__}, libyaml: {'yes' if hasattr(yaml, 'CSafeLoader') else 'no'}",
        "load average (1, 5, 15 min) at start": load(),
        "`mlrepro --version` (full CLI start-up, s)": f"{startup('mlrepro', '--version'):.2f}",
        "`python -c pass` (start-up of Python, s)": f"{startup(sys.executable, '-c', 'pass'):.3f}",
    }


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--runs", type=int, default=5, help="default: %(default)s")
    parser.add_argument("--repeat-below", type=float, default=30.0, help="seconds")
    parser.add_argument(
        "--dvc-sample",
        type=int,
        default=100,
        help="commits the DVC way reads, 0: all (default: %(default)s)",
    )
    parser.add_argument("--profile", action="store_true", help="profile every library call")
    parser.add_argument("--top", type=int, default=15, help="functions per profile")
    parser.add_argument("--output", type=Path, help="write the Markdown report here too")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    info = machine()
    base, start = read_base()
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        results = []
        for commits in args.commits:
            results.append(one_size(commits, Path(tmp), base, start, args))
            print(f"{commits} commits done", file=sys.stderr)
    info["load average (1, 5, 15 min) at end"] = load()
    report = render(results, info, args)
    print(report)
    if args.output:
        args.output.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
