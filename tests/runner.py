"""How tests run `mlrepro`: the real entry point, `mlrepro.cli.main`, in a given directory.

- `mlrepro(cwd, *argv)` calls it in this process (fast; what most tests want);
- `mlrepro_process(cwd, *argv, env=...)` runs `python -m mlrepro.cli` to its end, and
  `start_mlrepro` starts it, for a test that needs a process of its own: environment variables
  read at import or cached (TMPDIR), a signal, a kill, a terminal;
- `wait_for(condition)` polls until a condition holds (a file, an upload, a process in
  `processes_in(folder)`), never a fixed sleep.

Both runners return a `Result` (exit code, stdout, stderr) and, unless `code=None`, assert the
exit code with the output in the message.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from mlrepro.cli import main
from tests.conftest import tool_env

T = TypeVar("T")


class Result(NamedTuple):
    code: int
    stdout: str
    stderr: str


def check(argv: tuple[str, ...], result: Result, code: int | None) -> Result:
    if code is not None:
        assert result.code == code, (
            f"mlrepro {' '.join(argv)}: exit {result.code}, expected {code}\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


def mlrepro(cwd: Path, *argv: str, code: int | None = 0) -> Result:
    """`mlrepro ARGV` in `cwd`, in this process, as the console script runs it."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            returned: object = main(list(argv))
        except SystemExit as exc:  # argparse: --help, --version and usage errors
            returned = exc.code
        if returned is not None and not isinstance(returned, int):  # as sys.exit(message) does
            print(returned, file=sys.stderr)
            returned = 1
    return check(argv, Result(returned or 0, out.getvalue(), err.getvalue()), code)


def process_env(env: Mapping[str, str | None] | None) -> dict[str, str]:
    """tool_env() with `env` on top; a variable set to None is removed."""
    merged = tool_env()
    for name, value in (env or {}).items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def start_mlrepro(
    cwd: Path, *argv: str, env: Mapping[str, str | None] | None = None, **popen: Any
) -> subprocess.Popen[str]:
    """`python -m mlrepro.cli ARGV` started in `cwd` with process_env(env); `popen` goes to
    subprocess.Popen (stdout, stderr, start_new_session...)."""
    command = [sys.executable, "-m", "mlrepro.cli", *argv]
    return subprocess.Popen(command, cwd=cwd, env=process_env(env), text=True, **popen)


def mlrepro_process(
    cwd: Path,
    *argv: str,
    code: int | None = 0,
    env: Mapping[str, str | None] | None = None,
    timeout: float = 600,
) -> Result:
    """`mlrepro ARGV` in `cwd` in a process of its own, run to its end."""
    proc = start_mlrepro(cwd, *argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode is not None
    return check(argv, Result(proc.returncode, out, err), code)


def wait_for(
    condition: Callable[[], T], *, timeout: float = 60, what: str, interval: float = 0.02
) -> T:
    """Call `condition` until it returns something true, and return that; AssertionError naming
    `what` once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        time.sleep(interval)
    return value


def processes_in(folder: Path) -> list[str]:
    """`pid cmdline` of every live process whose working directory is in `folder` (/proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # gone, or not ours to read
            continue
        if state != "Z" and (cwd == str(folder) or cwd.startswith(f"{folder}/")):
            found.append(f"{entry.name} {cmdline}")
    return found
