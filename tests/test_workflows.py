"""The GitHub workflows stay safe for pull requests from forks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"


def load(name: str) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return data


def test_the_job_that_runs_pr_code_has_a_read_only_token() -> None:
    pr = load("pr.yml")
    triggers = pr[True]  # YAML 1.1 reads the key `on` as True
    assert "pull_request" in triggers and "pull_request_target" not in triggers, triggers
    assert pr["permissions"] == {"contents": "read"}
    assert "secrets." not in (WORKFLOWS / "pr.yml").read_text()


def test_the_commenting_job_never_runs_pr_code() -> None:
    comment = load("pr-comment.yml")
    assert list(comment[True]) == ["workflow_run"]
    steps = [step for job in comment["jobs"].values() for step in job["steps"]]
    assert not any("checkout" in str(step.get("uses", "")) for step in steps), steps
    assert not any("make " in str(step.get("run", "")) for step in steps), steps
    assert "<!-- mlrepro-report -->" in (WORKFLOWS / "pr-comment.yml").read_text()
