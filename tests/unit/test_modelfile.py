"""Model files: skops, byte-identical across processes and time zones, loaded only after the hash
check and only with the repository's trusted types."""

from __future__ import annotations

import functools
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlrepro.pipeline import modelfile
from mlrepro.pipeline.model import build_pipeline

SCRIPT = """
import sys
import numpy as np, pandas as pd
from mlrepro.pipeline import modelfile
from mlrepro.pipeline.model import build_pipeline
rng = np.random.default_rng(0)
df = pd.DataFrame({"c": rng.choice(["a", "b"], 200), "x": rng.normal(size=200)})
y = (df["x"] > 0).astype(int)
model = build_pipeline(["c"], ["x"], {"max_iter": 5}, 1).fit(df, y)
sys.stdout.write(modelfile.md5(modelfile.dumps(model)))
"""


def tiny_model() -> tuple[Any, pd.DataFrame]:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"c": rng.choice(["a", "b"], 200), "x": rng.normal(size=200)})
    model = build_pipeline(["c"], ["x"], {"max_iter": 5}, 1).fit(df, (df["x"] > 0).astype(int))
    return model, df


@pytest.mark.e2e  # three new Python processes, each importing scikit-learn: seconds
def test_same_model_same_bytes_in_other_processes_and_time_zones() -> None:
    hashes = {
        subprocess.run(
            [sys.executable, "-c", SCRIPT],
            env={**os.environ, "TZ": tz, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for tz, seed in (("UTC", "0"), ("Asia/Seoul", "1"), ("America/New_York", "2"))
    }
    assert len(hashes) == 1, hashes


def test_round_trip_predicts_the_same(tmp_path: Path) -> None:
    model, df = tiny_model()
    path = tmp_path / "model.skops"
    modelfile.save(model, path)
    loaded = modelfile.load(path, modelfile.md5(path.read_bytes()), "dvc.lock")
    assert np.array_equal(loaded.predict_proba(df), model.predict_proba(df))


def test_a_changed_byte_is_refused_with_both_hashes(tmp_path: Path) -> None:
    model, _ = tiny_model()
    path = tmp_path / "model.skops"
    modelfile.save(model, path)
    good = modelfile.md5(path.read_bytes())
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(modelfile.ModelFileError) as info:
        modelfile.load(path, good, "dvc.lock")
    message = str(info.value)
    assert message == (
        f"{path}: md5 {modelfile.md5(bytes(data))} is not the {good} that dvc.lock records; "
        "not loaded (rebuild it: dvc repro --force train)"
    )


class Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_is_never_loaded_even_with_the_right_hash(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.skops"
    path.write_bytes(pickle.dumps(Evil(marker)))
    with pytest.raises(modelfile.ModelFileError, match="not a skops model file"):
        modelfile.load(path, modelfile.md5(path.read_bytes()), "dvc.lock")
    assert not marker.exists()


def test_untrusted_types_are_refused_even_with_the_right_hash(tmp_path: Path) -> None:
    import skops.io

    marker = tmp_path / "pwned"
    path = tmp_path / "model.skops"
    path.write_bytes(skops.io.dumps(functools.partial(os.system, f"touch {marker}")))
    with pytest.raises(modelfile.ModelFileError, match=r"not trusted.*posix\.system"):
        modelfile.load(path, modelfile.md5(path.read_bytes()), "dvc.lock")
    assert not marker.exists()


def test_recorded_md5_reads_the_stage_that_wrote_it(tmp_path: Path) -> None:
    lock = tmp_path / "dvc.lock"
    lock.write_text("stages:\n  train:\n    outs:\n    - path: models/m.skops\n      md5: abc\n")
    assert modelfile.recorded_md5("models/m.skops", lock) == "abc"
    with pytest.raises(modelfile.ModelFileError, match="records no hash"):
        modelfile.recorded_md5("models/other.skops", lock)
