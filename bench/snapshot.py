"""Benchmark `mlrepro snapshot take` against `cp -r` + `dvc add` and one `sha256sum` pass.

Two data sets, generated once: one large file of random bytes and a directory of small CSV files.
For each, three ways run side by side, each in its own new git + DVC repo (the data hard-linked
into its `raw/`, so the source costs no space): `mlrepro snapshot take`, the manual way
(`cp -r raw/X data/X && dvc add data/X`) and the floor (`sha256sum` over the same bytes). Goals:
take at most 1.2x the manual way and 2x the floor; snapshot + DVC cache at most 1.05x the data.

The page cache is dropped before each measured command when this runs as root. Then take's steps
are timed one by one in-process, as the code is now and with the changes the report suggests.
Repos and data live under bench/out/ (the repo's file system) and are deleted at the end; at most
the data, one repo and its DVC cache exist at a time (about 3x --size-mib). Example:

    .venv/bin/python bench/snapshot.py --runs 3 --output bench/SNAPSHOT_RESULTS.md
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import random
import shlex
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pandas as pd
import yaml
from pipeline import COMMAND, Measurement, bench_env, measure

from mlrepro.core.params import load_params
from mlrepro.snapshot import store, take
from mlrepro.snapshot.take import describe_table

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LOGS = BENCH / "out" / "snapshot"
MANUAL_GOAL, FLOOR_GOAL, DISK_GOAL = 1.2, 2.0, 1.05
FLOOR, MANUAL, TAKE = "sha256sum (floor)", "cp -r + dvc add (manual)", "mlrepro snapshot take"
COPY, DESCRIBE, SYNC = "copy + sha256 + md5 (hash_copy)", "rows and dtypes (pandas)", "os.sync()"
COMMIT, DVC_ADD, SHARE = "manifest, read-only, rename (commit)", "dvc add", "share_with_cache"
TRACK, OTHER, TOTAL = "track (.dvc file, cache links)", "the rest of take()", "take()"
FSYNC = "os.fsync, all calls (counted in the steps above)"
STEPS = {  # the functions take._take calls, timed where the code has them
    COPY: (store, "hash_copy"),
    DESCRIBE: (take, "describe_table"),
    COMMIT: (store, "commit"),
    DVC_ADD: (store, "dvc_add"),  # before the take recorded its folder for DVC itself
    SHARE: (store, "share_with_cache"),
    TRACK: (store, "track"),
}
TAKE_PHASES = (COPY, DESCRIBE, SYNC, COMMIT, DVC_ADD, SHARE, TRACK, OTHER, FSYNC)
START = "python -c 'import mlrepro.cli, mlrepro.snapshot.take'"  # the take command's imports
META = (".json", ".dir", ".dvc", ".gitignore", ".lock")  # manifests, DVC listings, .dvc files
MIB = 1024**2


@dataclass(frozen=True)
class DataSet:
    source: str  # its name in params.yaml ingest.sources and under raw/
    path: str  # relative to a repo (and to the data folder)
    title: str
    files: int


@dataclass(frozen=True)
class Result:
    run: Measurement
    sync: float  # seconds of a `sync` right after: what the command left unwritten
    apparent: int  # bytes of the files afterwards, each inode once
    allocated: int  # bytes of blocks allocated, files and folders, each inode once
    metadata: int  # bytes of the files that are not data (META), included in `apparent`


def drop_caches() -> bool:
    """Write dirty pages, then drop the page cache; False when not allowed (not root)."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def footprint(*paths: Path) -> tuple[int, int, int]:
    """Apparent bytes of the files, allocated bytes and bytes of metadata files (META) under
    `paths`; a hard link counts once."""
    seen: dict[tuple[int, int], os.stat_result] = {}
    metadata: set[tuple[int, int]] = set()
    for top in paths:
        for path in [top, *top.rglob("*")] if top.exists() else []:
            st = path.lstat()
            seen[(st.st_dev, st.st_ino)] = st
            if path.name.endswith(META):
                metadata.add((st.st_dev, st.st_ino))
    files = {key: st for key, st in seen.items() if stat.S_ISREG(st.st_mode)}
    apparent = sum(st.st_size for st in files.values())
    allocated = sum(st.st_blocks * 512 for st in seen.values())
    return apparent, allocated, sum(st.st_size for key, st in files.items() if key in metadata)


def make_data(folder: Path, size_mib: int, files: int) -> list[DataSet]:
    """A file of `size_mib` random MiB and a folder of `files` CSV files of 1-4 KiB (seeded)."""
    raw = folder / "raw"
    (raw / "many").mkdir(parents=True)
    with open(raw / "big.bin", "wb") as out:
        for _ in range(size_mib):
            out.write(os.urandom(MIB))
    rng = random.Random(20130101)
    for i in range(files):
        lines, size, target = ["id,time,value,category"], 0, rng.randint(1024, 4096)
        while size < target:
            day, hour = rng.randint(1, 31), rng.randint(0, 23)
            line = f"{rng.randint(1, 10**6)},2013-01-{day:02d}T{hour:02d}:00:00Z,"
            line += f"{rng.random():.6f},{rng.choice('ABCDE')}"
            lines.append(line)
            size += len(line) + 1
        (raw / "many" / f"part-{i:05d}.csv").write_text("\n".join(lines) + "\n")
    os.sync()
    return [
        DataSet("big", "raw/big.bin", f"one file of {size_mib} MiB (random bytes)", 1),
        DataSet("many", "raw/many", f"a directory of {files} CSV files of 1-4 KiB", files),
    ]


def run(*argv: str, cwd: Path) -> None:
    subprocess.run(argv, cwd=cwd, env=bench_env(), check=True, capture_output=True)


def new_repo(repo: Path, data: Path, datasets: list[DataSet], main: DataSet) -> Path:
    """git init + dvc init, this repo's DVC config, params.yaml declaring the bench sources, and
    `main`'s data hard-linked into raw/ (no bytes)."""
    repo.mkdir()
    run("git", "init", "--quiet", cwd=repo)
    run("dvc", "init", "--quiet", cwd=repo)
    shutil.copyfile(ROOT / ".dvc" / "config", repo / ".dvc" / "config")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["ingest"].update(
        sources={d.source: {"path": d.path} for d in datasets}, main=main.source, pins=None
    )
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    source, target = data / main.path, repo / main.path
    target.parent.mkdir(parents=True)
    if source.is_dir():
        shutil.copytree(source, target, copy_function=os.link)
    else:
        os.link(source, target)
    (repo / "data").mkdir()
    run("git", "add", "params.yaml", ".dvc", cwd=repo)
    git_id = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    run("git", *git_id, "commit", "--quiet", "-m", "bench repo", cwd=repo)
    return repo


def measured(argv: list[str], cwd: Path, log: Path, cold: bool) -> tuple[Measurement, float]:
    """The command (after dropping caches if `cold`), then the seconds of a `sync` after it."""
    if cold:
        drop_caches()
    result = measure(argv, cwd, log)
    return result, measure(["sync"], cwd, log.with_suffix(".sync.log")).wall


def one_way(way: str, ds: DataSet, tmp: Path, datasets: list[DataSet], cold: bool) -> Result:
    """One measured command in a new repo (the floor reads the data folder); then its footprint."""
    log = LOGS / f"{ds.source}-{way.split()[0]}.log"
    target = Path("data") / Path(ds.path).name
    if way == FLOOR:
        script = f"find {ds.path} -type f -print0 | sort -z | xargs -0 sha256sum"
        result, sync = measured(["sh", "-c", script], tmp / "data", log, cold)
        return Result(result, sync, 0, 0, 0)
    repo = new_repo(tmp / "repo", tmp / "data", datasets, ds)
    try:
        if way == MANUAL:
            script = f"cp -r {ds.path} {target} && dvc add --quiet {target}"
            result, sync = measured(["sh", "-c", script], repo, log, cold)
            disk = footprint(repo / target, repo / ".dvc" / "cache")
        else:
            result, sync = measured(["mlrepro", "snapshot", "take", ds.source], repo, log, cold)
            disk = footprint(repo / store.SNAPSHOTS, repo / ".dvc" / "cache")
    finally:
        shutil.rmtree(repo)
    return Result(result, sync, *disk)


class Phases:
    """Seconds per named phase, summed over calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def describe_small(path: Path) -> tuple[int | None, dict[str, str] | None]:
    """describe_table, but one read when the sample is the whole file (suggested)."""
    if not path.name.lower().endswith(take.TABLE_SUFFIXES):
        return None, None
    sample = pd.read_csv(path, sep=take.separator(path), nrows=take.SAMPLE_ROWS)
    if len(sample) == take.SAMPLE_ROWS:
        return describe_table(path)
    return len(sample), {str(c): str(t) for c, t in sample.dtypes.items()}


def take_phases(repo: Path, name: str, suggested: bool) -> dict[str, float]:
    """The real take.take(), with each step it calls (STEPS, where the code has it) and every
    os.fsync timed; with `suggested`, steps replaced by the changes the report proposes."""
    source = load_params(repo / "params.yaml").ingest.source(name)
    phases, real_fsync = Phases(), os.fsync
    replace: dict[str, Callable[..., Any]] = {DESCRIBE: describe_small}

    def timed(step: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            with phases(step):
                return function(*args, **kwargs)

        return run

    def synced_commit(*args: Any, **kwargs: Any) -> Any:
        timed(SYNC, os.sync)()
        return commit(*args, **kwargs)

    with ExitStack() as stack:
        stack.enter_context(mock.patch("os.fsync", timed(FSYNC, real_fsync)))
        for step, (module, attr) in STEPS.items():
            if hasattr(module, attr):
                function = replace.get(step, getattr(module, attr)) if suggested else None
                function = timed(step, function or getattr(module, attr))
                stack.enter_context(mock.patch.object(module, attr, function))
        if suggested:
            commit = store.commit  # the timed original
            stack.enter_context(mock.patch.object(store, "commit", synced_commit))
        with phases(TOTAL):
            take.take(source, repo)
    seconds = phases.seconds
    seconds[OTHER] = seconds.pop(TOTAL) - sum(v for k, v in seconds.items() if k != FSYNC)
    return {step: seconds[step] for step in TAKE_PHASES if step in seconds}


@dataclass(frozen=True)
class Breakdown:
    now: dict[str, float]  # take's steps, in-process
    suggested: dict[str, float]  # the same with the suggested changes
    other: dict[str, float]  # the manual way's two commands; start-up times


def breakdown(ds: DataSet, tmp: Path, datasets: list[DataSet], cold: bool) -> Breakdown:
    """Where the time goes, each in a new repo, page cache as for the commands: take's steps now
    and with the suggested changes, the manual way's two commands, start-up times."""

    def in_repo(work: Callable[[Path], dict[str, float]]) -> dict[str, float]:
        repo = new_repo(tmp / "repo", tmp / "data", datasets, ds)
        try:
            if cold:
                drop_caches()
            return work(repo)
        finally:
            shutil.rmtree(repo)

    def manual(repo: Path) -> dict[str, float]:
        target = Path("data") / Path(ds.path).name
        steps = (["cp", "-r", ds.path, str(target)], ["dvc", "add", str(target)])
        log = LOGS / f"{ds.source}-steps.log"
        return {shlex.join(step): measure(step, repo, log).wall for step in steps}

    now = in_repo(lambda repo: take_phases(repo, ds.source, suggested=False))
    suggested = in_repo(lambda repo: take_phases(repo, ds.source, suggested=True))
    other = in_repo(manual)
    for argv in (shlex.split(START), ["dvc", "add", "--help"]):
        other[shlex.join(argv)] = measured(argv, tmp, LOGS / "start.log", cold)[0].wall
    return Breakdown(now, suggested, other)


def median(runs: list[dict[str, Result]], way: str) -> Result:
    results = [r[way] for r in runs]
    run = [statistics.median(getattr(r.run, f) for r in results) for f in ("wall", "cpu", "rss")]
    sync = statistics.median(r.sync for r in results)
    apparent = statistics.median(r.apparent for r in results)
    allocated = statistics.median(r.allocated for r in results)
    metadata = statistics.median(r.metadata for r in results)
    return Result(Measurement(*run), sync, int(apparent), int(allocated), int(metadata))


def machine(tmp: Path, cold: bool) -> dict[str, str]:
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    fs = subprocess.run(["stat", "-f", "-c", "%T", str(tmp)], capture_output=True, text=True)
    dvc = subprocess.run(["dvc", "--version"], env=bench_env(), capture_output=True, text=True)
    cache = "cold: `sync` and `echo 3 > /proc/sys/vm/drop_caches` before each measured command"
    return {
        "date (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "commit (this checkout)": git("rev-parse", "--short=12", "HEAD"),
        "code under test": code_under_test(),
        "CPUs (nproc)": str(os.cpu_count()),
        "RAM": f"{mem_kib / MIB:.1f} GiB",
        "file system of the temp dir (`stat -f -c %T`)": f"{fs.stdout.strip()} ({mount(tmp)})",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "DVC": f"{dvc.stdout.strip()} (cache.type default: reflink,copy)",
        "page cache": cache if cold else "warm: not allowed to drop it (not root)",
        "hashing in Python (hashlib, in memory), MiB/s": hash_speeds(),
        "load average (1 min) at start": f"{os.getloadavg()[0]:.2f}",
    }


def git(*argv: str) -> str:
    return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def code_under_test() -> str:
    """Where mlrepro is imported from: this checkout's src/ (clean or not) or elsewhere."""
    src = Path(take.__file__).resolve().parents[2]
    if src != (ROOT / "src").resolve():
        return f"`{src}` (PYTHONPATH)"
    changed = git("status", "--porcelain", "src")
    return "this checkout's `src/`" + (", with uncommitted changes" if changed else ", clean")


def mount(path: Path) -> str:
    """The type and options of the mount that holds `path`, from /proc/self/mounts."""
    mounts = [line.split() for line in Path("/proc/self/mounts").read_text().splitlines()]
    holding = [m for m in mounts if path.resolve().is_relative_to(m[1])]
    point = max(holding, key=lambda m: len(m[1]))
    return f"mounted as {point[2]}, {point[3]}"


def hash_speeds() -> str:
    block = os.urandom(256 * MIB)
    speeds = []
    for name in ("sha256", "md5"):
        start = time.perf_counter()
        hashlib.new(name, block)
        speeds.append(f"{name} {256 / (time.perf_counter() - start):.0f}")
    return ", ".join(speeds)


@dataclass(frozen=True)
class Outcome:
    ds: DataSet
    rounds: list[dict[str, Result]]  # the warm-up round first
    data: tuple[int, int, int]  # footprint() of the data
    steps: Breakdown
    load: tuple[float, float]  # 1-minute load average before and after

    def row(self, way: str) -> Result:
        return median(self.rounds[1:], way)

    def estimates(self) -> tuple[float, float]:
        """Take's wall time from its steps and start-up: now, and with the suggested changes."""
        start = self.steps.other[START]
        now = start + sum(v for k, v in self.steps.now.items() if k != FSYNC)
        return now, start + sum(v for k, v in self.steps.suggested.items() if k != FSYNC)


def verdict(value: float, goal: float) -> str:
    return f"{value:.2f}, {'holds' if value <= goal else '**does not hold**'}"


def render_goals(outcomes: list[Outcome]) -> list[str]:
    lines = [
        "## Goals",
        "",
        f"| data set | take / manual (goal ≤ {MANUAL_GOAL}) | take / floor (goal ≤ {FLOOR_GOAL}) "
        f"| on disk / data (goal ≤ {DISK_GOAL}) "
        "| with the suggested changes (estimate): / manual, / floor |",
        "|---|---|---|---|---|",
    ]
    for o in outcomes:
        take_, manual, floor = (o.row(way) for way in (TAKE, MANUAL, FLOOR))
        new = o.estimates()[1]
        lines.append(
            f"| {o.ds.title} | {verdict(take_.run.wall / manual.run.wall, MANUAL_GOAL)} "
            f"| {verdict(take_.run.wall / floor.run.wall, FLOOR_GOAL)} "
            f"| {verdict(take_.apparent / o.data[0], DISK_GOAL)} "
            f"| {new / manual.run.wall:.2f}, {new / floor.run.wall:.2f} |"
        )
    return [*lines, ""]


def render_dataset(o: Outcome) -> list[str]:
    rows = {way: o.row(way) for way in (TAKE, MANUAL, FLOOR)}
    manual, floor = rows[MANUAL].run.wall, rows[FLOOR].run.wall
    (size, allocated, _), files = o.data, o.ds.files
    mine = rows[TAKE]
    lines = [
        f"## {o.ds.title}",
        "",
        f"Data: {size:,} bytes ({allocated / MIB:.1f} MiB allocated). Median of "
        f"{len(o.rounds) - 1} run(s), after a warm-up round (its wall times first in the last "
        "column, in brackets). `sync after`: a `sync` right after the command, the writes it "
        "left unflushed. `on disk`: bytes of the files in the snapshot (or copy) and "
        "`.dvc/cache`, each inode once; `of which metadata`: manifests, DVC `.dir` listings, "
        f"`.dvc` files. Load average (1 min): {o.load[0]:.2f} before, {o.load[1]:.2f} after.",
        "",
        "| way | wall (s) | CPU (s) | sync after (s) | wall / manual | wall / floor "
        "| on disk (bytes) | / data | of which metadata (bytes) | allocated (MiB) | / data "
        "| wall per run (s) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for way, r in rows.items():
        disk = (
            f"{r.apparent:,} | {r.apparent / size:.3f} | {r.metadata:,} "
            f"| {r.allocated / MIB:.1f} | {r.allocated / allocated:.2f}"
            if way != FLOOR
            else "— | — | — | — | —"
        )
        walls = [f"{one[way].run.wall:.2f}" for one in o.rounds]
        lines.append(
            f"| {way} | {r.run.wall:.2f} | {r.run.cpu:.2f} | {r.sync:.2f} "
            f"| {r.run.wall / manual:.2f} | {r.run.wall / floor:.2f} | {disk} "
            f"| ({walls[0]}) {', '.join(walls[1:])} |"
        )
    synced = (mine.run.wall + mine.sync) / (manual + rows[MANUAL].sync)
    return [
        *lines,
        "",
        f"- Time, take / manual: {verdict(mine.run.wall / manual, MANUAL_GOAL)} (with each "
        f"one's `sync after` added: {synced:.2f}).",
        f"- Time, take / floor: {verdict(mine.run.wall / floor, FLOOR_GOAL)}. The floor hashes "
        f"{size / MIB / floor:.0f} MiB/s (`sha256sum` over the files).",
        f"- Bytes on disk, take / data: {verdict(mine.apparent / size, DISK_GOAL)}. The data "
        f"files alone: {(mine.apparent - mine.metadata) / size:.3f}, one copy. Metadata: "
        f"{mine.metadata / files:,.0f} bytes per file, of which DVC's `.dir` listing (the manual "
        f"way's metadata) {rows[MANUAL].metadata / files:,.0f}; the files average "
        f"{size / files:,.0f} bytes, so the goal allows {(DISK_GOAL - 1) * size / files:,.0f} "
        "bytes of metadata per file.",
        "",
    ]


def seconds(steps: dict[str, float], step: str) -> str:
    return f"{steps[step]:.2f}" if step in steps else "—"


def render_steps(o: Outcome) -> list[str]:
    manual, floor, wall = (o.row(way).run.wall for way in (MANUAL, FLOOR, TAKE))
    b, (now, new) = o.steps, o.estimates()
    largest = sorted((k for k in b.now if k != FSYNC), key=b.now.__getitem__, reverse=True)[:3]
    biggest = max((k for k in b.suggested if k != FSYNC), key=b.suggested.__getitem__)
    others = ", ".join(f"`{k}` {v:.2f} s" for k, v in b.other.items() if k != START)
    dvc_add = b.other[f"dvc add data/{Path(o.ds.path).name}"]
    return [
        f"### Where the time goes: {o.ds.title}",
        "",
        "Take's steps run one by one in-process, once (a new repo, page cache as above), as the "
        "code is now and with the changes suggested at the end; start-up measured apart.",
        "",
        "| step | now (s) | suggested (s) |",
        "|---|--:|--:|",
        *(
            f"| {k} | {seconds(b.now, k)} | {seconds(b.suggested, k)} |"
            for k in TAKE_PHASES
            if k in b.now or k in b.suggested
        ),
        f"| start-up: `{START}` | {b.other[START]:.2f} | {b.other[START]:.2f} |",
        f"| **sum (an estimate of the command's wall time)** | {now:.2f} | {new:.2f} |",
        "",
        f"- Now: the steps sum to {now:.1f} s (the command measured {wall:.1f} s above). "
        "The largest: " + ", ".join(f"{k} {b.now[k]:.2f} s" for k in largest) + ".",
        f"- Suggested: about {new:.1f} s, {new / manual:.2f}x the manual way and "
        f"{new / floor:.2f}x the floor; its largest step: {biggest} "
        f"({b.suggested[biggest]:.2f} s). The start-up alone is {b.other[START] / floor:.2f}x "
        f"the floor, and `dvc add` alone (the manual way's) {dvc_add / floor:.2f}x.",
        f"- The manual way step by step, and DVC's start-up: {others}.",
        "",
    ]


SUGGESTIONS = {  # step -> the change, shown when the code has that step
    COPY: "**One sync instead of an fsync per file.** `hash_copy` does not fsync; `commit` calls "
    "`os.sync()` (or syncfs on the snapshot's file system) once before the rename, so a listed "
    "snapshot is still on disk, with one journal commit instead of one per file.",
    DESCRIBE: "**One pandas read per small table.** `describe_table` takes the row count from its "
    "sample when the sample holds the whole file (fewer than `SAMPLE_ROWS` rows), and reads the "
    "file a second time only otherwise.",
}


def render_suggestions() -> list[str]:
    changes = [text for step, text in SUGGESTIONS.items() if hasattr(*STEPS[step])]
    return [
        '## The suggested changes (src/mlrepro/snapshot), measured above as "suggested"',
        "",
        *(f"{n}. {text}" for n, text in enumerate(changes, 1)),
        "",
        "Logs of every measured command: `bench/out/snapshot/` (not committed).",
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the large file")
    parser.add_argument("--files", type=int, default=10000, help="files in the directory")
    parser.add_argument("--runs", type=int, default=1, help="runs to take the median of")
    parser.add_argument("--output", type=Path, default=BENCH / "SNAPSHOT_RESULTS.md")
    args = parser.parse_args(argv)
    if min(args.runs, args.size_mib, args.files) < 1:
        parser.error("--runs, --size-mib and --files must be at least 1")
    return args


def side_by_side(
    ds: DataSet, tmp: Path, datasets: list[DataSet], runs: int, cold: bool
) -> list[dict[str, Result]]:
    """A warm-up round, then `runs` rounds of the three ways, in an order that rotates from
    round to round."""
    ways, results = [FLOOR, MANUAL, TAKE], []
    for n in range(-1, runs):
        order = ways[n % 3 :] + ways[: n % 3]
        result = {way: one_way(way, ds, tmp, datasets, cold) for way in order}
        walls = ", ".join(f"{w} {r.run.wall:.2f} s" for w, r in result.items())
        print(f"{ds.source} {'warm-up' if n < 0 else f'run {n + 1}'}: {walls}")
        results.append(result)
    return results


def main() -> int:
    args = parse_args()
    os.environ.update(bench_env())  # in-process steps run dvc and git too
    (BENCH / "out").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="snapshot-", dir=BENCH / "out") as name:
        tmp = Path(name)
        cold = drop_caches()
        info = machine(tmp, cold)
        datasets = make_data(tmp / "data", args.size_mib, args.files)
        outcomes = []
        for ds in datasets:
            load = os.getloadavg()[0]
            rounds = side_by_side(ds, tmp, datasets, args.runs, cold)
            steps = breakdown(ds, tmp, datasets, cold)
            data = footprint(tmp / "data" / ds.path)
            outcomes.append(Outcome(ds, rounds, data, steps, (load, os.getloadavg()[0])))
    info["load average (1 min) at end"] = f"{os.getloadavg()[0]:.2f}"
    head = [
        "# Benchmark: `mlrepro snapshot take` against `cp -r` + `dvc add` and `sha256sum`",
        "",
        f"Command: `{COMMAND}`",
        "",
        *(f"- {key}: {value}" for key, value in info.items()),
        "",
    ]
    lines = head + render_goals(outcomes)
    for o in outcomes:
        lines += render_dataset(o) + render_steps(o)
    report = "\n".join(lines + render_suggestions()) + "\n"
    args.output.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
