"""No model is loaded that the lock did not produce: a malicious or bit-flipped file in the
model's place (work tree and DVC cache object) is refused by evaluate before any byte of it is
deserialized, under `dvc exp run` and `dvc repro`."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from tests.conftest import Repo

pytestmark = pytest.mark.e2e

MODEL = "models/model.skops"


class Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch '{self.marker}'",))


def plant(repo: Repo, data: bytes, *, work_tree: bool = True) -> str:
    """Replace the model's DVC cache object (and the work tree's copy) by `data`; return the md5
    that dvc.lock records."""
    lock = repo.read_yaml("dvc.lock")
    md5 = next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"] == MODEL)
    cached = repo.path / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    for path in [cached, *([repo.path / MODEL] if work_tree else [])]:
        path.chmod(0o644)
        path.write_bytes(data)
    return str(md5)


def evaluate_error(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("mlrepro evaluate: error:")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_a_malicious_cache_object_never_runs_in_an_experiment(
    pipeline_repo: Repo, tmp_path: Path
) -> None:
    """`dvc exp run --temp` runs in a fresh copy of the repo. DVC 3.67 re-runs train there (the
    model is not restored from the planted cache object); should a DVC version restore it
    instead, evaluate must refuse it unread. Either way the pickle's code never runs."""
    marker = tmp_path / "pwned"
    plant(pipeline_repo, pickle.dumps(Evil(marker)), work_tree=False)
    result = pipeline_repo.dvc("exp", "run", "--temp", "-S", "evaluate.threshold=0.4", check=False)
    output = result.stdout + result.stderr
    if result.returncode == 0:
        assert "Running stage 'train'" in output, output
    else:
        assert "not loaded (rebuild it: dvc repro --force train)" in output, output
    assert not marker.exists()


def test_a_malicious_model_file_never_runs_under_repro(pipeline_repo: Repo, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    plant(pipeline_repo, pickle.dumps(Evil(marker)))
    result = pipeline_repo.dvc("repro", "--force", "--single-item", "evaluate", check=False)
    assert result.returncode != 0, result.stdout
    assert "is not the" in evaluate_error(result.stderr)
    assert "not loaded (rebuild it: dvc repro --force train)" in result.stderr
    assert not marker.exists()


def test_a_bit_flipped_model_is_refused_naming_both_hashes(pipeline_repo: Repo) -> None:
    data = bytearray((pipeline_repo.path / MODEL).read_bytes())
    data[len(data) // 3] ^= 0x10
    import hashlib

    recorded = plant(pipeline_repo, bytes(data))
    result = pipeline_repo.dvc("repro", "--force", "--single-item", "evaluate", check=False)
    line = evaluate_error(result.stderr)
    assert line == (
        f"mlrepro evaluate: error: {MODEL}: md5 {hashlib.md5(data).hexdigest()} is not the "
        f"{recorded} that dvc.lock records; not loaded (rebuild it: dvc repro --force train)"
    )


def test_the_rebuild_the_message_names_restores_a_good_model(pipeline_repo: Repo) -> None:
    plant(pipeline_repo, b"garbage")
    pipeline_repo.dvc("repro", "--force", "train")
    assert pipeline_repo.git("status", "--porcelain").stdout == ""
