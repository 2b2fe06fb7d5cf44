"""`mlrepro history` on a real git + DVC repo with 15 commits, each changing params.yaml and the
metrics file, one of which deletes the file and one of which breaks its JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mlrepro.history.core import Metrics, metric_history, parse_metrics
from mlrepro.revisions import flatten
from tests.conftest import tool_env
from tests.runner import mlrepro

pytestmark = pytest.mark.e2e

METRICS = "evaluate/metrics.json"
DVC_YAML = f"""\
vars:
  - paths:
      metrics: {METRICS}
stages:
  evaluate:
    cmd: python evaluate.py
    params:
      - train
    metrics:
      - ${{paths.metrics}}:
          cache: false
"""
START = 1_700_000_000  # commit i is made at START + i hours
MISSING, BROKEN = 5, 9  # the commits that delete the metrics file and break its JSON


def metrics(i: int) -> dict[str, Any]:
    return {
        "test": {"roc_auc": round(0.6 + i / 100, 4), "rows": 100 + i, "confusion": {"tp": i}},
        "valid": {"roc_auc": round(0.55 + i / 200, 4), "model": f"gbm-{i}"},
    }


@dataclass
class HistoryRepo:
    path: Path
    shas: list[str]  # oldest first
    subjects: list[str]

    def git(self, *args: str, when: int = START) -> str:
        return git(self.path, *args, when=when)


def git(repo: Path, *args: str, when: int = START) -> str:
    env = tool_env() | {"GIT_AUTHOR_DATE": f"@{when} +0000", "GIT_COMMITTER_DATE": f"@{when} +0000"}
    result = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def history_template(tmp_path_factory: pytest.TempPathFactory) -> HistoryRepo:
    """The repo, built once per module."""
    path = tmp_path_factory.mktemp("history") / "repo"
    (path / "evaluate").mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    dvc = subprocess.run(["dvc", "init", "-q"], cwd=path, env=tool_env(), capture_output=True)
    assert dvc.returncode == 0, dvc.stderr
    (path / "dvc.yaml").write_text(DVC_YAML)
    subjects = []
    for i in range(15):
        (path / "params.yaml").write_text(f"train:\n  learning_rate: {0.01 * (i + 1):.2f}\n")
        metrics_file = path / METRICS
        if i == MISSING:
            metrics_file.unlink()
        elif i == BROKEN:
            metrics_file.write_text('{"test": {"roc_auc": 0.7,\n')
        else:
            metrics_file.write_text(json.dumps(metrics(i), indent=2) + "\n")
        subjects.append(f"train {i}: learning rate {0.01 * (i + 1):.2f}")
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", subjects[-1], when=START + 3600 * i)
    shas = git(path, "rev-list", "--reverse", "HEAD").split()
    return HistoryRepo(path, shas, subjects)


@pytest.fixture
def history_repo(history_template: HistoryRepo, tmp_path: Path) -> HistoryRepo:
    """A private copy of the repo for one test to change."""
    path = shutil.copytree(history_template.path, tmp_path / "repo", symlinks=True)
    return HistoryRepo(path, history_template.shas, history_template.subjects)


def expected_commit(
    repo: HistoryRepo, i: int, columns: list[str], *, chosen: bool = False
) -> dict[str, Any]:
    """What history reports for commit i (0 = oldest) with these metric columns, `chosen` on the
    command line or (by default) every numeric key."""
    flat = dict(flatten(metrics(i)))
    reason = {
        MISSING: f"{METRICS}: not in this commit",
        BROKEN: f"{METRICS}: not valid JSON: Expecting property name enclosed in double quotes "
        "(line 2)",
    }.get(i)
    values = {m: None if reason else flat[m] for m in columns}
    skipped = {} if reason or chosen else {"valid.model": f'not a number: "gbm-{i}"'}
    return {
        "commit": repo.shas[i],
        "time": START + 3600 * i,
        "date": datetime.fromtimestamp(START + 3600 * i, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "subject": repo.subjects[i],
        "values": values,
        "reasons": dict.fromkeys(columns, reason) if reason else {},
        "skipped": skipped,
    }


ALL = ["test.confusion.tp", "test.roc_auc", "test.rows", "valid.roc_auc"]


def test_all_commits_whole_result(history_repo: HistoryRepo) -> None:
    result = metric_history(history_repo.path, limit=None).as_dict()
    assert result == {
        "rev": "HEAD",
        "files": [METRICS],
        "metrics": ALL,
        "commits": [expected_commit(history_repo, i, ALL) for i in reversed(range(15))],
    }


def test_last_n_chosen_metrics_and_rev(history_repo: HistoryRepo) -> None:
    history_repo.git("branch", "older", history_repo.shas[10])
    result = metric_history(
        history_repo.path, "older", limit=3, metrics=["valid.roc_auc", "test.rows"]
    ).as_dict()
    columns = ["valid.roc_auc", "test.rows"]
    assert result == {
        "rev": "older",
        "files": [METRICS],
        "metrics": columns,
        "commits": [expected_commit(history_repo, i, columns, chosen=True) for i in (10, 9, 8)],
    }


def test_first_parent_only(history_repo: HistoryRepo) -> None:
    repo = history_repo
    repo.git("switch", "-q", "-c", "side", repo.shas[-2])
    (repo.path / METRICS).write_text(json.dumps({"test": {"roc_auc": 0.99}}))
    repo.git("commit", "-q", "-am", "side experiment", when=START + 3600 * 20)
    repo.git("switch", "-q", "main")
    repo.git(
        "merge", "-q", "--no-ff", "-s", "ours", "-m", "merge side", "side", when=START + 3600 * 21
    )
    result = metric_history(repo.path, "main", limit=3, metrics=["test.roc_auc"])
    assert [(p.commit.subject, p.values) for p in result.points] == [
        ("merge side", {"test.roc_auc": 0.74}),
        (repo.subjects[14], {"test.roc_auc": 0.74}),
        (repo.subjects[13], {"test.roc_auc": 0.73}),
    ]


def test_same_values_as_dvc_metrics_show(history_repo: HistoryRepo) -> None:
    shown = subprocess.run(
        ["dvc", "metrics", "show", "-A", "--json"],
        cwd=history_repo.path,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr
    by_dvc: dict[str, dict[str, Any] | None] = {}
    for sha, entry in json.loads(shown.stdout).items():
        if sha != "workspace":
            data = entry["data"][METRICS].get("data")
            by_dvc[sha] = {k: v for k, v in flatten(data).items() if k in ALL} if data else None
    ours = {
        p.commit.sha: None if p.reasons else p.values
        for p in metric_history(history_repo.path, limit=None).points
    }
    assert ours == by_dvc
    assert sum(v is None for v in ours.values()) == 2


def test_cli_table(history_repo: HistoryRepo) -> None:
    history_repo.git("branch", "older", history_repo.shas[10])
    argv = ["history", "-n", "3", "--rev", "older", "test.roc_auc", "test.rows"]
    code, out, err = mlrepro(history_repo.path, *argv)
    assert code == 0, err
    shas = [s[:7] for s in history_repo.shas]
    assert out == "\n".join(
        [
            "commit   date (UTC)        subject                       test.roc_auc  test.rows",
            f"{shas[10]}  2023-11-15 08:13  train 10: learning rate 0.11        0.7000        110",
            f"{shas[9]}  2023-11-15 07:13  train 9: learning rate 0.10              —          —",
            f"{shas[8]}  2023-11-15 06:13  train 8: learning rate 0.09         0.6800        108",
            "",
        ]
    ), out


def test_cli_csv_and_json(history_repo: HistoryRepo) -> None:
    code, out, err = mlrepro(history_repo.path, "history", "-n", "all", "--format", "csv")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "commit,time,date,subject," + ",".join(ALL), out
    assert lines[1] == (
        f"{history_repo.shas[14]},{START + 3600 * 14},2023-11-15T12:13:20Z,"
        f"train 14: learning rate 0.15,14,0.74,114,0.62"
    ), out
    assert lines[15 - MISSING].endswith("rate 0.06,,,,"), out
    assert len(lines) == 16, out

    code, out, err = mlrepro(history_repo.path, "history", "-n", "2", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["commits"] == [
        expected_commit(history_repo, i, ALL) for i in (14, 13)
    ], out


def test_cli_plot(history_repo: HistoryRepo, tmp_path: Path) -> None:
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    for path in (first, second):
        code, _, err = mlrepro(history_repo.path, "history", "-n", "all", "--plot", str(path))
        assert (code, err) == (0, f"wrote {path}\n"), err
    assert first.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert first.read_bytes() == second.read_bytes(), "the PNG is not reproducible"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--rev", "nope"],
            "mlrepro: error: nope: not a revision in {repo} (bad revision 'nope')\n",
        ),
        (
            ["test.roc_aux"],
            "mlrepro: error: test.roc_aux: no such metric in evaluate/metrics.json at any of the "
            "15 commit(s) of HEAD (did you mean test.roc_auc, test.rows?)\n",
        ),
    ],
)
def test_cli_user_errors_exit_2(history_repo: HistoryRepo, argv: list[str], message: str) -> None:
    code, out, err = mlrepro(history_repo.path, "history", *argv, code=None)
    assert (code, out, err) == (2, "", message.format(repo=history_repo.path))


def test_cli_bad_count_is_a_usage_error(history_repo: HistoryRepo) -> None:
    code, _, err = mlrepro(history_repo.path, "history", "-n", "0", code=None)
    assert code == 2 and "'0': not a positive number or 'all'" in err, err


def test_dvc_yaml_missing_at_tip(tmp_path: Path) -> None:
    tmp_path.joinpath("a.txt").write_text("a\n")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "no pipeline")
    code, _, err = mlrepro(tmp_path, "history", code=None)
    assert (code, err.split(" (commit")[0]) == (2, "mlrepro: error: dvc.yaml at HEAD: not found")


VARS_DVC_YAML = """\
vars:
  - params.yaml
stages:
  evaluate:
    foreach: ${parts}
    do:
      cmd: python evaluate.py ${item}
      metrics:
        - ${paths.metrics}/${item}.json:
            cache: false
metrics:
  - ${paths.metrics}/summary.json
"""


def test_vars_params_yaml_and_foreach(tmp_path: Path) -> None:
    """`vars: [params.yaml]`, a foreach stage and a top-level metrics entry, all interpolated
    from params.yaml: the files and values `dvc metrics show -A` gives."""
    git(tmp_path, "init", "-q", "-b", "main")
    dvc = subprocess.run(["dvc", "init", "-q"], cwd=tmp_path, env=tool_env(), capture_output=True)
    assert dvc.returncode == 0, dvc.stderr
    (tmp_path / "dvc.yaml").write_text(VARS_DVC_YAML)
    (tmp_path / "params.yaml").write_text("parts: [valid, test]\npaths: {metrics: evaluate}\n")
    (tmp_path / "evaluate").mkdir()
    for i in range(3):
        for name in ("valid", "test", "summary"):
            auc = {"roc_auc": round(0.5 + i / 10 + len(name) / 100, 4)}
            (tmp_path / "evaluate" / f"{name}.json").write_text(json.dumps(auc))
        git(tmp_path, "add", "-A")
        git(tmp_path, "commit", "-q", "-m", f"run {i}", when=START + 60 * i)
    files = ["evaluate/valid.json", "evaluate/test.json", "evaluate/summary.json"]
    result = metric_history(tmp_path, limit=None)
    assert list(result.files) == files
    shown = subprocess.run(
        ["dvc", "metrics", "show", "-A", "--json"],
        cwd=tmp_path,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr
    by_dvc = {
        sha: {f"{f}:{k}": v for f in files for k, v in flatten(entry["data"][f]["data"]).items()}
        for sha, entry in json.loads(shown.stdout).items()
        if sha != "workspace"
    }
    assert {p.commit.sha: p.values for p in result.points} == by_dvc

    (tmp_path / "dvc.yaml").write_text("stages: {a: {cmd: x, metrics: ['${paths.x}']}}\n")
    git(tmp_path, "commit", "-q", "-am", "a reference to nothing")
    assert mlrepro(tmp_path, "history", code=None) == (
        2,
        "",
        "mlrepro: error: dvc.yaml at HEAD: stages.a.metrics: cannot resolve ${paths.x}: "
        "'paths' has no 'x'\n",
    )


def test_parse_metrics() -> None:
    assert parse_metrics("m.yaml", b"a: {b: 1, c: [1], d: .nan, e: true}\n") == Metrics(
        {"a.b": 1}, {"a.c": [1], "a.d": pytest.approx(float("nan"), nan_ok=True), "a.e": True}
    )
    assert parse_metrics("m.yaml", b"a: [1\n") == (
        "m.yaml: not valid YAML: did not find expected ',' or ']' (line 2)"
    )
    assert parse_metrics("m.json", b"[1]") == "m.json: not a mapping of metric names to values"
    assert parse_metrics("m.json", b"\xff") == (
        "m.json: not valid JSON: 'utf-8' codec can't decode byte 0xff in position 0: "
        "invalid start byte"
    )
