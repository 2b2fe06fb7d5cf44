"""What a Dask worker runs for one configuration: `run_task(spec, topic)`.

It says where it runs (an event on `topic`, which the client prints), makes a temporary folder,
starts `python -m mlrepro.sweep.checkout FOLDER` (`checkout`: clone, run, push, clean up) in a
session of its own, and waits for its outcome. Dask cannot stop the thread of a running task, so
a cancelled task (the client's Ctrl-C, or the client gone) would leave the child running: the
task looks every POLL seconds whether Dask still wants it and otherwise stops the child itself
(SIGTERM: the child stops dvc's process group and removes its folder). `stop_sweep(topic)`, run
on every worker by the client (`Client.run`) after it cancelled the tasks, does the same at once
for a whole sweep and returns when its children are gone. A killed worker takes no part in this:
its children get SIGTERM from the kernel (PR_SET_PDEATHSIG) and clean up the same way, and the
scheduler runs the task again on another worker.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import suppress
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mlrepro.remote.child import PARENT_ENV
from mlrepro.sweep.checkout import Outcome, Spec, remove_folder

POLL = 0.2  # seconds between two looks at whether the task is still wanted
STOP_WAIT = 60.0  # seconds a stopped child has to clean up before SIGKILL
GONE = frozenset({"cancelled", "released", "forgotten"})  # a task Dask no longer wants

_live: dict[str, set[subprocess.Popen[str]]] = {}  # topic -> the children running here
_lock = threading.Lock()


class ChildDied(Exception):
    """The child ended without an outcome (killed from outside): Dask may retry the task."""


def run_task(spec: Spec, topic: str) -> Outcome:
    from distributed import get_worker

    worker = get_worker()
    key = worker.get_current_task()
    event = {"name": spec.name, "event": "running", "worker": worker.address}
    worker.log_event(topic, {**event, "host": socket.gethostname(), "pid": os.getpid()})
    folder = Path(tempfile.mkdtemp(prefix="mlrepro-sweep-"))
    (folder / "spec.json").write_text(json.dumps(asdict(spec)), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlrepro.sweep.checkout", str(folder)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # signals reach it from us only
        env={**os.environ, PARENT_ENV: str(os.getpid())},
    )
    with _lock:
        _live.setdefault(topic, set()).add(proc)
    try:
        out, err, dropped = _wait(proc, lambda: _unwanted(worker, key))
    finally:
        with _lock:
            _live[topic].discard(proc)
        stop_child(proc)
        remove_folder(folder)  # the child removes it; this is for a child killed from outside
    return _outcome(proc.returncode, out, err, dropped)


def _wait(proc: subprocess.Popen[str], unwanted: Any) -> tuple[str, str, bool]:
    """The child's output once it exits; the child stopped when `unwanted()` turns true."""
    dropped = False
    while True:
        try:
            out, err = proc.communicate(timeout=POLL)
            return out, err, dropped
        except subprocess.TimeoutExpired:
            if not dropped and unwanted():
                dropped = True
                signal_child(proc, signal.SIGTERM)


def _unwanted(worker: Any, key: Any) -> bool:
    """Dask cancelled the task, or the worker is closing."""
    if worker.status.name in ("closing", "closed", "failed"):
        return True
    task = worker.state.tasks.get(key)
    return task is None or task.state in GONE


def _outcome(code: int | None, out: str, err: str, dropped: bool) -> Outcome:
    lines = out.strip().splitlines()
    if lines:
        try:
            data = json.loads(lines[-1])
            return Outcome(**{**data, "log": tuple(data["log"])})
        except (ValueError, TypeError):
            pass
    if dropped:
        return Outcome(False, "", "stopped", "cancelled")
    last = next((ln for ln in reversed(err.splitlines()) if ln.strip()), "")
    raise ChildDied(f"the run's process exited with {code} and no outcome: {last}".rstrip(": "))


def signal_child(proc: subprocess.Popen[str], sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def stop_child(proc: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL after STOP_WAIT seconds; nothing when it has exited."""
    if proc.poll() is not None:
        return
    signal_child(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_WAIT)
    except subprocess.TimeoutExpired:
        signal_child(proc, signal.SIGKILL)
        proc.wait()


async def stop_sweep(topic: str) -> int:
    """Stop every child of the sweep `topic` running on this worker; return how many there were
    once all have exited (run by the client on each worker, in the worker's event loop)."""
    with _lock:
        children = list(_live.get(topic, ()))
    for proc in children:
        signal_child(proc, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT
    while any(p.poll() is None for p in children) and time.monotonic() < deadline:
        await asyncio.sleep(POLL)
    return len(children)
