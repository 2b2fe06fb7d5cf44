"""core.shell.run_stage on a tiny git repo: a failing stage leaves no partial output, puts back
what git tracks (or keeps validate's report), turns SIGTERM and a full disk into a clean end."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrepro.core.errors import DataError, ValidationFailed
from mlrepro.core.files import atomic_path, tracked_files, write_json
from mlrepro.core.shell import run_stage

ARGV = ["--report", "reports/r.json", "--out", "data/out"]
COMMITTED = b'{"ok": true}\n'


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repo with a committed report (a `cache: false` output) and a DVC-like data folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "r.json").write_bytes(COMMITTED)
    (tmp_path / "data" / "out").mkdir(parents=True)
    (tmp_path / "data" / "out" / "part.bin").write_bytes(b"old part")
    (tmp_path / ".gitignore").write_text("/data\n")
    for command in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *command], check=True, cwd=tmp_path)
    return tmp_path


def stage(body: Callable[[argparse.Namespace], None]) -> int:
    return run_stage("s", body, ARGV, inputs=[], outputs=["report", "out"])


def partial_then(error: BaseException) -> Callable[[argparse.Namespace], None]:
    """A stage body that writes part of its outputs, then fails with `error`."""

    def body(args: argparse.Namespace) -> None:
        (Path(args.out) / "part.bin").write_bytes(b"partial")
        write_json(args.report, {"ok": False, "violations": ["x"]})
        raise error

    return body


def test_tracked_files_reads_the_work_tree_or_else_the_index(repo: Path) -> None:
    (repo / "reports" / "r.json").unlink()  # as DVC leaves it before running the stage
    assert tracked_files(["reports/r.json", "data/out"]) == {Path("reports/r.json"): COMMITTED}


def test_tracked_files_outside_git_is_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    (tmp_path / "r.json").write_text("{}")
    assert tracked_files(["r.json"]) == {}


@pytest.mark.parametrize("removed_before", [False, True], ids=["run-by-hand", "run-by-dvc"])
def test_failure_puts_back_tracked_outputs_and_removes_cached_ones(
    repo: Path, capsys: pytest.CaptureFixture[str], removed_before: bool
) -> None:
    if removed_before:  # dvc repro removes a stage's outputs before it runs it
        (repo / "reports" / "r.json").unlink()
    assert stage(partial_then(DataError("t.csv: broken"))) == 2
    assert capsys.readouterr().err == "mlrepro s: error: t.csv: broken\n"
    assert (repo / "reports" / "r.json").read_bytes() == COMMITTED
    assert not (repo / "data" / "out").exists()


def test_validation_failed_keeps_the_report_it_wrote(repo: Path) -> None:
    (repo / "reports" / "r.json").unlink()
    assert stage(partial_then(ValidationFailed("1 violation", ["x"]))) == 1
    assert b'"ok": false' in (repo / "reports" / "r.json").read_bytes()
    assert not (repo / "data" / "out").exists()


def test_an_unexpected_error_still_loses_nothing(repo: Path) -> None:
    with pytest.raises(RuntimeError, match="bug"):
        stage(partial_then(RuntimeError("bug")))
    assert (repo / "reports" / "r.json").read_bytes() == COMMITTED


def test_full_disk_is_one_line_exit_2_and_leaves_no_temporary_file(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def body(args: argparse.Namespace) -> None:
        with atomic_path(args.report) as tmp:
            tmp.write_bytes(b"{")
            raise OSError(errno.ENOSPC, "No space left on device")

    assert stage(body) == 2
    assert capsys.readouterr().err == (
        "mlrepro s: error: reports/r.json: cannot write: No space left on device "
        "(free space, then re-run)\n"
    )
    assert sorted(os.listdir(repo / "reports")) == ["r.json"]
    assert (repo / "reports" / "r.json").read_bytes() == COMMITTED


def test_full_disk_outside_atomic_path_names_the_file(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def body(args: argparse.Namespace) -> None:
        raise OSError(errno.EDQUOT, "Disk quota exceeded", "data/out/plot.png")

    assert stage(body) == 2
    assert capsys.readouterr().err == (
        "mlrepro s: error: data/out/plot.png: cannot write: Disk quota exceeded "
        "(free space, then re-run)\n"
    )


def test_sigterm_ends_the_stage_cleanly(repo: Path) -> None:
    """A SIGTERM while an output is being written: its temporary file is removed (the handler
    unwinds like Ctrl-C), the tracked outputs are put back, exit 128 + 15."""
    before = signal.getsignal(signal.SIGTERM)

    def body(args: argparse.Namespace) -> None:
        with atomic_path(args.report) as tmp:
            tmp.write_bytes(b"half a report")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)  # not reached: the handler raises first

    assert stage(body) == 128 + signal.SIGTERM
    assert sorted(os.listdir(repo / "reports")) == ["r.json"]
    assert (repo / "reports" / "r.json").read_bytes() == COMMITTED
    assert not (repo / "data" / "out").exists()
    assert signal.getsignal(signal.SIGTERM) == before
