"""Benchmark `mlrepro sweep --workers 2` against the same grid run by `dvc exp run` one
configuration after another and by DVC's queue (`dvc exp run --queue`, `dvc queue start -j 2`),
side by side in one run. Goals: the sweep at least 1.6x faster than sequential, not slower than
the queue, and every configuration back as an experiment with metrics (0 failed, stuck or lost).

Setup, not measured: a base clone of HEAD (no git remote: nothing can reach this repository),
this repository's DVC cache objects copied into it (not `runs/`, the run cache), `dvc checkout`
and `dvc repro` (a no-op on the full data; with --small the 6,000-row slice is set in params.yaml,
run once and committed with a fixed date). Each way then works in its own fresh `git clone` of
the base, same commit, with its own copy of the base's cache objects (again without the run
cache) and the outputs checked out, so each configuration re-runs train and evaluate only. A
cache per way, not a shared one: DVC's run cache would restore the outputs of a configuration
another way already ran, and the later ways would measure a checkout instead of a training.

The three ways (the default grid leaves out the committed values, so all 8 train):
  sequential  `dvc exp run --name seq-N -S ...`, once per configuration
  sweep       `mlrepro sweep -S ... --workers 2 --json --name sweep`
  queue       `dvc exp run --queue -S ...` (the grid in one command), `dvc queue start -j 2`,
              then a poll every 0.25 s of the experiment refs (git) and of the queue's task
              records, confirmed by `dvc queue status` (none Queued or Running); `dvc queue stop`
The queue's time ends when the poll sees every result, before the confirmation and the stop.
After each way, untimed: `dvc exp show --json` (experiments with metrics, failed, still running
or queued, missing), the processes it left (this script is their subreaper) and its temporary
folders; then evaluate/metrics.json and the model's md5 of each configuration, equal in every
way (threads are pinned). The ways run in a rotating order, one run each unless --runs. Logs go
to --logs. Examples:

    .venv/bin/python bench/sweep.py --small -S train.max_leaf_nodes=15,63
    .venv/bin/python bench/sweep.py --output bench/SWEEP_RESULTS.md
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pipeline import ROOT, bench_env, git, machine, scratch

from mlrepro import dvccache
from mlrepro.sweep.grid import expand

GRID = ("train.learning_rate=0.05,0.15,0.2,0.3", "train.max_leaf_nodes=15,63")
WAYS = ("sequential", "sweep", "queue")
LABELS = {
    "sequential": "`dvc exp run`, one after another",
    "sweep": "`mlrepro sweep --workers {jobs}`",
    "queue": "`dvc exp run --queue` + `dvc queue start -j {jobs}`",
}
SPEEDUP_GOAL = 1.6  # sequential / sweep
QUEUE_GOAL = 1.0  # sweep / queue
SMALL = {  # params.yaml lines of the 6,000-row slice
    r"^(  max_rows:) null": r"\1 6000",
    r'^(  valid_start:) "2013-10-01"': r'\1 "2013-01-05"',
    r'^(  test_start:) "2013-11-01"': r'\1 "2013-01-06"',
}
FIXED_DATE = "2026-01-01T00:00:00+00:00"  # the base's commits: the same id on every run
POLL = 0.25  # seconds between two looks at the queue's results
STATUS_EVERY = 30.0  # seconds between two `dvc queue status` while results are missing
SCRATCH = "dask-scratch-space"  # Dask's own scratch root in TMPDIR, kept by design
GRACE = 30.0  # seconds a way's processes have to exit after it ended
COMMAND = " ".join(  # as typed at the repository's root, wherever it was run from
    [
        ".venv/bin/python",
        "bench/sweep.py",
        *(shlex.quote(a.replace(f"{ROOT}/", "")) for a in sys.argv[1:]),
    ]
)
SHARED = 0.1  # other processes' CPU above this share of a way's wall time is reported


@dataclass
class Way:
    """One way's run: wall seconds, CPU, when each experiment was there, and the checks."""

    wall: float = 0.0
    cpu: float = 0.0  # user + system seconds of every process it started, reaped at the end
    busy: float = 0.0  # the machine's busy CPU seconds meanwhile (every process, ours or not)
    load: float = 0.0  # load average (1 min) at its start
    ready: list[float] = field(default_factory=list)  # seconds from its start, per experiment
    steps: dict[str, float] = field(default_factory=dict)  # named parts of the wall time
    tasks: dict[tuple[Any, ...], dict[str, float]] = field(default_factory=dict)  # per config
    check: Check | None = None


@dataclass
class Check:
    ok: int = 0  # experiments with evaluate/metrics.json
    failed: int = 0
    stuck: int = 0  # still Running or Queued, or not finished before the timeout
    lost: int = 0  # neither an experiment nor a failure
    left: int = 0  # processes still alive GRACE seconds after the way ended (then killed)
    temp: int = 0  # temporary folders left behind
    outputs: dict[tuple[Any, ...], tuple[str, str, float]] = field(default_factory=dict)


# ---- processes -------------------------------------------------------------------------------


def subreaper() -> None:
    """Orphans of the ways' processes (DVC's detached queue workers) become our children, so
    their CPU is counted and their exit is seen."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        raise SystemExit("bench: prctl(PR_SET_CHILD_SUBREAPER) failed")


def reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def ours(folder: Path) -> list[int]:
    """Live processes of a way: our (adopted) children, or working in its folder."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        ppid, state = int(stat.rsplit(")", 1)[1].split()[1]), stat.rsplit(")", 1)[1].split()[0]
        if state != "Z" and (ppid == os.getpid() or cwd.startswith(str(folder))):
            found.append(int(entry.name))
    return found


def settle(folder: Path, grace: float = GRACE) -> int:
    """Wait up to `grace` s for the way's processes to exit; kill (by pid) and count the rest."""
    deadline = time.monotonic() + grace
    while (left := ours(folder)) and time.monotonic() < deadline:
        reap()
        time.sleep(0.5)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(2 if left else 0)
        reap()
    return len(left)


def call(argv: list[str], cwd: Path, log: Path, timeout: float | None = None, **env: str) -> int:
    """Run `argv` with its output appended to `log`; its exit code (-1: killed at the timeout)."""
    with log.open("a") as out:
        out.write(f"\n$ {shlex.join(argv)}\n")
        out.flush()
        proc = subprocess.Popen(
            argv, cwd=cwd, env={**bench_env(), **env}, stdout=out, stderr=out,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop(proc)
            return -1


def stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM to the command (the sweep cancels its tasks on it), SIGKILL after 60 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def must(argv: list[str], cwd: Path, log: Path) -> None:
    if call(argv, cwd, log) != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise SystemExit(f"bench: {shlex.join(argv)} failed in {cwd}:\n{tail}")


def output(argv: list[str], cwd: Path) -> str:
    return subprocess.run(
        argv, cwd=cwd, env=bench_env(), check=True, capture_output=True, text=True
    ).stdout


# ---- setup -----------------------------------------------------------------------------------


def copy_cache(source: Path, dest: Path) -> None:
    """The cache's objects, not its run cache (runs/) nor its tmp/."""
    dest.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.name in ("runs", "tmp"):
            continue
        if entry.is_dir():
            shutil.copytree(entry, dest / entry.name, dirs_exist_ok=True)
        else:
            shutil.copy2(entry, dest / entry.name)


def local_config(repo: Path) -> None:
    """DVC's site cache inside the clone: nothing of a way outside its folder."""
    text = f"[core]\n    site_cache_dir = {repo / '.dvc' / 'tmp' / 'site'}\n"
    (repo / ".dvc" / "config.local").write_text(text)


def up_to_date(repo: Path, log: Path) -> None:
    status = output(["dvc", "status"], repo)
    dirty = output(["git", "status", "--porcelain"], repo)
    if "up to date" not in status or dirty.strip():
        log.open("a").write(status + dirty)
        raise SystemExit(f"bench: {repo} is not up to date after setup (see {log})")


def prepare_base(tmp: Path, small: bool, log: Path) -> Path:
    base = tmp / "base"
    git("clone", "--quiet", str(ROOT), str(base))
    git("remote", "remove", "origin", cwd=base)
    local_config(base)
    copy_cache(dvccache.cache_dir(ROOT), base / ".dvc" / "cache")
    must(["dvc", "checkout", "--allow-missing", "--quiet"], base, log)
    env = {"GIT_AUTHOR_DATE": FIXED_DATE, "GIT_COMMITTER_DATE": FIXED_DATE}
    if small:
        path = base / "params.yaml"
        text = path.read_text()
        for pattern, new in SMALL.items():
            text, count = re.subn(pattern, new, text, flags=re.M)
            if count != 1:
                raise SystemExit(f"bench: params.yaml: {pattern!r} not found")
        path.write_text(text)
        commit(base, "bench: the 6,000-row slice", log, env)
    must(["dvc", "repro"], base, log)
    commit(base, "bench: dvc repro", log, env)
    up_to_date(base, log)
    return base


def commit(repo: Path, message: str, log: Path, env: dict[str, str]) -> None:
    must(["git", "add", "-A"], repo, log)
    if call(["git", "diff", "--cached", "--quiet"], repo, log) == 0:
        return  # nothing to commit
    if call(["git", "commit", "--quiet", "-m", message], repo, log, **env) != 0:
        raise SystemExit(f"bench: git commit failed in {repo} (see {log})")


def fresh(base: Path, dest: Path, log: Path) -> Path:
    """A way's clone of the base: same commit, its own cache objects, outputs checked out."""
    repo = dest / "repo"
    dest.mkdir()
    git("clone", "--quiet", str(base), str(repo))
    git("remote", "remove", "origin", cwd=repo)
    local_config(repo)
    copy_cache(base / ".dvc" / "cache", repo / ".dvc" / "cache")
    must(["dvc", "checkout", "--quiet"], repo, log)
    up_to_date(repo, log)
    (dest / "tmp").mkdir()  # TMPDIR of its commands
    return repo


# ---- the three ways --------------------------------------------------------------------------


def sets_args(sets: list[str]) -> list[str]:
    return [arg for s in sets for arg in ("-S", s)]


def key_of(overrides: tuple[str, ...] | dict[str, Any]) -> tuple[Any, ...]:
    """A configuration as sorted (param, value) pairs, from `-S` texts or from params."""
    if isinstance(overrides, dict):
        return tuple(sorted(overrides.items()))
    pairs = (o.split("=", 1) for o in overrides)
    return tuple(sorted((k, yaml.safe_load(v)) for k, v in pairs))


def sequential(repo: Path, opts: argparse.Namespace, log: Path, way: Way) -> None:
    start = time.perf_counter()
    for number, config in enumerate(opts.configs, start=1):
        began = time.perf_counter()
        left = opts.timeout - (began - start)
        argv = ["dvc", "exp", "run", "--name", f"seq-{number}", *sets_args(list(config.overrides))]
        code = call(argv, repo, log, timeout=max(left, 1), TMPDIR=str(repo.parent / "tmp"))
        now = time.perf_counter()
        way.tasks[key_of(config.overrides)] = {"run": now - began}
        if code == 0:
            way.ready.append(now - start)
        if code == -1:
            break
    way.wall = time.perf_counter() - start


EVENT = re.compile(r"^(\S+)\s+(queued|running|done|failed|exists)\b")


def sweep(repo: Path, opts: argparse.Namespace, log: Path, way: Way) -> None:
    argv = ["mlrepro", "sweep", *sets_args(opts.sets), "--workers", str(opts.jobs)]
    argv += ["--json", "--name", "sweep"]
    lines: list[tuple[float, str]] = []
    with log.open("a") as out:
        out.write(f"\n$ {shlex.join(argv)}\n")
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=repo, env={**bench_env(), "TMPDIR": str(repo.parent / "tmp")},
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        reader = threading.Thread(target=_lines, args=(proc.stderr, start, lines, out))
        reader.start()
        summary: list[str] = []
        pump = threading.Thread(target=lambda: summary.append(proc.stdout.read()))  # type: ignore[union-attr]
        pump.start()
        try:
            proc.wait(timeout=opts.timeout)
        except subprocess.TimeoutExpired:
            stop(proc)
        except BaseException:  # interrupted: the sweep cancels its tasks on SIGTERM
            stop(proc)
            raise
        finally:
            way.wall = time.perf_counter() - start
            reader.join()
            pump.join()
        out.write("".join(summary))
    _sweep_times(lines, "".join(summary), way)


def _lines(stream: Any, start: float, lines: list[tuple[float, str]], out: Any) -> None:
    for line in stream:
        now = time.perf_counter() - start
        lines.append((now, line.rstrip("\n")))
        out.write(f"[{now:7.2f}] {line}")


def _sweep_times(lines: list[tuple[float, str]], summary: str, way: Way) -> None:
    """Start-up, each task's time on its worker, and what dvc exp run took of it."""
    began: dict[str, float] = {}
    ended: dict[str, float] = {}
    for at, line in lines:
        if line.startswith("sweep: ") and "started" not in way.steps:
            way.steps["started"] = at  # the cluster is up, the tasks about to be submitted
        match = EVENT.match(line)
        if match and match.group(2) == "running":
            began.setdefault(match.group(1), at)
        elif match and match.group(2) in ("done", "failed"):
            ended[match.group(1)] = at
            if match.group(2) == "done":
                way.ready.append(at)
    try:
        results = json.loads(summary)["results"]
    except (ValueError, KeyError):
        return
    for r in results:
        task = {"run": r["seconds"] or 0.0}
        if r["name"] in began and r["name"] in ended:
            task["task"] = ended[r["name"]] - began[r["name"]]
        way.tasks[key_of(tuple(r["overrides"]))] = task
    way.ready.sort()


def queue(repo: Path, opts: argparse.Namespace, log: Path, way: Way) -> None:
    tmp = {"TMPDIR": str(repo.parent / "tmp")}
    start = time.perf_counter()
    queued = call(["dvc", "exp", "run", "--queue", *sets_args(opts.sets)], repo, log, **tmp)
    way.steps["queued"] = time.perf_counter() - start
    started = call(["dvc", "queue", "start", "-j", str(opts.jobs)], repo, log, **tmp)
    way.steps["started"] = time.perf_counter() - start
    if queued != 0 or started != 0:
        raise SystemExit(f"bench: queueing or starting the queue failed (see {log})")
    commit = git("rev-parse", "HEAD", cwd=repo).strip()
    seen: dict[str, float] = {}
    last_status = time.perf_counter()
    while True:
        now = time.perf_counter()
        for ref in _exp_refs(repo, commit):
            seen.setdefault(ref, now - start)
        failed = _queue_failures(repo)
        done = len(seen) + failed >= len(opts.configs)
        if done:
            way.steps.setdefault("observed", now - start)
        if done or now - last_status > STATUS_EVERY:
            counts = _queue_status(repo, log)
            last_status = time.perf_counter()
            if not counts.get("Queued") and not counts.get("Running"):
                way.steps["confirmed"] = last_status - start
                break
        if now - start > opts.timeout:
            break
        time.sleep(POLL)
    way.wall = way.steps.get("observed", time.perf_counter() - start)
    way.ready = sorted(seen.values())
    stopped = time.perf_counter()
    call(["dvc", "queue", "stop"], repo, log, **tmp)
    way.steps["stop"] = time.perf_counter() - stopped


def _exp_refs(repo: Path, commit: str) -> list[str]:
    prefix = f"refs/exps/{commit[:2]}/{commit[2:]}/"
    return git("for-each-ref", "--format=%(refname)", prefix, cwd=repo).split()


def _queue_failures(repo: Path) -> int:
    """Tasks whose process ended non-zero (DVC's record of each queued run, .dvc/tmp/exps/run)."""
    count = 0
    for info in (repo / ".dvc" / "tmp" / "exps" / "run").glob("*/*.json"):
        try:
            code = json.loads(info.read_text()).get("returncode")
        except (OSError, ValueError):
            continue
        count += code not in (None, 0)
    return count


def _queue_status(repo: Path, log: Path) -> dict[str, int]:
    text = output(["dvc", "queue", "status"], repo)
    log.open("a").write(f"\n$ dvc queue status\n{text}")
    counts: dict[str, int] = {}
    for line in text.splitlines()[1:]:
        if not line.strip() or line.startswith("Worker status"):
            continue
        state = line.split()[-1]
        counts[state] = counts.get(state, 0) + 1
    return counts


RUNNERS: dict[str, Callable[[Path, argparse.Namespace, Path, Way], None]] = {
    "sequential": sequential,
    "sweep": sweep,
    "queue": queue,
}


# ---- after each way --------------------------------------------------------------------------


def check(repo: Path, opts: argparse.Namespace) -> Check:
    """The experiments of the commit as `dvc exp show --json` lists them, and their outputs."""
    commit = git("rev-parse", "HEAD", cwd=repo).strip()
    shown = json.loads(output(["dvc", "exp", "show", "--json"], repo))
    found = Check()
    wanted = {key_of(c.overrides) for c in opts.configs}
    keys = {k for c in opts.configs for k, _ in key_of(c.overrides)}
    seen = set()
    for entry in (e for e in shown if e.get("rev") == commit):
        for exp in entry.get("experiments") or []:
            state = (exp.get("executor") or {}).get("state")
            for rev in exp.get("revs") or []:
                data = rev.get("data") or {}
                params = (data.get("params") or {}).get("params.yaml", {}).get("data", {})
                config = key_of({k: _get(params, k) for k in keys})
                seen.add(config)
                if state in ("running", "queued"):
                    found.stuck += 1
                elif state == "failed" or rev.get("error"):
                    found.failed += 1
                elif "evaluate/metrics.json" in (data.get("metrics") or {}):
                    found.ok += 1
                    found.outputs[config] = _outputs(repo, rev["rev"])
                else:
                    found.failed += 1
    found.lost = len(wanted - seen)
    return found


def _get(params: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        params = params.get(part, {}) if isinstance(params, dict) else {}
    return params


def _outputs(repo: Path, sha: str) -> tuple[str, str, float]:
    """sha256 of the experiment's evaluate/metrics.json, its model's md5, test ROC AUC."""
    metrics = subprocess.run(
        ["git", "show", f"{sha}:evaluate/metrics.json"], cwd=repo, capture_output=True, check=True
    ).stdout
    lock = yaml.safe_load(git("show", f"{sha}:dvc.lock", cwd=repo))
    model = next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"].endswith(".skops"))
    auc = float(json.loads(metrics)["test"]["roc_auc"])
    return hashlib.sha256(metrics).hexdigest(), str(model), auc


def temp_left(folder: Path, log: Path) -> int:
    """Folders the way left: the sweep's clones (in its TMPDIR), DVC's queue copies, the
    sweep's token files. Dask's `dask-scratch-space` root and its two lock files are Dask's
    by design; a worker folder left in it counts."""
    repo, tmp = folder / "repo", folder / "tmp"
    found = [p for p in tmp.iterdir() if p.name != SCRATCH]
    found += [p for p in (tmp / SCRATCH).glob("*") if not p.name.endswith(".lock")]
    found += list((repo / ".dvc" / "tmp" / "exps").glob("tmp*"))
    found += list((repo / ".dvc" / "tmp").glob("mlrepro-sweep-*"))
    with log.open("a") as out:
        out.write(f"\nleft behind: {[str(p) for p in found]}\n")
    return len(found)


def one_way(name: str, base: Path, folder: Path, opts: argparse.Namespace) -> Way:
    log = opts.logs / f"{folder.name}.log"
    repo = fresh(base, folder, log)
    reap()
    way = Way(load=os.getloadavg()[0])
    cpu, busy = children_cpu(), machine_busy()
    RUNNERS[name](repo, opts, log, way)
    left = settle(folder)
    reap()
    way.cpu, way.busy = children_cpu() - cpu, machine_busy() - busy
    way.check = check(repo, opts)
    way.check.left, way.check.temp = left, temp_left(folder, log)
    missing = len(opts.configs) - way.check.ok - way.check.failed - way.check.lost
    way.check.stuck = max(way.check.stuck, missing)
    return way


# ---- the report ------------------------------------------------------------------------------


def summary(way: Way) -> str:
    c = way.check or Check()
    return (
        f"{way.wall:.1f} s, CPU {way.cpu:.0f} s, {c.ok} with metrics, {c.failed} failed, "
        f"{c.stuck} stuck, {c.lost} lost, {c.left} processes and {c.temp} folders left"
    )


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def render(runs: list[dict[str, Way]], info: dict[str, str], opts: argparse.Namespace) -> str:
    walls = {w: med([r[w].wall for r in runs]) for w in WAYS}
    speedup = walls["sequential"] / walls["sweep"]
    against_queue = walls["sweep"] / walls["queue"]
    checks = [r[w].check for r in runs for w in WAYS]
    bad = {k: sum(getattr(c, k) for c in checks if c) for k in ("failed", "stuck", "lost")}
    same = identical(runs)
    n = len(opts.configs)
    lines = [
        "# Benchmark: `mlrepro sweep` against sequential `dvc exp run` and DVC's queue",
        "",
        f"Command: `{COMMAND}`",
        "",
        *(f"- {key}: {value}" for key, value in info.items()),
        "",
        f"{n} configurations, `-S {' -S '.join(opts.sets)}`, each re-running train and "
        "evaluate only. Each way in its own fresh clone of the same commit with its own copy "
        "of the DVC cache objects and no run cache (bench/sweep.py's docstring); "
        f"{len(runs)} run(s), ways in the order {', '.join(order(1))}"
        + (", rotated from run to run" if len(runs) > 1 else "")
        + ".",
        "",
        f"**Goals: sweep at least {SPEEDUP_GOAL}x faster than sequential: "
        f"{speedup:.2f}x, {holds(speedup >= SPEEDUP_GOAL)}. Sweep not slower than the queue: "
        f"sweep / queue = {against_queue:.2f}, {holds(against_queue <= QUEUE_GOAL)}. Failed, "
        f"stuck, lost: {bad['failed']}, {bad['stuck']}, {bad['lost']} (goal 0), "
        f"{holds(not any(bad.values()))}. Metrics and model bytes of each configuration "
        f"identical in every way: {same} of {n}.**",
        "",
        "| way | wall (s) | vs sequential | CPU of its processes (s) | other processes' CPU (s) "
        "| load (1 min) at start | with metrics | failed | stuck | lost | processes left "
        "| temp folders left | wall per run (s) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for w in WAYS:
        ws = [r[w] for r in runs]
        c = [x.check or Check() for x in ws]
        each = ", ".join(f"{x.wall:.1f}" for x in ws)
        lines.append(
            f"| {LABELS[w].format(jobs=opts.jobs)} | {walls[w]:.1f} "
            f"| {walls['sequential'] / walls[w]:.2f}x | {med([x.cpu for x in ws]):.0f} "
            f"| {med([x.busy - x.cpu for x in ws]):.0f} | {med([x.load for x in ws]):.2f} "
            f"| {sum(x.ok for x in c)}/{n * len(runs)} | {sum(x.failed for x in c)} "
            f"| {sum(x.stuck for x in c)} | {sum(x.lost for x in c)} | {sum(x.left for x in c)} "
            f"| {sum(x.temp for x in c)} | {each} |"
        )
    lines += [*shared(runs), "", *timeline(runs, n), "", *per_config(runs, opts), ""]
    lines += where(runs, opts)
    return "\n".join(lines) + "\n"


def shared(runs: list[dict[str, Way]]) -> list[str]:
    """A warning for each way that shared the cores with other users' jobs."""
    found = [
        f"run {number} {w}: {r[w].busy - r[w].cpu:.0f} s over {r[w].wall:.0f} s "
        f"({(r[w].busy - r[w].cpu) / r[w].wall:.0%} of one core)"
        for number, r in enumerate(runs, start=1)
        for w in WAYS
        if r[w].busy - r[w].cpu > SHARED * r[w].wall
    ]
    if not found:
        return []
    return [
        "",
        "**Shared machine: other processes used CPU during " + "; ".join(found) + f". Those "
        f"ways shared the {os.cpu_count()} cores: their wall times may include waiting for "
        "one.**",
    ]


def holds(ok: bool) -> str:
    return "holds" if ok else "does not hold"


def order(run: int) -> list[str]:
    shift = (run - 1) % len(WAYS)
    return list(WAYS[shift:] + WAYS[:shift])


def identical(runs: list[dict[str, Way]]) -> int:
    """Configurations whose metrics file and model md5 are the same in every way and run."""
    outputs: dict[tuple[Any, ...], set[tuple[str, str]]] = {}
    everywhere: dict[tuple[Any, ...], int] = {}
    for r in runs:
        for w in WAYS:
            for config, (metrics, model, _) in (r[w].check or Check()).outputs.items():
                outputs.setdefault(config, set()).add((metrics, model))
                everywhere[config] = everywhere.get(config, 0) + 1
    total = len(runs) * len(WAYS)
    return sum(len(v) == 1 and everywhere[k] == total for k, v in outputs.items())


def timeline(runs: list[dict[str, Way]], n: int) -> list[str]:
    head = " | ".join(str(k) for k in range(1, n + 1))
    lines = [
        "Seconds from the way's start until its k-th experiment was there (median over runs):",
        "",
        f"| way | {head} |",
        "|---|" + "--:|" * n,
    ]
    for w in WAYS:
        cells = []
        for k in range(n):
            at = [r[w].ready[k] for r in runs if len(r[w].ready) > k]
            cells.append(f"{med(at):.1f}" if at else "—")
        lines.append(f"| {w} | {' | '.join(cells)} |")
    return lines


def per_config(runs: list[dict[str, Way]], opts: argparse.Namespace) -> list[str]:
    lines = [
        "Per configuration (median over runs): test ROC AUC; sequential: its `dvc exp run`; "
        "sweep: the task on its worker (clone, checkout, `dvc exp run`, push) and the "
        "`dvc exp run` inside it.",
        "",
        "| configuration | test roc_auc | same bytes in every way | sequential (s) "
        "| sweep task (s) | sweep's dvc exp run (s) |",
        "|---|--:|---|--:|--:|--:|",
    ]
    for config in opts.configs:
        key = key_of(config.overrides)
        outs = [r[w].check.outputs[key] for r in runs for w in WAYS if _has(r[w], key)]
        auc = f"{outs[0][2]:.6f}" if outs else "—"
        same = "yes" if outs and len({o[:2] for o in outs}) == 1 else "NO"
        same += "" if len(outs) == len(runs) * len(WAYS) else f" ({len(outs)} found)"
        seq = med([r["sequential"].tasks.get(key, {}).get("run", float("nan")) for r in runs])
        task = med([r["sweep"].tasks.get(key, {}).get("task", float("nan")) for r in runs])
        run = med([r["sweep"].tasks.get(key, {}).get("run", float("nan")) for r in runs])
        lines.append(f"| {config.label} | {auc} | {same} | {seq:.1f} | {task:.1f} | {run:.1f} |")
    return lines


def _has(way: Way, key: tuple[Any, ...]) -> bool:
    return way.check is not None and key in way.check.outputs


def where(runs: list[dict[str, Way]], opts: argparse.Namespace) -> list[str]:
    """Where each way's time goes, from the numbers above."""
    n, jobs = len(opts.configs), opts.jobs
    seq = [t["run"] for r in runs for t in r["sequential"].tasks.values()]
    tasks = [t for r in runs for t in r["sweep"].tasks.values() if "task" in t]
    task = med([t["task"] for t in tasks])
    run = med([t["run"] for t in tasks])
    start = med([r["sweep"].steps.get("started", float("nan")) for r in runs])
    last = med([r["sweep"].ready[-1] for r in runs if r["sweep"].ready])
    tail = med([r["sweep"].wall for r in runs]) - last
    q = {s: med([r["queue"].steps.get(s, float("nan")) for r in runs]) for s in QUEUE_STEPS}
    q_first = med([r["queue"].ready[0] for r in runs if r["queue"].ready])
    rounds = -(-n // jobs)
    return [
        "## Where the time goes",
        "",
        f"- **sequential**: {n} `dvc exp run` of {med(seq):.1f} s each (median; "
        f"{min(seq, default=0):.1f} to {max(seq, default=0):.1f}): DVC's start and checks, "
        "train and evaluate, the experiment's commit. The best a 2-worker pool can do is half "
        f"of it, {med([r['sequential'].wall for r in runs]) / jobs:.1f} s.",
        f"- **sweep**: {start:.1f} s until the local cluster was up and the tasks submitted "
        f"(start-up, imports, the grid and repository checks); then {rounds} round(s) of "
        f"{jobs} tasks, each {task:.1f} s (median), of which `dvc exp run` {run:.1f} s and "
        f"{task - run:.1f} s the clean clone, `dvc checkout` and `dvc exp push`; {tail:.1f} s "
        "after the last result (closing the cluster, the summary). A `dvc exp run` takes "
        f"{run / med(seq):.2f}x its sequential time when {jobs} run at once on "
        f"{os.cpu_count()} cores.",
        f"- **queue**: `dvc exp run --queue` of the grid {q['queued']:.1f} s, "
        f"`dvc queue start` {q['started'] - q['queued']:.1f} s more, the first result at "
        f"{q_first:.1f} s, all at {q['observed']:.1f} s; `dvc queue status` confirmed at "
        f"{q['confirmed']:.1f} s (not counted); `dvc queue stop` {q['stop']:.1f} s (not counted).",
        "",
        "CPU of its processes: user + system seconds of everything the way started, DVC's "
        "detached queue workers included (the script is their subreaper), until they exited. "
        "Other processes' CPU: the machine's busy CPU seconds (/proc/stat) over the same time "
        f"minus the way's own: other users' jobs on the same {os.cpu_count()} cores. "
        f"Logs: {opts.logs} (outside the repository).",
    ]


QUEUE_STEPS = ("queued", "started", "observed", "confirmed", "stop")


# ---- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "-S", dest="sets", action="append", metavar="KEY=VALUES",
        help=f"the grid, as dvc exp run -S (default: {' '.join(GRID)})",
    )  # fmt: skip
    parser.add_argument("--small", action="store_true", help="the 6,000-row slice")
    parser.add_argument("--runs", type=int, default=1, help="runs of each way (median)")
    parser.add_argument("--jobs", type=int, default=2, help="sweep workers and queue jobs")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per way")
    parser.add_argument("--logs", type=Path, default=Path("/tmp/mlrepro-bench-sweep-logs"))
    parser.add_argument("--output", type=Path, help="the Markdown report (default: print only)")
    args = parser.parse_args(argv)
    args.sets = args.sets or list(GRID)
    args.configs = expand(args.sets)
    if args.runs < 1 or args.jobs < 1:
        parser.error("--runs and --jobs must be at least 1")
    return args


def interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> int:
    opts = parse_args()
    subreaper()
    for sig in (signal.SIGINT, signal.SIGTERM):  # even when started in the background
        signal.signal(sig, interrupted)
    shutil.rmtree(opts.logs, ignore_errors=True)
    opts.logs.mkdir(parents=True)
    info = machine(git("rev-parse", "HEAD").strip())
    info["data"] = (
        "the 6,000-row slice (ingest.max_rows 6000, split at 2013-01-05 / 2013-01-06)"
        if opts.small
        else "all rows (params.yaml as committed)"
    )
    runs: list[dict[str, Way]] = []
    with scratch("mlrepro-bench-sweep-") as tmp:
        base = prepare_base(tmp, opts.small, opts.logs / "setup.log")
        info["commit swept"] = git("rev-parse", "HEAD", cwd=base).strip()[:12] + (
            " (HEAD plus the slice and its dvc repro)" if opts.small else " (HEAD)"
        )
        try:
            for number in range(1, opts.runs + 1):
                result: dict[str, Way] = {}
                for name in order(number):
                    result[name] = one_way(name, base, tmp / f"run{number}-{name}", opts)
                    print(f"run {number} {name}: {summary(result[name])}", flush=True)
                runs.append(result)
        except KeyboardInterrupt as exc:
            stopped = settle(tmp, grace=0)  # every process it started, before the folder goes
            print(f"bench: interrupted ({exc}); {stopped} processes stopped", file=sys.stderr)
            return 130
    info["load average (1 min) at end"] = f"{os.getloadavg()[0]:.2f}"
    report = render(runs, info, opts)
    if opts.output:
        opts.output.write_text(report)
    print(report)
    checks = [r[w].check for r in runs for w in WAYS]
    return 0 if all(c and not (c.failed or c.stuck or c.lost) for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
