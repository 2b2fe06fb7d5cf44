"""Run `dvc` as a child that cannot outlive mlrepro: its own process group, stopped as a whole.

`run_dvc_group` starts `python -m mlrepro.remote.child ARGS...` in a new session (so a Ctrl-C at
the terminal reaches mlrepro, not dvc), and while it runs turns SIGINT, SIGTERM and SIGHUP into:
stop the whole group (SIGTERM, then SIGKILL after GRACE seconds), then raise `Interrupted`.
Run as a module, this file asks Linux to send it SIGTERM when its parent dies
(PR_SET_PDEATHSIG; this survives a SIGKILL of mlrepro, which no handler sees) and then runs
dvc's own `__main__` in the same process. That is done here rather than in a `preexec_fn`,
which the subprocess docs call unsafe once threads run (s3fs keeps one by then).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType

GRACE = 5.0  # seconds dvc has to exit on SIGTERM before the group gets SIGKILL
PARENT_ENV = "MLREPRO_PARENT_PID"
STOP_ON = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_SET_PDEATHSIG = 1


class Interrupted(Exception):
    """mlrepro got `signum` while dvc ran; the dvc process group has been stopped."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def dvc_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "mlrepro.remote.child", *args]


def run_dvc_group(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`dvc ARGS` in `repo`, output captured; raises Interrupted after stopping its group."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", PARENT_ENV: str(os.getpid())}
    received: list[int] = []
    proc = subprocess.Popen(
        dvc_command(*args),
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        with forwarded(proc, received):
            out, err = wait(proc, received)
    except BaseException:
        kill_group(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    if received:
        kill_group(proc.pid, signal.SIGKILL)  # anything dvc itself started
        raise Interrupted(received[0])
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@contextmanager
def forwarded(proc: subprocess.Popen[str], received: list[int]) -> Iterator[None]:
    """While inside: a stop signal is recorded and sends SIGTERM to the child's group."""
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can only be set in the main thread; the child still dies with us
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        kill_group(proc.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_ON}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def wait(proc: subprocess.Popen[str], received: list[int]) -> tuple[str, str]:
    """The child's output once it exits; SIGKILL to its group GRACE seconds after a stop."""
    deadline: float | None = None
    while True:
        try:
            out, err = proc.communicate(timeout=0.2)
            return out, err
        except subprocess.TimeoutExpired:
            if received and deadline is None:
                deadline = time.monotonic() + GRACE
            if deadline is not None and time.monotonic() > deadline:
                kill_group(proc.pid, signal.SIGKILL)


def kill_group(pgid: int, sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):  # the group is gone already
        os.killpg(pgid, sig)


def die_with_parent() -> None:
    """Linux: SIGTERM when the parent exits, however it exits; exit if it is already gone."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    parent = os.environ.pop(PARENT_ENV, None)
    if parent is not None and os.getppid() != int(parent):  # died before prctl took effect
        os._exit(128 + signal.SIGTERM)


def main() -> None:
    import runpy

    die_with_parent()
    sys.argv = ["dvc", *sys.argv[1:]]
    runpy.run_module("dvc", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
