"""`sweep(repo, sets)`: every configuration of the grid run as a Dask task at the current commit
and brought back as a DVC experiment; the outcomes as data (`SweepResult`).

Before anything starts: the grid (`grid`), every configuration's params (`params`), the names
(`<prefix>-<hash of commit and overrides>`; one that exists at this commit is not run again, its
experiment is reported) and the metric to rank by (the first gate of gates.yaml at the commit
that names a metric there). Then one task per configuration (`task.run_task`, `pure=False`,
`retries=1`), the progress from the tasks' events and `as_completed`, and each outcome read from
the experiment's ref (pulled first with `dvc exp pull` when a worker elsewhere pushed it to the
git remote). Every configuration ends Success or Failed. Ctrl-C or SIGTERM cancels the tasks,
stops their dvc processes on every worker (`task.stop_sweep`) and closes the cluster; an
experiment is only ever pushed whole, at the end of its task.
"""

from __future__ import annotations

import fnmatch
import os
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any

from mlrepro import dvccache
from mlrepro.core.errors import MlreproError
from mlrepro.diff.gates import GATES_FILE, GateError, parse_config_text
from mlrepro.revisions import Repository, Rev, Revision, Unreadable, open_repo
from mlrepro.sweep.checkout import TOKEN_DIR, Outcome, Spec, reason
from mlrepro.sweep.grid import PREFIX, Config, SweepError, check_prefix, expand, names
from mlrepro.sweep.params import check_configs
from mlrepro.sweep.results import Event, Metric, Progress, Result, SweepInterrupted, SweepResult

THREADS_NOTE = (
    "threads is not 1 in {count}: their model bytes follow the worker's cores and may differ "
    "from the same run alone (Dask's workers set OMP_NUM_THREADS=1)"
)


@dataclass
class _Running:
    """What the tasks' events said so far, per name (written from the client's event thread)."""

    progress: Progress
    workers: dict[str, str] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: tuple[float, dict[str, Any]]) -> None:
        msg = event[1]
        name, where = msg["name"], f"{msg['worker']} ({msg['host']}, pid {msg['pid']})"
        with self.lock:
            self.workers[name] = msg["worker"]
            self.attempts[name] = self.attempts.get(name, 0) + 1
            again = f", attempt {self.attempts[name]}" if self.attempts[name] > 1 else ""
        self.progress(Event(name, "running", f"on {where}{again}"))


@dataclass(frozen=True)
class _Sweep:
    """What every step of one sweep reads: the repository, the commit, the metric, the output."""

    repo: Repository
    commit: str
    metric: Metric
    say: Progress


def sweep(
    cwd: Path,
    sets: Sequence[str],
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    prefix: str = PREFIX,
    git_remote: str = "origin",
    progress: Progress | None = None,
) -> SweepResult:
    """Run the grid of `sets` (`-S` options) at the commit checked out in `cwd`."""
    configs = expand(sets)
    check_prefix(prefix)
    if scheduler is not None and workers is not None:
        raise SweepError("--workers is for the local cluster; a --scheduler has its own workers")
    with open_repo(cwd) as repo:
        commit = _head(repo)
        unpinned = check_configs(repo, commit, configs)
        planned = list(zip(names(configs, commit, prefix), configs, strict=True))
        run = _Sweep(repo, commit, main_metric(repo, commit), progress or (lambda event: None))
        done = _existing(run, planned)
        todo = [(n, c) for n, c in planned if n not in done]
        where = ""
        if todo:
            _note_dirty(run)
            if unpinned:
                run.say(Event("", "note", THREADS_NOTE.format(count=_count(len(unpinned)))))
            count = workers or max(1, min(len(os.sched_getaffinity(0)), len(todo)))
            where, ran = _run(run, todo, scheduler, count, git_remote)
            done |= ran
        return SweepResult(commit, where, run.metric, tuple(done[n] for n, _ in planned))


def _head(repo: Repository) -> str:
    found = repo.git("rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if found.returncode != 0:
        raise SweepError("no commit to sweep: commit the pipeline first")
    return found.stdout.strip()


def main_metric(repo: Repository, commit: str) -> Metric:
    """The first gate in gates.yaml (at the commit) that names a metric the commit has."""
    text = repo.read(Rev(commit[:12], commit), GATES_FILE)
    if text is None:
        return Metric(None)
    try:
        gates = parse_config_text(text.decode("utf-8"), GATES_FILE).gates
    except GateError:
        return Metric(None)  # `mlrepro diff` says what is wrong with it
    flat = _metrics(repo, commit, commit[:12])
    for gate in (g for g in gates if g.gate):
        for key, value in flat.items():
            if fnmatch.fnmatchcase(key, gate.pattern):
                return Metric(key, gate.higher_is_better, value)
    return Metric(None)


def _metrics(repo: Repository, commit: str, name: str) -> dict[str, Any]:
    """Every metric dvc.yaml declares at the commit, flattened, from all its metrics files."""
    found: dict[str, Any] = {}
    try:
        files = Revision(repo, Rev(name, commit)).metrics()
    except MlreproError:
        return found
    for data in files.values():
        if not isinstance(data, Unreadable):
            found.update((k, v) for k, v in data.items() if k not in found)
    return found


def _ref(commit: str, name: str) -> str:
    return f"refs/exps/{commit[:2]}/{commit[2:]}/{name}"


def _existing(run: _Sweep, planned: list[tuple[str, Config]]) -> dict[str, Result]:
    """The configurations whose experiment this commit already has (a sweep run before)."""
    listed = run.repo.git("for-each-ref", "--format=%(objectname) %(refname)", _ref(run.commit, ""))
    refs: dict[str, str] = {}
    for line in listed.stdout.splitlines():
        sha, ref = line.split(" ", 1)
        refs[ref] = sha
    found = {}
    for name, config in planned:
        made = refs.get(_ref(run.commit, name))
        if made is not None:
            value = _metrics(run.repo, made, name).get(run.metric.key or "")
            found[name] = Result(
                name, config.overrides, "Success", value=value, experiment=made, existed=True
            )
            run.say(Event(name, "exists", f"{config.label}: experiment made before, not run again"))
    return found


def _note_dirty(run: _Sweep) -> None:
    # no-lock: `git status` would otherwise refresh (rewrite) the index, which a sweep never does
    changed = run.repo.git("--no-optional-locks", "status", "--porcelain", "-uno").stdout
    if changed.strip():
        run.say(
            Event("", "note", f"uncommitted changes are not swept: tasks run {run.commit[:12]}")
        )


def _run(
    run: _Sweep, todo: list[tuple[str, Config]], scheduler: str | None, workers: int, remote: str
) -> tuple[str, dict[str, Result]]:
    """The tasks of `todo` on the cluster; its description, and the results."""
    from mlrepro.sweep.cluster import connect

    with _token(run.repo.root) as token, _stop_signals(), connect(scheduler, workers) as cluster:
        run.say(
            Event("", "start", f"{_count(len(todo))} of {run.commit[:12]} on {cluster.description}")
        )
        specs = [_spec(run, name, config, token, remote) for name, config in todo]
        return cluster.description, _tasks(run, cluster.client, specs, token)


def _spec(run: _Sweep, name: str, config: Config, token: str, remote: str) -> Spec:
    repo = run.repo
    url = repo.git("remote", "get-url", remote)
    user = [repo.git("config", key).stdout.strip() for key in ("user.name", "user.email")]
    return Spec(
        name=name,
        overrides=config.overrides,
        commit=run.commit,
        repo=str(repo.root.resolve()),
        token=token,
        cache_dir=str(dvccache.cache_dir(repo.root).resolve()),
        git_remote=url.stdout.strip() if url.returncode == 0 else None,
        git_remote_name=remote,
        author=(user[0], user[1]) if all(user) else None,
    )


def _tasks(run: _Sweep, client: Any, specs: list[Spec], token: str) -> dict[str, Result]:
    """One task per spec, each result as it completes; on any exception (Ctrl-C) the rest are
    cancelled and their dvc processes stopped on every worker before it propagates."""
    from distributed import as_completed

    from mlrepro.sweep.task import run_task, stop_sweep

    topic = f"mlrepro-sweep-{token}"
    running = _Running(run.say)
    client.subscribe_topic(topic, running)
    futures = {}
    for spec in specs:
        key = f"mlrepro-sweep-{spec.name}-{token[:8]}"
        futures[client.submit(run_task, spec, topic, key=key, pure=False, retries=1)] = spec
        run.say(Event(spec.name, "queued", " ".join(spec.overrides)))
    results: dict[str, Result] = {}
    try:
        for future in as_completed(futures):  # type: ignore[no-untyped-call]
            spec = futures[future]
            results[spec.name] = _finish(run, future, spec, running)
            run.say(_done_event(results[spec.name], run.metric))
    except BaseException:
        left = [f for f, s in futures.items() if s.name not in results]
        client.cancel(left, force=True)
        client.run(stop_sweep, topic, on_error="ignore")
        raise
    finally:
        client.unsubscribe_topic(topic)
    return results


def _finish(run: _Sweep, future: Any, spec: Spec, running: _Running) -> Result:
    with running.lock:
        worker, attempts = running.workers.get(spec.name), running.attempts.get(spec.name, 0)
    base = Result(spec.name, spec.overrides, "Failed", worker=worker, attempts=attempts)
    if future.status != "finished":
        why = _task_error(future.exception()) if future.status == "error" else "cancelled by Dask"
        return replace(base, reason=why)
    outcome: Outcome = future.result()
    fields: dict[str, Any] = {"seconds": outcome.seconds, "log": outcome.log}
    if not outcome.ok:
        return replace(base, **fields, reason=outcome.reason)
    if outcome.mode == "remote":
        fields["pulled"] = spec.git_remote_name
        pulled = _pull(run.repo, spec)
        if pulled is not None:
            return replace(base, **fields, reason=pulled)
    value = _metrics(run.repo, outcome.experiment or "", spec.name).get(run.metric.key or "")
    return replace(base, **fields, status="Success", value=value, experiment=outcome.experiment)


def _task_error(exc: BaseException | None) -> str:
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        return (
            f"every worker that ran it died ({exc.allowed_failures + 1} attempts, the last on "
            f"{exc.last_worker.address}): Dask gave up (KilledWorker)"
        )
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _pull(repo: Repository, spec: Spec) -> str | None:
    """`dvc exp pull --no-cache REMOTE NAME`: the ref a worker elsewhere pushed; why not."""
    from mlrepro.verify.checkout import tool_env

    cmd = ["dvc", "exp", "pull", "--no-cache", spec.git_remote_name, spec.name]
    done = subprocess.run(cmd, cwd=repo.root, env=tool_env(), capture_output=True, text=True)
    if done.returncode != 0 or repo.git("rev-parse", "--verify", "--quiet", spec.ref).returncode:
        why = reason((done.stdout + done.stderr).splitlines(), "dvc exp pull")
        return f"ran, but its experiment could not be pulled from {spec.git_remote_name}: {why}"
    return None


def _done_event(result: Result, metric: Metric) -> Event:
    if result.status != "Success":
        return Event(result.name, "failed", result.reason or "failed")
    value = "" if metric.key is None else f"{metric.key} {_number(result.value)} "
    notes = [] if result.seconds is None else [f"{result.seconds:.1f} s"]
    notes += [f"pulled from {result.pulled}"] if result.pulled else []
    text = value + (f"({', '.join(notes)})" if notes else "")
    return Event(result.name, "done", text.strip())


def _count(n: int) -> str:
    return f"{n} configuration{'s' if n != 1 else ''}"


def _number(value: Any) -> str:
    return f"{value:.6f}" if isinstance(value, float) else "—" if value is None else str(value)


@contextmanager
def _token(root: Path) -> Iterator[str]:
    """A file only a worker on this machine can read: `.dvc/tmp/mlrepro-sweep-<token>`."""
    token = uuid.uuid4().hex
    path = root / TOKEN_DIR / f"mlrepro-sweep-{token}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(token, encoding="utf-8")
    try:
        yield token
    finally:
        path.unlink(missing_ok=True)


@contextmanager
def _stop_signals() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C; either ends in SweepInterrupted (exit 130 or 143)."""
    received: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, stop) if main else None
    try:
        yield
    except KeyboardInterrupt:
        signum = received[0] if received else signal.SIGINT
        raise SweepInterrupted(
            f"sweep interrupted ({signal.Signals(signum).name}): the tasks not finished were "
            "cancelled and their dvc processes stopped; finished experiments are kept",
            signum,
        ) from None
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
