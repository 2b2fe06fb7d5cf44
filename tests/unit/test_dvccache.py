"""dvccache: where the DVC cache is, asked of DVC itself for every kind of config; the object
layout, `.dir` listings and md5s as dvc-data makes them."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from mlrepro import dvccache

NO_SCM = "[core]\n    no_scm = true\n"  # so that DVC opens the repo without git


@pytest.fixture
def levels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A repo and the four config files DVC reads, the system and global ones in folders of
    this test (DVC_SYSTEM_CONFIG_DIR, DVC_GLOBAL_CONFIG_DIR)."""
    (tmp_path / "repo" / ".dvc").mkdir(parents=True)
    for name in ("system", "global"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("DVC_SYSTEM_CONFIG_DIR", str(tmp_path / "system"))
    monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(tmp_path / "global"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return {
        "repo_root": tmp_path / "repo",
        "system": tmp_path / "system" / "config",
        "global": tmp_path / "global" / "config",
        "repo": tmp_path / "repo" / ".dvc" / "config",
        "local": tmp_path / "repo" / ".dvc" / "config.local",
    }


def dvc_says(repo: Path) -> Path:
    """`dvc cache dir`, from DVC's own code."""
    from dvc.repo import Repo

    with Repo(str(repo)) as dvc_repo:
        return Path(dvc_repo.cache.local_cache_dir)


CASES = {  # level -> cache section (or a whole file); the expected dir, relative to tmp_path
    "no config": ({}, "repo/.dvc/cache"),
    "repo, relative to .dvc/": ({"repo": "dir = ../../shared"}, "shared"),
    "local shadows repo": ({"repo": "dir = ../a", "local": "dir = ../../b"}, "b"),
    "repo shadows global": ({"global": "dir = /nowhere", "repo": "dir = ../c"}, "repo/c"),
    "global, relative to its folder": ({"global": "dir = g"}, "global/g"),
    "system, relative to its folder": ({"system": "dir = s"}, "system/s"),
    "global shadows system": ({"system": "dir = s", "global": "dir = g"}, "global/g"),
    "absolute": ({"local": "dir = {tmp}/abs"}, "abs"),
    "home": ({"repo": "dir = ~/cache"}, "home/cache"),
    "upper-case section": ({"repo": "DIR = ../up"}, "repo/up"),
    "empty: its config file's folder": ({"repo": "dir = ''"}, "repo/.dvc"),
}


@pytest.mark.parametrize("case", CASES)
def test_cache_dir_is_where_dvc_says(levels: dict[str, Path], tmp_path: Path, case: str) -> None:
    options, expected = CASES[case]
    for level, line in options.items():
        section = "[CACHE]" if "DIR" in line else "[cache]"
        levels[level].write_text(f"{section}\n    {line.format(tmp=tmp_path)}\n")
    with open(levels["repo"], "a") as fh:
        fh.write(NO_SCM)
    repo = levels["repo_root"]
    assert dvccache.cache_dir(repo) == tmp_path / expected
    assert dvccache.cache_dir(repo) == dvc_says(repo)


def test_cache_local_names_a_remote_whose_url_is_the_cache(levels: dict[str, Path]) -> None:
    """The deprecated `cache.local = NAME`: the url of remote NAME (relative: to its file)."""
    levels["repo"].write_text(f"{NO_SCM}[cache]\n    local = mine\n")
    levels["local"].write_text("['remote \"mine\"']\n    url = ../../store\n")
    repo = levels["repo_root"]
    assert dvccache.cache_dir(repo) == repo.parent / "store" == dvc_says(repo)


def test_a_changed_config_is_read_again(levels: dict[str, Path]) -> None:
    repo = levels["repo_root"]
    assert dvccache.cache_dir(repo) == repo / ".dvc" / "cache"
    levels["local"].write_text("[cache]\n    dir = ../../moved\n")
    assert dvccache.cache_dir(repo) == repo.parent / "moved"
    levels["local"].unlink()
    assert dvccache.cache_dir(repo) == repo / ".dvc" / "cache"


def test_a_remote_url_or_a_broken_config_is_one_line(levels: dict[str, Path]) -> None:
    repo = levels["repo_root"]
    levels["repo"].write_text("[cache]\n    dir = s3://bucket/cache\n")
    with pytest.raises(dvccache.CacheConfigError) as remote:
        dvccache.cache_dir(repo)
    assert str(remote.value) == (
        "DVC cache.dir s3://bucket/cache: not a local folder (mlrepro needs one)"
    )
    levels["repo"].write_text("[cache\n    dir = x\n")
    with pytest.raises(dvccache.CacheConfigError) as broken:
        dvccache.cache_dir(repo)
    assert str(broken.value).startswith(f"{levels['repo']}: not a readable DVC config (")
    assert "\n" not in str(broken.value)


def test_object_paths_are_dvc_3s(levels: dict[str, Path]) -> None:
    repo = levels["repo_root"]
    md5 = "d41d8cd98f00b204e9800998ecf8427e"
    expected = repo / ".dvc/cache/files/md5/d4/1d8cd98f00b204e9800998ecf8427e"
    assert dvccache.object_path(repo, md5) == expected
    assert dvccache.object_path(repo, md5 + ".dir") == expected.with_name(expected.name + ".dir")
    cache = dvccache.local_cache(repo)
    assert cache.object_str(md5) == str(expected)
    from dvc_data.hashfile.db.local import LocalHashFileDB
    from dvc_objects.fs.local import LocalFileSystem

    odb = LocalHashFileDB(LocalFileSystem(), str(cache.dir / "files" / "md5"))
    assert odb.oid_to_path(md5) == str(expected)


def test_a_listing_is_the_one_dvc_data_writes(tmp_path: Path) -> None:
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.meta import Meta
    from dvc_data.hashfile.tree import Tree

    files = [("b/x.csv", "1" * 32), ("a.csv", "2" * 32), ("b.csv", "3" * 32)]
    tree = Tree()
    for rel, md5 in files:
        tree.add(tuple(rel.split("/")), Meta(), HashInfo("md5", md5))
    tree.digest()
    listing = dvccache.dir_listing(files)
    assert listing == tree.as_bytes()
    assert dvccache.listing_name(listing) == tree.hash_info.value
    cache = dvccache.Cache(tmp_path / "cache")
    name = dvccache.write_listing(cache, listing)
    assert cache.object_path(name).read_bytes() == listing
    assert not os.stat(cache.object_path(name)).st_mode & 0o222
    assert dvccache.read_listing(listing) == [dict(e) for e in tree.as_list()]
    assert dvccache.read_listing(b"not json") == dvccache.read_listing(b"[1, 2]") == []


def test_file_md5_is_the_md5_of_the_bytes_as_they_are(tmp_path: Path) -> None:
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"a\r\nb\r\n")  # DVC 2 hashed text with \r\n as \n; DVC 3 does not
    assert dvccache.file_md5(path) == (hashlib.md5(b"a\r\nb\r\n").hexdigest(), 6)
    from dvc_data.hashfile.hash import file_md5
    from dvc_objects.fs.local import LocalFileSystem

    assert dvccache.file_md5(path)[0] == file_md5(str(path), LocalFileSystem(), name="md5")


def test_the_dvc_file_is_the_one_dvc_add_writes(tmp_path: Path) -> None:
    path = tmp_path / "20260101T000000Z-abcdef12.dvc"
    dvccache.write_dvc_file(path, "f" * 32 + ".dir", size=12, nfiles=3)
    assert path.read_text() == (
        f"outs:\n- md5: {'f' * 32}.dir\n  size: 12\n  nfiles: 3\n  hash: md5\n"
        "  path: 20260101T000000Z-abcdef12\n"
    )
