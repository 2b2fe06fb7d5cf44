"""`mlrepro monitor` on request logs written beside a real repo with a trained model: train's own
rows (no drift: exit 0), the same rows shifted (exit 1), valid's rows (the drift stage's own
numbers), and the input errors (exit 2)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlrepro import dvccache
from tests.conftest import Repo
from tests.runner import mlrepro

pytestmark = pytest.mark.e2e

ROTATED = "requests-20260301T100000Z-000001.jsonl"


def model_of(repo: Repo) -> tuple[str, str]:
    """The md5 of the model HEAD's dvc.lock records, and HEAD's commit."""
    outs = repo.read_yaml("dvc.lock")["stages"]["train"]["outs"]
    md5 = next(o["md5"] for o in outs if o["path"].endswith(".skops"))
    return md5, repo.git("rev-parse", "HEAD").stdout.strip()


def features_of(repo: Repo, part: str) -> pd.DataFrame:
    featurize = repo.read_yaml("params.yaml")["featurize"]
    frame = pd.read_parquet(repo.path / f"data/featurize/{part}.parquet")
    return frame[[*featurize["categorical"], *featurize["numeric"]]]


def plain(value: Any) -> Any:
    """A cell as the request log writes it: missing (NA, NaN) as null."""
    if value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def write_log(folder: Path, repo: Repo, frame: pd.DataFrame, *, extra: int = 0) -> None:
    """A request log of `frame`'s rows predicted by HEAD's model: the first half in a rotated
    file, the rest in requests.jsonl; with `extra`, as many records of another model and refused
    requests, and a record cut short at the end (a kill mid-write)."""
    md5, commit = model_of(repo)
    rows = [
        {k: plain(v) for k, v in row.items()}
        for row in frame.astype(object).to_dict(orient="records")
    ]
    records = []
    for i, row in enumerate(rows):
        base = {"time": f"2026-03-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z", "request": f"r{i}"}
        records.append(
            {
                **base,
                "model_md5": md5,
                "commit": commit,
                "status": 200,
                "input": {},
                "features": row,
                "output": {"probability": 0.25, "late": 0},
            }
        )
        if i < extra:
            records.append({**records[-1], "model_md5": "0" * 32, "request": f"old{i}"})
            records.append({**base, "model_md5": md5, "status": 422, "error": {"error": "bad"}})
    lines = [json.dumps(r, allow_nan=False) + "\n" for r in records]
    folder.mkdir(parents=True)
    (folder / ROTATED).write_text("".join(lines[: len(lines) // 2]))
    torn = lines[0][:40] if extra else ""
    (folder / "requests.jsonl").write_text("".join(lines[len(lines) // 2 :]) + torn)


def run_monitor(repo: Repo, log: Path, *args: str, code: int) -> tuple[dict[str, Any], str]:
    report, plot = log.parent / f"{log.name}.json", log.parent / f"{log.name}.png"
    result = mlrepro(
        repo.path, "monitor", "--log", str(log), "--report", str(report), "--plot", str(plot),
        *args, code=code,
    )  # fmt: skip
    assert plot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), result
    return json.loads(report.read_text()), result.stdout


def verdicts(report: dict[str, Any]) -> dict[str, str]:
    return {name: f["verdict"] for name, f in report["features"].items()}


def test_trains_own_rows_do_not_drift_and_the_same_rows_shifted_do(
    pipeline_template: Repo, tmp_path: Path
) -> None:
    repo = pipeline_template
    rows = features_of(repo, "train").iloc[::2]  # every other training row
    write_log(tmp_path / "calm", repo, rows, extra=5)
    report, stdout = run_monitor(repo, tmp_path / "calm", code=0)
    features = list(rows.columns)  # the model's features
    assert verdicts(report) == dict.fromkeys(features, "ok"), stdout
    md5, commit = model_of(repo)
    assert {k: report[k] for k in ("rev", "commit", "model", "reference", "current")} == {
        "rev": "HEAD",
        "commit": commit,
        "model": {"path": "models/model.skops", "md5": md5},
        "reference": "train",
        "current": "serving",
    }
    assert report["training"]["path"] == "data/featurize/train.parquet"
    last = len(rows) - 1
    assert report["window"] == {
        "first": "2026-03-01T10:00:00Z",
        "last": f"2026-03-01T10:{last // 60 % 60:02d}:{last % 60:02d}Z",
        "since": None,
        "records": len(rows),
    }
    assert report["records"] == {
        "read": len(rows) + 10,  # the torn last line is no record
        "used": len(rows),
        "refused": 5,
        "before_since": 0,
        "other_models": {"0" * 32: 5},
    }
    assert report["verdict"] == {"worst": "ok", "fail_on": "fail", "alert": False, "features": []}
    assert "skipped: 5 refused; 5 of other models: 0000000 (5)" in stdout
    assert "ok: no feature at fail or worse" in stdout

    shifted = rows.assign(distance=rows["distance"] * 3, carrier="UA")
    write_log(tmp_path / "shifted", repo, shifted)
    report, stdout = run_monitor(repo, tmp_path / "shifted", code=1)
    assert verdicts(report) == {
        **dict.fromkeys(features, "ok"),
        "distance": "fail",
        "carrier": "fail",
    }
    assert sorted(report["verdict"]["features"]) == ["carrier", "distance"]
    assert "alert: 2 feature(s) at fail or worse" in stdout, stdout


def test_valids_rows_get_the_drift_stages_own_numbers(
    pipeline_template: Repo, tmp_path: Path
) -> None:
    repo = pipeline_template
    write_log(tmp_path / "valid", repo, features_of(repo, "valid"))
    stage = json.loads((repo.path / "reports/drift.json").read_text())["valid"]
    failing = sorted(f for f, d in stage["features"].items() if d["verdict"] == "fail")
    assert failing, "the slice's valid day drifts from train (its weather): the test needs it"
    report, _ = run_monitor(repo, tmp_path / "valid", code=1)
    assert report["features"] == stage["features"]
    assert report["dataset"] == stage["dataset"]
    assert sorted(report["verdict"]["features"]) == failing
    warned = [f for f, d in stage["features"].items() if d["verdict"] == "warn"]
    report, _ = run_monitor(repo, tmp_path / "valid", "--fail-on", "warn", code=1)
    assert sorted(report["verdict"]["features"]) == sorted([*failing, *warned])
    later = "2026-03-01T10:05:00Z"  # the first 300 records are older
    report, _ = run_monitor(repo, tmp_path / "valid", "--since", later, code=1)
    assert report["records"]["before_since"] == 300
    assert report["window"]["first"] == later


def test_input_errors_exit_2_with_one_line(pipeline_repo: Repo, tmp_path: Path) -> None:
    repo = pipeline_repo
    write_log(tmp_path / "log", repo, features_of(repo, "train"))
    write_log(tmp_path / "few", repo, features_of(repo, "train").iloc[:9])  # drift.bins: 10
    md5, _ = model_of(repo)
    cases = {
        ("--log", str(tmp_path / "nowhere")): f"{tmp_path / 'nowhere'}: no request log there",
        ("--log", str(tmp_path / "log"), "--rev", "v9"): "unknown revision 'v9'",
        ("--log", str(tmp_path / "few")): f"{tmp_path / 'few'}: 9 records of model {md5}",
        ("--log", str(tmp_path / "log"), "--since", "soon"): "--since: 'soon' is not an ISO",
    }
    obj = dvccache.local_cache(repo.path).object_path(md5)
    for args, message in cases.items():
        result = mlrepro(repo.path, "monitor", *args, code=2)
        assert result.stderr.startswith(f"mlrepro: error: {message}"), result.stderr
        assert result.stderr.count("\n") == 1 and result.stdout == "", result
    report, _ = run_monitor(repo, tmp_path / "log", code=0)
    obj.rename(tmp_path / "model.skops")  # the model never pulled here
    result = mlrepro(repo.path, "monitor", "--log", str(tmp_path / "log"), code=2)
    assert f"md5 {md5}" in result.stderr and "not in the local DVC cache" in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    (tmp_path / "model.skops").rename(obj)
    training = report["training"]["md5"]
    dvccache.local_cache(repo.path).object_path(training).unlink()  # the training data
    result = mlrepro(repo.path, "monitor", "--log", str(tmp_path / "log"), code=2)
    assert result.stderr == (
        f"mlrepro: error: data/featurize/train.parquet (md5 {training}, read by train at HEAD "
        f"({model_of(repo)[1][:7]})): not in the local DVC cache (dvc pull, or dvc repro there)\n"
    )
