"""The thin shell every stage's `main()` runs in: parse paths, run, and on a failure print one
line, leave no partial output that DVC could take as valid, and lose nothing git tracks."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from mlrepro.core.errors import MlreproError, ValidationFailed
from mlrepro.core.files import disk_full, remove_outputs, restore_files, tracked_files


class Terminated(KeyboardInterrupt):
    """SIGTERM (a kill, DVC stopping a stage): unwinds like Ctrl-C, so temporary files go."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


def run_stage(
    name: str,
    body: Callable[[argparse.Namespace], None],
    argv: Sequence[str] | None,
    *,
    inputs: Sequence[str],
    outputs: Sequence[str],
) -> int:
    """Parse `--<input>` / `--<output>` paths, call `body(args)`; MlreproError -> one line.

    On any failure the outputs are removed, so DVC never takes a partial one as valid (dvc.lock
    is not updated, the stage stays changed), and the outputs git tracks (`cache: false`:
    reports, metrics, the model card) are put back as they were before the stage ran. After a
    ValidationFailed the report the stage wrote is kept: it is the record of what it found.
    """
    parser = argparse.ArgumentParser(prog=f"python -m mlrepro.stages.{name}")
    for option in [*inputs, *outputs]:
        parser.add_argument(f"--{option}", required=True)
    args = parser.parse_args(argv)
    paths = [getattr(args, o.replace("-", "_")) for o in outputs]
    before = tracked_files(paths)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        body(args)
    except BaseException as exc:
        error = exc if isinstance(exc, MlreproError) else _disk_full(exc)
        undo(paths, before, keep_written=isinstance(error, ValidationFailed))
        if isinstance(exc, Terminated):
            return 128 + signal.SIGTERM
        if isinstance(exc, KeyboardInterrupt):
            return 130
        if error is None:
            raise
        print(f"mlrepro {name}: error: {error}", file=sys.stderr)
        return error.exit_code
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def _disk_full(exc: BaseException) -> MlreproError | None:
    """A full disk met outside `atomic_path` (a folder, a library writing its own file)."""
    return disk_full(exc) if isinstance(exc, OSError) else None


def undo(paths: Sequence[str], before: dict[Path, bytes], *, keep_written: bool = False) -> None:
    """Remove a failed stage's outputs and put back the git-tracked files `before` held (a file
    still as it was is not touched: on a full disk it could not be written back); with
    `keep_written`, the tracked files the stage wrote stay: its report of the failure."""
    kept = {
        p for p, data in before.items() if p.is_file() and (keep_written or _unchanged(p, data))
    }
    remove_outputs(*(p for p in paths if Path(p) not in kept))
    restore_files({path: data for path, data in before.items() if path not in kept})


def _unchanged(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except OSError:
        return False
