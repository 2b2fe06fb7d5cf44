"""`mlrepro report` on the real pipeline: one Markdown file with a marker, the metrics grouped by
file, overlaid plots, the declared images of both revisions from the DVC cache, and the count of
models scored on the test part."""

from __future__ import annotations

import re

import pytest
import yaml

from mlrepro import dvccache
from tests.conftest import Repo
from tests.runner import mlrepro

pytestmark = pytest.mark.e2e

PNG = b"\x89PNG"


def test_report_of_a_param_change(pipeline_repo: Repo) -> None:
    pipeline_repo.edit_params({"train": {"max_iter": 10}})
    pipeline_repo.dvc("repro")
    pipeline_repo.commit_all("fewer iterations")
    out = pipeline_repo.path / "report"
    result = mlrepro(pipeline_repo.path, "report", "HEAD~1", "HEAD", "-o", str(out))
    written = re.fullmatch(
        rf"wrote {out / 'report.md'}, 3 plot\(s\) and (\d+) image\(s\)\n", result.stdout
    )
    assert written, result.stdout
    text = (out / "report.md").read_text()
    assert text.startswith("<!-- mlrepro-report -->\n"), text[:200]
    metrics = text.index("#### `evaluate/metrics.json`")
    assert metrics < text.index("| `test.roc_auc` |"), text
    assert "train.max_iter: 20 -> 10" in text, text
    assert "scored by 2 models (commits and experiments); warn at 20" in text, text
    for name in ("roc", "precision_recall", "calibration"):
        png = (out / f"{name}.png").read_bytes()
        assert png.startswith(PNG), name
        assert f"![{name}]({name}.png)" in text
    # drift does not depend on the model: one copy; evaluate's ROC image beside A's
    assert "**`reports/images/drift.png`**, the same at `HEAD~1` and `HEAD`" in text, text
    roc = "evaluate/images/roc.png"
    assert f"| ![{roc} at HEAD~1](images/a/{roc}) | ![{roc} at HEAD](images/b/{roc}) |" in text
    copies = sorted(p.relative_to(out).as_posix() for p in (out / "images").rglob("*.png"))
    assert len(copies) == int(written[1]) and "images/b/reports/images/drift.png" in copies
    assert f"images/a/{roc}" in copies and "images/a/reports/images/drift.png" not in copies
    assert all((out / c).read_bytes().startswith(PNG) for c in copies)
    status = pipeline_repo.git("status", "--porcelain").stdout
    assert status == "?? report/\n", status  # nothing else touched


def test_an_image_missing_from_the_cache_is_a_note(pipeline_repo: Repo) -> None:
    pipeline_repo.edit_params({"train": {"max_iter": 10}})
    pipeline_repo.dvc("repro")
    pipeline_repo.commit_all("fewer iterations")
    roc = "evaluate/images/roc.png"
    lock = yaml.safe_load(pipeline_repo.git("show", "HEAD~1:dvc.lock").stdout)
    folder = next(o for o in lock["stages"]["evaluate"]["outs"] if o["path"] == "evaluate/images")
    listing = dvccache.object_path(pipeline_repo.path, folder["md5"]).read_bytes()
    md5 = next(e["md5"] for e in dvccache.read_listing(listing) if e["relpath"] == "roc.png")
    dvccache.object_path(pipeline_repo.path, md5).unlink()
    out = pipeline_repo.path / "report"
    mlrepro(pipeline_repo.path, "report", "HEAD~1", "HEAD", "-o", str(out))
    text = (out / "report.md").read_text()
    assert f"- note: {roc} at HEAD~1: not in the local DVC cache (md5 {md5}; " in text, text
    assert f"**`{roc}`**, at `HEAD` (`HEAD~1`'s: see the notes)" in text, text
    assert not (out / "images" / "a" / roc).exists()
