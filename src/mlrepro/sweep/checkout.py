"""One configuration, run in a process of its own on a worker: `python -m mlrepro.sweep.checkout
FOLDER` reads FOLDER/spec.json, and prints one JSON line, its outcome.

In FOLDER/repo: a clean clone of the client's commit, `dvc exp run -S ... --name NAME`, then
`dvc exp push origin NAME`, which writes the experiment's ref (`refs/exps/..`) where the clone
came from, and never a work tree or an index:

- on the client's machine (the worker sees the client's repository and the token file it wrote
  in `.dvc/tmp`): `git clone --shared` of the client's repository, its DVC cache pointed at the
  client's (`cache.dir` in the clone's `.dvc/config.local`, beside the client's own
  config.local, credentials included), `dvc checkout` of what the cache holds so unchanged
  stages are not run again; the outputs land in the client's cache and the ref is pushed to the
  client's repository (`--no-cache`);
- elsewhere (or with MLREPRO_SWEEP_AS_REMOTE=1 in the worker's environment, which simulates it):
  a clone of the client's git remote with a cache of its own, `dvc pull` from the DVC remote the
  commit configures, and `dvc exp push` of the ref to the git remote and of the outputs to the
  DVC remote; the client then pulls the ref.

Every dvc command runs in a process group of its own. This process dies with the worker
(PR_SET_PDEATHSIG, `mlrepro.remote.child.die_with_parent`): SIGTERM, SIGINT or SIGHUP, a
cancelled task or a killed worker, stops the group (SIGTERM, SIGKILL after GRACE seconds) and
removes FOLDER, whatever happened; an experiment exists only once its ref is pushed, at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from configobj import ConfigObj

from mlrepro.snapshot.immutable import protected, unprotected

GRACE = 5.0  # seconds a dvc group has to stop on SIGTERM before SIGKILL
LOG_LINES = 40  # the end of dvc exp run's output kept in the outcome
AS_REMOTE = "MLREPRO_SWEEP_AS_REMOTE"  # "1": act as a worker on another machine
TOKEN_DIR = ".dvc/tmp"  # in the client's repository: mlrepro-sweep-<token>
STOP_ON = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@dataclass(frozen=True)
class Spec:
    """What a worker needs to run one configuration (JSON: it crosses to another process)."""

    name: str
    overrides: tuple[str, ...]
    commit: str
    repo: str  # the client's repository, absolute
    token: str  # the file TOKEN_DIR/mlrepro-sweep-<token> in `repo` holds it
    cache_dir: str  # the client's DVC cache
    git_remote: str | None  # the URL of the client's git remote, for workers elsewhere
    git_remote_name: str  # its name at the client
    author: tuple[str, str] | None  # the client's git user.name and user.email

    @property
    def ref(self) -> str:
        return f"refs/exps/{self.commit[:2]}/{self.commit[2:]}/{self.name}"


@dataclass(frozen=True)
class Outcome:
    """How the run ended: `ok`, or `reason` (one line) and the step that failed."""

    ok: bool
    mode: str  # "local" (the client's machine) or "remote"
    step: str  # the last step reached: clone, data, run, push, done
    reason: str | None = None
    experiment: str | None = None  # the experiment's commit
    seconds: float | None = None  # dvc exp run's wall time, when it succeeded
    log: tuple[str, ...] = ()  # the end of dvc exp run's output

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Stopped(Exception):
    """A stop signal arrived; the dvc group has been stopped."""


class StepFailed(Exception):
    def __init__(self, reason: str, log: list[str] | None = None) -> None:
        super().__init__(reason)
        self.reason, self.log = reason, log or []


class Runner:
    """Runs dvc and git in the clone, one process group at a time, and stops the current one."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.repo = folder / "repo"
        self.current: subprocess.Popen[str] | None = None

    def run(self, *cmd: str, cwd: Path | None = None) -> list[str]:
        """The command's output lines (stdout and stderr); StepFailed with its one-line reason."""
        from mlrepro.verify.checkout import tool_env

        proc = subprocess.Popen(
            cmd,
            cwd=cwd or self.repo,
            env=tool_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.current = proc
        try:
            out, _ = proc.communicate()
        finally:
            self.current = None
            if proc.poll() is None:
                stop_group(proc)
        lines = out.splitlines()
        if proc.returncode != 0:
            raise StepFailed(reason(lines, " ".join(cmd[:4])), lines)
        return lines

    def dvc(self, *args: str) -> list[str]:
        return self.run(sys.executable, "-m", "dvc", *args)

    def git(self, *args: str, cwd: Path | None = None) -> list[str]:
        return self.run("git", *args, cwd=cwd)

    def stop(self) -> None:
        if self.current is not None:
            stop_group(self.current)


def reason(lines: list[str], what: str) -> str:
    """Why a command failed, in one line: a stage's own `mlrepro <stage>: error: ...` line, else
    DVC's `ERROR: ...`, else git's `fatal: ...`, else its last line."""
    for prefix in ("mlrepro ", "ERROR: ", "fatal: ", "error: "):
        found = [ln.strip() for ln in lines if ln.startswith(prefix)]
        if found:
            return found[-1]
    last = next((ln.strip() for ln in reversed(lines) if ln.strip()), "")
    return last or f"{what} failed"


def stop_group(proc: subprocess.Popen[str]) -> None:
    """SIGTERM to the process group (dvc and the stage it runs), SIGKILL after GRACE seconds."""
    for sig, wait in ((signal.SIGTERM, GRACE), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with suppress(ProcessLookupError, PermissionError):  # what the group left behind
        os.killpg(proc.pid, signal.SIGKILL)


def on_this_machine(spec: Spec) -> bool:
    """Whether this worker sees the client's repository: the token file the client wrote."""
    if os.environ.get(AS_REMOTE) == "1":
        return False
    token = Path(spec.repo) / TOKEN_DIR / f"mlrepro-sweep-{spec.token}"
    try:
        return token.read_text(encoding="utf-8").strip() == spec.token
    except OSError:
        return False


def run_config(spec: Spec, runner: Runner) -> Outcome:
    local = on_this_machine(spec)
    mode = "local" if local else "remote"
    step = "clone"
    try:
        clone(spec, runner, local)
        step = "data"
        if local:
            runner.dvc("checkout", "--allow-missing", "--quiet")
        else:
            pull(runner)
        step = "run"
        started = time.monotonic()
        sets = [arg for o in spec.overrides for arg in ("-S", o)]
        log = runner.dvc("exp", "run", "--name", spec.name, *sets)
        seconds = time.monotonic() - started
        step = "push"
        push = ["--no-cache"] if local else []
        runner.dvc("exp", "push", *push, "origin", spec.name)
        experiment = runner.git("rev-parse", "--verify", spec.ref)[0].strip()
    except StepFailed as exc:
        return Outcome(False, mode, step, exc.reason, log=tuple(exc.log[-LOG_LINES:]))
    return Outcome(True, mode, "done", None, experiment, round(seconds, 1), tuple(log[-LOG_LINES:]))


def clone(spec: Spec, runner: Runner, local: bool) -> None:
    """The commit checked out in a fresh clone, its DVC config set for where it runs."""
    if local:
        runner.git("clone", "-q", "--shared", "--no-checkout", spec.repo, "repo", cwd=runner.folder)
    elif spec.git_remote is None:
        raise StepFailed(
            "this worker does not see the client's repository (another machine) and the "
            f"repository has no git remote {spec.git_remote_name!r} to clone: add one, push the "
            "commit, or run the workers on the client's machine"
        )
    else:
        runner.git("clone", "-q", "--no-checkout", spec.git_remote, "repo", cwd=runner.folder)
        if not _has_commit(runner, spec.commit):
            try:
                runner.git("fetch", "--quiet", "origin", spec.commit)
            except StepFailed:
                raise StepFailed(
                    f"commit {spec.commit[:12]} is not on git remote {spec.git_remote_name} "
                    f"({spec.git_remote}): push it first"
                ) from None
    runner.git("-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", spec.commit)
    if spec.author is not None:  # dvc exp run commits as the user, as it would at the client
        runner.git("config", "user.name", spec.author[0])
        runner.git("config", "user.email", spec.author[1])
    configure_dvc(spec, runner.repo, local)


def _has_commit(runner: Runner, commit: str) -> bool:
    try:
        runner.git("cat-file", "-e", f"{commit}^{{commit}}")
    except StepFailed:
        return False
    return True


def configure_dvc(spec: Spec, repo: Path, local: bool) -> None:
    """`.dvc/config.local` of the clone: the client's (credentials) and its cache on the client's
    machine; DVC's site cache inside the clone, so nothing is left in /var/tmp."""
    dvc_dir = repo / ".dvc"
    if not dvc_dir.is_dir():
        raise StepFailed(f"commit {spec.commit[:12]} is not a DVC project (no .dvc folder)")
    theirs = Path(spec.repo) / ".dvc" / "config.local"
    if local and theirs.is_file():
        shutil.copyfile(theirs, dvc_dir / "config.local")
    config = ConfigObj(str(dvc_dir / "config.local"))
    if local:
        config.setdefault("cache", {})["dir"] = spec.cache_dir
    config.setdefault("core", {})["site_cache_dir"] = str(dvc_dir / "tmp" / "site")
    config.write()


def pull(runner: Runner) -> None:
    """Another machine: what the DVC remote holds of the commit's outputs and snapshots."""
    remotes = runner.dvc("remote", "list")
    if not any(ln.strip() for ln in remotes):
        raise StepFailed(
            "this worker is on another machine and the commit configures no DVC remote for the "
            "outputs (mlrepro remote add)"
        )
    runner.dvc("pull", "--allow-missing", "--quiet")


def remove_folder(path: Path) -> None:
    """Remove the folder; an immutable file (a snapshot restored by ingest) is unlinked in
    `unprotected`, so an inode it shares with a DVC cache object stays protected."""
    if not path.exists():
        return
    for folder in [path, *(p for p in path.rglob("*") if p.is_dir() and not p.is_symlink())]:
        folder.chmod(0o755)
    for file in path.rglob("*"):
        if file.is_file() and not file.is_symlink() and protected(file):
            with unprotected(file):
                file.unlink()
    shutil.rmtree(path)


def main() -> None:
    from mlrepro.remote.child import die_with_parent

    folder = Path(sys.argv[1])
    die_with_parent()
    runner = Runner(folder)

    def stopped(signum: int, frame: FrameType | None) -> None:
        for sig in STOP_ON:  # once: the clean-up below is not interrupted again
            signal.signal(sig, signal.SIG_IGN)
        raise Stopped(signal.Signals(signum).name)

    for sig in STOP_ON:
        signal.signal(sig, stopped)
    outcome = Outcome(False, "", "start", "stopped before it started")
    try:
        data = json.loads((folder / "spec.json").read_text(encoding="utf-8"))
        spec = Spec(**{**data, "overrides": tuple(data["overrides"])})
        outcome = run_config(spec, runner)
    except Stopped as exc:
        outcome = Outcome(False, "", "stopped", f"stopped ({exc})")
    finally:
        for sig in STOP_ON:  # the clean-up runs to its end
            signal.signal(sig, signal.SIG_IGN)
        runner.stop()
        remove_folder(folder)
    with suppress(OSError):  # a worker that is gone reads nothing
        print(json.dumps(outcome.as_dict()), flush=True)


if __name__ == "__main__":
    main()
