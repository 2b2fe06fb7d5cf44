"""Run `dvc repro` in a verify checkout: every stage forced, no run-cache, the output kept in a
log, a progress event per stage, and the process group stopped on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlrepro.verify.checkout import tool_env
from mlrepro.verify.environments import Environment

RUNNING = re.compile(r"^Running stage '([^']+)'")
Progress = Callable[[str, str, float], None]  # (run label, stage, seconds it took)


@dataclass(frozen=True)
class RunOutcome:
    environment: Environment
    seconds: dict[str, float]  # stage -> wall time, in the order the stages ran
    failed: str | None  # the stage that failed, if one did
    error: str | None  # its one-line reason
    lock: dict[str, Any]  # the checkout's dvc.lock after the run


def reason(lines: list[str]) -> str:
    """The one line that says why a run failed: the stage's own error line when it printed
    one, else DVC's."""
    for prefix in ("mlrepro ", "ERROR: "):
        found = [ln for ln in lines if ln.startswith(prefix)]
        if found:
            return found[-1].strip()
    return next((ln.strip() for ln in reversed(lines) if ln.strip()), "failed")


def repro(
    checkout: Path,
    env: Environment,
    stage: str | None,
    progress: Progress | None,
    live: list[subprocess.Popen[str]] | None = None,
) -> RunOutcome:
    """Run the pipeline (or one stage) of `checkout` in `env`; `live` gets the process, so that
    another thread can stop it."""
    cmd = [sys.executable, "-m", "dvc", "repro", "--force", "--no-run-cache"]
    cmd += ["--single-item", stage] if stage else []
    log_path = checkout.parent / f"{checkout.name}.log"
    seconds: dict[str, float] = {}
    lines: list[str] = []
    current, started = None, time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=checkout,
        env=tool_env(env.variables),
        umask=-1 if env.umask is None else env.umask,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # one process group: Ctrl-C stops dvc and the stage it runs
    )
    if live is not None:
        live.append(proc)

    def finish(now: float) -> None:
        if current is not None:
            seconds[current] = now - started
            if progress:
                progress(env.label, current, seconds[current])

    try:
        with open(log_path, "w", encoding="utf-8") as log:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                lines.append(line.rstrip("\n"))
                match = RUNNING.match(line)
                if match:
                    now = time.monotonic()
                    finish(now)
                    current, started = match.group(1), now
        code = proc.wait()
    except BaseException:
        stop(proc)
        raise
    if code == 0:
        finish(time.monotonic())
    lock_file = checkout / "dvc.lock"
    lock = yaml.safe_load(lock_file.read_text()) if lock_file.is_file() else {}
    return RunOutcome(
        environment=env,
        seconds=seconds,
        failed=None if code == 0 else (current or "dvc repro"),
        error=None if code == 0 else reason(lines),
        lock=lock if isinstance(lock, dict) else {},
    )


def stop(proc: subprocess.Popen[str]) -> None:
    """Stop dvc and every stage process it started."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def repro_all(
    runs: list[tuple[Path, Environment]], stage: str | None, progress: Progress | None
) -> list[RunOutcome]:
    """Each (checkout, environment) run at the same time, one thread each (the stages run with a
    pinned thread count, so two runs share two cores well)."""
    if len(runs) == 1:
        return [repro(runs[0][0], runs[0][1], stage, progress)]
    results: list[RunOutcome | BaseException | None] = [None] * len(runs)
    live: list[subprocess.Popen[str]] = []

    def work(i: int) -> None:
        try:
            results[i] = repro(runs[i][0], runs[i][1], stage, progress, live)
        except BaseException as exc:  # re-raised in the caller's thread
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(runs))]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    except BaseException:  # Ctrl-C arrives here: stop every run before the checkouts go
        for proc in live:
            stop(proc)
        for t in threads:
            t.join()
        raise
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return [r for r in results if isinstance(r, RunOutcome)]
