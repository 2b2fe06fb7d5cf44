"""`mlrepro predict` on the real pipeline's model: raw flight rows of the valid day give exactly
the probabilities evaluate computed for them; the same input gives the same bytes; bad input is
one line naming the field; the model is loaded only from a cache object with the locked md5."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from mlrepro.core.params import load_params
from mlrepro.pipeline import modelfile
from mlrepro.stages.evaluate import predict as evaluate_predict
from tests.conftest import Repo
from tests.runner import mlrepro, mlrepro_process

pytestmark = pytest.mark.e2e

KEYS = ["time_hour", "carrier", "flight"]


def raw_rows(repo: Repo, day: str) -> pd.DataFrame:
    """The flights snapshot's own CSV rows (text, as the source has them) of one UTC day."""
    pin = repo.read_yaml("params.yaml")["ingest"]["pins"]["flights"]
    [path] = (repo.path / "data/snapshots/flights" / pin).glob("*.csv*")
    rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    when = pd.to_datetime(rows["time_hour"], utc=True)
    return rows[when.dt.strftime("%Y-%m-%d") == day]


def evaluated(repo: Repo) -> pd.DataFrame:
    """The valid part's keys and the probabilities evaluate's code gives them."""
    lock = yaml.safe_load((repo.path / "dvc.lock").read_text())
    md5 = next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"].endswith(".skops"))
    model = modelfile.load(repo.path / "models/model.skops", md5, "dvc.lock")
    params = load_params(repo.path / "params.yaml")
    featurized = pd.read_parquet(repo.path / "data/featurize/valid.parquet")
    split = pd.read_parquet(repo.path / "data/split/valid.parquet")
    split = split[split["arr_delay"].notna()].reset_index(drop=True)  # the rows featurize kept
    assert len(split) == len(featurized)
    probability = evaluate_predict(model, featurized[params.featurize.features])
    return split[KEYS].assign(evaluated=probability)


@pytest.fixture
def valid_csv(pipeline_repo: Repo, tmp_path: Path) -> Path:
    day = pipeline_repo.read_yaml("params.yaml")["split"]["valid_start"]
    path = tmp_path / "valid rows.csv"
    raw_rows(pipeline_repo, str(day)).to_csv(path, index=False)
    return path


def test_predict_gives_exactly_the_probabilities_evaluate_computed(
    pipeline_repo: Repo, valid_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "predictions.parquet"
    mlrepro(pipeline_repo.path, "predict", "--input", str(valid_csv), "--output", str(out))
    predicted = pd.read_parquet(out)
    assert list(predicted.columns) == [*KEYS, "probability", "late"]
    assert len(predicted) == len(pd.read_csv(valid_csv))  # one row per input row
    joined = evaluated(pipeline_repo).merge(predicted, on=KEYS, how="left", validate="1:1")
    assert joined["probability"].notna().all() and len(joined) > 100
    assert np.abs(joined["probability"] - joined["evaluated"]).max() <= 1e-12
    threshold = pipeline_repo.read_yaml("params.yaml")["evaluate"]["threshold"]
    assert (predicted["late"] == (predicted["probability"] >= threshold)).all()
    provenance = json.loads(pq.read_metadata(out).metadata[b"mlrepro"])
    lock = yaml.safe_load((pipeline_repo.path / "dvc.lock").read_text())
    train = {o["path"]: o["md5"] for o in lock["stages"]["train"]["outs"]}
    assert provenance["model"] == {"path": "models/model.skops", "md5": train["models/model.skops"]}
    assert provenance["commit"] == pipeline_repo.git("rev-parse", "HEAD").stdout.strip()
    card = json.loads((pipeline_repo.path / "models/model_card.json").read_text())
    assert provenance["snapshots"] == card["lineage"]["snapshots"]


def test_the_same_input_gives_the_same_bytes(
    pipeline_repo: Repo, valid_csv: Path, tmp_path: Path
) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b" / "a.csv"
    second.parent.mkdir()
    mlrepro(pipeline_repo.path, "predict", "--input", str(valid_csv), "--output", str(first))
    moved = tmp_path / "elsewhere.csv"
    shutil.copyfile(valid_csv, moved)
    env = {"TZ": "Asia/Seoul", "OMP_NUM_THREADS": "1", "LC_ALL": "C"}
    argv = ("predict", "--input", str(moved), "--output", str(second))
    mlrepro_process(pipeline_repo.path, *argv, env=env)
    assert first.read_bytes() == second.read_bytes()
    side = Path(f"{first}.provenance.json"), Path(f"{second}.provenance.json")
    assert side[0].read_bytes() == side[1].read_bytes()
    for name in ("p.parquet", "q.parquet"):
        mlrepro(pipeline_repo.path, "predict", "--input", str(valid_csv), "--output", name)
    assert (pipeline_repo.path / "p.parquet").read_bytes() == (
        pipeline_repo.path / "q.parquet"
    ).read_bytes()


def test_bad_input_is_one_line_naming_the_field_and_writes_nothing(
    pipeline_repo: Repo, valid_csv: Path, tmp_path: Path
) -> None:
    rows = pd.read_csv(valid_csv, dtype=str, keep_default_na=False)
    out = tmp_path / "out.csv"
    cases = {
        "missing.csv": (rows.drop(columns=["carrier"]), "field 'carrier' is missing"),
        "type.csv": (rows.assign(flight=["x1"] * len(rows)), "column 'flight' row 1"),
        "domain.csv": (rows.assign(origin=["XXX"] * len(rows)), "field 'origin' fails"),
        "bounds.csv": (rows.assign(distance=["-5"] * len(rows)), "field 'distance' fails >= 0"),
    }
    for name, (frame, expected) in cases.items():
        path = tmp_path / name
        frame.to_csv(path, index=False)
        result = mlrepro(
            pipeline_repo.path, "predict", "--input", str(path), "--output", str(out), code=2
        )
        assert expected in result.stderr and result.stderr.count("\n") == 1, result.stderr
        assert not out.exists()
    unknown = mlrepro(
        pipeline_repo.path, "predict", "--input", str(valid_csv), "--rev", "nope", code=2
    )
    assert "unknown revision 'nope'" in unknown.stderr
    missing = mlrepro(pipeline_repo.path, "predict", "--input", "none.csv", code=2)
    assert "none.csv: cannot read" in missing.stderr


def test_the_model_comes_only_from_a_cache_object_with_the_locked_md5(
    pipeline_repo: Repo, valid_csv: Path
) -> None:
    lock = yaml.safe_load((pipeline_repo.path / "dvc.lock").read_text())
    md5 = next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"].endswith(".skops"))
    cached = pipeline_repo.path / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    data = cached.read_bytes()
    cached.chmod(0o644)
    cached.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    result = mlrepro(pipeline_repo.path, "predict", "--input", str(valid_csv), code=2)
    assert "does not have that md5 (damaged); not loaded" in result.stderr, result.stderr
    cached.unlink()
    result = mlrepro(pipeline_repo.path, "predict", "--input", str(valid_csv), code=2)
    assert "not in the local DVC cache (dvc pull" in result.stderr, result.stderr
