"""`mlrepro diff` on a small real git + DVC repo: one trivial `evaluate` stage whose metrics file
(cache: false, so in git) follows params.yaml, committed at several tags.

Tags: v1; v2 (worse within tolerance); broken (metrics file unparsable); gone (metrics file
deleted); v3 (worse beyond tolerance, another pinned snapshot) = HEAD = the clean workspace.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlrepro.diff.core import diff_revs
from tests.conftest import Repo
from tests.runner import mlrepro

pytestmark = pytest.mark.e2e

WRITE_METRICS = """\
import json, os, yaml
p = yaml.safe_load(open("params.yaml"))["model"]
os.makedirs("evaluate", exist_ok=True)
metrics = {  # test.model: a non-numeric metric
    "test": {"roc_auc": p["auc"], "log_loss": p["loss"], "confusion": {"tp": p["tp"]}},
    "valid": {"roc_auc": round(p["auc"] - 0.05, 6)},
}
metrics["test"]["model"] = "hgb"
with open("evaluate/metrics.json", "w") as fh:
    json.dump(metrics, fh, indent=2)
"""

DVC_YAML = """\
vars:
  - paths:
      metrics: evaluate/metrics.json
stages:
  evaluate:
    cmd: python write_metrics.py
    deps: [write_metrics.py]
    params: [model]
    metrics:
      - ${paths.metrics}:
          cache: false
"""

GATES = """\
test.roc_auc: {higher_is_better: true, abs_tol: 0.01}
test.log_loss: {higher_is_better: false, rel_tol: 0.05}
'*.confusion.tp': {higher_is_better: true}
"""

PIN_A, PIN_B = "20260101T000000Z-aaaaaaaa", "20260201T000000Z-bbbbbbbb"


def manifest(snapshot_id: str, rows: int, size: int) -> dict[str, Any]:
    entry = {"path": "f.csv", "bytes": size, "sha256": "0" * 64, "md5": "0" * 32, "rows": rows}
    return {
        "id": snapshot_id,
        "source": "flights",
        "definition": {"name": "flights", "path": "f.csv", "key": []},
        "taken_at": "2026-01-01T00:00:00Z",
        "git_commit": None,
        "tools": {},
        "content_sha256": "0" * 64,
        "files": [entry],
        "copy": {},
    }


def set_version(repo: Repo, auc: float, loss: float, tp: int, pin: str) -> None:
    params = {"model": {"auc": auc, "loss": loss, "tp": tp}, "ingest": {"pins": {"flights": pin}}}
    (repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    repo.dvc("repro", "-q")


def tagged(repo: Repo, tag: str) -> None:
    repo.commit_all(tag)
    repo.git("tag", tag)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    repo = Repo(tmp_path_factory.mktemp("compare") / "repo")
    repo.path.mkdir()
    repo.git("init", "-q", "-b", "main")
    repo.git("config", "user.name", "mlrepro tests")  # dvc exp commits without the env vars
    repo.git("config", "user.email", "tests@mlrepro.invalid")
    repo.dvc("init", "-q")
    for name, text in [("write_metrics.py", WRITE_METRICS), ("dvc.yaml", DVC_YAML)]:
        (repo.path / name).write_text(text)
    (repo.path / "gates.yaml").write_text(GATES)
    snapshots = repo.path / "data" / "snapshots" / "flights"
    snapshots.mkdir(parents=True)
    for snapshot_id, rows, size in [(PIN_A, 100, 1000), (PIN_B, 120, 1200)]:
        text = json.dumps(manifest(snapshot_id, rows, size))
        (snapshots / f"{snapshot_id}.json").write_text(text)
    set_version(repo, 0.70, 0.50, 10, PIN_A)
    tagged(repo, "v1")
    set_version(repo, 0.695, 0.51, 10, PIN_A)
    tagged(repo, "v2")
    (repo.path / "evaluate" / "metrics.json").write_text("{not json")
    tagged(repo, "broken")
    (repo.path / "evaluate" / "metrics.json").unlink()
    tagged(repo, "gone")
    set_version(repo, 0.65, 0.60, 8, PIN_B)
    tagged(repo, "v3")
    return repo


@pytest.fixture
def repo(template: Repo, tmp_path: Path) -> Repo:
    """A private copy for tests that change the workspace or refs."""
    shutil.copytree(template.path, tmp_path / "repo", symlinks=True)
    return Repo(tmp_path / "repo")


def json_diff(cwd: Path, a: str, b: str) -> dict[str, Any]:
    code, out, err = mlrepro(cwd, "diff", a, b, "--format", "json")
    assert code == 0, out + err
    result: dict[str, Any] = json.loads(out)
    return result


@pytest.mark.parametrize(("a", "b"), [("v1", "v3"), ("v1", "v2"), ("v2", "workspace")])
def test_numbers_agree_with_dvc_metrics_diff(template: Repo, a: str, b: str) -> None:
    dvc = json.loads(template.dvc("metrics", "diff", "--json", "--all", a, b).stdout)
    expected = {
        key: {"old": v["old"], "new": v["new"], "change": v.get("diff")}
        for key, v in dvc["evaluate/metrics.json"].items()
    }
    rows = json_diff(template.path, a, b)["metrics"]
    ours = {r["key"]: {"old": r["old"], "new": r["new"], "change": r["change"]} for r in rows}
    assert ours == expected


def test_gate_fails_beyond_tolerance(template: Repo) -> None:
    code, out, err = mlrepro(template.path, "diff", "v1", "v3", "--gate", code=None)
    assert code == 1, out + err
    assert err == (
        "mlrepro diff: gate failed: test.roc_auc regressed, test.log_loss regressed, "
        "test.confusion.tp regressed\n"
    )
    lines = out.splitlines()
    header = ["evaluate/metrics.json", "v1", "v3", "change", "rel", "verdict", "note"]
    assert lines[2].split() == header, out
    assert lines[2].index("verdict") == lines[3].index("regressed"), out  # one aligned table
    row = next(line for line in lines if line.startswith("  test.roc_auc "))
    assert row.split() == ["test.roc_auc", "0.7", "0.65", "-0.05", "↓", "-7.14%", "regressed", "✗"]


def test_gate_passes_within_tolerance(template: Repo) -> None:
    code, out, err = mlrepro(template.path, "diff", "v1", "v2", "--gate")
    assert code == 0, out + err
    assert out.rstrip().endswith("gate: passed"), out
    verdicts = {r["key"]: r["verdict"] for r in json_diff(template.path, "v1", "v2")["metrics"]}
    assert verdicts == {
        "test.roc_auc": "ok",
        "test.log_loss": "ok",
        "test.confusion.tp": "ok",
        "test.model": "not gated",
        "valid.roc_auc": "not gated",
    }


def test_unknown_revision_is_one_line(template: Repo) -> None:
    code, out, err = mlrepro(template.path, "diff", "v1", "nope", "--gate", code=None)
    assert (code, out) == (2, "")
    assert err == (
        "mlrepro: error: unknown revision 'nope': not a commit, tag, branch or DVC experiment\n"
    )


@pytest.mark.parametrize(
    ("rev", "reason"),
    [("broken", "unparsable: Expecting property name"), ("gone", "not found")],
)
def test_missing_or_unparsable_metrics_show_a_dash_and_the_reason(
    template: Repo, rev: str, reason: str
) -> None:
    code, out, err = mlrepro(template.path, "diff", "v1", rev, "--gate", code=None)
    assert code == 1, out + err
    lines = out.splitlines()
    # the reason once under the file's heading (every row has it), then the rows
    assert lines[2].startswith("evaluate/metrics.json "), out
    assert lines[3].startswith(f"  {rev}: {reason}"), out
    row = next(line for line in lines if line.startswith("  test.roc_auc "))
    assert row.split() == ["test.roc_auc", "0.7", "—", "missing", "✗"], out
    assert f"note: {rev}: evaluate/metrics.json: {reason}" in out, out
    rows = {r["key"]: r for r in json_diff(template.path, "v1", rev)["metrics"]}
    assert rows["test.roc_auc"]["note"].startswith(f"{rev}: {reason}"), rows


def index_state(repo: Repo) -> tuple[str, int, str]:
    """`--no-optional-locks`: a plain `git status` may itself refresh and rewrite the index."""
    index = repo.path / ".git" / "index"
    status = repo.git("--no-optional-locks", "status", "--porcelain", "-uall").stdout
    return status, index.stat().st_mtime_ns, hashlib.sha256(index.read_bytes()).hexdigest()


def test_work_tree_and_index_are_unchanged(repo: Repo) -> None:
    (repo.path / "params.yaml").write_text("model: {auc: 0.1, loss: 9, tp: 0}\n")
    (repo.path / "scratch.txt").write_text("untracked\n")
    repo.git("add", "scratch.txt")
    before = index_state(repo)
    for argv in [("v1", "v3"), ("broken", "workspace"), ("v2",), ()]:
        mlrepro(repo.path, "diff", *argv, code=None)
    assert index_state(repo) == before


def test_diff_against_a_dvc_experiment(repo: Repo) -> None:
    repo.dvc("exp", "run", "-S", "model.auc=0.68", "--name", "cand")
    repo.git("checkout", "-q", "--", ".")  # the experiment is applied to the workspace; drop it
    rows = {r["key"]: r for r in json_diff(repo.path, "HEAD", "cand")["metrics"]}
    assert (rows["test.roc_auc"]["old"], rows["test.roc_auc"]["new"]) == (0.65, 0.68)
    assert rows["test.roc_auc"]["verdict"] == "improved"
    result = diff_revs(repo.path, "HEAD", "cand")
    assert result.b.commit is not None
    assert result.b.commit != repo.git("rev-parse", "HEAD").stdout.strip()


def test_data_params_and_stages_as_data(template: Repo) -> None:
    result = json_diff(template.path, "v1", "v3")
    assert result["params"] == [
        {"key": "model.auc", "old": 0.7, "new": 0.65},
        {"key": "model.loss", "old": 0.5, "new": 0.6},
        {"key": "model.tp", "old": 10, "new": 8},
        {"key": "ingest.pins.flights", "old": PIN_A, "new": PIN_B},
    ]
    assert result["pins"] == [
        {
            "source": "flights",
            "old": {"id": PIN_A, "rows": 100, "bytes": 1000},
            "new": {"id": PIN_B, "rows": 120, "bytes": 1200},
        }
    ]
    assert result["stages"] == [
        {"stage": "evaluate", "status": "changed", "deps": [], "outs": ["evaluate/metrics.json"]}
    ]
    assert result["notes"] == []
    assert result["gate_failed"] is True


def test_markdown(template: Repo) -> None:
    code, out, err = mlrepro(template.path, "diff", "v1", "v3", "--format", "md")
    assert code == 0, out + err
    assert "| `test.roc_auc` | 0.7 | 0.65 | -0.05 ↓ | -7.14% | regressed ✗ |  |" in out, out
    heading = out.index("#### `evaluate/metrics.json`\n\n| metric | `v1` | `v3` |")
    assert heading < out.index("| `test.roc_auc` |"), out
    assert "- flights: 20260101T000000Z-aaaaaaaa (100 rows, 1000 bytes) -> " in out, out


def test_default_base_is_main_or_the_upstream(template: Repo, tmp_path: Path) -> None:
    code, out, _ = mlrepro(template.path, "diff")
    assert code == 0 and out.startswith("main ("), out
    template.run("git", "clone", "-q", str(template.path), str(tmp_path / "clone"))
    code, out, _ = mlrepro(tmp_path / "clone", "diff")
    assert code == 0 and out.startswith("origin/main ("), out


def test_shallow_clone_says_how_to_fetch(template: Repo, tmp_path: Path) -> None:
    source, clone = f"file://{template.path}", str(tmp_path / "s")
    template.run("git", "clone", "-q", "--depth", "1", source, clone)
    v1 = template.git("rev-parse", "v1").stdout.strip()
    code, out, err = mlrepro(tmp_path / "s", "diff", v1, "HEAD", code=None)
    assert (code, out) == (2, "")
    assert err == (
        f"mlrepro: error: unknown revision '{v1}' in this shallow clone: if it exists upstream, "
        f"run `git fetch --unshallow` (or `git fetch origin {v1}`)\n"
    )


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        ("test.nope", "mlrepro: error: gates.yaml: test.nope: no such metric at v1 or v3\n"),
        ("'*.f1'", "mlrepro: error: gates.yaml: *.f1: no such metric at v1 or v3\n"),
    ],
)
def test_a_gate_on_no_metric_is_an_input_error(repo: Repo, gate: str, message: str) -> None:
    (repo.path / "gates.yaml").write_text(f"{gate}: {{higher_is_better: true}}\n")
    assert mlrepro(repo.path, "diff", "v1", "v3", "--gates", "gates.yaml", code=None) == (
        2,
        "",
        message,
    )


def test_a_gate_on_a_non_numeric_metric_fails(repo: Repo) -> None:
    (repo.path / "gates.yaml").write_text("test.model: {higher_is_better: true}\n")
    code, out, err = mlrepro(
        repo.path, "diff", "v1", "v2", "--gate", "--gates", "gates.yaml", code=None
    )
    assert code == 1, out + err
    assert err == "mlrepro diff: gate failed: test.model not numeric\n"


def test_the_base_gates_judge_the_change(repo: Repo) -> None:
    loose = "test.roc_auc: {higher_is_better: true, abs_tol: 1.0}\n"
    (repo.path / "gates.yaml").write_text(loose)  # a change that loosens its own gate
    assert mlrepro(repo.path, "diff", "v1", "v3", "--gate", "--gates", "gates.yaml")[0] == 0
    # gates.yaml as at v1
    code, _, err = mlrepro(repo.path, "diff", "v1", "v3", "--gate", code=None)
    assert code == 1 and "test.roc_auc regressed" in err, err


def test_gate_needs_a_gates_file(repo: Repo) -> None:
    assert mlrepro(repo.path, "diff", "v1", "v2", "--gate", "--gates", "nope.yaml", code=None) == (
        2,
        "",
        "mlrepro: error: --gates: nope.yaml not found\n",
    )
