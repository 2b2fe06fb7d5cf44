"""Benchmark `mlrepro lineage --used-by` and `--find` against `mlrepro history` and the DVC way.

For each size (default 100 and 1,000 commits) a git + DVC repo is generated with `git fast-import`,
without running the pipeline: this project's dvc.yaml, params.yaml, dvc.lock, snapshot manifests
and .dvc files, reports and metrics as committed at HEAD (not src/, tests/, bench/), then commits
that each change what a real project changes. Most set `train.learning_rate` (to one of a few
values, so deterministic models recur), which gives the train and evaluate entries of dvc.lock new
md5s and evaluate/metrics.json and models/model_card.json new values; every fourth sets
`evaluate.threshold` (only evaluate's entries change: the model is shared); every 50th pins a new
snapshot of one source (new id, manifest and .dvc file; every out from ingest down gets a new
md5). Three branches fork off main (one merged back), main is tagged every tenth of its length,
and DVC experiments (`refs/exps/<baseline[:2]>/<baseline[2:]>/<name>`, one commit on a main
baseline) make 2% of the commits.

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
import hashlib
import io
import json
import os
import platform
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from history import command, run, startup, verdict
from pipeline import COMMAND, bench_env

from mlrepro.history.core import metric_history
from mlrepro.lineage.commits import Scope
from mlrepro.lineage.find import Found, find, query
from mlrepro.lineage.usedby import UsedBy, used_by
from mlrepro.revisions import open_repo

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out" / "lineage"
SKIP = ("src/", "tests/", "bench/", "docs/", ".dvc/", ".github/", ".ci/", "uv.lock")
SOURCES = ("flights", "weather", "planes", "airlines", "airports")
LEARNING_RATES = (0.05, 0.08, 0.1, 0.12, 0.15)
THRESHOLDS = (0.4, 0.45, 0.5, 0.55, 0.6)
PIN_EVERY = 50
ID = r"\d{8}T\d{6}Z-[0-9a-f]{8}"  # a snapshot id
START = 1_795_500_000  # 2026-11-24, after the takes of this project's snapshots
LIB_GOAL, CLI_GOAL, DVC_GOAL = 1.0, 3.0, 10.0
MODEL, CARD, METRICS = "models/model.skops", "models/model_card.json", "evaluate/metrics.json"
QUESTIONS = ("used-by", "find md5", "find sha256")
HISTORY_LIB, HISTORY_CLI = "mlrepro history (library)", "mlrepro history -n all --format json"
HISTORY_HARNESS = "mlrepro history: `python -c` harness with only the history noun"
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


# --- the synthetic repo -------------------------------------------------------------------------


@dataclass(frozen=True)
class Snap:
    source: str
    id: str
    sha256: str  # content sha256
    files: dict[str, bytes]  # its manifest and .dvc file


@dataclass(frozen=True)
class State:
    """What one commit holds, beyond the files copied from this project."""

    pins: dict[str, Snap]  # source -> the pinned snapshot
    snapshots: tuple[Snap, ...]  # every snapshot taken on this line of history
    generation: int  # of the data: one more with each new pin
    lr: float
    threshold: float


@dataclass
class Base:
    """This project's files at HEAD, and what the generated commits change in them."""

    files: dict[str, bytes]
    lock: str
    params: str
    metrics: dict[str, Any]
    card: dict[str, Any]
    outs: dict[str, tuple[str, str]]  # base md5 (no .dir) -> (stage, out path)
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        self.pattern = re.compile("|".join(map(re.escape, self.outs)))


def read_base() -> tuple[Base, State]:
    listed = run(["git", "ls-tree", "-r", "--name-only", "HEAD"], ROOT).split("\n")
    paths = [p for p in listed if p and not p.startswith(SKIP)]
    files = {
        p: subprocess.run(
            ["git", "show", f"HEAD:{p}"], cwd=ROOT, capture_output=True, check=True
        ).stdout
        for p in paths
    }
    lock_text = files.pop("dvc.lock").decode()
    lock = yaml.safe_load(lock_text)
    outs = {
        str(out["md5"]).removesuffix(".dir"): (name, str(out["path"]))
        for name, stage in lock["stages"].items()
        for out in stage.get("outs", [])
    }
    snaps = {}
    for source, snapshot_id in lock["stages"]["ingest"]["params"]["params.yaml"]["ingest"][
        "pins"
    ].items():
        manifest = f"data/snapshots/{source}/{snapshot_id}.json"
        sha = json.loads(files[manifest])["content_sha256"]
        own = {
            manifest: files.pop(manifest),
            manifest[:-5] + ".dvc": files.pop(manifest[:-5] + ".dvc"),
        }
        snaps[source] = Snap(source, snapshot_id, sha, own)
    base = Base(
        files,
        lock_text,
        files.pop("params.yaml").decode(),
        json.loads(files.pop(METRICS)),
        json.loads(files.pop(CARD)),
        outs,
    )
    lr = float(lock["stages"]["train"]["params"]["params.yaml"]["train"]["learning_rate"])
    threshold = float(lock["stages"]["evaluate"]["params"]["params.yaml"]["evaluate"]["threshold"])
    return base, State(snaps, tuple(snaps.values()), 0, lr, threshold)


def digest(*parts: object, algorithm: str = "md5") -> str:
    return hashlib.new(algorithm, "|".join(map(str, parts)).encode()).hexdigest()


def new_snapshot(base: Snap, when: int) -> Snap:
    """A later take of `base`'s source: new id, content sha256, file hashes; same definition."""
    sha = digest(base.source, when, algorithm="sha256")
    stamp = datetime.fromtimestamp(when, UTC)
    snapshot_id = f"{stamp:%Y%m%dT%H%M%SZ}-{sha[:8]}"
    manifest = json.loads(next(v for k, v in base.files.items() if k.endswith(".json")))
    manifest |= {
        "id": snapshot_id,
        "content_sha256": sha,
        "taken_at": f"{stamp:%Y-%m-%dT%H:%M:%SZ}",
    }
    manifest["git_commit"] = digest(snapshot_id, algorithm="sha1")
    for entry in manifest["files"]:
        entry["md5"] = digest(snapshot_id, entry["path"])
        entry["sha256"] = digest(snapshot_id, entry["path"], algorithm="sha256")
    dvc = yaml.safe_load(next(v for k, v in base.files.items() if k.endswith(".dvc")))
    dvc["outs"][0] |= {"md5": digest(snapshot_id) + ".dir", "path": snapshot_id}
    folder = f"data/snapshots/{base.source}/{snapshot_id}"
    return Snap(
        base.source,
        snapshot_id,
        sha,
        {
            f"{folder}.json": (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode(),
            f"{folder}.dvc": yaml.safe_dump(dvc, sort_keys=False).encode(),
        },
    )


def tree(base: Base, state: State) -> dict[str, bytes]:
    """Every file of a commit in `state`."""
    files = dict(base.files)
    ignored: dict[str, list[str]] = {}
    for snap in state.snapshots:
        files.update(snap.files)
        ignored.setdefault(snap.source, []).append(f"/{snap.id}\n")
    for source, lines in ignored.items():
        files[f"data/snapshots/{source}/.gitignore"] = "".join(lines).encode()
    metrics = _metrics(base.metrics, state)
    model = _md5(state, "train", MODEL)
    card = base.card | {
        "params": base.card["params"]
        | {"train": base.card["params"]["train"] | {"learning_rate": state.lr}},
        "model": {
            "path": MODEL,
            "bytes": 1_834_211,
            "md5": model,
            "sha256": digest(model, algorithm="sha256"),
        },
        "lineage": {
            "snapshots": {
                s: {"id": p.id, "content_sha256": p.sha256} for s, p in sorted(state.pins.items())
            },
            "code": {
                "git_objects": {"src/mlrepro/stages/train.py": digest("train.py", algorithm="sha1")}
            },
        },
    }
    files[METRICS] = metrics
    files[CARD] = (json.dumps(card, indent=2, sort_keys=True) + "\n").encode()
    files["params.yaml"] = _params(base.params, state).encode()
    files["dvc.lock"] = _lock(base, state, files).encode()
    return files


def _md5(state: State, stage: str, path: str) -> str:
    """An out's md5 as a function of what its stage read: the data, then lr, then threshold."""
    key: tuple[object, ...] = (state.generation,)
    if stage in ("train", "evaluate"):
        key += (state.lr,)
    if stage == "evaluate":
        key += (state.threshold,)
    return digest(path, *key)


def _lock(base: Base, state: State, tracked: dict[str, bytes]) -> str:
    new = {
        md5: hashlib.md5(tracked[path]).hexdigest() if path in tracked else _md5(state, stage, path)
        for md5, (stage, path) in base.outs.items()
    }
    text = base.pattern.sub(lambda m: new[m.group(0)], base.lock)
    for source, snap in state.pins.items():
        text = re.sub(rf"^( +{source}: ){ID}$", rf"\g<1>{snap.id}", text, flags=re.M)
    text = re.sub(r"^( +learning_rate: )\S+$", rf"\g<1>{state.lr}", text, flags=re.M)
    return re.sub(r"^( +threshold: )\S+$", rf"\g<1>{state.threshold}", text, flags=re.M)


def _params(text: str, state: State) -> str:
    for source, snap in state.pins.items():
        text = re.sub(rf"^(    {source}: ){ID}", rf"\g<1>{snap.id}", text, flags=re.M)
    text = re.sub(r"^(  learning_rate: )\S+", rf"\g<1>{state.lr}", text, flags=re.M)
    return re.sub(r"^(  threshold: )\S+", rf"\g<1>{state.threshold}", text, flags=re.M)


def _metrics(base: dict[str, Any], state: State) -> bytes:
    def vary(value: Any, key: str) -> Any:
        if isinstance(value, dict):
            return {k: vary(v, f"{key}.{k}") for k, v in value.items()}
        if isinstance(value, float):
            seed = int(digest(state.generation, state.lr, state.threshold, key)[:6], 16)
            return round(value + (seed % 2000 - 1000) / 1e5, 6)
        return value

    return (json.dumps(vary(base, ""), indent=2, sort_keys=True) + "\n").encode()


@dataclass(frozen=True)
class Step:
    ref: str  # where fast-import commits it; experiments get their refs afterwards
    parent: int | None  # mark
    state: State
    message: str
    merge: int | None = None  # mark


@dataclass
class Plan:
    steps: list[Step]
    main: list[int]  # marks of main's commits, oldest first
    tags: dict[str, int]
    experiments: dict[str, int]  # name -> mark


def plan(commits: int, start: State) -> Plan:
    """`commits` commits: main, three branches of `commits // 40` (the first merged back into
    main), `commits // 50` experiments on main baselines spread along it."""
    n_exps, branch_len = max(2, commits // 50), max(2, commits // 40)
    n_main = commits - n_exps - 3 * branch_len
    forks = {int(n_main * f): k for k, f in enumerate((0.2, 0.45, 0.7))}
    merge_at = min(forks) + branch_len + 5
    baselines = {n_main * (k + 1) // (n_exps + 1): k for k in range(n_exps)}
    steps: list[Step] = []
    main: list[int] = []
    merged: int | None = None
    state = start
    for i in range(n_main):
        if i > 0:
            state, message = _change(state, i, START + 3600 * len(steps))
        else:
            message = "mlrepro project: pipeline, params, pinned snapshots"
        merge = merged if i == merge_at else None
        if merge is not None:
            message = "Merge branch 'feature-0'"
        steps.append(Step("refs/heads/main", main[-1] if main else None, state, message, merge))
        main.append(len(steps))
        if i in forks:
            tip = _branch(steps, f"feature-{forks[i]}", main[-1], state, branch_len)
            merged = tip if forks[i] == 0 else merged
        if i in baselines:
            lr = cycle(LEARNING_RATES, state.lr, 2)
            steps.append(
                Step(
                    f"refs/exps-bench/{baselines[i]}",
                    main[-1],
                    replace(state, lr=lr),
                    f"dvc exp: lr {lr}",
                )
            )
    tags = {f"v0.{k}": main[k * (n_main // 10)] for k in range(1, 10)}
    exps = {
        f"exp-{s.ref.rsplit('/', 1)[1]}": mark
        for mark, s in enumerate(steps, 1)
        if s.ref.startswith("refs/exps-bench/")
    }
    return Plan(steps, main, tags, exps)


def _branch(steps: list[Step], name: str, parent: int, state: State, length: int) -> int:
    for _ in range(length):
        state = replace(state, lr=cycle(LEARNING_RATES, state.lr, 3))
        steps.append(Step(f"refs/heads/{name}", parent, state, f"{name}: learning rate {state.lr}"))
        parent = len(steps)
    return parent


def _change(state: State, i: int, when: int) -> tuple[State, str]:
    """Main's commit `i`: a new pin every PIN_EVERY (at the half), else a param."""
    if i % PIN_EVERY == PIN_EVERY // 2:
        source = SOURCES[(i // PIN_EVERY) % len(SOURCES)]
        snap = new_snapshot(state.pins[source], when)
        pins = state.pins | {source: snap}
        changed = replace(
            state, pins=pins, snapshots=(*state.snapshots, snap), generation=state.generation + 1
        )
        return changed, f"pin {source}@{snap.id}"
    if i % 4 == 3:
        t = cycle(THRESHOLDS, state.threshold, 1)
        return replace(state, threshold=t), f"evaluate: threshold {t}"
    lr = cycle(LEARNING_RATES, state.lr, 1 + i % 3)
    return replace(state, lr=lr), f"train: learning rate {lr}"


def cycle(values: tuple[float, ...], now: float, step: int) -> float:
    """The value `step` places after `now` in `values` (the first when `now` is not one)."""
    return values[(values.index(now) + step) % len(values)] if now in values else values[0]


def make_repo(path: Path, commits: int, base: Base, start: State) -> Plan:
    path.mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], path)
    run(["dvc", "init", "-q"], path)
    dvc_files = {
        p: (path / p).read_bytes() for p in (".dvc/config", ".dvc/.gitignore", ".dvcignore")
    }
    the_plan = plan(commits, start)
    trees: dict[int, dict[str, bytes]] = {}
    stream = bytearray()
    for mark, step in enumerate(the_plan.steps, 1):
        files = tree(base, step.state) | dvc_files
        before = trees.get(step.parent, {}) if step.parent else {}
        trees[mark] = files
        stream += b"commit %s\nmark :%d\n" % (step.ref.encode(), mark)
        stream += f"committer Bench <bench@mlrepro.invalid> {START + 3600 * mark} +0000\n".encode()
        message = step.message.encode()
        stream += b"data %d\n%s\n" % (len(message), message)
        if step.parent:
            stream += b"from :%d\n" % step.parent
        if step.merge:
            stream += b"merge :%d\n" % step.merge
        for name, data in files.items():
            if before.get(name) != data:
                stream += b"M 100644 inline %s\ndata %d\n%s\n" % (name.encode(), len(data), data)
        for name in before.keys() - files.keys():
            stream += b"D %s\n" % name.encode()
    for tag, mark in the_plan.tags.items():
        message = f"release {tag}".encode()
        stream += b"tag %s\nfrom :%d\n" % (tag.encode(), mark)
        stream += f"tagger Bench <bench@mlrepro.invalid> {START + 3600 * mark} +0000\n".encode()
        stream += b"data %d\n%s\n" % (len(message), message)
    marks = path / ".git" / "bench-marks"
    subprocess.run(
        ["git", "fast-import", "--quiet", f"--export-marks={marks}"],
        cwd=path,
        input=bytes(stream),
        check=True,
    )
    sha = dict(line.split() for line in marks.read_text().splitlines())
    updates = []
    for name, mark in the_plan.experiments.items():
        step = the_plan.steps[mark - 1]
        baseline = sha[f":{step.parent}"]
        updates.append(f"create refs/exps/{baseline[:2]}/{baseline[2:]}/{name} {sha[f':{mark}']}\n")
        updates.append(f"delete {step.ref}\n")
    subprocess.run(
        ["git", "update-ref", "--stdin"], cwd=path, input="".join(updates).encode(), check=True
    )
    run(["git", "reset", "-q", "--hard", "main"], path)
    marks.unlink()
    return the_plan


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
    return Questions(snap, _md5(main[len(main) // 2], "train", MODEL))


def library(path: Path, question: str, q: Questions) -> UsedBy | Found:
    with open_repo(path) as repo:
        if question == "used-by":
            return used_by(repo, f"flights@{q.snapshot.id}", Scope())
        return find(repo, query(q.argv(question)[1]), Scope())


def library_hits(result: UsedBy | Found) -> set[str]:
    if isinstance(result, UsedBy):
        return {u.commit.sha for u in result.uses}
    return {c.sha for m in result.matches for c in m.commits}


def found(result: UsedBy | Found) -> str:
    if isinstance(result, UsedBy):
        return f"{len(result.uses)} of {result.scanned} commits"
    paths = ", ".join(f"{m.path} ({m.kind})" for m in result.matches)
    return f"{len(library_hits(result))} of {result.scanned} commits: {paths or 'nothing'}"


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


# --- the report ---------------------------------------------------------------------------------


def runs_cell(t: Timing) -> str:
    return ", ".join(f"{w:.3f}" for w in t.walls) or "—"


def secs(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def times(a: float | None, b: float | None) -> str:
    return f"{a / b:,.1f}" if a is not None and b else "—"


def describe(result: dict[str, Any]) -> list[str]:
    p: Plan = result["plan"]
    q: Questions = result["questions"]
    branches = sorted({s.ref for s in p.steps if s.ref.startswith("refs/heads/")})
    snaps = {s.id for step in p.steps for s in step.state.snapshots}
    return [
        f"Repo built with `git fast-import` in {result['build']:.1f} s: {len(p.steps):,} commits "
        f"({len(p.main):,} on main, one a merge; {len(branches) - 1} other branches; "
        f"{len(p.experiments)} experiments), {len(p.tags)} tags, {len(snaps)} snapshots "
        f"(5 copied from this project, one new pin every {PIN_EVERY} commits on main). "
        f"`mlrepro history` reads main's {result['history']:,} first-parent commits; lineage "
        "reads every commit on every ref.",
        "",
        f"- `--used-by flights@{q.snapshot.id}` (pinned a quarter of the way along main, later "
        "replaced)",
        f"- `--find {q.model}` (the model's md5 half-way along main)",
        f"- `--find {q.snapshot.sha256}` (that flights snapshot's content sha256)",
        "",
    ]


def render_size(result: dict[str, Any]) -> list[str]:
    q: Questions = result["questions"]
    lib: dict[str, Timing] = result["lib"]
    history_lib, history_cli, harness = (
        result[k] for k in ("history_lib", "history_cli", "harness")
    )
    lines = [f"## {result['commits']:,} commits", "", *describe(result)]
    lines += [
        "### In this process (library)",
        "",
        "| call | wall (s, median) | CPU (s, median) | runs, wall (s) | found | "
        "/ history (library) |",
        "|---|--:|--:|---|---|--:|",
    ]
    rows = [
        (f"lineage {' '.join(q.argv(k))}", t, found(result["results"][k])) for k, t in lib.items()
    ]
    rows.append((HISTORY_LIB, history_lib, f"{result['history']:,} commits"))
    for label, t, answer in rows:
        lines.append(
            f"| {label} | {secs(t.wall)} | {secs(t.cpu)} | {runs_cell(t)} | {answer} | "
            f"{times(t.wall, history_lib.wall)} |"
        )
    lines += [
        "",
        "### As a subprocess (CLI)",
        "",
        f"| command | wall (s, median) | CPU (s, median) | runs, wall (s) | / `{HISTORY_CLI}` | "
        "/ history harness |",
        "|---|--:|--:|---|--:|--:|",
    ]
    cli = [(HISTORY_CLI, history_cli), (HISTORY_HARNESS, harness), *result["cli"].values()]
    for label, t in cli:
        lines.append(
            f"| {label} | {secs(t.wall)} | {secs(t.cpu)} | {runs_cell(t)} | "
            f"{times(t.wall, history_cli.wall)} | {times(t.wall, harness.wall)} |"
        )
    lines += ["", *dvc_table(result), "", "### Goals", "", *goals(result), ""]
    for question, (wall, own, ours) in result["profiles"].items():
        lines += [
            f"### Profile: lineage {' '.join(q.argv(question))}",
            "",
            f"One call under cProfile: {wall:.2f} s (cProfile slows it). Top {len(own)} functions "
            "by own time, then mlrepro's by cumulative time:",
            "",
            "| function | calls | own (s) | cumulative (s) |",
            "|---|--:|--:|--:|",
            *(f"| `{name}` | {calls:,} | {t:.3f} | {cum:.3f} |" for name, calls, t, cum in own),
            "",
            "| mlrepro function | calls | own (s) | cumulative (s) |",
            "|---|--:|--:|--:|",
            *(f"| `{name}` | {calls:,} | {t:.3f} | {cum:.3f} |" for name, calls, t, cum in ours),
            "",
        ]
    return lines


def dvc_table(result: dict[str, Any]) -> list[str]:
    lines = [
        "### The DVC way",
        "",
        "A script over the same commits (`git rev-list --branches --remotes --tags` and the "
        "`refs/exps` commits) that reads each commit's dvc.lock through DVC, parses it (libyaml, "
        "as the library does) and answers the question; for the sha256, the manifest of each pin "
        "it meets, read once. Its answer is checked against the library's on the commits it read.",
        "",
        "| way | question | commits read | wall (s, median) | CPU (s, median) | runs, wall (s) | "
        "all commits (s) | per commit (ms) | / library | answer |",
        "|---|---|--:|--:|--:|---|--:|--:|--:|---|",
    ]
    for d in result["dvc"]:
        t: Timing = d.timing
        est = "—" if d.estimate is None else f"{d.estimate:.1f}"
        est += "" if d.read == d.total else " (extrapolated)"
        per = "—" if t.wall is None else f"{1000 * t.wall / d.read:.0f}"
        ratio = times(d.estimate, result["lib"][d.question].wall)
        lines.append(
            f"| {d.way} | {d.question} | {d.read:,} of {d.total:,} | {secs(t.wall)} | "
            f"{secs(t.cpu)} | {runs_cell(t)} | {est} | {per} | {ratio} | {d.checked} |"
        )
    dag = result["dag"]
    lines.append(
        f"| `dvc dag` (the workspace only: answers neither question) | — | — | {secs(dag.wall)} | "
        f"{secs(dag.cpu)} | {runs_cell(dag)} | — | — | — | — |"
    )
    return lines


def goals(result: dict[str, Any]) -> list[str]:
    history_cli: Timing = result["history_cli"]
    q: Questions = result["questions"]
    lines = []
    for question, t in result["lib"].items():
        wall = t.wall or 0.0
        lines.append(f"- lineage {' '.join(q.argv(question))}")
        if result["commits"] >= 1000:
            over = "" if wall <= LIB_GOAL else f", {wall / LIB_GOAL:.1f}x the goal"
            ok = verdict(wall <= LIB_GOAL)
            lines.append(
                f"  - library: {wall:.3f} s (CPU {secs(t.cpu)} s), goal <= {LIB_GOAL:.0f} s: "
                f"{ok}{over}"
            )
        _, cli_t = result["cli"][question]
        ratio = (cli_t.wall or 0.0) / (history_cli.wall or 1.0)
        if result["wired"]:
            ok = verdict(ratio <= CLI_GOAL)
            lines.append(f"  - CLI: {ratio:.1f}x `{HISTORY_CLI}`, goal <= {CLI_GOAL:.0f}x: {ok}")
        else:
            lines.append(
                f"  - CLI: not measured, `mlrepro lineage` is not wired yet; the `python -c` "
                f"stand-in is {ratio:.1f}x `{HISTORY_CLI}` (goal for the CLI: <= {CLI_GOAL:.0f}x)"
            )
        for d in result["dvc"]:
            if d.question == question and d.estimate is not None and t.wall:
                fast = d.estimate / t.wall
                how = "" if d.read == d.total else " (extrapolated)"
                ok = verdict(fast >= DVC_GOAL)
                lines.append(
                    f"  - {fast:,.1f}x faster than {d.way}{how}, goal >= {DVC_GOAL:.0f}x: {ok}"
                )
    return lines


def render(results: list[dict[str, Any]], info: dict[str, str], args: argparse.Namespace) -> str:
    sample = (
        f"On a repo of more than {args.dvc_sample} commits, the `dvc.api.read` way reads every "
        f"k-th commit of its list (about {args.dvc_sample}) and its wall is extrapolated linearly "
        "to all commits (marked); the `brancher` way always reads every commit."
        if args.dvc_sample
        else "The DVC way reads every commit."
    )
    return "\n".join(
        [
            "# Benchmark: `mlrepro lineage --used-by` and `--find` against `mlrepro history` and "
            "the DVC way",
            "",
            f"Command: `{COMMAND}`",
            "",
            *(f"- {key}: {value}" for key, value in info.items()),
            "",
            f"Warm page cache, every way in this one run. Each call runs --runs={args.runs} "
            f"times, or once when a run takes over {args.repeat_below:.0f} s; the runs of a table "
            "go in rounds (one run of each call per round), so the changing load of this shared "
            "machine falls on all alike; medians shown. CPU is user + system of the process and "
            "its children (git cat-file, or the subprocess). The library calls open the repo "
            "(`open_repo`) and answer in this process, as the CLI does; subprocesses start a "
            f"fresh Python. {sample} Repos are generated (see bench/lineage.py): this project's "
            "dvc.yaml, params.yaml, dvc.lock, snapshot manifests and reports at HEAD, then commits "
            "that change `train.learning_rate` (new train and evaluate md5s, metrics, model card), "
            "`evaluate.threshold` (every fourth: the model is shared) or a snapshot pin (every out "
            f"gets a new md5). Goals (issue 13): the library <= {LIB_GOAL:.0f} s at 1,000 "
            f"commits; the CLI <= {CLI_GOAL:.0f}x `mlrepro history` on the same repo; >= "
            f"{DVC_GOAL:.0f}x faster than the DVC way.",
            "",
            *(line for r in results for line in render_size(r)),
        ]
    )


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
