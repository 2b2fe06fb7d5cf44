"""The GitHub workflows stay safe for pull requests from forks."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[1]
WORKFLOWS = PROJECT / ".github" / "workflows"


def load(name: str) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return data


def test_the_job_that_runs_pr_code_has_a_read_only_token() -> None:
    pr = load("pr.yml")
    triggers = pr[True]  # YAML 1.1 reads the key `on` as True
    assert "pull_request" in triggers and "pull_request_target" not in triggers, triggers
    assert pr["permissions"] == {"contents": "read"}
    assert "secrets." not in (WORKFLOWS / "pr.yml").read_text()


def steps_of(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_the_tests_run_on_every_push_and_pull_request_with_a_read_only_token() -> None:
    test = load("test.yml")
    assert set(test[True]) == {"push", "pull_request"}, test[True]  # YAML 1.1: `on` is True
    assert test["permissions"] == {"contents": "read"}
    assert not any("permissions" in job for job in test["jobs"].values()), test["jobs"]
    assert "secrets." not in (WORKFLOWS / "test.yml").read_text()


def test_the_workflow_runs_make_test_as_the_readme_and_ci_run_do() -> None:
    steps = steps_of(load("test.yml"))
    assert [s["run"] for s in steps if "make " in s.get("run", "")] == ["make test"], steps
    assert (PROJECT / ".ci" / "run").read_text().splitlines()[-1] == "make test"
    assert "make test " in (PROJECT / "README.md").read_text()
    [python] = [s for s in steps if s.get("uses", "").startswith("actions/setup-python@")]
    assert python["with"] == {"python-version": "3.11"}, python


def test_the_pinned_environment_is_cached_by_its_lock_file() -> None:
    steps = steps_of(load("test.yml"))
    [cache] = [s for s in steps if s.get("uses", "").startswith("actions/cache@")]
    assert ".venv" in cache["with"]["path"].split(), cache
    assert "hashFiles('uv.lock', 'pyproject.toml')" in cache["with"]["key"], cache


def test_the_commenting_job_never_runs_pr_code() -> None:
    comment = load("pr-comment.yml")
    assert list(comment[True]) == ["workflow_run"]
    steps = [step for job in comment["jobs"].values() for step in job["steps"]]
    assert not any("checkout" in str(step.get("uses", "")) for step in steps), steps
    assert not any("make " in str(step.get("run", "")) for step in steps), steps
    assert "<!-- mlrepro-report -->" in (WORKFLOWS / "pr-comment.yml").read_text()


def comment_script() -> str:
    """The actions/github-script step of pr-comment.yml that posts the comment."""
    steps = [step for job in load("pr-comment.yml")["jobs"].values() for step in job["steps"]]
    scripts = [
        s["with"]["script"] for s in steps if s.get("uses", "").startswith("actions/github-script")
    ]
    assert len(scripts) == 1, steps
    assert not any("run" in step for step in steps), steps  # no shell step reads the artifact
    return str(scripts[0])


def test_the_pr_number_comes_from_the_event_not_the_artifact() -> None:
    for name in ("pr.yml", "pr-comment.yml"):
        assert "pr-number" not in (WORKFLOWS / name).read_text(), name
    script = comment_script()
    # the only file read is the report's text
    assert re.findall(r"readFileSync\(([^,)]*)", script) == ["'report/report.md'"], script
    assert "const run = context.payload.workflow_run;" in script
    assert "run.pull_requests" in script and "pr.head.sha === run.head_sha" in script
    # a fork's run lists no pull request: the open one whose head is the run's commit
    assert "github.rest.pulls.list" in script and ".filter(sameHead)" in script
    same_head = re.search(r"function sameHead\(pr\) \{(.*?)\n *\}", script, re.S)
    assert same_head, script
    for check in ("run.head_sha", "run.head_branch", "run.head_repository.id"):
        assert check in same_head[1], check


def test_the_comment_updated_is_the_bots_own_with_the_marker() -> None:
    script = comment_script()
    assert "const MARKER = '<!-- mlrepro-report -->';" in script
    assert "const BOT = 'github-actions[bot]';" in script
    is_ours = re.search(r"function isOurs\(comment\) \{(.*?)\n *\}", script, re.S)
    assert is_ours, script
    for check in (
        "comment.user.type === 'Bot'",
        "comment.user.login === BOT",
        "startsWith(MARKER)",
    ):
        assert check in is_ours[1], check
    assert "comments.find(isOurs)" in script and "comment_id: ours.id" in script


# Runs the script under node with a fake `github` and `context`: what it posts, and where.
HARNESS = """
const fs = require('fs');
const scenario = JSON.parse(process.argv[2]);
const calls = [];
const github = {
  paginate: async (method, params) => method(params),
  rest: {
    pulls: { list: async () => scenario.open },  // every open PR, whatever `head` asks for
    issues: {
      listComments: async (p) => scenario.comments[p.issue_number] || [],
      updateComment: async (p) => calls.push(['update', p.comment_id, p.body]),
      createComment: async (p) => calls.push(['create', p.issue_number, p.body]),
    },
  },
};
const context = {
  repo: { owner: 'base', repo: 'mlrepro' },
  payload: { workflow_run: scenario.run, repository: { id: 1 } },
};
const core = { notice: (m) => calls.push(['notice', m]) };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('github', 'context', 'core', 'require', fs.readFileSync(process.argv[3], 'utf8'))(
  github, context, core, require,
).then(() => console.log(JSON.stringify(calls)), (e) => { console.error(e); process.exit(1); });
"""
MARKER = "<!-- mlrepro-report -->"


def pr(number: int, sha: str, repo_id: int, ref: str = "feature") -> dict[str, Any]:
    return {
        "number": number,
        "head": {"sha": sha, "ref": ref, "repo": {"id": repo_id}},
        "base": {"repo": {"id": 1}},
    }


def comment(id_: int, login: str, body: str) -> dict[str, Any]:
    kind = "Bot" if login.endswith("[bot]") else "User"
    return {"id": id_, "user": {"login": login, "type": kind}, "body": body}


def run_script(tmp_path: Path, scenario: dict[str, Any]) -> list[list[Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "report.md").write_text("## the report\n")
    (tmp_path / "report" / "pr-number").write_text("3\n")  # what a hostile fork's run might write
    (tmp_path / "script.js").write_text(comment_script())
    (tmp_path / "harness.js").write_text(HARNESS)
    args = [node, "harness.js", json.dumps(scenario), "script.js"]
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    calls: list[list[Any]] = json.loads(done.stdout)
    return calls


def test_a_forks_report_goes_to_its_own_pr_and_the_bots_comment(tmp_path: Path) -> None:
    head = {"head_sha": "abc", "head_branch": "feature", "pull_requests": []}
    run = {**head, "head_repository": {"id": 99, "owner": {"login": "fork"}}}
    scenario = {
        "run": run,
        "open": [pr(3, "other", 98), pr(5, "abc", 97), pr(7, "abc", 99)],  # 5: same sha, elsewhere
        "comments": {
            "3": [comment(30, "github-actions[bot]", f"{MARKER}\nthe victim's report")],
            "7": [
                comment(70, "mallory", f"{MARKER}\nlooks like the report"),
                comment(71, "github-actions[bot]", "another bot comment"),
                comment(72, "github-actions[bot]", f"{MARKER}\nthe old report"),
            ],
        },
    }
    assert run_script(tmp_path, scenario) == [["update", 72, f"{MARKER}\n## the report\n"]]


def test_a_marker_in_someone_elses_comment_is_not_updated(tmp_path: Path) -> None:
    run = {
        "head_sha": "abc",
        "head_branch": "feature",
        "head_repository": {"id": 1, "owner": {"login": "base"}},
        "pull_requests": [pr(4, "abc", 1)],
    }
    comments = {"4": [comment(40, "mallory", f"{MARKER}\nfake")]}
    scenario = {"run": run, "open": [], "comments": comments}
    assert run_script(tmp_path, scenario) == [["create", 4, f"{MARKER}\n## the report\n"]]


def test_no_comment_when_no_open_pr_has_the_runs_commit(tmp_path: Path) -> None:
    run = {
        "head_sha": "old",
        "head_branch": "feature",
        "head_repository": {"id": 99, "owner": {"login": "fork"}},
        "pull_requests": [],
    }
    scenario = {"run": run, "open": [pr(7, "new", 99)], "comments": {}}
    calls = run_script(tmp_path, scenario)
    assert [c[0] for c in calls] == ["notice"], calls
