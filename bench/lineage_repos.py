"""The synthetic git + DVC repos that bench/lineage.py asks its lineage questions of.

`read_base` takes this project's dvc.yaml, params.yaml, dvc.lock, snapshot manifests and .dvc
files, reports and metrics as committed at HEAD (not src/, tests/, bench/); `make_repo` writes one
`git fast-import` stream of commits that each change what a real project changes, without running
the pipeline. Most set `train.learning_rate` (to one of a few values, so deterministic models
recur), which gives the train and evaluate entries of dvc.lock new md5s and evaluate/metrics.json
and models/model_card.json new values; every fourth sets `evaluate.threshold` (only evaluate's
entries change: the model is shared); every 50th pins a new snapshot of one source (new id,
manifest and .dvc file; every out from ingest down gets a new md5). Three branches fork off main
(one merged back), main is tagged every tenth of its length, and DVC experiments
(`refs/exps/<baseline[:2]>/<baseline[2:]>/<name>`, one commit on a main baseline) make 2% of the
commits. An out's md5 is a function of what its stage read (`digest`), and commit times are fixed,
so a size gives the same repo, commit shas included, on every run.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from history import run

ROOT = Path(__file__).resolve().parents[1]
SKIP = ("src/", "tests/", "bench/", "docs/", ".dvc/", ".github/", ".ci/", "uv.lock")
SOURCES = ("flights", "weather", "planes", "airlines", "airports")
LEARNING_RATES = (0.05, 0.08, 0.1, 0.12, 0.15)
THRESHOLDS = (0.4, 0.45, 0.5, 0.55, 0.6)
PIN_EVERY = 50
ID = r"\d{8}T\d{6}Z-[0-9a-f]{8}"  # a snapshot id
START = 1_795_500_000  # 2026-11-24, after the takes of this project's snapshots
MODEL, CARD, METRICS = "models/model.skops", "models/model_card.json", "evaluate/metrics.json"


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
    model = model_md5(state)
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


def model_md5(state: State) -> str:
    """The md5 of the model that a commit in `state` records."""
    return _md5(state, "train", MODEL)


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
