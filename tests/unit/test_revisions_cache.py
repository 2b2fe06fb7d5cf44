"""Cached outputs at a revision: the files a folder output lists, a file in one, several outputs
in one folder; bytes from the local DVC cache only when their md5 matches. And which plots of
dvc.yaml the report shows as images."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mlrepro import dvccache
from mlrepro.report.images import declared_images
from mlrepro.revisions import CachedFile, CachedOutput, Out
from mlrepro.revisions.cache import files_at, read_object


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repo with a DVC cache at the default place, no system or user config in the way."""
    for level in ("system", "global"):
        monkeypatch.setenv(f"DVC_{level.upper()}_CONFIG_DIR", str(tmp_path / level))
    (tmp_path / "repo" / ".dvc").mkdir(parents=True)
    return tmp_path / "repo"


def store(repo: Path, data: bytes, name: str | None = None) -> str:
    name = name or hashlib.md5(data).hexdigest()
    path = dvccache.object_path(repo, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return name


def output(path: str, md5: str) -> CachedOutput:
    return CachedOutput(path, md5, None, "md5", "dvc.lock")


def test_files_of_outputs(repo: Path) -> None:
    roc, cal = store(repo, b"roc png"), store(repo, b"calibration png")
    listing = dvccache.dir_listing([("roc.png", roc), ("sub/calibration.png", cal)])
    images = store(repo, listing, dvccache.listing_name(listing))
    outs = [output("evaluate/images", images), output("reports/images/drift.png", "d" * 32)]
    assert files_at(repo, outs, "evaluate/images").files == (
        CachedFile("evaluate/images/roc.png", roc, "evaluate/images"),
        CachedFile("evaluate/images/sub/calibration.png", cal, "evaluate/images"),
    )
    assert files_at(repo, outs, "evaluate/images/roc.png").files == (
        CachedFile("evaluate/images/roc.png", roc, "evaluate/images"),
    )
    drift = CachedFile("reports/images/drift.png", "d" * 32, "reports/images/drift.png")
    assert files_at(repo, outs, "reports").files == (drift,)  # a folder holding an output
    assert files_at(repo, outs, "evaluate/image").files == ()  # a prefix is not a folder
    assert files_at(repo, outs, "nope").files == ()


def test_a_folder_whose_listing_is_not_cached(repo: Path) -> None:
    out = output("evaluate/images", "0" * 32 + ".dir")
    found = files_at(repo, [out], "evaluate/images")
    assert (found.files, found.unlisted) == ((), (out,))


def test_read_object_checks_the_md5(repo: Path) -> None:
    md5 = store(repo, b"png bytes")
    assert read_object(repo, md5) == b"png bytes"
    dvccache.object_path(repo, md5).write_bytes(b"tampered")
    assert read_object(repo, md5) is None
    assert read_object(repo, "1" * 32) is None  # not in the cache


def test_declared_images() -> None:
    plots = [
        {"ROC": {"x": "fpr", "y": {"evaluate/plots/test/roc.json": "tpr"}}},  # a curve
        "evaluate/images",
        "reports/images/drift.png",
        {"reports/images/extra.png": None},
        {"./evaluate/images": {}},  # again, written otherwise
    ]
    outs = [
        Out("drift", "plots", "reports/stage.png", "reports/stage.png", True),
        Out("drift", "outs", "reports/images/drift.png", "reports/images/drift.png", True),
    ]
    assert declared_images(plots, outs) == [
        "evaluate/images",
        "reports/images/drift.png",
        "reports/images/extra.png",
        "reports/stage.png",
    ]
