"""A snapshot cannot be damaged silently: its files (one inode with their DVC cache objects) are
immutable where the platform allows, `snapshot verify` names every damaged copy (work tree, DVC
cache object) with the repair command, `snapshot repair` brings the
original back from an intact copy, a remote or the source and says which, and a killed take leaves
nothing listed or pinnable."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import struct
from pathlib import Path

import pytest

from mlrepro.snapshot.immutable import protected, unprotect
from tests.conftest import Repo
from tests.e2e.test_snapshot import ITEMS, listed, snap_repo  # noqa: F401 - a fixture
from tests.runner import mlrepro

pytestmark = pytest.mark.e2e


def immutable_flag_available(folder: Path) -> bool:
    """Whether this process can set the immutable flag there (root on ext4), asked directly."""
    probe = folder / ".probe"
    probe.write_bytes(b"")
    fd = os.open(probe, os.O_RDONLY)
    try:
        flags = struct.unpack("i", fcntl.ioctl(fd, 0x80086601, struct.pack("i", 0)))[0]
        fcntl.ioctl(fd, 0x40086602, struct.pack("i", flags | 0x10))
        fcntl.ioctl(fd, 0x40086602, struct.pack("i", flags))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
        probe.unlink()


def copies(repo: Repo, source: str, snapshot_id: str) -> tuple[Path, Path, dict[str, str]]:
    """The first file of a snapshot in the work tree, its DVC cache object, and its manifest."""
    folder = repo.path / "data/snapshots" / source / snapshot_id
    [entry] = json.loads(folder.with_suffix(".json").read_text())["files"]
    md5 = entry["md5"]
    return folder / entry["path"], repo.path / ".dvc/cache/files/md5" / md5[:2] / md5[2:], entry


def edit_in_place(path: Path, old: str, new: str) -> None:
    """What root's editor does where the immutable flag is not available (cleared here)."""
    unprotect(path)
    path.chmod(0o644)
    text = path.read_text()
    assert old in text
    with open(path, "r+") as fh:  # in place: the same inode
        fh.write(text.replace(old, new))
        fh.truncate()


def same_inode(a: Path, b: Path) -> bool:
    return os.path.samefile(a, b)


def test_an_in_place_edit_is_refused_even_to_root(snap_repo: Repo) -> None:  # noqa: F811
    if not immutable_flag_available(snap_repo.path):
        pytest.skip("the immutable flag needs root on a file system that has it (ext4, xfs...)")
    mlrepro(snap_repo.path, "snapshot", "take", "items")
    [entry] = listed(snap_repo, "items")
    target, cached, _ = copies(snap_repo, "items", entry["id"])
    assert same_inode(target, cached)
    for attempt in (
        lambda: open(target, "r+b"),  # noqa: SIM115 - refused before a file object exists
        lambda: target.chmod(0o644),
        lambda: target.unlink(),
        lambda: os.link(target, target.with_name("hard-link")),
        lambda: cached.unlink(),
    ):
        with pytest.raises(PermissionError):
            attempt()
    assert cached.read_text() == ITEMS
    assert mlrepro(snap_repo.path, "snapshot", "verify", "--all").stdout.endswith(": ok\n")


def test_without_the_flag_a_snapshot_is_read_only(snap_repo: Repo) -> None:  # noqa: F811
    """The README's fallback where the flag is refused (not root, another file system): the take
    works, its files (one inode with their cache objects) are read-only but not immutable."""
    if immutable_flag_available(snap_repo.path):
        pytest.skip("the immutable flag is available here: the test above checks it")
    mlrepro(snap_repo.path, "snapshot", "take", "items")
    [entry] = listed(snap_repo, "items")
    target, cached, _ = copies(snap_repo, "items", entry["id"])
    assert same_inode(target, cached)
    assert not protected(target) and not protected(cached)
    assert not target.stat().st_mode & 0o222, oct(target.stat().st_mode)
    if os.geteuid() != 0:  # root writes whatever the mode bits say
        with pytest.raises(PermissionError):
            open(target, "r+b")  # noqa: SIM115 - refused before a file object exists
    assert cached.read_text() == ITEMS
    assert mlrepro(snap_repo.path, "snapshot", "verify", "--all").stdout.endswith(": ok\n")


def test_verify_names_every_damaged_copy_and_repair_takes_the_source(
    pipeline_repo: Repo,
) -> None:
    """With the flag cleared (a platform without it), root's in-place edit reaches the DVC cache
    object: verify names both copies and the repair command; repair takes the package again (the
    only intact copy) and says so."""
    repo = pipeline_repo
    snapshot = repo.read_yaml("params.yaml")["ingest"]["pins"]["airlines"]
    target, cached, entry = copies(repo, "airlines", snapshot)
    cached.unlink()  # the copied repo has no hard links: let ingest restore it as a take does
    shutil.rmtree(target.parent)
    repo.dvc("repro", "-f", "-s", "ingest")
    assert same_inode(target, cached)

    edit_in_place(target, "Endeavor", "Endeavour")
    result = mlrepro(repo.path, "snapshot", "verify", "airlines", "--json", code=None)
    assert result.code == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    found = {(p["copy"], p["path"], p["kind"]) for p in report["problems"]}
    assert found == {
        ("work tree", target.relative_to(repo.path).as_posix(), "modified"),
        ("DVC cache", cached.relative_to(repo.path).as_posix(), "cache corrupt"),
    }, report
    assert {p["expected"] for p in report["problems"]} == {f"sha256 {entry['sha256']}"}
    text = mlrepro(repo.path, "snapshot", "verify", "airlines", code=None).stdout
    assert f"repair: mlrepro snapshot repair airlines@{snapshot}\n" in text, text
    assert "airlines.csv: modified in the work tree: data/snapshots/airlines/" in text, text

    out = mlrepro(repo.path, "snapshot", "repair", "airlines@pinned").stdout.splitlines()
    assert out[0] == (
        f"airlines@{snapshot}: airlines.csv: work tree, DVC cache restored from a new take of "
        "the source (exact sha256)"
    ), out
    assert out[1].startswith(f"airlines@{snapshot}: repaired 1 file(s); files "), out
    mlrepro(repo.path, "snapshot", "verify", "airlines")
    assert same_inode(target, cached)
    assert "ingest" not in json.loads(repo.dvc("status", "--json").stdout)


def test_repair_takes_an_intact_cache_object_or_a_remote_copy(
    snap_repo: Repo,  # noqa: F811
    tmp_path: Path,
) -> None:
    mlrepro(snap_repo.path, "snapshot", "take", "items")
    [snap] = listed(snap_repo, "items")
    ref = f"items@{snap['id']}"
    target, cached, _ = copies(snap_repo, "items", snap["id"])

    unprotect(target)  # an editor that writes a new file and renames it over the old one
    replacement = target.with_name("new")
    replacement.write_text(ITEMS.replace("red", "pink"))
    os.replace(replacement, target)
    out = mlrepro(snap_repo.path, "snapshot", "repair", ref).stdout
    assert out.splitlines()[0] == f"{ref}: items.csv: work tree restored from the DVC cache", out
    assert same_inode(target, cached) and target.read_text() == ITEMS

    snap_repo.dvc("remote", "add", "-d", "backup", str(tmp_path / "remote"))
    snap_repo.dvc("push")
    edit_in_place(target, "red", "pink")  # the work tree and the cache object: one inode
    (snap_repo.path / "raw/items.csv").write_text("changed since\n")  # the source cannot help
    out = mlrepro(snap_repo.path, "snapshot", "repair", ref).stdout
    assert (
        out.splitlines()[0]
        == f"{ref}: items.csv: work tree, DVC cache restored from the DVC remote"
    )
    assert same_inode(target, cached) and cached.read_text() == ITEMS
    mlrepro(snap_repo.path, "snapshot", "verify", "items", "--all")


def test_repair_takes_the_source_only_when_it_yields_the_exact_bytes(
    snap_repo: Repo,  # noqa: F811
) -> None:
    mlrepro(snap_repo.path, "snapshot", "take", "items")
    [snap] = listed(snap_repo, "items")
    ref = f"items@{snap['id']}"
    target, cached, _ = copies(snap_repo, "items", snap["id"])
    edit_in_place(target, "red", "pink")
    source = snap_repo.path / "raw/items.csv"
    source.write_text(ITEMS + "4,green,9.0,2024-02-01\n")

    failed = mlrepro(snap_repo.path, "snapshot", "repair", ref, code=1).stdout
    assert failed.splitlines() == [
        f"{ref}: items.csv: cannot repair (work tree, DVC cache): no DVC remote is configured; "
        "source 'items' no longer yields it",
        f"{ref}: 1 file(s) could not be repaired",
    ], failed
    assert [s["id"] for s in listed(snap_repo, "items")] == [snap["id"]]  # nothing new taken
    assert "pink" in target.read_text()

    source.write_text(ITEMS)
    out = mlrepro(snap_repo.path, "snapshot", "repair", ref).stdout
    assert out.splitlines()[0] == (
        f"{ref}: items.csv: work tree, DVC cache restored from a new take of the source "
        "(exact sha256)"
    ), out
    assert same_inode(target, cached) and target.read_text() == ITEMS
    mlrepro(snap_repo.path, "snapshot", "verify", "items", "--all")


KILLED_AT = """
import os, signal, sys
from mlrepro.snapshot import store
setattr(store, sys.argv[1], lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL))
from mlrepro.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("where", ["seed_cache", "protect", "write_manifest"])
def test_a_killed_take_leaves_nothing_listed_or_pinnable(
    snap_repo: Repo,  # noqa: F811
    where: str,
) -> None:
    """SIGKILL while the take links the DVC cache, protects the files or writes the manifest:
    nothing is listed or pinnable, git would add none of its bytes, and the next take clears
    what it left."""
    killed = snap_repo.run(
        "python", "-c", KILLED_AT, where, "snapshot", "take", "items", check=False
    )
    assert killed.returncode == -9, killed.stderr
    folder = snap_repo.path / "data/snapshots/items"
    [left] = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert listed(snap_repo, "items") == []
    pin = mlrepro(snap_repo.path, "snapshot", "pin", "items@latest", code=2)
    assert "source 'items' has no snapshots" in pin.stderr, pin.stderr
    added = snap_repo.git("add", "--dry-run", "data/snapshots").stdout
    assert f"{left.name}/" not in added, added  # no raw data into git

    mlrepro(snap_repo.path, "snapshot", "take", "items")
    [snap] = listed(snap_repo, "items")
    names = sorted(p.name for p in folder.iterdir())
    expected = sorted(
        [".gitignore", ".lock", snap["id"], f"{snap['id']}.dvc", f"{snap['id']}.json"]
    )
    assert names == expected
    mlrepro(snap_repo.path, "snapshot", "verify", "items", "--all")


def test_unprotect_lets_a_snapshot_be_removed_and_dvc_gc_run(snap_repo: Repo) -> None:  # noqa: F811
    mlrepro(snap_repo.path, "snapshot", "take", "items")
    [snap] = listed(snap_repo, "items")
    target, cached, _ = copies(snap_repo, "items", snap["id"])
    folder = target.parent
    out = mlrepro(snap_repo.path, "snapshot", "unprotect", "items@latest").stdout
    assert out.startswith(f"unprotected items@{snap['id']}: 1 file(s)"), out
    assert not protected(target) and not protected(cached)
    shutil.rmtree(folder)  # removing the snapshot: its folder, manifest and .dvc file
    folder.with_suffix(".json").unlink()
    folder.with_suffix(".dvc").unlink()
    snap_repo.dvc("gc", "--workspace", "--force")
    assert not cached.exists()
    assert mlrepro(snap_repo.path, "snapshot", "unprotect", code=2).stderr.startswith("usage:")
