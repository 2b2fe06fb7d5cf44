"""leakage: label proxies, temporal order, overlap and fit-only-on-train on tiny frames and tiny
dvc.yaml stages; the leakage params; the project's own dvc.yaml and code pass."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from mlrepro.core.errors import DataError, ParamsError
from mlrepro.core.params import FeaturizeParams, Join, LeakageParams, load_params
from mlrepro.pipeline.independence import check_independence, stage_module
from mlrepro.pipeline.leakage import (
    Overlap,
    Proxy,
    Temporal,
    feature_codes,
    findings,
    fold_ids,
    label_proxies,
    out_of_fold_auc,
    overlap,
    rows_in,
    temporal,
    weighted_auc,
)
from mlrepro.stages.leakage import (
    pipeline_stages,
    project_sources,
    read_inputs,
    summary,
)
from tests.runner import mlrepro

PROJECT = Path(__file__).resolve().parents[2]
SEED = 7


def flights(n: int = 400) -> pd.DataFrame:
    """A label, a near-copy of it, an identifier per row, and two features with no signal."""
    rng = np.random.default_rng(SEED)
    late = (rng.uniform(size=n) < 0.3).astype("int8")
    flip = rng.uniform(size=n) < 0.03
    return pd.DataFrame(
        {
            "late": late,
            "delay": np.where(late ^ flip, 30.0, -5.0) + rng.normal(0, 3, n),
            "flight_id": pd.array([f"f{i}" for i in range(n)], dtype="string"),
            "carrier": pd.array(rng.choice(["AA", "B6", "DL", None], n), dtype="string"),
            "temp": np.where(rng.uniform(size=n) < 0.1, np.nan, rng.normal(50, 10, n)),
        }
    )


def spec(categorical: tuple[str, ...], numeric: tuple[str, ...]) -> FeaturizeParams:
    return FeaturizeParams("arr_delay", 15, "late", categorical, numeric, {})


FEATURES = spec(("flight_id", "carrier"), ("delay", "temp"))


def test_a_near_copy_of_the_label_fails_and_an_identifier_does_not() -> None:
    """In-sample, a code per row would score 1.0; out of fold it knows nothing."""
    proxies = {p.feature: p for p in label_proxies(flights(), FEATURES, LeakageParams(), SEED)}
    assert proxies["delay"].verdict == "fail" and proxies["delay"].auc >= 0.9
    assert {f: p.verdict for f, p in proxies.items() if f != "delay"} == dict.fromkeys(
        ["flight_id", "carrier", "temp"], "pass"
    )
    assert proxies["flight_id"].auc == 0.5  # every id unseen in the other folds: one rate
    codes = feature_codes(flights()["flight_id"], categorical=True, bins=20)
    y = flights()["late"].to_numpy()
    in_sample = np.bincount(codes, weights=y)[codes] / np.bincount(codes)[codes]
    assert roc_auc_score(y, in_sample) == 1.0  # the trap the out-of-fold encoding avoids


def test_an_allowed_feature_passes_with_its_reason() -> None:
    params = LeakageParams(allowed={"delay": "known at serving time in this toy"})
    [top, *_] = label_proxies(flights(), FEATURES, params, SEED)
    assert top == Proxy("delay", top.auc, "allowed", "known at serving time in this toy")
    assert top.as_dict() == {"auc": top.auc, "verdict": "allowed", "reason": top.reason}
    assert findings([top], Temporal(None, {}), Overlap(1, 0, 0), params) == []


def test_between_the_levels_it_warns() -> None:
    [top, *_] = label_proxies(flights(), FEATURES, LeakageParams(fail_auc=1.0), SEED)
    assert (top.feature, top.verdict) == ("delay", "warn")
    [finding] = findings([top], Temporal(None, {}), Overlap(1, 0, 0), LeakageParams())
    assert (finding.check, finding.level) == ("label proxy", "warn")
    assert (
        finding.message
        == f"'delay' scores ROC AUC {top.auc} on train alone (>= leakage.warn_auc 0.75)"
    )


def test_the_failure_names_the_feature_and_its_score() -> None:
    proxies = label_proxies(flights(), FEATURES, LeakageParams(), SEED)
    [finding] = findings(proxies, Temporal(None, {}), Overlap(1, 0, 0), LeakageParams())
    assert finding.message == (
        f"'delay' scores ROC AUC {proxies[0].auc} on train alone (>= leakage.fail_auc 0.9): a "
        "near-copy of the label; drop the feature or list it under leakage.allowed with a reason"
    )


def test_out_of_fold_auc_equals_roc_auc_over_the_rows() -> None:
    """The (fold, code) cells weighted by their counts give roc_auc_score's number."""
    df = flights(300)
    y = df["late"].to_numpy(dtype=np.int64)
    folds = fold_ids(len(y), 5, SEED)
    codes = feature_codes(df["temp"], categorical=False, bins=4)
    rates = np.empty(len(y))
    for i in range(len(y)):  # the definition, row by row
        other = (folds != folds[i]) & (codes == codes[i])
        rates[i] = y[other].mean() if other.any() else y.mean()
    assert out_of_fold_auc(codes, y, folds, 5) == pytest.approx(roc_auc_score(y, rates), abs=1e-12)


def test_weighted_auc_is_roc_auc_score_of_the_rows() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 6, 40) / 5  # ties on purpose
    pos, neg = rng.integers(0, 4, 40), rng.integers(0, 4, 40)
    y = np.r_[np.ones(pos.sum()), np.zeros(neg.sum())]
    rows = np.r_[np.repeat(scores, pos), np.repeat(scores, neg)]
    assert weighted_auc(scores, pos, neg) == pytest.approx(roc_auc_score(y, rows), abs=1e-12)
    assert weighted_auc(np.array([0.1, 0.9]), np.array([0, 3]), np.array([2, 0])) == 1.0


def test_feature_codes() -> None:
    hours = pd.Series([5, 6, 6, None, 7], dtype="Int64")
    assert feature_codes(hours, categorical=False, bins=3).tolist() == [0, 1, 1, 3, 2]  # values
    fine = pd.Series([0.1, 0.2, 0.3, 0.4, np.nan, 0.5])
    # bins=2: one edge, the median 0.3; values from it on go up; missing: a code of its own
    assert feature_codes(fine, categorical=False, bins=2).tolist() == [0, 0, 1, 1, 2, 1]
    words = pd.Series(["a", None, "b", "a"], dtype="string")
    assert feature_codes(words, categorical=True, bins=2).tolist() == [0, 2, 1, 0]


def test_label_proxies_are_deterministic_and_follow_the_seed() -> None:
    runs = [label_proxies(flights(), FEATURES, LeakageParams(), SEED) for _ in range(2)]
    assert runs[0] == runs[1]
    other = label_proxies(flights(), FEATURES, LeakageParams(), SEED + 1)
    assert [p.feature for p in other][:1] == ["delay"]


def test_one_label_class_is_a_data_error() -> None:
    df = flights(20).assign(late=0)
    with pytest.raises(DataError, match="needs both labels"):
        label_proxies(df, FEATURES, LeakageParams(), SEED)


def utc(*stamps: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(stamps), utc=True))


def test_a_temporal_violation_is_counted() -> None:
    parts = {
        "train": pd.DataFrame(
            {"t": utc("2013-01-01", "2013-01-03"), "obs": utc("2013-01-01", "2013-01-03")}
        ),
        "valid": pd.DataFrame(
            {"t": utc("2013-01-02", "2013-01-04"), "obs": utc("2013-01-02", "2013-01-05")}
        ),
        "test": pd.DataFrame({"t": utc("2013-01-05"), "obs": utc("2013-01-05")}),
    }
    joins = [Join("weather", ("obs",), {}), Join("planes", ("tail",), {})]
    parts = {k: v.assign(tail="N1") for k, v in parts.items()}
    result = temporal(parts, "t", joins)
    assert result.earlier == {
        "valid_before_train_end": 1,  # 2013-01-02 < 2013-01-03
        "test_before_train_end": 0,
        "test_before_valid_end": 0,
    }
    assert [(j.table, j.key, j.after_example) for j in result.joins] == [
        ("weather", "obs", 1),  # weather observed on the 5th joined to a flight of the 4th
        ("planes", None, None),
    ]
    [finding] = findings([], result, Overlap(1, 0, 0), LeakageParams())
    assert finding.message == (
        "split by t: 1 rows valid before train end; "
        "1 rows joined to weather at a obs after the example's time"
    )
    assert temporal(parts, None, joins) == Temporal(None, {})


def test_overlap_counts_identical_rows_and_keys() -> None:
    train = pd.DataFrame({"a": ["x", "y", None], "b": [1.0, 2.0, np.nan], "late": [0, 1, 1]})
    test = pd.DataFrame(
        {"a": ["x", None, "x", "z"], "b": [1.0, np.nan, 1.0, 2.0], "late": [0, 1, 1, 1]}
    )
    assert rows_in(test, train, ["a", "b", "late"]) == 2  # (x, 1, 0) and (missing, missing, 1)
    features = {"train": train, "test": test}
    columns = ["a", "b", "late"]
    parts = {"train": train.assign(k=[1, 2, 3]), "test": test.assign(k=[4, 5, 6, 7])}
    found = overlap(features, parts, columns, ["k"], 0.5)
    assert found == Overlap(4, 2, 0.5, ("k",), 0)
    assert (found.share, found.verdict) == (0.5, "warn")  # identical rows warn up to the share
    assert overlap(features, parts, columns, [], 0.25).verdict == "fail"  # above it they fail
    assert overlap({"train": train, "test": test.iloc[2:3]}, parts, columns, [], 0).verdict == (
        "pass"
    )
    [finding] = findings([], Temporal(None, {}), found, LeakageParams())
    assert (finding.level, finding.message) == (
        "warn",
        "2 of 4 test rows (50.00%) are identical to a train row (features and label; fails "
        "above leakage.overlap_max 50%)",
    )
    same = {"train": train.assign(k=[1, 2, 3]), "test": test.assign(k=[3, 4, 5, 6])}
    keyed = overlap({"train": train, "test": test.iloc[3:]}, same, columns, ["k"], 0.5)
    assert (keyed.identical, keyed.by_key, keyed.verdict) == (0, 1, "fail")  # one shared key
    [finding] = findings([], Temporal(None, {}), keyed, LeakageParams())
    assert (finding.level, finding.message) == (
        "fail",
        "1 test rows have a key (k) that a train row has",
    )


# --- fit only on train ------------------------------------------------------------------------

GOOD_STAGES: dict[str, dict[str, Any]] = {
    "split": {"cmd": "python -m app.split --out data/split", "deps": ["data/raw"]},
    "featurize": {"cmd": "python -m app.featurize", "deps": ["src/app", "data/split"]},
    "train": {"cmd": "PYTHONPATH=src python -m app.train --data data/f", "deps": ["data/f"]},
    "evaluate": {"cmd": "python -m app.evaluate --data data/f", "deps": ["data/f", "m.bin"]},
    "report": {"cmd": "echo done", "deps": ["metrics.json"]},
}
SOURCES = {
    "app.parts": 'PARTS = ("train", "valid", "test")\n',
    "app.featurize": "from app.parts import PARTS\nfor part in PARTS:\n    print(part)\n",
    "app.model": "def train(model, x, y):\n    return model.fit(x, y)\n",
    "app.train": 'from app import model\nmodel.train(None, open("train.parquet"), 1)\n',
    "app.evaluate": (
        "from app.parts import PARTS\nEVAL = ('valid', 'test')\n"
        "for part in EVAL:\n    print(part + '.parquet')\n"
    ),
}
PARTS_DIRS = ["data/split", "data/f"]


def uses(stages: dict[str, dict[str, Any]], sources: dict[str, str]) -> dict[str, Any]:
    result = check_independence(stages, sources, PARTS_DIRS)
    return {u.stage: (u.reads_test, u.fits) for u in result.stages} | {
        "problems": result.problems,
        "notes": result.notes,
    }


def test_fit_only_on_train_passes_a_sound_pipeline() -> None:
    assert uses(GOOD_STAGES, SOURCES) == {
        "featurize": (True, None),
        "train": (False, "app/model.py:2 .fit"),  # fits, through the module it imports
        "evaluate": (True, None),
        "problems": (),
        "notes": (),
    }


def test_a_fitting_stage_that_depends_on_the_test_file_fails() -> None:
    stages = GOOD_STAGES | {
        "train": {
            "cmd": "python -m app.train",
            "deps": ["data/f/train.parquet", "data/f/test.parquet"],
        }
    }
    result = check_independence(stages, SOURCES, PARTS_DIRS)
    assert result.problems == (
        "stage train reads the test part (names data/f/test.parquet) and fits "
        "(app/model.py:2 .fit): only the train part may be fitted on; the test part is for "
        "scoring alone",
    )


def test_evaluate_that_calibrates_fails_naming_the_line() -> None:
    sources = SOURCES | {
        "app.evaluate": SOURCES["app.evaluate"]
        + "from sklearn.calibration import CalibratedClassifierCV\n"
        + "CalibratedClassifierCV(None).fit(1, 2)\n"
    }
    [problem] = check_independence(GOOD_STAGES, sources, PARTS_DIRS).problems
    assert problem.startswith("stage evaluate reads the test part (names the test part at ")
    assert "fits (app/evaluate.py:6 " in problem


@pytest.mark.parametrize(
    "code",
    [
        "import glob\nfrom app import model\nglob.glob('*.parquet')\n",  # names no part: all
        "from app.parts import PARTS\nfrom app import model\nprint(PARTS)\n",
        "from . import model\nx = 'test.parquet'\n",  # a relative import
        "from sklearn.model_selection import GridSearchCV\nGridSearchCV(1).score('test')\n",
    ],
)
def test_a_training_stage_that_may_read_the_test_part_fails(code: str) -> None:
    result = check_independence(GOOD_STAGES, SOURCES | {"app.train": code}, PARTS_DIRS)
    assert [p.split(" reads")[0] for p in result.problems] == ["stage train"], result


def test_code_that_cannot_be_read_is_a_note() -> None:
    stages = GOOD_STAGES | {"shell": {"cmd": "cp data/f/valid.parquet x", "deps": ["data/f"]}}
    stages["train"] = {"cmd": "python -m app.train", "deps": ["data/f"]}
    sources = SOURCES | {"app.train": "import app.gone\n'train'\n"}
    assert uses(stages, sources)["notes"] == (
        "stage train: imports app.gone, which was not found",
        "stage shell: touches data/split, data/f; code not checked (not python -m MODULE)",
    )


def test_stage_module() -> None:
    assert stage_module("PYTHONPATH=src python -m mlrepro.stages.train --data x") == (
        "mlrepro.stages.train"
    )
    assert stage_module(["python -m a.b", "echo"]) == "a.b"
    assert stage_module("python train.py") is None


def test_the_projects_pipeline_fits_only_on_train() -> None:
    """The check on this repository's dvc.yaml and code. DVC refuses dvc.yaml as a dependency,
    so an edit of dvc.yaml alone does not re-run the leakage stage: this test catches it."""
    with contextlib.chdir(PROJECT):
        stages = pipeline_stages()
        result = check_independence(
            stages, project_sources(stages), ["data/split", "data/featurize"]
        )
    found = {u.stage: (u.reads_test, u.fits is not None) for u in result.stages}
    assert found["train"] == (False, True) and found["evaluate"] == (True, False)
    assert found["featurize"] == (True, False) and found["leakage"] == (True, False)
    assert (result.problems, result.notes) == ((), ())


# --- params -----------------------------------------------------------------------------------

COMMITTED = PROJECT / "params.yaml"


def params_with(tmp_path: Path, section: Any) -> Path:
    data = yaml.safe_load(COMMITTED.read_text())
    data["leakage"] = section
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_committed_leakage_params_are_the_defaults() -> None:
    assert load_params(COMMITTED).leakage == LeakageParams()


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"fail_auc": 1.5}, "leakage.fail_auc: must be between 0.5 and 1.0, got 1.5"),
        ({"warn_auc": 0.95}, "leakage.warn_auc: must be at most fail_auc (0.9), got 0.95"),
        ({"folds": 1}, "leakage.folds: must be between 2 and 100, got 1"),
        ({"bins": "x"}, "leakage.bins: expected int, got 'x'"),
        ({"allowed": {"nope": "why"}}, "leakage.allowed.nope: not a feature (featurize."),
        ({"allowed": {"carrier": ""}}, "leakage.allowed.carrier: expected the reason it is"),
        ({"allowed": ["carrier"]}, "leakage.allowed: expected a mapping, got ['carrier']"),
        ({"overlap_max": -1}, "leakage.overlap_max: must be between 0.0 and 1.0, got -1"),
        ({"threshold": 1}, "leakage.threshold: unknown key (known: allowed, bins,"),
    ],
)
def test_bad_leakage_params_are_one_line_naming_the_key(
    tmp_path: Path, section: dict[str, Any], expected: str
) -> None:
    path = params_with(tmp_path, section)
    with pytest.raises(ParamsError) as info:
        load_params(path)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(f"{path}: {expected}"), str(info.value)


def test_params_check_refuses_a_bad_leakage_param(tmp_path: Path) -> None:
    path = params_with(tmp_path, {"fail_auc": 0.4})
    result = mlrepro(PROJECT, "params", "check", "--params", str(path), code=2)
    assert result.stderr == (
        f"mlrepro: error: {path}: leakage.fail_auc: must be between 0.5 and 1.0, got 0.4\n"
    ), result.stderr


def test_report_is_json_of_scalars(tmp_path: Path) -> None:
    """What the stage writes is a metrics file: nested mappings, no lists (dvc metrics)."""
    from mlrepro.core.files import write_json
    from mlrepro.stages.leakage import DataChecks, report

    params = load_params(COMMITTED)
    checks = DataChecks(
        400,
        label_proxies(flights(), FEATURES, LeakageParams(), SEED),
        Temporal("t", {"test_before_train_end": 0}),
        Overlap(10, 0, 0),
    )
    fit = check_independence(GOOD_STAGES, SOURCES, PARTS_DIRS)
    found = findings(checks.proxies, checks.temporal, checks.overlap, params.leakage)
    data = report(checks, fit, found, {"path": "t.parquet", "sha256": "ab", "rows": 10}, params)
    write_json(tmp_path / "a.json", data)
    write_json(tmp_path / "b.json", report(checks, fit, found, data["test_part"], params))
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert (data["verdict"], data["failed"], data["warned"]) == ("fail", 1, 0)
    assert data["label_proxy"]["features"]["delay"]["verdict"] == "fail"
    assert data["fit_only_on_train"]["stages"]["train"] == {
        "reads_test": False,
        "fits": True,
        "why": "names only train",
    }

    def no_lists(value: Any) -> bool:
        if isinstance(value, dict):
            return all(no_lists(v) for v in value.values())
        return not isinstance(value, list)

    assert no_lists(json.loads((tmp_path / "a.json").read_text()))


def test_the_summary_holds_what_a_reviewer_compares() -> None:
    """The metrics file (reports/leakage_metrics.json): a few rows, the report has the rest."""
    from mlrepro.stages.leakage import DataChecks

    params = load_params(COMMITTED)
    proxies = label_proxies(flights(), FEATURES, LeakageParams(), SEED)
    checks = DataChecks(
        400, proxies, Temporal("t", {"test_before_train_end": 3}), Overlap(10, 1, 0)
    )
    found = findings(checks.proxies, checks.temporal, checks.overlap, params.leakage)
    assert summary(checks, found, "fail") == {
        "verdict": "fail",
        "failed": 3,  # the proxy, the temporal order, the overlap above 0
        "warned": 0,
        "label_proxy": {"feature": "delay", "auc": proxies[0].auc},
        "overlap": {"identical_to_train": 1, "share": 0.1},
        "temporal": {"violations": 3},
    }
    random_split = DataChecks(400, proxies, Temporal(None, {}), Overlap(10, 0, 0))
    assert summary(random_split, [], "pass")["temporal"] == {"violations": None}


def test_arrow_tables_score_as_pandas_frames(tmp_path: Path) -> None:
    """The stage reads pyarrow Tables (no pandas); the tests pass DataFrames: the same label
    proxies, overlap counts and temporal order, missing equal to missing."""
    from mlrepro.core.files import write_parquet
    from mlrepro.pipeline.arrow import read_table

    train = flights().assign(t=pd.date_range("2013-01-01", periods=400, freq="h", tz="UTC"))
    test = flights(120).assign(late=lambda d: 1 - d["late"], t=train["t"].iloc[-1])
    test = pd.concat([test, train.iloc[:7]], ignore_index=True)
    write_parquet(train, tmp_path / "train.parquet")
    write_parquet(test, tmp_path / "test.parquet")
    columns = ["flight_id", "carrier", "temp", "delay", "late", "t"]
    arrow = {p: read_table(tmp_path / f"{p}.parquet", columns) for p in ("train", "test")}
    assert arrow["train"].column_names == columns
    assert (
        label_proxies(arrow["train"], FEATURES, LeakageParams(), SEED)
        == label_proxies(
            pd.read_parquet(tmp_path / "train.parquet"), FEATURES, LeakageParams(), SEED
        )
        == label_proxies(train, FEATURES, LeakageParams(), SEED)
    )
    compared = ["carrier", "temp", "late"]
    assert rows_in(arrow["test"], arrow["train"], compared) == rows_in(test, train, compared) >= 7
    assert rows_in(test, train, ["delay"]) == 7  # continuous: only the copied rows
    parts = {"train": arrow["train"], "valid": arrow["test"].slice(0, 0), "test": arrow["test"]}
    assert temporal(parts, "t", []).earlier == {
        "valid_before_train_end": 0,
        "test_before_train_end": 7,  # the copies; the rest at the last train hour
        "test_before_valid_end": 0,
    }
    with pytest.raises(DataError, match=r"gone.parquet: file not found"):
        read_table(tmp_path / "gone.parquet", ["late"])
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(DataError, match=r"bad.parquet: not a readable Parquet file: "):
        read_table(tmp_path / "bad.parquet", ["late"])


def test_the_stage_runs_without_pandas(tmp_path: Path) -> None:
    """The leakage stage's cost is a budget: its data checks never import pandas (0.3 s)."""
    from mlrepro.core.files import write_parquet

    for part in ("train", "test"):
        write_parquet(flights(), tmp_path / f"{part}.parquet")
    code = (
        "import sys\n"
        "from mlrepro.core.params import FeaturizeParams, LeakageParams\n"
        "from mlrepro.pipeline.arrow import read_table\n"
        "from mlrepro.pipeline.leakage import label_proxies, rows_in\n"
        "spec = FeaturizeParams('d', 0, 'late', ('carrier', 'flight_id'), ('delay', 'temp'), {})\n"
        f"t = {{p: read_table({str(tmp_path)!r} + f'/{{p}}.parquet', ['carrier', 'flight_id', "
        "'delay', 'temp', 'late']) for p in ('train', 'test')}\n"
        "print(label_proxies(t['train'], spec, LeakageParams(), 7)[0].feature)\n"
        "print(rows_in(t['test'], t['train'], ['carrier', 'temp', 'late']))\n"
        "print('pandas' in sys.modules)\n"
    )
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out == "delay\n400\nFalse\n", out


def test_the_stage_reads_only_the_columns_its_checks_use(tmp_path: Path) -> None:
    from mlrepro.core.files import write_parquet

    params = load_params(COMMITTED)
    at = pd.Timestamp("2013-01-01", tz="UTC")
    main = pd.DataFrame({"time_hour": [at], "carrier": ["AA"], "flight": [1], "dep_delay": [2.0]})
    table = pd.DataFrame({"carrier": ["AA"], "distance": [100.0], "late": [1], "time_hour": [at]})
    for folder, frame in (("split", main), ("featurize", table)):
        for part in ("train", "valid", "test"):
            write_parquet(frame, tmp_path / folder / f"{part}.parquet")
    parts, features = read_inputs(str(tmp_path / "split"), str(tmp_path / "featurize"), params)
    assert sorted(parts) == ["test", "train", "valid"] and sorted(features) == ["test", "train"]
    assert parts["valid"].column_names == ["time_hour", "carrier", "flight"]  # time, joins, key
    assert features["test"].column_names == ["carrier", "distance", "late"]  # features, label
