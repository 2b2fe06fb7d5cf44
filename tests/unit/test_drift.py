"""Drift on tiny frames: values computed by hand, verdicts, overrides, unseen categories, missing
columns, deterministic bytes; the stage's fail rule, the PNG, the params and the CLI on files."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from mlrepro.core.errors import DataError, ParamsError
from mlrepro.core.files import write_parquet
from mlrepro.core.params import DriftParams, Thresholds, load_params
from mlrepro.pipeline.drift import (
    EPSILON,
    Sample,
    drift,
    js_distance,
    profile,
    quantile_edges,
    wasserstein,
)
from mlrepro.pipeline.driftplot import drift_png, panel_bars
from mlrepro.stages.drift import failure, read_parts, report, summary
from tests.runner import mlrepro

PROJECT = Path(__file__).resolve().parents[2]
BINS2 = DriftParams(bins=2)
BOTH = [("x", "numeric"), ("c", "categorical")]


def frames(x_ref: list[Any], x_cur: list[Any], c_ref: list[Any], c_cur: list[Any]) -> Any:
    ref = pd.DataFrame({"x": pd.array(x_ref, dtype="Float64"), "c": pd.array(c_ref, "string")})
    cur = pd.DataFrame({"x": pd.array(x_cur, dtype="Float64"), "c": pd.array(c_cur, "string")})
    return ref, cur


SHIFTED = frames([1, 2, 3, 4], [3, 4, 5, 6], ["a", "a", "b", "b"], ["a", "b", "b", "b"])


def measures(result: Any, feature: str) -> dict[str, float | None]:
    found = next(f for f in result.features if f.feature == feature)
    return {m.method: m.value for m in found.measures}


def test_a_known_drift_has_the_values_computed_by_hand() -> None:
    result = drift(*SHIFTED, BOTH, BINS2, names=("ref", "cur"))
    # x: 2 quantile bins of ref, edge at its median 2.5: ref 1/2, 1/2; cur 0, 1; missing 0, 0
    psi = (EPSILON - 0.5) * math.log(EPSILON / 0.5) + (1 - 0.5) * math.log(1 / 0.5)
    # every value moves by 2; ref's std (ddof 0) is sqrt(1.25)
    assert measures(result, "x") == {
        "psi": round(psi, 6),
        "wasserstein": round(2 / math.sqrt(1.25), 6),
    }
    # c: ref a 1/2, b 1/2; cur a 1/4, b 3/4; Jensen-Shannon in nats against the mixture m
    p, q, m = (0.5, 0.5), (0.25, 0.75), (0.375, 0.625)
    kl = [sum(a * math.log(a / b) for a, b in zip(side, m, strict=True)) for side in (p, q)]
    assert measures(result, "c") == {
        "jensenshannon": round(math.sqrt(sum(kl) / 2), 6),
        "linf": 0.25,
    }
    x, c = result.features
    assert (x.binning, x.bins, x.labels) == ("quantile", 2, ("≤ 2.5", "> 2.5", "(missing)"))
    assert (x.verdict, c.verdict) == ("fail", "fail")  # PSI 4.6; JS 0.18 warns, L-inf 0.25 fails
    assert (result.share, result.verdict) == (1.0, "fail")


def test_identical_data_does_not_drift() -> None:
    ref, _ = SHIFTED
    result = drift(ref, ref.copy(), BOTH, DriftParams())
    assert [measures(result, f) for f in ("x", "c")] == [
        {"psi": 0.0, "wasserstein": 0.0},
        {"jensenshannon": 0.0, "linf": 0.0},
    ]
    assert [f.verdict for f in result.features] == ["ok", "ok"]
    assert (result.share, result.verdict) == (0.0, "ok")


def test_the_measures_are_scipys_on_random_data() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(0, 2, 5000).round(1), rng.normal(0.3, 2, 3000).round(1)
    cats = np.array(list("abcde"))
    ca, cb = cats[rng.integers(0, 5, 5000)], cats[rng.integers(0, 4, 3000)]
    ref, cur = pd.DataFrame({"x": a, "c": ca}), pd.DataFrame({"x": b, "c": cb})
    got = drift(ref, cur, BOTH, DriftParams())
    p = pd.Series(ca).value_counts(normalize=True).reindex(list(cats), fill_value=0)
    q = pd.Series(cb).value_counts(normalize=True).reindex(list(cats), fill_value=0)
    assert measures(got, "x")["wasserstein"] == round(wasserstein_distance(a, b) / a.std(), 6)
    assert measures(got, "c")["jensenshannon"] == round(float(jensenshannon(p, q)), 6)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_hand_written_distances_are_scipys(seed: int) -> None:
    """Weighted Wasserstein over distinct values, and Jensen-Shannon with empty categories: the
    stage does not import scipy, so these prove the hand versions against it."""
    rng = np.random.default_rng(seed)
    u = Sample(np.unique(rng.normal(0, 3, 300)), rng.integers(1, 50, 300), 0)
    v = Sample(np.unique(rng.normal(1, 2, 200)), rng.integers(1, 50, 200), 0)
    u, v = (
        Sample(u.values, u.counts[: len(u.values)], 0),
        Sample(v.values, v.counts[: len(v.values)], 0),
    )
    expected = wasserstein_distance(u.values, v.values, u.counts, v.counts)
    assert wasserstein(u, v) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert wasserstein(u, u) == 0.0
    p, q = rng.dirichlet(np.ones(8)), rng.dirichlet(np.ones(8))
    p[[1, 5]], q[[5, 6]] = 0.0, 0.0  # a category one side lacks; one neither has
    p, q = p / p.sum(), q / q.sum()
    assert js_distance(p, q) == pytest.approx(float(jensenshannon(p, q)), rel=1e-12)
    assert js_distance(p, p) == 0.0
    assert js_distance(np.array([1.0, 0]), np.array([0, 1.0])) == pytest.approx(
        math.sqrt(math.log(2))
    )


def test_an_arrow_table_profiles_as_its_pandas_frame(tmp_path: Path) -> None:
    """The stage reads Parquet with pyarrow, `mlrepro drift` with pandas: the same measures."""
    frame = pd.DataFrame(
        {
            "x": [1.5, -0.0, 0.0, np.nan, np.inf, 2.0, 1.5, None],
            "n": pd.array([3, None, 3, 1, 2, None, 7, 1], dtype="Int64"),
            "c": pd.array(["a", None, "b", "a", "", "b", "a", "c"], dtype="string"),
            "k": [1, 2, 2, 3, 1, 1, 2, 9],  # a number used as a category
        }
    )
    write_parquet(frame, tmp_path / "t.parquet")
    write_parquet(frame.iloc[::-1].assign(x=frame["x"] * 2), tmp_path / "u.parquet")
    columns = [("x", "numeric"), ("n", "numeric"), ("c", "categorical"), ("k", "categorical")]
    arrow = [pq.read_table(tmp_path / f"{n}.parquet") for n in "tu"]
    pandas = [pd.read_parquet(tmp_path / f"{n}.parquet") for n in "tu"]
    assert drift(*arrow, columns, BINS2) == drift(*pandas, columns, BINS2)
    a, b = profile(arrow[0], columns, "t"), profile(pandas[0], columns, "t")
    for name in ("x", "n"):
        sa, sb = a.columns[name], b.columns[name]
        assert isinstance(sa, Sample) and isinstance(sb, Sample)
        assert (sa.values.tolist(), sa.counts.tolist(), sa.rows) == (
            sb.values.tolist(),
            sb.counts.tolist(),
            sb.rows,
        )
    assert a.columns["c"] == b.columns["c"] and a.columns["k"] == b.columns["k"]
    chunked = pa.Table.from_batches(arrow[0].to_batches(max_chunksize=3))  # offsets into buffers
    assert drift(chunked, arrow[1], columns, BINS2) == drift(*pandas, columns, BINS2)
    with pytest.raises(DataError, match=r"^drift: 'c' is string, not a number$"):
        profile(pq.read_table(tmp_path / "t.parquet"), [("c", "numeric")], "t")


def test_the_stage_runs_without_pandas_scipy_or_matplotlib(tmp_path: Path) -> None:
    """The drift stage's cost is a budget: its process imports none of them (0.3 s, 0.7 s and
    0.4 s to import)."""
    ref, cur = SHIFTED
    for part, frame in (("train", ref), ("valid", cur), ("test", cur)):
        write_parquet(frame.assign(late=1), tmp_path / f"{part}.parquet")
    code = (
        "import sys\n"
        "from mlrepro.core.params import DriftParams\n"
        "from mlrepro.pipeline.driftplot import drift_png\n"
        "from mlrepro.stages.drift import part_drift, read_parts, summary\n"
        "from mlrepro.core.params import FeaturizeParams\n"
        "spec = FeaturizeParams('d', 0, 'late', ('c',), ('x',), {})\n"
        f"parts = read_parts({str(tmp_path)!r}, ['c', 'x'])\n"
        "results = part_drift(parts, spec, DriftParams(bins=2))\n"
        f"drift_png(results, 2, {str(tmp_path / 'd.png')!r})\n"
        "print(summary(results)['test']['dataset']['failed'])\n"
        "print(sorted(m for m in ('matplotlib', 'pandas', 'scipy') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out == "2\n[]\n", out
    assert set(read_parts(tmp_path, ["x", "gone"])["train"].column_names) == {"x"}


def test_the_summary_holds_what_a_reviewer_compares() -> None:
    """The metrics file (reports/drift_metrics.json): a few rows per part."""
    results = [
        drift(*SHIFTED, BOTH, BINS2, names=("train", "valid")),
        drift(SHIFTED[0], SHIFTED[0], BOTH, BINS2, names=("train", "test")),
    ]
    assert summary(results) == {
        "valid": {
            "dataset": {"share": 1.0, "failed": 2, "warned": 0, "verdict": "fail"},
            "worst": {"feature": "x", "psi": 4.604318},
        },
        "test": {
            "dataset": {"share": 0.0, "failed": 0, "warned": 0, "verdict": "ok"},
            "worst": {"feature": "c", "jensenshannon": 0.0},
        },
    }


@pytest.mark.parametrize("bins", [2, 3, 10])
def test_quantile_edges_are_numpys_without_duplicates_or_the_maximum(bins: int) -> None:
    values = np.array([0, 0, 0, 0, 1, 1, 2, 5, 5, 9], dtype=float)
    expected = np.unique(np.quantile(values, np.arange(1, bins) / bins))
    expected = expected[expected < values.max()]
    assert quantile_edges(Sample.of(pd.Series(values), "v"), bins).tolist() == expected.tolist()


def test_thresholds_are_overridden_per_feature() -> None:
    params = DriftParams(bins=2, features={"x": {"psi": Thresholds(5.0, 10.0)}})
    x = drift(*SHIFTED, BOTH, params).features[0]
    verdicts = {m.method: (m.warn, m.fail, m.verdict) for m in x.measures}
    assert verdicts == {"psi": (5.0, 10.0, "ok"), "wasserstein": (0.1, 0.2, "fail")}
    relaxed = DriftParams(
        bins=2, features={"x": {"wasserstein": Thresholds(1.0, 2.0), "psi": Thresholds(5, 10)}}
    )
    assert drift(*SHIFTED, BOTH, relaxed).features[0].verdict == "warn"  # 1.79: warn from 1


def test_unseen_categories_count_and_are_measured() -> None:
    ref, cur = frames([1, 2], [1, 2], ["a", "a"], ["a", "z"])
    c = drift(ref, cur, [("c", "categorical")], DriftParams()).features[0]
    assert (c.labels, c.shares_ref, c.shares_cur) == (
        ("a", "z", "(missing)"),
        (1.0, 0.0, 0.0),
        (0.5, 0.5, 0.0),
    )
    assert (c.bins, c.unseen) == (2, 0.5)
    assert {m.method: m.value for m in c.measures} == {
        "jensenshannon": round(float(jensenshannon([1, 0], [0.5, 0.5])), 6),
        "linf": 0.5,
    }


def test_an_all_missing_column() -> None:
    none = [None, None, None]
    ref, cur = frames(none, none, none, none)
    result = drift(ref, cur, BOTH, DriftParams())
    assert [measures(result, f) for f in ("x", "c")] == [
        {"psi": 0.0, "wasserstein": None},  # no values: no Wasserstein distance
        {"jensenshannon": 0.0, "linf": 0.0},
    ]
    assert [(f.missing_ref, f.missing_cur, f.verdict) for f in result.features] == [
        (1.0, 1.0, "ok"),
        (1.0, 1.0, "ok"),
    ]
    ref, cur = frames([1, 2, 3], none, ["a", "b", "b"], none)  # missing in current only
    x, c = drift(ref, cur, BOTH, DriftParams()).features
    assert (x.missing_cur, x.verdict, c.missing_cur, c.verdict) == (1.0, "fail", 1.0, "fail")
    assert measures(drift(ref, cur, BOTH, DriftParams()), "x")["wasserstein"] is None


def test_missing_values_are_a_bin_of_their_own() -> None:
    ref, cur = frames([1, 2, 3, 4], [1, 2, None, None], ["a"] * 4, ["a"] * 4)
    x = drift(ref, cur, [("x", "numeric")], BINS2).features[0]
    assert (x.shares_ref, x.shares_cur) == ((0.5, 0.5, 0.0), (0.5, 0.0, 0.5))
    assert (x.missing_ref, x.missing_cur) == (0.0, 0.5)


def test_the_report_bytes_depend_on_the_data_only() -> None:
    ref, cur = SHIFTED
    params = DriftParams(bins=2)
    first = json.dumps(report([drift(ref, cur, BOTH, params, names=("t", "v"))], params))
    shuffled = ref.sample(frac=1, random_state=1), cur.sample(frac=1, random_state=2)
    again = json.dumps(report([drift(*shuffled, BOTH, params, names=("t", "v"))], params))
    assert first == again
    data = json.loads(first)
    assert data["v"]["features"]["x"] == {
        "method": "psi+wasserstein",
        "log_base": "e",
        "binning": "quantile",
        "bins": 2,
        "epsilon": EPSILON,
        "missing_ref": 0.0,
        "missing_cur": 0.0,
        "psi": data["v"]["features"]["x"]["psi"],
        "wasserstein": 1.788854,
        "verdict": "fail",
    }
    assert data["v"]["dataset"] == {
        "features": 2,
        "drifted": 2,
        "share": 1.0,
        "threshold": 0.5,
        "verdict": "fail",
    }
    assert data["method"]["methods"]["psi"]["fail"] == 0.2


def test_the_png_bytes_are_the_same_twice(tmp_path: Path) -> None:
    results = [drift(*SHIFTED, BOTH, BINS2, names=("train", "test"))]
    drift_png(results, 2, tmp_path / "a.png")
    drift_png(results, 2, tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_the_png_has_a_panel_per_feature_and_round_ticks(tmp_path: Path) -> None:
    from PIL import Image, ImageDraw

    from mlrepro.pipeline.driftplot import COLUMNS, LEGEND, PANEL, _fit, _ticks

    results = [drift(*SHIFTED, BOTH, BINS2, names=("train", n)) for n in ("valid", "test")]
    drift_png(results, 2, tmp_path / "two.png")
    drift_png(results, 1, tmp_path / "one.png")
    for name, panels in (("two", 2), ("one", 1)):
        with Image.open(tmp_path / f"{name}.png") as image:
            assert image.size == (panels * PANEL[0], LEGEND + PANEL[1])
    assert COLUMNS == 3
    assert _ticks(1.0) == [0.0, 0.5, 1.0]
    assert _ticks(0.2156) == [0.0, 0.1, 0.2, 0.3]
    assert _ticks(7.3) == [0.0, 2.5, 5.0, 7.5]
    draw = ImageDraw.Draw(Image.new("RGB", (10, 10)))
    assert _fit(draw, "BOEING", 100) == "BOEING"
    assert _fit(draw, "MCDONNELL DOUGLAS AIRCRAFT CO", 100).endswith("…")


def test_the_png_sums_small_categories_as_other() -> None:
    cats = [f"k{i:02d}" for i in range(20)]
    ref, cur = frames([1] * 20, [1] * 20, cats, cats[:1] * 20)
    c = drift(ref, cur, [("c", "categorical")], DriftParams()).features[0]
    labels, (shares_ref, shares_cur) = panel_bars([c])
    assert labels == ["k00", *cats[1:12], "other"]  # missing left out: no side has any
    assert shares_ref[-1] == pytest.approx(8 / 20) and shares_cur[0] == 1.0


@pytest.mark.parametrize(
    ("fail_on", "expected"),
    [
        ("never", None),
        ("feature", "cur: x psi 4.604318 >= fail 0.2 (drift.fail_on: feature)"),
        (
            "dataset",
            "cur: dataset drift: 2 of 2 features fail (share 1.0 >= drift.dataset_share 0.5); "
            "worst: x psi 4.604318 >= fail 0.2",
        ),
    ],
)
def test_fail_on_names_feature_method_value_and_threshold(fail_on: str, expected: str) -> None:
    result = drift(*SHIFTED, BOTH, BINS2, names=("ref", "cur"))
    assert failure([result], fail_on) == expected


def test_a_dataset_below_the_share_only_warns() -> None:
    ref, cur = frames([1, 2, 3, 4], [3, 4, 5, 6], ["a", "b"] * 2, ["a", "b"] * 2)
    result = drift(ref, cur, BOTH, BINS2)
    assert (len(result.failed), result.share, result.verdict) == (1, 0.5, "fail")
    result = drift(ref, cur, BOTH, DriftParams(bins=2, dataset_share=0.75))
    assert result.verdict == "warn"
    assert failure([result], "dataset") is None


def test_bad_inputs_are_one_line() -> None:
    ref, cur = SHIFTED
    with pytest.raises(DataError, match=r"^drift: cur has no column 'x'$"):
        drift(ref, cur.rename(columns={"x": "y"}), BOTH, DriftParams(), names=("ref", "cur"))
    with pytest.raises(DataError, match=r"^drift: ref has no rows$"):
        drift(ref.iloc[:0], cur, BOTH, DriftParams(), names=("ref", "cur"))
    with pytest.raises(DataError, match=r"^drift: 'c' is string, not a number$"):
        drift(ref, cur, [("c", "numeric")], DriftParams())


COMMITTED = PROJECT / "params.yaml"


def params_with(tmp_path: Path, drift_section: Any) -> Path:
    data = yaml.safe_load(COMMITTED.read_text())
    data["drift"] = drift_section
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_committed_drift_params() -> None:
    params = load_params(COMMITTED).drift
    assert params == DriftParams()  # params.yaml spells out the defaults


def test_drift_params_override_per_feature(tmp_path: Path) -> None:
    section = {"thresholds": {"psi": {"fail": 0.25}}, "features": {"temp": {"psi": {"fail": 1}}}}
    params = load_params(params_with(tmp_path, section)).drift
    assert params.thresholds["psi"] == Thresholds(0.1, 0.25)  # warn: the default
    assert params.features == {"temp": {"psi": Thresholds(0.1, 1.0)}}  # warn: the section's
    assert params.limits("temp", "psi") == Thresholds(0.1, 1.0)
    assert params.limits("temp", "wasserstein") == Thresholds(0.1, 0.2)
    assert params.limits("dewp", "psi") == Thresholds(0.1, 0.25)


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"bins": 1}, "drift.bins: must be between 2 and 1000, got 1"),
        ({"fail_on": "always"}, "drift.fail_on: expected one of never, feature, dataset"),
        ({"thresholds": {"ks": {}}}, "drift.thresholds.ks: unknown key (known: jensenshannon,"),
        ({"thresholds": {"psi": {"warn": "x"}}}, "drift.thresholds.psi.warn: expected int or"),
        ({"thresholds": {"psi": {"warn": 0.3}}}, "drift.thresholds.psi.warn: must be at most"),
        ({"features": {"nope": {}}}, "drift.features.nope: not a feature (featurize.categorical"),
        ({"features": {"carrier": {"psi": {}}}}, "drift.features.carrier.psi: unknown key"),
        ({"dataset_share": 2}, "drift.dataset_share: must be between 0.0 and 1.0, got 2"),
        ({"colour": 1}, "drift.colour: unknown key"),
    ],
)
def test_bad_drift_params_are_one_line_naming_the_key(
    tmp_path: Path, section: dict[str, Any], expected: str
) -> None:
    path = params_with(tmp_path, section)
    with pytest.raises(ParamsError) as info:
        load_params(path)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(f"{path}: {expected}"), str(info.value)


def test_params_check_refuses_a_bad_drift_param(tmp_path: Path) -> None:
    path = params_with(tmp_path, {"thresholds": {"linf": {"fail": -1}}})
    result = mlrepro(PROJECT, "params", "check", "--params", str(path), code=2)
    assert result.stderr == (
        f"mlrepro: error: {path}: drift.thresholds.linf.fail: must be between 0.0 and "
        "1000000000.0, got -1\n"
    ), result.stderr


def test_cli_on_two_table_files(tmp_path: Path) -> None:
    ref, cur = SHIFTED
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.to_csv(tmp_path / "cur.csv", index=False)
    same = mlrepro(tmp_path, "drift", "ref.parquet", "ref.parquet")
    assert "dataset: 0 of 2 columns fail" in same.stdout, same.stdout
    out = mlrepro(tmp_path, "drift", "ref.parquet", "cur.csv", "--json", code=1).stdout
    data = json.loads(out)
    assert (data["reference"], data["current"]) == ("ref.parquet", "cur.csv")
    assert data["features"]["x"]["wasserstein"] == 1.788854  # 10 bins: the default params
    assert data["dataset"]["verdict"] == "fail"
    only = mlrepro(tmp_path, "drift", "ref.parquet", "cur.csv", "--columns", "c", code=1)
    assert "\nc " in only.stdout and "\nx " not in only.stdout, only.stdout
    bad = mlrepro(tmp_path, "drift", "ref.parquet", "cur.csv", "--columns", "z", code=2)
    assert bad.stderr == "mlrepro: error: --columns: ref.parquet has no column 'z'\n"
    none = mlrepro(tmp_path, "drift", "ref.parquet", "gone.parquet", code=2)
    assert "gone.parquet: no such file, and not a snapshot ref" in none.stderr
