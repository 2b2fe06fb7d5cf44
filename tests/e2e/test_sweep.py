"""`mlrepro sweep` on real Dask clusters (a LocalCluster of worker processes, and a `dask
scheduler` + `dask worker` started here on 127.0.0.1), a real repo and, for a worker on "another
machine", a moto S3 server and a bare git remote: the experiments equal `dvc exp run` alone, a
bad value fails its configuration only, a killed worker or Ctrl-C leaves nothing running and no
temporary clone, and the user's work tree, index and HEAD are untouched."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mlrepro.sweep.grid import expand
from tests.conftest import PROJECT, Repo, tool_env
from tests.e2e.test_remote import CREDENTIALS, S3, free_port
from tests.runner import Result, mlrepro, mlrepro_process, processes_in, start_mlrepro, wait_for

pytestmark = pytest.mark.e2e

GRID = ["-S", "train.max_iter=15,25", "-S", "train.learning_rate=0.1,0.2"]
BAD_RATE = (
    "failed: mlrepro train: error: params.yaml: train.learning_rate: The 'learning_rate' "
    "parameter of HistGradientBoostingClassifier must be a float in the range (0.0, inf). "
    "Got -1 instead."
)


@pytest.fixture
def repo(pipeline_repo: Repo) -> Repo:
    """The pipeline repo with gates.yaml committed, so the summary ranks by test.roc_auc."""
    shutil.copy2(PROJECT / "gates.yaml", pipeline_repo.path / "gates.yaml")
    pipeline_repo.commit_all("gates")
    return pipeline_repo


def sweep(repo: Repo, tmp: Path, *args: str, code: int | None = 0, **env: str) -> Result:
    tmp.mkdir(exist_ok=True)
    return mlrepro_process(repo.path, "sweep", *args, code=code, env={"TMPDIR": str(tmp), **env})


def head(repo: Repo) -> str:
    return repo.git("rev-parse", "HEAD").stdout.strip()


def experiments(repo: Repo) -> dict[str, str]:
    """name -> commit of every experiment of HEAD."""
    commit = head(repo)
    listed = repo.git("for-each-ref", "--format=%(refname) %(objectname)", "refs/exps").stdout
    prefix = f"refs/exps/{commit[:2]}/{commit[2:]}/"
    return {
        ref.removeprefix(prefix): sha
        for ref, sha in (line.split() for line in listed.splitlines())
        if ref.startswith(prefix)
    }


def names(repo: Repo, sets: list[str]) -> list[str]:
    return [c.name(head(repo)) for c in expand(sets[1::2])]


def workspace(repo: Repo) -> dict[str, str]:
    """sha256 of every work-tree file (not .git, DVC's cache and scratch), the index and HEAD."""
    root = repo.path
    state = {".git/index": hashlib.sha256((root / ".git/index").read_bytes()).hexdigest()}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith((".git/", ".dvc/tmp/", ".dvc/cache/")):
            state[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    state["HEAD"] = (root / ".git/HEAD").read_text() + head(repo)
    return state


def left_behind(tmp: Path) -> list[str]:
    """Temporary clones and live processes of the sweep's tasks under `tmp`."""
    return [p.name for p in tmp.glob("mlrepro-sweep-*")] + processes_in(tmp)


def show_file(repo: Repo, rev: str, path: str) -> str:
    return repo.git("show", f"{rev}:{path}").stdout


def test_a_grid_gives_the_experiments_dvc_exp_run_gives_alone(repo: Repo, tmp_path: Path) -> None:
    before = workspace(repo)
    run = sweep(repo, tmp_path / "tmp", *GRID, "--workers", "2")
    wanted = names(repo, GRID)
    made = experiments(repo)
    assert sorted(made) == sorted(wanted), run.stdout
    assert workspace(repo) == before, "the sweep touched the work tree, index or HEAD"
    assert left_behind(tmp_path / "tmp") == []
    out = run.stdout
    assert "sweep: 4 configurations of" in out and "on a local cluster of 2 workers" in out, out
    for name in wanted:
        assert re.search(rf"^{name}  queued train\.max_iter=", out, re.M), out
        assert re.search(rf"^{name}  running on tcp://127\.0\.0\.1:\d+ \(.+, pid \d+\)$", out, re.M)
        assert re.search(rf"^{name}  done test\.roc_auc 0\.\d{{6}} \(\d+\.\d s\)$", out, re.M), out
    # the summary: ranked by test.roc_auc (gates.yaml's first gate), best first
    rows = re.findall(r"^ +(\d)  (sweep-\w{8})  Success +(0\.\d{6})", out, re.M)
    assert [r[0] for r in rows] == ["1", "2", "3", "4"], out
    scores = [float(r[2]) for r in rows]
    assert scores == sorted(scores, reverse=True), out
    assert "4 configurations: 4 Success, 0 Failed" in out, out

    # `dvc exp show` lists them with their metrics
    shown = json.loads(repo.dvc("exp", "show", "--json").stdout)
    listed = {e["name"] for b in shown for e in b.get("experiments") or []}
    assert set(wanted) <= listed, listed

    # each one alone, with `dvc exp run` in the workspace: the same dvc.lock, byte for byte
    for name, config in zip(wanted, expand(GRID[1::2]), strict=True):
        sets = [arg for o in config.overrides for arg in ("-S", o)]
        repo.dvc("exp", "run", "--name", f"alone-{name}", *sets)
        alone = experiments(repo)[f"alone-{name}"]
        assert show_file(repo, made[name], "dvc.lock") == show_file(repo, alone, "dvc.lock")
        ours = show_file(repo, made[name], "evaluate/metrics.json")
        assert ours == show_file(repo, alone, "evaluate/metrics.json")
        assert f"{json.loads(ours)['test']['roc_auc']:.6f}" in out

    # again: nothing runs, the experiments are found
    again = sweep(repo, tmp_path / "tmp", *GRID)
    assert again.stdout.count("experiment made before, not run again") == 4, again.stdout
    assert "4 configurations: 4 Success (4 made before), 0 Failed" in again.stdout


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["train.max_iter=15,25", "train.foo=1"], "no param train.foo (to add it: +train.foo=1)"),
        (["train.max_iter"], "-S 'train.max_iter': missing EQUAL at '<EOF>'"),
        (["+train.colour=red"], "train.colour: unknown argument of HistGradientBoostingClassifier"),
        (["split.valid_start=soon"], "split.valid_start: expected a date like 2013-10-01"),
    ],
)
def test_refused_before_anything_starts(
    repo: Repo, tmp_path: Path, sets: list[str], message: str
) -> None:
    args = [arg for s in sets for arg in ("-S", s)]
    run = mlrepro(repo.path, "sweep", *args, code=2)
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert run.stdout == "" and experiments(repo) == {}


def scheduler_address(file: Path) -> str | None:
    try:
        return str(json.loads(file.read_text())["address"])
    except (OSError, ValueError, KeyError):  # not written yet, or half
        return None


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`dask scheduler` and one `dask worker` (a nanny and a worker process), started here on
    127.0.0.1; the scheduler's address and the workers' TMPDIR."""
    folder = tmp_path_factory.mktemp("dask")
    tmp = folder / "tmp"
    tmp.mkdir()
    env = {**tool_env(), "TMPDIR": str(tmp)}
    file = folder / "scheduler.json"
    dask = str(Path(sys.executable).parent / "dask")
    common = ["--host", "127.0.0.1", "--no-dashboard", "--scheduler-file", str(file)]
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen([dask, "scheduler", "--port", "0", *common], **quiet)
    worker = None
    try:
        address = wait_for(lambda: scheduler_address(file), what="the scheduler file")
        worker = subprocess.Popen(
            [dask, "worker", "--nworkers", "1", "--nthreads", "1", *common], **quiet
        )
        yield address, tmp
        assert worker.poll() is None, "the dask worker died"
    finally:
        for proc in (worker, scheduler):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)


def test_a_scheduler_elsewhere_and_a_failing_configuration(
    repo: Repo, tmp_path: Path, dask_cluster: tuple[str, Path]
) -> None:
    address, worker_tmp = dask_cluster
    sets = ["-S", "train.learning_rate=0.15,-1"]
    run = sweep(repo, tmp_path / "tmp", *sets, "--scheduler", address, code=1)
    good, bad = names(repo, sets)
    assert sorted(experiments(repo)) == [good], run.stdout
    assert f"on scheduler {address}" in run.stdout
    assert f"{bad}  {BAD_RATE}" in run.stdout, run.stdout
    summary = run.stdout.split("\n\n", 1)[1]
    assert re.search(rf"^   1  {good}  Success +0\.\d{{6}} ", summary, re.M), summary
    assert re.search(rf"^   -  {bad}  Failed +— +— +train\.learning_rate=-1$", summary, re.M)
    assert "reason: " + BAD_RATE.removeprefix("failed: ") in summary, summary
    assert "2 configurations: 1 Success, 1 Failed" in summary
    wait_for(lambda: left_behind(worker_tmp) == [], what="the worker to clean up")


def test_ctrl_c_stops_the_tasks_on_the_workers(
    repo: Repo, tmp_path: Path, dask_cluster: tuple[str, Path]
) -> None:
    address, worker_tmp = dask_cluster
    before = workspace(repo)
    proc = start_mlrepro(
        repo.path,
        *["sweep", "-S", "train.max_iter=16,26", "--scheduler", address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(
            lambda: any("mlrepro.stages." in p for p in processes_in(worker_tmp)),
            timeout=120,
            what="a stage running on the worker",
        )
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out + err
    assert "mlrepro: error: sweep interrupted (SIGINT)" in err, err
    # stop_sweep ran on the worker before the client left: nothing to wait for
    assert left_behind(worker_tmp) == [], left_behind(worker_tmp)
    assert experiments(repo) == {}
    assert workspace(repo) == before


def descendant(pid: int, marker: str) -> bool:
    """Whether a process whose command line holds `marker` descends from `pid`."""
    parents = {}
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text().rpartition(")")[2].split()
            parents[int(entry.name)] = (int(stat[1]), (entry / "cmdline").read_bytes())
        except (OSError, ValueError):
            continue
    for parent, cmdline in parents.values():
        if marker.encode() not in cmdline:
            continue
        while parent > 1:
            if parent == pid:
                return True
            parent = parents.get(parent, (0, b""))[0]
    return False


def kill_mid_task(pid: int, name: str) -> str:
    """SIGKILL the worker process `pid` once a stage of its task runs; returns `name`."""
    wait_for(lambda: descendant(pid, "mlrepro.stages."), what="a stage of its task")
    os.kill(pid, signal.SIGKILL)
    return name


def test_a_killed_worker_leaves_nothing_running(repo: Repo, tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    sets = ["-S", "train.max_iter=17,27"]
    lines, killed = [], None
    with start_mlrepro(
        repo.path,
        *["sweep", *sets, "--workers", "2"],
        env={"TMPDIR": str(tmp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                lines.append(line)
                found = re.search(r"^(sweep-\w{8})  running on .+ pid (\d+)\)$", line.strip())
                if found and killed is None:
                    killed = kill_mid_task(int(found.group(2)), found.group(1))
            proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
    out = "".join(lines)
    assert killed is not None, out
    # run again on another worker (the nanny's new process): Success, never left Running
    assert re.search(rf"^{killed}  running on .+, attempt 2$", out, re.M), out
    assert proc.returncode == 0, out
    assert sorted(experiments(repo)) == sorted(names(repo, sets))
    assert "2 configurations: 2 Success, 0 Failed" in out
    assert left_behind(tmp) == []


@pytest.fixture
def s3() -> Iterator[S3]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {**CREDENTIALS, "AWS_DEFAULT_REGION": "us-east-1"}.items():
            mp.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            mp.delenv(name, raising=False)
        server.start()
        try:
            yield S3(f"http://127.0.0.1:{port}")
        finally:
            server.stop()


def test_a_worker_elsewhere_pushes_to_the_git_and_dvc_remotes(
    repo: Repo, s3: S3, tmp_path: Path
) -> None:
    bucket = s3.bucket()
    mlrepro(repo.path, "remote", "add", f"s3://{bucket}/dvc", "--endpoint", s3.endpoint)
    repo.commit_all("remote")
    snapshots = [str(p.relative_to(repo.path)) for p in repo.path.glob("data/snapshots/*/*.dvc")]
    repo.dvc("commit", "--force", "--quiet", *snapshots)  # the snapshots in the cache, to push
    repo.dvc("push", "--quiet")
    origin = tmp_path / "origin.git"
    repo.run("git", "init", "-q", "--bare", str(origin))
    repo.git("remote", "add", "origin", str(origin))
    repo.git("push", "-q", "origin", "main")
    before = workspace(repo)
    sets = ["-S", "train.max_iter=15"]
    # the worker cannot see this repository: its own clone of origin, its own cache, dvc pull
    run = sweep(repo, tmp_path / "tmp", *sets, "--json", MLREPRO_SWEEP_AS_REMOTE="1")
    [name] = names(repo, sets)
    assert list(experiments(repo)) == [name], run.stderr
    assert re.search(rf"^{name}  done test\.roc_auc .+, pulled from origin\)$", run.stderr, re.M)
    made = experiments(repo)[name]
    [result] = json.loads(run.stdout)["results"]
    assert (result["status"], result["experiment"], result["pulled"]) == ("Success", made, "origin")
    assert repo.git("ls-remote", str(origin), "refs/exps/*").stdout.split()[0] == made
    lock = yaml.safe_load(show_file(repo, made, "dvc.lock"))
    model = next(o for o in lock["stages"]["train"]["outs"] if o["path"].endswith(".skops"))
    key = f"dvc/files/md5/{model['md5'][:2]}/{model['md5'][2:]}"
    assert key in s3.keys(bucket), "the experiment's model is not on the DVC remote"
    cache = repo.path / ".dvc/cache/files/md5" / model["md5"][:2] / model["md5"][2:]
    assert not cache.exists(), "made on the client's cache: not another machine"
    assert workspace(repo) == before
    assert left_behind(tmp_path / "tmp") == []
