"""`mlrepro report` on the real pipeline: one Markdown file with a marker, and overlaid plots."""

from __future__ import annotations

import pytest

from tests.conftest import Repo

pytestmark = pytest.mark.e2e


def test_report_of_a_param_change(pipeline_repo: Repo) -> None:
    pipeline_repo.edit_params({"train": {"max_iter": 10}})
    pipeline_repo.dvc("repro")
    pipeline_repo.commit_all("fewer iterations")
    out = pipeline_repo.path / "report"
    result = pipeline_repo.run("mlrepro", "report", "HEAD~1", "HEAD", "-o", str(out))
    assert result.stdout == f"wrote {out / 'report.md'} and 3 plot(s)\n", result.stdout
    text = (out / "report.md").read_text()
    assert text.startswith("<!-- mlrepro-report -->\n"), text[:200]
    assert "| `test.roc_auc` |" in text, text
    assert "train.max_iter: 20 -> 10" in text, text
    for name in ("roc", "precision_recall", "calibration"):
        png = (out / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG"), name
        assert f"![{name}]({name}.png)" in text
    status = pipeline_repo.git("status", "--porcelain").stdout
    assert status == "?? report/\n", status  # nothing else touched
