"""A DVC cache configured elsewhere (`dvc cache dir`): a take, `snapshot verify` and `repair`, the
ingest stage under `dvc repro`, and `dvc status` / `dvc checkout` all agree with DVC on where the
objects are: in the configured folder, and nothing in .dvc/cache."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlrepro.snapshot.immutable import unprotect, unprotect_tree
from tests.conftest import Repo, build_repo
from tests.e2e.test_snapshot import ITEMS, listed, snap_repo  # noqa: F401 - a fixture
from tests.runner import mlrepro

pytestmark = pytest.mark.e2e

UP_TO_DATE = "Data and pipelines are up to date."


def objects(cache: Path) -> set[str]:
    """The object names in a DVC 3 cache folder (md5, or md5.dir)."""
    top = cache / "files" / "md5"
    return {p.parent.name + p.name for p in top.glob("*/*") if p.is_file()}


def outs_md5(dvc_file: Path) -> str:
    [line] = [x for x in dvc_file.read_text().splitlines() if x.startswith("- md5: ")]
    return line.removeprefix("- md5: ")


def test_take_verify_repair_and_checkout_use_the_configured_cache(
    snap_repo: Repo,  # noqa: F811
    tmp_path: Path,
) -> None:
    elsewhere = tmp_path / "elsewhere"
    snap_repo.dvc("cache", "dir", "--local", "../elsewhere")  # DVC writes it relative to .dvc/
    assert "../../elsewhere" in (snap_repo.path / ".dvc" / "config.local").read_text()
    assert snap_repo.dvc("cache", "dir").stdout.strip() == str(elsewhere)

    mlrepro(snap_repo.path, "snapshot", "take", "items")
    [snap] = listed(snap_repo, "items")
    folder = snap_repo.path / "data/snapshots/items" / snap["id"]
    dvc_file = folder.with_suffix(".dvc")
    [entry] = json.loads(folder.with_suffix(".json").read_text())["files"]
    md5 = entry["md5"]
    cached = elsewhere / "files/md5" / md5[:2] / md5[2:]
    assert objects(elsewhere) == {md5, outs_md5(dvc_file)}
    assert cached.stat().st_ino == (folder / "items.csv").stat().st_ino  # one copy of the bytes
    assert not (snap_repo.path / ".dvc" / "cache").exists()
    assert snap_repo.dvc("status", dvc_file.as_posix()).stdout.strip() == UP_TO_DATE
    assert mlrepro(snap_repo.path, "snapshot", "verify", "--all").stdout.endswith(": ok\n")

    unprotect_tree(folder)  # DVC restores the folder from the configured cache
    shutil.rmtree(folder)
    snap_repo.dvc("checkout", dvc_file.as_posix())
    assert (folder / "items.csv").read_text() == ITEMS
    mlrepro(snap_repo.path, "snapshot", "verify", "--all")

    unprotect(cached)  # a bit flip in the configured cache: verify names that object
    cached.chmod(0o644)
    cached.write_text(ITEMS.replace("red", "rot"))
    damaged = mlrepro(snap_repo.path, "snapshot", "verify", "--all", code=1).stdout
    assert f"items.csv: cache corrupt: {cached}" in damaged, damaged
    out = mlrepro(snap_repo.path, "snapshot", "repair", f"items@{snap['id']}").stdout
    assert "DVC cache restored from the work tree" in out, out
    assert cached.read_text() == ITEMS
    assert not (snap_repo.path / ".dvc" / "cache").exists()
    mlrepro(snap_repo.path, "snapshot", "verify", "--all")


def test_ingest_restores_snapshots_into_the_configured_cache(tmp_path: Path) -> None:
    """A fresh clone without a remote: `dvc repro ingest` takes the pinned snapshots again and
    records them where `dvc cache dir` says; DVC then finds them there."""
    repo = build_repo(tmp_path / "repo")
    elsewhere = tmp_path / "shared-cache"
    repo.dvc("cache", "dir", str(elsewhere))  # the project's .dvc/config, an absolute path
    repo.dvc("repro", "ingest")
    pins = repo.read_yaml("params.yaml")["ingest"]["pins"]
    folders = [repo.path / "data/snapshots" / source / sid for source, sid in pins.items()]
    wanted = set()
    for folder in folders:
        manifest = json.loads(folder.with_suffix(".json").read_text())
        wanted |= {f["md5"] for f in manifest["files"]} | {outs_md5(folder.with_suffix(".dvc"))}
    assert wanted <= objects(elsewhere)
    assert not (repo.path / ".dvc" / "cache" / "files").exists()
    dvc_files = [f.with_suffix(".dvc").relative_to(repo.path).as_posix() for f in folders]
    assert repo.dvc("status", "ingest", *dvc_files).stdout.strip() == UP_TO_DATE
    mlrepro(repo.path, "snapshot", "verify")

    unprotect_tree(folders[0])
    shutil.rmtree(folders[0])
    repo.dvc("checkout", dvc_files[0])  # from the configured cache
    mlrepro(repo.path, "snapshot", "verify")
    assert not (repo.path / ".dvc" / "cache" / "files").exists()
