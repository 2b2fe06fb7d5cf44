"""Benchmark the test-looks counter of `mlrepro diff` on repos with hundreds of commits.

For each size (default 100, 500 and 1,000 commits on main, plus one DVC experiment ref per ten
commits) a git repo is generated with `git fast-import` from this project's own dvc.yaml,
params.yaml, dvc.lock and reports/leakage.json: every commit and experiment trains another model
(its md5 in dvc.lock `stages.train.outs` changes) and writes evaluate/metrics.json; the split,
and so `test_part.sha256`, changes every 250 commits. Then, warm, the median of --runs:
- `count_looks` in this process (a fresh `Repository`: its git processes are counted);
- the same with every dvc.lock parsed whole instead of `lock_field` (the alternative it replaces);
- `diff_revs(HEAD~1, HEAD)` in this process, which includes the counter, and the CLI
  `mlrepro diff HEAD~1 HEAD --format json` as a subprocess;
- the floor: one `git cat-file --batch` fed the blobs the counter reads (the report at every
  revision, dvc.lock and the metrics at those on B's test part), and `git rev-list` alone.
The count is checked against the number of distinct models the generator wrote. Repos live under
bench/out/looks/ and are deleted at the end. Example:

    .venv/bin/python bench/looks.py --output bench/LOOKS_RESULTS.md
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from history import commit_command, machine, run
from pipeline import COMMAND, bench_env

from mlrepro.diff.core import diff_revs
from mlrepro.diff.looks import Layout, count_looks, layout, model_id
from mlrepro.revisions import Blob, Repository, Rev, Revision, load_many, open_repo, parse

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out" / "looks"
SPLIT_EVERY = 250  # commits per test part
EXPERIMENT_EVERY = 10  # one experiment ref per this many commits
REPORT, METRICS, LOCK = "reports/leakage.json", "evaluate/metrics.json", "dvc.lock"


def model_md5(i: int) -> str:
    return hashlib.md5(f"model {i}".encode()).hexdigest()


def part_sha(i: int) -> str:
    return hashlib.sha256(f"test part {i // SPLIT_EVERY}".encode()).hexdigest()


def project_files() -> dict[str, bytes]:
    names = ["dvc.yaml", "params.yaml", LOCK, REPORT, METRICS]
    return {name: (ROOT / name).read_bytes() for name in names}


def revision_files(base: dict[str, bytes], i: int, model_in_lock: str) -> dict[str, bytes]:
    """This project's files as commit (or experiment) `i` would hold them."""
    report = json.loads(base[REPORT])
    report["test_part"]["sha256"] = part_sha(i)
    metrics = json.loads(base[METRICS])
    metrics["test"]["roc_auc"] = round(0.6 + (i % 97) / 1e4, 6)
    lock = base[LOCK].replace(model_in_lock.encode(), model_md5(i).encode())
    params = base["params.yaml"].replace(b"max_iter:", b"max_iter: %d #" % (i + 1), 1)
    return {
        "params.yaml": params,
        LOCK: lock,
        REPORT: (json.dumps(report, indent=2, sort_keys=True) + "\n").encode(),
        METRICS: (json.dumps(metrics, indent=2, sort_keys=True) + "\n").encode(),
    }


def experiment_command(i: int, parent_mark: int, files: dict[str, bytes]) -> bytes:
    message = f"experiment {i}".encode()
    out = f"commit refs/exps/aa/{'b' * 38}/exp-{i}\n".encode()
    out += f"committer Bench <bench@mlrepro.invalid> {1_700_000_000 + i} +0000\n".encode()
    out += b"data %d\n%s\nfrom :%d\n" % (len(message), message, parent_mark)
    for name, data in files.items():
        out += b"M 100644 inline %s\ndata %d\n%s\n" % (name.encode(), len(data), data)
    return out


def make_repo(path: Path, commits: int) -> int:
    """The repo; returns the number of distinct models on the last commit's test part."""
    base = project_files()
    with open_repo(ROOT) as repo:
        here = Revision(repo, Rev("workspace", None))
        found = layout(here)
        if found is None:
            raise SystemExit("this project's workspace records no test part: run dvc repro")
        model = model_id(_lock_outs(base[LOCK]), found.model)
    if model is None or " " in model:
        raise SystemExit(f"expected one cached train output in {LOCK}, found {model}")
    path.mkdir(parents=True)
    run(["git", "init", "-q", "-b", "main"], path)
    stream = bytearray()
    for i in range(commits):
        files = revision_files(base, i, model)
        if i == 0:
            files["dvc.yaml"] = base["dvc.yaml"]
        command = commit_command(i, files).replace(b"commit refs/heads/main\n", b"")
        stream += b"commit refs/heads/main\nmark :%d\n" % (i + 1) + command
    for j in range(commits // EXPERIMENT_EVERY):
        i = commits + j  # another model
        parent = min(commits, (j + 1) * EXPERIMENT_EVERY)
        files = revision_files(base, parent - 1, model)  # the parent's test part
        files[LOCK] = files[LOCK].replace(model_md5(parent - 1).encode(), model_md5(i).encode())
        stream += experiment_command(i, parent, files)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=bytes(stream), check=True)
    run(["git", "reset", "-q", "--hard", "main"], path)
    last = part_sha(commits - 1)
    on_part = [i for i in range(commits) if part_sha(i) == last]
    every = EXPERIMENT_EVERY
    experiments = [j for j in range(commits // every) if (j + 1) * every - 1 in on_part]
    return len(on_part) + len(experiments)


def _lock_outs(lock: bytes) -> Any:
    return parse(LOCK, lock)["stages"]["train"]["outs"]


def looks_now(repo: Path) -> int:
    with closing(Repository(repo)) as source:
        head = source.resolve("HEAD")
        found = count_looks(Revision(source, head), 20)
    assert found is not None
    return found.models


def looks_whole_lock(repo: Path) -> int:
    """The counter with dvc.lock parsed whole at each revision on the test part (what
    `lock_field` replaces); the rest as `count_looks` does it."""
    from mlrepro.diff import looks

    original = looks.lock_field

    def whole(data: bytes, stage: str, field: str) -> Any:
        lock = parse(LOCK, data)
        return ((lock.get("stages") or {}).get(stage) or {}).get(field)

    looks.lock_field = whole  # type: ignore[assignment]
    try:
        return looks_now(repo)
    finally:
        looks.lock_field = original


def floor_names(repo: Path) -> bytes:
    """The `<commit>:<path>` names the counter reads, for one `git cat-file --batch`: the report
    at every revision, dvc.lock and the metrics files at those on HEAD's test part."""
    with closing(Repository(repo)) as source:
        head = Revision(source, source.resolve("HEAD"))
        where: Layout | None = layout(head)
        assert where is not None
        starts = [sha for sha, _ in source.experiments()] + ["HEAD"]
        shas = source.reachable(starts)
        parts = load_many(source, [(Rev(s, s), where.report) for s in shas], _sha_of)
        on_part = [s for s, part in zip(shas, parts, strict=True) if part == parts[0]]
    names = [f"{s}:{where.report}" for s in shas]
    names += [f"{s}:{p}" for s in on_part for p in (LOCK, *where.metrics)]
    return "".join(f"{n}\n" for n in names).encode()


def _sha_of(path: str, blob: Blob) -> Any:
    if path != REPORT or blob.kind != b"blob":
        return None
    return json.loads(blob.data)["test_part"]["sha256"]


def timed(call: Callable[[], Any], runs: int) -> list[float]:
    call()  # warm
    walls = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        walls.append(time.perf_counter() - start)
    return walls


def process(argv: list[str], cwd: Path, stdin: bytes | None = None) -> Callable[[], None]:
    def call() -> None:
        subprocess.run(
            argv, cwd=cwd, env=bench_env(), input=stdin, stdout=subprocess.DEVNULL, check=True
        )

    return call


def one_size(commits: int, tmp: Path, runs: int) -> dict[str, Any]:
    repo = tmp / f"repo{commits}"
    build = time.perf_counter()
    expected = make_repo(repo, commits)
    build = time.perf_counter() - build
    counted = looks_now(repo)
    if counted != expected or looks_whole_lock(repo) != expected:
        raise SystemExit(f"{repo}: counted {counted} models, the generator wrote {expected}")
    names = floor_names(repo)
    revs = len(run(["git", "rev-list", "--all"], repo).split())
    cli = ["mlrepro", "diff", "HEAD~1", "HEAD", "--format", "json"]
    rev_list = ["git", "rev-list", "--branches", "--remotes", "--tags", "--stdin"]
    exps = run(["git", "for-each-ref", "--format=%(objectname)", "refs/exps"], repo)
    times = {
        "count_looks (in process)": timed(lambda: looks_now(repo), runs),
        "count_looks, dvc.lock parsed whole": timed(lambda: looks_whole_lock(repo), runs),
        "diff_revs HEAD~1 HEAD, counter included (in process)": timed(
            lambda: diff_revs(repo, "HEAD~1", "HEAD"), runs
        ),
        f"`{' '.join(cli)}` (CLI)": timed(process(cli, repo), runs),
        "floor: git cat-file --batch of the same blobs": timed(
            process(["git", "cat-file", "--batch"], repo, names), runs
        ),
        "floor: git rev-list (part of the counter)": timed(
            process(rev_list, repo, (exps + "HEAD\n").encode()), runs
        ),
    }
    return {
        "commits": commits,
        "revisions": revs,
        "blobs": names.count(b"\n"),
        "models": counted,
        "build": build,
        "times": times,
    }


def render(results: list[dict[str, Any]], info: dict[str, str], runs: int) -> str:
    lines = [
        "# Benchmark: the test-looks counter of `mlrepro diff`",
        "",
        f"Command: `{COMMAND}`",
        "",
        *(f"- {key}: {value}" for key, value in info.items()),
        "",
        f"Warm page cache; each way runs once untimed, then {runs} times (median shown). Repos "
        "from this project's dvc.yaml, params.yaml, dvc.lock and leakage report; one DVC "
        f"experiment per {EXPERIMENT_EVERY} commits; a new test part every {SPLIT_EVERY} "
        "commits. The count is checked against the models the generator wrote.",
        "",
    ]
    for r in results:
        lines += [
            f"## {r['commits']:,} commits ({r['revisions']:,} revisions with the experiments)",
            "",
            f"Built in {r['build']:.1f} s; {r['blobs']:,} blobs read; {r['models']} models on "
            "HEAD's test part.",
            "",
            "| way | wall (s, median) | runs |",
            "|---|--:|---|",
        ]
        for label, walls in r["times"].items():
            runs_text = ", ".join(f"{w:.3f}" for w in walls)
            lines.append(f"| {label} | {statistics.median(walls):.3f} | {runs_text} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--runs", type=int, default=5, help="default: %(default)s")
    parser.add_argument("--output", type=Path, help="write the Markdown report here too")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    info = machine()
    fs = subprocess.run(["stat", "-f", "-c", "%T", str(OUT)], capture_output=True, text=True)
    info["file system of the temp dir (`stat -f -c %T`)"] = fs.stdout.strip()
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        results = []
        for commits in args.commits:
            results.append(one_size(commits, Path(tmp), args.runs))
            print(f"{commits} commits done", file=sys.stderr)
    report = render(results, info, args.runs)
    print(report)
    if args.output:
        args.output.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
