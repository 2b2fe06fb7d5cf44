"""Benchmark `mlrepro snapshot take` against `cp -r` + `dvc add` and one `sha256sum` pass.

Two data sets, generated once: one large file of random bytes and a directory of small CSV files.
For each, three ways run side by side, each in its own new git + DVC repo (the data hard-linked
into its `raw/`, so the source costs no space): `mlrepro snapshot take`, the manual way
(`cp -r raw/X data/X && dvc add data/X`) and the floor (`sha256sum` over the same bytes). Goals:
take at most 1.2x the manual way and 2x the floor; snapshot + DVC cache at most 1.05x the data
(the snapshot's folder and `.dvc/cache`; the git-tracked metadata beside the folder, its manifest,
`.dvc` file and .gitignore, is reported apart, with the ratio it would make included).

The page cache is dropped before each measured command when this runs as root. Then take's steps
are timed one by one in-process (each function it calls wrapped with a timer), once per data set.
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
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import yaml
from pipeline import COMMAND, Measurement, bench_env, measure

from mlrepro import dvccache
from mlrepro.core.params import load_params
from mlrepro.snapshot import describe, fileio, layout, store, take
from mlrepro.snapshot.immutable import unprotect_tree

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LOGS = BENCH / "out" / "snapshot"
MANUAL_GOAL, FLOOR_GOAL, DISK_GOAL = 1.2, 2.0, 1.05
FLOOR, MANUAL, TAKE = "sha256sum (floor)", "cp -r + dvc add (manual)", "mlrepro snapshot take"
COPY_FILES, TOTAL = "copy_files", "take()"  # timed, shown through the steps inside them
LIST, COPY = "list the source (source_files)", "copy + sha256 + md5 (copy_new, summed)"
SEND = "describe: feeding the helper process (Helper.add, summed; waits while the pipe is full)"
WAIT = "describe: waiting for the helper process (Helper.results)"
DESCRIBE = "describe in-process (describe_table, summed)"
COPY_REST = "the rest of copy_files (folders, helper start, read-ahead, loop)"
SYNC, COMMIT = "os.sync()", "manifest, rename (commit, without the sync)"
TRACK, OTHER = "cache links, .dir, .dvc (track)", "the rest of take()"
FSYNC = "os.fsync, all calls (counted in the steps above)"
STEPS = {  # what take._take calls, patched where it is looked up at call time
    COPY_FILES: (take, "copy_files"),
    LIST: (take, "source_files"),
    COPY: (fileio, "copy_new"),
    SEND: (describe.Helper, "add"),
    WAIT: (describe.Helper, "results"),
    DESCRIBE: (take, "describe_table"),
    COMMIT: (store, "commit"),
    SYNC: (os, "sync"),  # in commit; `store` calls os.sync through the os module
    TRACK: (store, "track"),  # includes seed_cache
    FSYNC: (os, "fsync"),
}
INSIDE = {COPY_FILES: (LIST, COPY, SEND, WAIT, DESCRIBE), COMMIT: (SYNC,)}  # nested steps
TAKE_PHASES = (LIST, COPY, SEND, WAIT, DESCRIBE, COPY_REST, SYNC, COMMIT, TRACK, OTHER, FSYNC)
START = "python -c 'import mlrepro.cli, mlrepro.snapshot.take'"  # the take command's imports
LISTING = ".dir"  # DVC's listing of a folder's files, in the cache
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
    apparent: int  # bytes of the files in the snapshot (or copy) and .dvc/cache, each inode once
    allocated: int  # bytes of blocks allocated there, files and folders, each inode once
    listing: int  # bytes of DVC's .dir listings, included in `apparent`
    beside: dict[str, int]  # bytes of each git-tracked file beside the snapshot's (copy's) folder


def drop_caches() -> bool:
    """Write dirty pages, then drop the page cache; False when not allowed (not root)."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def footprint(*paths: Path) -> tuple[int, int, int]:
    """Apparent bytes of the files, allocated bytes and bytes of DVC `.dir` listings under
    `paths`; a hard link counts once."""
    seen: dict[tuple[int, int], os.stat_result] = {}
    listings: set[tuple[int, int]] = set()
    for top in paths:
        for path in [top, *top.rglob("*")] if top.exists() else []:
            st = path.lstat()
            seen[(st.st_dev, st.st_ino)] = st
            if path.name.endswith(LISTING):
                listings.add((st.st_dev, st.st_ino))
    files = {key: st for key, st in seen.items() if stat.S_ISREG(st.st_mode)}
    apparent = sum(st.st_size for st in files.values())
    allocated = sum(st.st_blocks * 512 for st in seen.values())
    return apparent, allocated, sum(st.st_size for key, st in files.items() if key in listings)


def beside(folder: Path, name: str) -> dict[str, int]:
    """Bytes of each file next to `folder` (the snapshot's folder, or the copy) in its parent:
    manifest, .dvc file, .gitignore, .lock. `folder`'s name within their names becomes `name`."""
    return {
        path.name.replace(folder.name, name): path.lstat().st_size
        for path in sorted(folder.parent.iterdir())
        if path != folder and path.is_file()
    }


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
        return Result(result, sync, 0, 0, 0, {})
    repo = new_repo(tmp / "repo", tmp / "data", datasets, ds)
    try:
        if way == MANUAL:
            script = f"cp -r {ds.path} {target} && dvc add --quiet {target}"
            result, sync = measured(["sh", "-c", script], repo, log, cold)
            folder, name = repo / target, target.name
        else:
            result, sync = measured(["mlrepro", "snapshot", "take", ds.source], repo, log, cold)
            [snapshot] = layout.list_snapshots(repo, ds.source)
            folder, name = layout.data_dir(repo, ds.source, snapshot.id), "<id>"
        disk = footprint(folder, dvccache.cache_dir(repo))
        metadata = beside(folder, name)
    finally:
        unprotect_tree(repo)  # snapshot files are immutable (root on ext4)
        shutil.rmtree(repo)
    return Result(result, sync, *disk, metadata)


class Phases:
    """Seconds per named step, summed over calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def timed(self, step: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """`function`, its time added to `step`'s (a bare timer: 10,000 calls cost ~10 ms)."""
        seconds, clock = self.seconds, time.perf_counter

        def run(*args: Any, **kwargs: Any) -> Any:
            start = clock()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[step] = seconds.get(step, 0.0) + clock() - start

        return run


def take_phases(repo: Path, name: str) -> dict[str, float]:
    """The real take.take(), with each function it calls (STEPS) and every os.fsync timed.
    Seconds per step of TAKE_PHASES, each without the steps inside it (INSIDE), so that they
    add up to take(); steps that were not called are left out."""
    source = load_params(repo / "params.yaml").ingest.source(name)
    phases = Phases()
    with ExitStack() as stack:
        for step, (owner, attr) in STEPS.items():
            timed = phases.timed(step, getattr(owner, attr))
            stack.enter_context(mock.patch.object(owner, attr, timed))
        phases.timed(TOTAL, take.take)(source, repo)
    seconds = phases.seconds
    for outer, inner in INSIDE.items():
        if outer in seconds:
            seconds[outer] -= sum(seconds.get(step, 0.0) for step in inner)
    if COPY_FILES in seconds:
        seconds[COPY_REST] = seconds.pop(COPY_FILES)
    seconds[OTHER] = seconds.pop(TOTAL) - sum(v for k, v in seconds.items() if k != FSYNC)
    return {step: seconds[step] for step in TAKE_PHASES if step in seconds}


@dataclass(frozen=True)
class Breakdown:
    take: dict[str, float]  # take's steps, in-process
    other: dict[str, float]  # the manual way's two commands; start-up times


def breakdown(ds: DataSet, tmp: Path, datasets: list[DataSet], cold: bool) -> Breakdown:
    """Where the time goes, each in a new repo, page cache as for the commands: take's steps,
    the manual way's two commands, start-up times."""

    def in_repo(work: Callable[[Path], dict[str, float]]) -> dict[str, float]:
        repo = new_repo(tmp / "repo", tmp / "data", datasets, ds)
        try:
            if cold:
                drop_caches()
            return work(repo)
        finally:
            unprotect_tree(repo)  # snapshot files are immutable (root on ext4)
            shutil.rmtree(repo)

    def manual(repo: Path) -> dict[str, float]:
        target = Path("data") / Path(ds.path).name
        steps = (["cp", "-r", ds.path, str(target)], ["dvc", "add", str(target)])
        log = LOGS / f"{ds.source}-steps.log"
        return {shlex.join(step): measure(step, repo, log).wall for step in steps}

    steps = in_repo(lambda repo: take_phases(repo, ds.source))
    other = in_repo(manual)
    for argv in (shlex.split(START), ["dvc", "add", "--help"]):
        other[shlex.join(argv)] = measured(argv, tmp, LOGS / "start.log", cold)[0].wall
    return Breakdown(steps, other)


def median(runs: list[dict[str, Result]], way: str) -> Result:
    results = [r[way] for r in runs]
    run = [statistics.median(getattr(r.run, f) for r in results) for f in ("wall", "cpu", "rss")]
    sync = statistics.median(r.sync for r in results)
    apparent = statistics.median(r.apparent for r in results)
    allocated = statistics.median(r.allocated for r in results)
    listing = statistics.median(r.listing for r in results)
    metadata = {
        k: int(statistics.median(r.beside.get(k, 0) for r in results)) for k in results[0].beside
    }
    return Result(Measurement(*run), sync, int(apparent), int(allocated), int(listing), metadata)


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

    def estimate(self) -> float:
        """Take's wall time from its steps and start-up."""
        steps = self.steps.take
        return self.steps.other[START] + sum(v for k, v in steps.items() if k != FSYNC)


def verdict(value: float, goal: float) -> str:
    return f"{value:.2f}, {'holds' if value <= goal else '**does not hold**'}"


def with_beside(r: Result, size: int) -> float:
    """Snapshot (or copy) + DVC cache + the git-tracked metadata beside it, over the data."""
    return (r.apparent + sum(r.beside.values())) / size


def render_goals(outcomes: list[Outcome]) -> list[str]:
    lines = [
        "## Goals",
        "",
        f"| data set | take / manual (goal ≤ {MANUAL_GOAL}) | take / floor (goal ≤ {FLOOR_GOAL}) "
        f"| snapshot + DVC cache / data (goal ≤ {DISK_GOAL}) "
        "| with the git-tracked metadata beside it (manifest, .dvc, .gitignore) / data |",
        "|---|---|---|---|---|",
    ]
    for o in outcomes:
        take_, manual, floor = (o.row(way) for way in (TAKE, MANUAL, FLOOR))
        lines.append(
            f"| {o.ds.title} | {verdict(take_.run.wall / manual.run.wall, MANUAL_GOAL)} "
            f"| {verdict(take_.run.wall / floor.run.wall, FLOOR_GOAL)} "
            f"| {verdict(take_.apparent / o.data[0], DISK_GOAL)} "
            f"| {with_beside(take_, o.data[0]):.3f} |"
        )
    return [*lines, ""]


def files_bytes(files: dict[str, int]) -> str:
    return ", ".join(f"`{name}` {size:,}" for name, size in files.items()) or "none"


def render_dataset(o: Outcome) -> list[str]:
    rows = {way: o.row(way) for way in (TAKE, MANUAL, FLOOR)}
    manual, floor = rows[MANUAL].run.wall, rows[FLOOR].run.wall
    (size, allocated, _), files = o.data, o.ds.files
    mine, theirs = rows[TAKE], rows[MANUAL]
    extra, extra_manual = sum(mine.beside.values()), sum(theirs.beside.values())
    copy = f"data/{Path(o.ds.path).name}"
    lines = [
        f"## {o.ds.title}",
        "",
        f"Data: {size:,} bytes ({allocated / MIB:.1f} MiB allocated). Median of "
        f"{len(o.rounds) - 1} run(s), after a warm-up round (its wall times first in the last "
        "column, in brackets). `sync after`: a `sync` right after the command, the writes it "
        "left unflushed. `snapshot + DVC cache` (the goal's measure): bytes of the files in the "
        f"snapshot's folder `data/snapshots/{o.ds.source}/<id>/` (the manual way: its copy "
        f"`{copy}`) and in `.dvc/cache`, each inode once (a snapshot file hard-linked into the "
        "cache counts once); `of which .dir`: DVC's listing of a folder's files, in the cache "
        "(`dvc add` of a folder writes it too); `allocated`: the blocks of the same files and "
        "folders. `beside it`: the metadata files next to the folder, tracked by git, not "
        "counted in `snapshot + DVC cache` (take: the manifest `<id>.json`, `<id>.dvc`, "
        "`.gitignore`, and the `.lock` this project's .gitignore ignores; the manual way: "
        f"`{copy}.dvc`, `data/.gitignore`). Load average (1 min): {o.load[0]:.2f} before, "
        f"{o.load[1]:.2f} after.",
        "",
        "| way | wall (s) | CPU (s) | sync after (s) | wall / manual | wall / floor "
        "| snapshot + DVC cache (bytes) | / data | of which .dir (bytes) | allocated (MiB) "
        "| / data | beside it (bytes) | wall per run (s) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for way, r in rows.items():
        disk = (
            f"{r.apparent:,} | {r.apparent / size:.3f} | {r.listing:,} "
            f"| {r.allocated / MIB:.1f} | {r.allocated / allocated:.2f} "
            f"| {sum(r.beside.values()):,}"
            if way != FLOOR
            else "— | — | — | — | — | —"
        )
        walls = [f"{one[way].run.wall:.2f}" for one in o.rounds]
        lines.append(
            f"| {way} | {r.run.wall:.2f} | {r.run.cpu:.2f} | {r.sync:.2f} "
            f"| {r.run.wall / manual:.2f} | {r.run.wall / floor:.2f} | {disk} "
            f"| ({walls[0]}) {', '.join(walls[1:])} |"
        )
    synced = (mine.run.wall + mine.sync) / (manual + theirs.sync)
    within = "within" if with_beside(mine, size) <= DISK_GOAL else "over"
    return [
        *lines,
        "",
        f"- Time, take / manual: {verdict(mine.run.wall / manual, MANUAL_GOAL)} (with each "
        f"one's `sync after` added: {synced:.2f}).",
        f"- Time, take / floor: {verdict(mine.run.wall / floor, FLOOR_GOAL)}. The floor hashes "
        f"{size / MIB / floor:.0f} MiB/s (`sha256sum` over the files).",
        f"- Bytes on disk, snapshot + DVC cache / data: "
        f"{verdict(mine.apparent / size, DISK_GOAL)}. The data files alone: "
        f"{(mine.apparent - mine.listing) / size:.3f}, one copy; DVC's `.dir` listing "
        f"{mine.listing:,} bytes ({mine.listing / files:,.0f} per file; the manual way's "
        f"{theirs.listing:,}). The files average {size / files:,.0f} bytes, so the goal allows "
        f"{(DISK_GOAL - 1) * size / files:,.0f} bytes of metadata per file.",
        f"- Beside the snapshot's folder, tracked by git: {files_bytes(mine.beside)} bytes, "
        f"{extra:,} in all ({extra / files:,.0f} per data file). With them, take / data would be "
        f"{with_beside(mine, size):.3f} ({within} the goal's {DISK_GOAL} if they counted). "
        f"The manual way's: {files_bytes(theirs.beside)} bytes, {extra_manual:,} in all "
        f"(with them, {with_beside(theirs, size):.3f}).",
        "",
    ]


def seconds(steps: dict[str, float], step: str) -> str:
    return f"{steps[step]:.2f}" if step in steps else "— (not called)"


def render_steps(o: Outcome) -> list[str]:
    floor, wall = (o.row(way).run.wall for way in (FLOOR, TAKE))
    b, total = o.steps, o.estimate()
    largest = sorted((k for k in b.take if k != FSYNC), key=b.take.__getitem__, reverse=True)[:3]
    copy_files = sum(b.take.get(k, 0.0) for k in (*INSIDE[COPY_FILES], COPY_REST))
    others = ", ".join(f"`{k}` {v:.2f} s" for k, v in b.other.items() if k != START)
    dvc_add = b.other[f"dvc add data/{Path(o.ds.path).name}"]
    return [
        f"### Where the time goes: {o.ds.title}",
        "",
        "Take's steps, timed in-process, once (the real `take()` in a new repo, page cache as "
        "above, each function it calls wrapped with a timer; a step's seconds leave out the "
        f"steps listed inside it); start-up measured apart. `copy_files` (the first "
        f"{len(INSIDE[COPY_FILES]) + 1} rows) lists, copies, hashes and describes; a helper "
        f"process describes the small tables when a source has at least {take.HELPER_FILES}.",
        "",
        "| step | seconds |",
        "|---|--:|",
        *(f"| {k} | {seconds(b.take, k)} |" for k in TAKE_PHASES),
        f"| start-up: `{START}` | {b.other[START]:.2f} |",
        f"| **sum (an estimate of the command's wall time)** | {total:.2f} |",
        "",
        f"- The steps sum to {total:.1f} s (the command measured {wall:.1f} s above); "
        f"`copy_files` in all {copy_files:.2f} s. The largest: "
        + ", ".join(f"{k} {b.take[k]:.2f} s" for k in largest)
        + ".",
        f"- The start-up alone is {b.other[START] / floor:.2f}x the floor, and `dvc add` alone "
        f"(the manual way's) {dvc_add / floor:.2f}x.",
        f"- The manual way step by step, and DVC's start-up: {others}.",
        "",
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
    lines += ["Logs of every measured command: `bench/out/snapshot/` (not committed)."]
    report = "\n".join(lines) + "\n"
    args.output.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
