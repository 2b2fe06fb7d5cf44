"""The bad-input corpus (issue 10, section 5), one case a row: what is wrong, the command, the
exit code and the one line it must print. Every case also checks that nothing is lost: git shows
no deleted file, the failing stage's git-tracked outputs are as they were (or, for validate, its
report of the failure is kept), and DVC still sees the failing stage as changed."""

from __future__ import annotations

import gzip
import io
import json
import re
import signal
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import Repo, tool_env
from tests.e2e.test_bad_input import package_flights, use_local_flights
from tests.runner import mlrepro, wait_for

pytestmark = pytest.mark.e2e

# Runs `module` (argv after it) with Path.write_text / write_bytes failing with ENOSPC for file
# names matching `pattern`: a disk that fills up while that file is written.
DISK_FULL = """
import errno, fnmatch, pathlib, runpy, sys
_, pattern, module, *args = sys.argv
for name in ("write_text", "write_bytes"):
    def full(self, *a, _real=getattr(pathlib.Path, name), **k):
        if fnmatch.fnmatch(self.name, pattern):
            raise OSError(errno.ENOSPC, "No space left on device")
        return _real(self, *a, **k)
    setattr(pathlib.Path, name, full)
sys.argv = [module, *args]
runpy.run_module(module, run_name="__main__")
"""

# `make s3-local` (python -m mlrepro.remote.local_server --port PORT) while something else
# listens on PORT; it used to hang
PORT_TAKEN = """
import runpy, socket, sys
taken = socket.create_server(("127.0.0.1", 0))
sys.argv = ["mlrepro.remote.local_server", "--port", str(taken.getsockname()[1])]
runpy.run_module("mlrepro.remote.local_server", run_name="__main__")
"""

SPLIT = ("--data", "data/ingest", "--out", "data/split", "--report", "reports/split.json")


def disk_full(pattern: str, module: str, *args: str) -> tuple[str, ...]:
    return ("python", "-c", DISK_FULL, pattern, module, *args)


def params(changes: dict[str, Any]) -> Callable[[Repo], None]:
    return lambda repo: repo.edit_params(changes)


def schema(old: str, new: str) -> Callable[[Repo], None]:
    def edit(repo: Repo) -> None:
        path = repo.path / "schema.yaml"
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new))

    return edit


def source(name: str, file: str, content: bytes) -> Callable[[Repo], None]:
    """A local file declared as source `name` in params.yaml."""

    def declare(repo: Repo) -> None:
        (repo.path / file).write_bytes(content)
        repo.edit_params({"ingest": {"sources": {name: {"path": file}}}})

    return declare


def truncated(kind: str) -> bytes:
    text = package_flights(2000).to_csv(index=False).encode()
    if kind == "gz":
        whole = gzip.compress(text)
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("flights.csv", text)
        whole = buffer.getvalue()
    return whole[: len(whole) // 2]


def write(name: str, text: str) -> Callable[[Repo], None]:
    return lambda repo: (repo.path / name).write_text(text)


def append_params(text: str) -> Callable[[Repo], None]:
    def edit(repo: Repo) -> None:
        path = repo.path / "params.yaml"
        path.write_text(path.read_text() + text)

    return edit


def no_target_in_train(repo: Repo) -> None:
    """Flights as a local file whose training days (before split.valid_start) have no arr_delay."""
    df = package_flights(6000)
    df.loc[df["day"].astype(int) < 5, "arr_delay"] = ""
    use_local_flights(repo, df)


@dataclass(frozen=True)
class Case:
    id: str
    wrong: str
    setup: Callable[[Repo], None]
    command: tuple[str, ...]
    code: int
    message: str  # in the one `mlrepro ...` line on stderr (on stdout when code is 0)
    stage: str | None = None  # a DVC stage that fails: still changed for `dvc status`
    unchanged: tuple[str, ...] = ()  # git-tracked outputs that must be as committed
    kept: str | None = None  # the failing stage's own report, kept
    timeout: float = 300


REPRO = ("dvc", "repro")
CHECK = ("mlrepro", "params", "check")
CASES = [
    # tracebacks
    Case(
        "truncated-zip",
        "a truncated zip source at take",
        source("broken", "broken.csv.zip", truncated("zip")),
        ("mlrepro", "snapshot", "take", "broken"),
        2,
        "mlrepro: error: broken.csv.zip: cannot be read as CSV: File is not a zip file",
    ),
    Case(
        "truncated-gz",
        "a truncated gz source at take",
        source("broken", "broken.csv.gz", truncated("gz")),
        ("mlrepro", "snapshot", "take", "broken"),
        2,
        "mlrepro: error: broken.csv.gz: cannot be read as CSV: Compressed file ended before",
    ),
    Case(
        "metrics-show-directory",
        "metrics show on a directory",
        lambda repo: None,
        ("mlrepro", "metrics", "show", "evaluate"),
        2,
        "mlrepro: error: evaluate: is a directory, not a JSON file",
    ),
    Case(
        "metrics-show-empty",
        "metrics show on {}",
        write("empty.json", "{}\n"),
        ("mlrepro", "metrics", "show", "empty.json"),
        2,
        "mlrepro: error: empty.json: no metrics to show",
    ),
    Case(
        "time-column-string",
        "a string column as split.time_column",
        params({"split": {"time_column": "carrier"}}),
        REPRO,
        2,
        "mlrepro split: error: params.yaml: split.time_column: 'carrier' is string, not a datetime",
        stage="split",
        unchanged=("reports/split.json",),
    ),
    Case(
        "time-column-int",
        "an int column as split.time_column",
        params({"split": {"time_column": "year"}}),
        REPRO,
        2,
        "mlrepro split: error: params.yaml: split.time_column: 'year' is Int64, not a datetime",
        stage="split",
        unchanged=("reports/split.json",),
    ),
    Case(
        "empty-training-part",
        "no training row has a target",
        no_target_in_train,
        REPRO,
        2,
        "mlrepro drift: error: data/featurize/train.parquet: the train part has no rows, nothing "
        "to measure drift on (reports/featurize.json counts the rows featurize dropped)",
        stage="drift",
        unchanged=("reports/drift.json", "reports/drift_metrics.json"),
    ),
    Case(
        "disk-full-manifest",
        "a full disk while writing a snapshot manifest",
        source("small", "small.csv", b"a,b\n1,2\n"),
        disk_full(".20*.json.*.tmp", "mlrepro.cli", "snapshot", "take", "small"),
        2,
        ".json: cannot write: No space left on device (free space, then re-run)",
    ),
    Case(
        "disk-full-dir-object",
        "a full disk while writing the DVC .dir object of a snapshot",
        source("small", "small.csv", b"a,b\n1,2\n"),
        disk_full(".*.dir.*.tmp", "mlrepro.cli", "snapshot", "take", "small"),
        2,
        ".dir: cannot write: No space left on device",
    ),
    Case(
        "disk-full-stage-output",
        "a full disk while a stage writes its output",
        lambda repo: None,
        disk_full(".split.json.*.tmp", "mlrepro.stages.split", *SPLIT),
        2,
        "mlrepro split: error: reports/split.json: cannot write: No space left on device",
        stage="split",
        unchanged=("reports/split.json",),
    ),
    Case(
        "package-import-name",
        "a package source whose import name is not its distribution name",
        params({"ingest": {"sources": {"yml": {"package": "yaml", "path": "__init__.py"}}}}),
        ("mlrepro", "snapshot", "take", "yml"),
        0,
        "took yml@",
    ),
    # silently accepted
    Case(
        "duplicate-csv-header",
        "a duplicate CSV header (pandas renames it x.1)",
        source("dup", "dup.csv", b"a,a,b\n1,2,3\n"),
        ("mlrepro", "snapshot", "take", "dup"),
        2,
        "mlrepro: error: dup.csv: column 'a' appears twice in the header",
    ),
    Case(
        "duplicate-params-key",
        "a duplicate key in params.yaml (PyYAML keeps the last)",
        append_params("seed: 7\n"),
        CHECK,
        2,
        "mlrepro: error: params.yaml: seed: given twice (lines ",
    ),
    Case(
        "allowed-on-int-column",
        "allowed: on an int column rejects every valid value",
        schema(
            "hour: {dtype: int, nullable: false, min: 0, max: 23}\n      minute",
            f"hour: {{dtype: int, nullable: false, allowed: {list(range(24))}}}\n      minute",
        ),
        REPRO,
        0,
        "validate: 5 tables match schema.yaml",
    ),
    # `params check` said ok, then the pipeline failed
    Case(
        "check-invalid-train-value",
        "train.max_iter: abc",
        params({"train": {"max_iter": "abc"}}),
        CHECK,
        2,
        "mlrepro: error: params.yaml: train.max_iter: The 'max_iter' parameter of "
        "HistGradientBoostingClassifier must be an int",
    ),
    Case(
        "check-unknown-train-key",
        "train.learning_rte",
        params({"train": {"learning_rte": 0.1}}),
        CHECK,
        2,
        "mlrepro: error: params.yaml: train.learning_rte: unknown argument",
    ),
    Case(
        "check-missing-snapshot",
        "a pin to a missing snapshot",
        params({"ingest": {"pins": {"airlines": "20990101T000000Z-deadbeef"}}}),
        CHECK,
        2,
        "mlrepro: error: params.yaml: ingest.pins.airlines: no snapshot 20990101T000000Z-deadbeef",
    ),
    Case(
        "check-bad-time-zone",
        "a bad time zone",
        params({"featurize": {"datetime": {"timezone": "Mars/Olympus"}}}),
        CHECK,
        2,
        "mlrepro: error: params.yaml: featurize.datetime.timezone: unknown time zone "
        "'Mars/Olympus'",
    ),
    Case(
        "check-time-column-not-datetime",
        "a non-datetime time column",
        params({"split": {"time_column": "carrier"}}),
        CHECK,
        2,
        "mlrepro: error: params.yaml: split.time_column: 'carrier' is string, not datetime",
    ),
    Case(
        "check-datetime-column-not-datetime",
        "a non-datetime column for the calendar features",
        params({"featurize": {"datetime": {"column": "year"}}}),
        CHECK,
        2,
        "mlrepro: error: params.yaml: featurize.datetime.column: 'year' is int, not datetime",
    ),
    Case(
        "check-min-above-max",
        "min > max in the schema",
        schema(
            "distance: {dtype: float, nullable: false, min: 0, max: 6000}",
            "distance: {dtype: float, nullable: false, min: 6000, max: 0}",
        ),
        CHECK,
        2,
        "mlrepro: error: schema.yaml: tables.flights.columns.distance: min 6000 is greater "
        "than max 0",
    ),
    Case(
        "check-string-target",
        "a string target",
        params({"featurize": {"target": {"column": "tailnum"}}}),
        CHECK,
        2,
        "mlrepro: error: params.yaml: featurize.target.column: 'tailnum' is string, not a number",
    ),
    # a failing stage keeps the work tree as it was
    Case(
        "validate-keeps-its-report",
        "validate fails: its report of why is kept, nothing else is lost",
        schema(
            "distance: {dtype: float, nullable: false, min: 0, max: 6000}",
            "distance: {dtype: float, nullable: false, min: 0, max: 100}",
        ),
        REPRO,
        1,
        "mlrepro validate: error: 1 schema violation(s) (schema.yaml; report: "
        "reports/validate.json):",
        stage="validate",
        kept="reports/validate.json",
    ),
    Case(
        "evaluate-keeps-metrics",
        "evaluate fails: evaluate/metrics.json and the plot data stay",
        params({"evaluate": {"threshold": 2}}),
        REPRO,
        2,
        "mlrepro evaluate: error: params.yaml: evaluate.threshold: must be between 0.0 and 1.0",
        stage="evaluate",
        unchanged=("evaluate/metrics.json", "evaluate/plots/importance.json"),
    ),
    Case(
        "train-keeps-model-card",
        "train fails: models/model_card.json stays",
        params({"train": {"max_iter": "abc"}}),
        REPRO,
        2,
        "mlrepro train: error: params.yaml: train.max_iter: The 'max_iter' parameter",
        stage="train",
        unchanged=("models/model_card.json",),
    ),
    Case(
        "s3-local-port-taken",
        "make s3-local when its port is taken",
        lambda repo: None,
        ("python", "-c", PORT_TAKEN),
        2,
        "is in use (make s3-local PORT=...)",
        timeout=60,
    ),
]


def exit_code(result: subprocess.CompletedProcess[str]) -> int:
    """The command's exit code; for `dvc repro`, that of the stage that failed (dvc exits 255)."""
    if result.args[0] != "dvc" or result.returncode == 0:
        return result.returncode
    found = re.search(r"exited with (\d+)", result.stderr)
    assert found, result.stderr
    return int(found.group(1))


def committed(repo: Repo, path: str) -> str:
    return repo.git("show", f"HEAD:{path}").stdout


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(pipeline_repo: Repo, case: Case) -> None:
    case.setup(pipeline_repo)
    result = pipeline_repo.run(*case.command, check=False, timeout=case.timeout)
    output = f"{case.wrong}\n{result.stdout}\n{result.stderr}"
    assert exit_code(result) == case.code, output
    assert "Traceback" not in result.stderr, output
    if case.code == 0:
        assert case.message in result.stdout, output
    else:
        ours = [s for s in result.stderr.splitlines() if s.startswith(("mlrepro ", "mlrepro:"))]
        assert len(ours) == 1 and case.message in ours[0], output
        if case.command[0] != "dvc" and case.kept is None:
            assert result.stderr.strip() == ours[0], output  # nothing but the one line
    status = pipeline_repo.git("status", "--porcelain", "--untracked-files=all").stdout
    assert not [line for line in status.splitlines() if "D" in line[:2]], status
    assert not re.search(r"\.tmp$", status, re.MULTILINE), status  # no temporary file left
    for path in case.unchanged:
        actual = (pipeline_repo.path / path).read_text()
        assert actual == committed(pipeline_repo, path), path
    if case.kept is not None:
        report = json.loads((pipeline_repo.path / case.kept).read_text())
        assert report["ok"] is False and report["anomalies"], report
    if case.stage is not None:
        assert case.stage in json.loads(pipeline_repo.dvc("status", "--json").stdout)


def test_disk_full_at_take_leaves_no_snapshot(pipeline_repo: Repo) -> None:
    source("small", "small.csv", b"a,b\n1,2\n")(pipeline_repo)
    command = disk_full(".20*.json.*.tmp", "mlrepro.cli", "snapshot", "take", "small")
    result = pipeline_repo.run(*command, check=False)
    assert result.returncode == 2, result.stderr
    folder = pipeline_repo.path / "data" / "snapshots" / "small"
    assert sorted(p.name for p in folder.iterdir()) == [".lock"], result.stderr
    listed = mlrepro(pipeline_repo.path, "snapshot", "list", "--json").stdout
    assert "small" not in listed, listed


SLOW_FSYNC = """
import os, runpy, sys, time
fsync, slowed = os.fsync, []
def slow(fd):  # a slow disk: the model's temporary file exists for a while
    if not slowed:
        slowed.append(fd)
        time.sleep(120)
    fsync(fd)
os.fsync = slow
sys.argv = ["mlrepro.stages.train", *sys.argv[1:]]
runpy.run_module("mlrepro.stages.train", run_name="__main__")
"""


def test_sigterm_during_train_leaves_no_temporary_file(pipeline_repo: Repo) -> None:
    """A SIGTERM (DVC stopping, a kill) while train writes the model: the temporary file goes,
    the stage exits 143, and the model card is as committed."""
    args = ["--data", "data/featurize", "--snapshots", "data/ingest/manifest.json"]
    args += ["--model", "models/model.skops", "--card", "models/model_card.json"]
    proc = subprocess.Popen(
        ["python", "-c", SLOW_FSYNC, *args],
        cwd=pipeline_repo.path,
        env={**tool_env(), "PYTHONPATH": "src"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    models = pipeline_repo.path / "models"
    wait_for(
        lambda: list(models.glob(".model.skops.*.tmp")) or proc.poll() is not None,
        timeout=300,
        what="train to start writing the model",
    )
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert list(models.glob(".*.tmp")) == [], stderr
    card = (models / "model_card.json").read_text()
    assert card == committed(pipeline_repo, "models/model_card.json")
