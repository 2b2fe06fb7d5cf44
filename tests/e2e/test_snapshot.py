"""`mlrepro snapshot ...` in a real git + DVC repo with small local sources."""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlrepro.snapshot.immutable import unprotect, unprotect_tree
from tests.conftest import PROJECT, Repo
from tests.runner import mlrepro, mlrepro_process, start_mlrepro, wait_for

pytestmark = pytest.mark.e2e

ITEMS = (
    "item_id,color,size,when\n1,red,2.5,2024-01-01\n2,blue,3.0,2024-01-02\n3,red,1.0,2024-01-03\n"
)


@pytest.fixture
def snap_repo(tmp_path: Path) -> Repo:
    """A git + DVC repo whose params.yaml declares local sources: a file, a dir and a glob."""
    path = tmp_path / "repo"
    (path / "raw" / "parts").mkdir(parents=True)
    (path / "raw" / "items.csv").write_text(ITEMS)
    for i in range(3):
        (path / "raw" / "parts" / f"p{i}.csv").write_text(f"a,b\n{i},x\n")
    repo = Repo(path)
    repo.git("init", "-q", "-b", "main")
    repo.dvc("init", "-q")
    shutil.copy2(PROJECT / ".dvc" / "config", path / ".dvc" / "config")
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    params["ingest"] = {
        "sources": {
            "items": {"path": "raw/items.csv", "key": ["item_id"]},
            "parts": {"path": "raw/parts"},
            "globbed": {"path": "raw/parts/p[01].csv"},
            "early": {
                "path": "raw/items.csv",
                "as_of": {"column": "when", "cutoff": "2024-01-02"},
            },
        },
        "main": "items",
        "pins": None,
    }
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    repo.commit_all("sources")
    return repo


def listed(repo: Repo, source: str) -> list[dict[str, Any]]:
    return list(json.loads(mlrepro(repo.path, "snapshot", "list", source, "--json").stdout))


def test_take_list_show_pin(snap_repo: Repo) -> None:
    out = mlrepro(snap_repo.path, "snapshot", "take", "items").stdout
    assert out.startswith("took items@"), out
    [entry] = listed(snap_repo, "items")
    assert (entry["rows"], entry["bytes"], entry["pinned"]) == (3, len(ITEMS), False)

    again = mlrepro(snap_repo.path, "snapshot", "take", "items").stdout
    assert again == f"items: content identical to items@{entry['id']}; reusing it\n"
    assert len(listed(snap_repo, "items")) == 1

    shown = json.loads(mlrepro(snap_repo.path, "snapshot", "show", "items@latest", "--json").stdout)
    assert shown["id"] == entry["id"] and shown["source"] == "items"
    assert shown["definition"] == {"key": ["item_id"], "name": "items", "path": "raw/items.csv"}
    [file] = shown["files"]
    assert file["path"] == "items.csv" and file["rows"] == 3
    assert file["columns"] == {"item_id": "int64", "color": "str", "size": "float64", "when": "str"}
    assert shown["taken_at"].endswith("Z") and shown["git_commit"]

    folder = snap_repo.path / "data/snapshots/items" / entry["id"]
    assert not (folder / "items.csv").stat().st_mode & 0o222
    assert (snap_repo.path / "data/snapshots/items" / f"{entry['id']}.dvc").is_file()

    prefix = entry["id"][:10]
    mlrepro(snap_repo.path, "snapshot", "pin", f"items@{prefix}")
    assert snap_repo.read_yaml("params.yaml")["ingest"]["pins"] == {"items": entry["id"]}
    assert listed(snap_repo, "items")[0]["pinned"] is True
    assert "params.yaml" in snap_repo.git("status", "--porcelain").stdout


def test_directory_glob_and_as_of_sources(snap_repo: Repo) -> None:
    for name in ("parts", "globbed", "early"):
        mlrepro(snap_repo.path, "snapshot", "take", name)
    files = {
        name: [f["path"] for f in shown_files(snap_repo, f"{name}@latest")]
        for name in ("parts", "globbed")
    }
    assert files == {"parts": ["p0.csv", "p1.csv", "p2.csv"], "globbed": ["p0.csv", "p1.csv"]}
    for name in ("parts", "globbed", "early"):
        [snapshot] = listed(snap_repo, name)
        folder = snap_repo.path / "data" / "snapshots" / name / snapshot["id"]
        assert [p.name for p in folder.rglob("*") if p.stat().st_mode & 0o222] == [], name
    [early] = shown_files(snap_repo, "early@latest")
    assert early["rows"] == 2
    first = early["sha256"]
    with open(snap_repo.path / "raw/items.csv", "a") as fh:  # a later row: same as_of, same bytes
        fh.write("4,green,9.0,2024-02-01\n")
    out = mlrepro(snap_repo.path, "snapshot", "take", "early").stdout
    assert "content identical" in out, out
    assert shown_files(snap_repo, "early@latest")[0]["sha256"] == first


def shown_files(repo: Repo, ref: str) -> list[dict[str, Any]]:
    shown = json.loads(mlrepro(repo.path, "snapshot", "show", ref, "--json").stdout)
    return list(shown["files"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["take", "nope"], "params.yaml: ingest.sources: no source 'nope'"),
        (["show", "items@zzz"], "items@zzz: no snapshot of 'items' with id 'zzz'"),
        (["show", "parts@latest"], "parts@latest: source 'parts' has no snapshots"),
        (["pin", "items@pinned"], "items@pinned: source 'items' has no pin"),
    ],
)
def test_bad_refs_are_one_line_exit_2(snap_repo: Repo, args: list[str], message: str) -> None:
    mlrepro(snap_repo.path, "snapshot", "take", "items")
    result = mlrepro(snap_repo.path, "snapshot", *args, code=2)
    assert result.stderr == f"mlrepro: error: {message}\n" or result.stderr.startswith(
        f"mlrepro: error: {message}"
    ), result.stderr
    assert "\n" not in result.stderr.rstrip("\n")


def test_ambiguous_prefix(snap_repo: Repo) -> None:
    mlrepro(snap_repo.path, "snapshot", "take", "items")
    [first] = listed(snap_repo, "items")
    (snap_repo.path / "raw/items.csv").write_text(ITEMS + "4,green,9.0,2024-02-01\n")
    taken_at = first["id"].split("-")[0]  # ids carry the time to the second
    wait_for(lambda: f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}" > taken_at, what="the next second")
    mlrepro(snap_repo.path, "snapshot", "take", "items")
    ids = [e["id"] for e in listed(snap_repo, "items")]
    common = ids[0][:4]  # the year: shared by both ids
    result = mlrepro(snap_repo.path, "snapshot", "show", f"items@{common}", code=2)
    assert "is ambiguous" in result.stderr, result.stderr


def test_bad_sources_change_nothing(snap_repo: Repo, tmp_path: Path) -> None:
    outside = tmp_path / "secret.csv"
    outside.write_text("a\n1\n")
    (snap_repo.path / "raw" / "link.csv").symlink_to(outside)
    params = snap_repo.read_yaml("params.yaml")
    params["ingest"]["sources"].update(
        missing={"path": "raw/nope.csv"},
        escape={"path": "../secret.csv"},
        symlink={"path": "raw/link.csv"},
        empty={"path": "raw/*.parquet"},
    )
    (snap_repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    expected = {
        "missing": "params.yaml: ingest.sources.missing: 'raw/nope.csv' not found in the repo",
        "escape": "params.yaml: ingest.sources.escape: path '../secret.csv' must be relative",
        "symlink": "params.yaml: ingest.sources.symlink: raw/link.csv escapes the repo (symlink)",
        "empty": "params.yaml: ingest.sources.empty: 'raw/*.parquet' matches no file in the repo",
    }
    for name, message in expected.items():
        result = mlrepro(snap_repo.path, "snapshot", "take", name, code=2)
        assert result.stderr.startswith(f"mlrepro: error: {message}"), result.stderr
    assert not (snap_repo.path / "data" / "snapshots").exists() or not any(
        p.suffix == ".json" for p in (snap_repo.path / "data" / "snapshots").rglob("*")
    )


def damage_cases() -> list[str]:
    return ["edited", "truncated", "deleted", "extra"]


@pytest.mark.parametrize("damage", damage_cases())
def test_verify_names_damaged_files(snap_repo: Repo, damage: str) -> None:
    mlrepro(snap_repo.path, "snapshot", "take", "items")
    mlrepro(snap_repo.path, "snapshot", "pin", "items@latest")
    assert mlrepro(snap_repo.path, "snapshot", "verify").stdout.endswith("ok\n")
    [entry] = listed(snap_repo, "items")
    target = snap_repo.path / "data/snapshots/items" / entry["id"] / "items.csv"
    unprotect(target)  # a platform without the immutable flag
    target.chmod(0o644)  # as root would write, read-only bits or not
    if damage == "edited":
        target.write_text(ITEMS.replace("2.5", "9.5"))
    elif damage == "truncated":
        target.write_text(ITEMS[:20])
    elif damage == "deleted":
        target.unlink()
    else:
        (target.parent / "more.csv").write_text("x\n")
    result = mlrepro(snap_repo.path, "snapshot", "verify", "--json", code=1)
    report = json.loads(result.stdout)
    problems = report["problems"]
    kinds = {(p["copy"], p["file"]): p["kind"] for p in problems}
    in_place = {("work tree", "items.csv"): damage.replace("edited", "modified")}
    in_place[("DVC cache", "items.csv")] = "cache corrupt"  # the same inode: the edit reached it
    expected = {
        "edited": in_place,
        "truncated": in_place,
        "deleted": {("work tree", "items.csv"): "missing"},
        "extra": {("work tree", "more.csv"): "extra"},
    }[damage]
    assert kinds == expected, problems
    assert report["repair"] == [f"mlrepro snapshot repair items@{entry['id']}"], report
    if damage in ("edited", "truncated"):
        manifest = json.loads(target.parent.with_suffix(".json").read_text())
        for problem in problems:
            assert problem["expected"] == f"sha256 {manifest['files'][0]['sha256']}", problem
            assert problem["actual"].startswith("sha256 "), problem


def test_verify_finds_a_corrupt_cache_object(snap_repo: Repo) -> None:
    mlrepro(snap_repo.path, "snapshot", "take", "items")
    [entry] = listed(snap_repo, "items")
    folder = snap_repo.path / "data/snapshots/items" / entry["id"]
    manifest = json.loads(folder.with_suffix(".json").read_text())
    md5 = manifest["files"][0]["md5"]
    cached = snap_repo.path / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    assert cached.is_file()
    unprotect_tree(folder)  # the flag is on the inode: the cache object's too
    shutil.rmtree(folder)  # only the cache holds the bytes now
    cached.chmod(0o644)
    data = bytearray(cached.read_bytes())
    data[5] ^= 0xFF  # one flipped bit, same size: DVC trusts it
    cached.write_bytes(bytes(data))
    cached.chmod(0o444)
    result = mlrepro(snap_repo.path, "snapshot", "verify", "--all", code=1)
    assert f"items@{entry['id']}: items.csv: cache corrupt" in result.stdout, result.stdout


def test_killed_take_leaves_no_partial_snapshot(snap_repo: Repo) -> None:
    big = snap_repo.path / "raw" / "big.csv"
    with open(big, "w") as fh:
        fh.write("a,b\n")
        for _ in range(40):
            fh.write("1,xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n" * 100_000)
    params = snap_repo.read_yaml("params.yaml")
    params["ingest"]["sources"]["big"] = {"path": "raw/big.csv"}
    (snap_repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    size, folder = big.stat().st_size, snap_repo.path / "data/snapshots/big"
    for moment in ("copying", "copied", "in place"):
        proc = start_mlrepro(snap_repo.path, "snapshot", "take", "big")
        reached = functools.partial(take_reached, moment, folder, size, folders(folder))
        kill_when(proc, reached, moment)
        snapshots = listed(snap_repo, "big")
        assert len(snapshots) <= 1
        if snapshots:  # the kill came after the commit: the snapshot is whole
            mlrepro(snap_repo.path, "snapshot", "verify", "big", "--all")
    mlrepro(snap_repo.path, "snapshot", "take", "big")
    assert len(listed(snap_repo, "big")) == 1
    mlrepro(snap_repo.path, "snapshot", "verify", "big", "--all")
    leftovers = list((snap_repo.path / "data/snapshots/big").glob(".tmp-*"))
    assert leftovers == []


def kill_when(proc: subprocess.Popen[str], reached: Callable[[], bool], what: str) -> None:
    """SIGKILL `proc` as soon as `reached()` holds (at once if it has ended before)."""
    wait_for(lambda: reached() or proc.poll() is not None, timeout=300, what=what)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def take_reached(moment: str, folder: Path, size: int, before: set[str]) -> bool:
    """Whether a take of one file of `size` bytes into `folder` (whose snapshot folders were
    `before`) is `copying` it, has `copied` all of it (not yet in place) or put it `in place`."""
    copied = sizes(folder.glob(".tmp-*/*"))
    if moment == "copying":
        return any(0 < n < size for n in copied)
    if moment == "copied":
        return size in copied
    return bool(folders(folder) - before)


def sizes(paths: Iterable[Path]) -> list[int]:
    """The sizes of the files that still exist."""
    found = []
    for path in paths:
        with contextlib.suppress(OSError):
            found.append(path.stat().st_size)
    return found


def folders(folder: Path) -> set[str]:
    """The snapshot folders (not temporary ones) under a source's folder."""
    with contextlib.suppress(OSError):
        return {p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")}
    return set()


def test_sql_source_is_byte_identical_when_physical_order_changes(snap_repo: Repo) -> None:
    import sqlite3

    db = snap_repo.path / "shop.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, name TEXT, price REAL)")
        conn.executemany(
            "INSERT INTO t VALUES (?, ?, ?)", [(i, f"n{i}", i * 1.5) for i in range(50)]
        )
    params = snap_repo.read_yaml("params.yaml")
    params["ingest"]["sources"]["shop"] = {"sql": "SELECT name, price FROM t", "url_env": "SHOP_DB"}
    (snap_repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {"SHOP_DB": "sqlite:///shop.sqlite"}
    first = mlrepro_process(snap_repo.path, "snapshot", "take", "shop", env=env)
    assert first.stdout.startswith("took shop@"), first.stdout
    [taken] = listed(snap_repo, "shop")
    written = snap_repo.path / "data" / "snapshots" / "shop" / taken["id"] / "shop.csv"
    assert not written.stat().st_mode & 0o222  # read-only from the start, as copies are
    with sqlite3.connect(db) as conn:  # same content, another physical order
        rows = conn.execute("SELECT * FROM t WHERE id < 10").fetchall()
        conn.execute("DELETE FROM t WHERE id < 10")
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)", rows[::-1])
    again = mlrepro_process(snap_repo.path, "snapshot", "take", "shop", env=env)
    assert "content identical" in again.stdout, again.stdout
    missing = mlrepro(snap_repo.path, "snapshot", "take", "shop", code=None)
    assert missing.code == 2
    assert "environment variable SHOP_DB" in missing.stderr, missing.stderr


def run_on_terminal(repo: Repo, *argv: str) -> tuple[int, str]:
    """Run a command with stderr on a pseudo-terminal; its exit code and what it drew there."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = start_mlrepro(repo.path, *argv, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the command closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    return proc.wait(), drawn.decode(errors="replace")


def test_many_small_tables_match_pandas_and_show_progress(snap_repo: Repo) -> None:
    """A directory of 250 tables (enough for the helper process), a nested one, a padded one
    that only pandas reads right, and a non-table: rows and dtypes as pandas gives them; a
    progress bar with files and bytes on a terminal, and nothing on stderr otherwise."""
    import pandas as pd

    folder = snap_repo.path / "raw" / "many"
    (folder / "nested").mkdir(parents=True)
    for i in range(250):
        rows = "".join(
            f"{i * 10 + r},{r / 3:.3f},{'yes' if r % 2 else 'no'}\n" for r in range(i % 7)
        )
        (folder / f"part-{i:03d}.csv").write_text("id,score,flag\n" + rows)
    (folder / "nested" / "padded.csv").write_text("a,b\n 1,x\n2 ,y\n")
    (folder / "notes.txt").write_text("not a table\n")
    params = snap_repo.read_yaml("params.yaml")
    params["ingest"]["sources"]["many"] = {"path": "raw/many"}
    (snap_repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    code, drawn = run_on_terminal(snap_repo, "snapshot", "take", "many")
    assert code == 0, drawn
    assert "take many" in drawn and "/252 files" in drawn, drawn
    files = {f["path"]: f for f in shown_files(snap_repo, "many@latest")}
    assert len(files) == 252 and files["notes.txt"]["rows"] is None
    for name, entry in files.items():
        if name.endswith(".csv"):
            df = pd.read_csv(folder / name)
            expected = {str(c): str(t) for c, t in df.dtypes.items()}
            assert (entry["rows"], entry["columns"]) == (len(df), expected), name
    assert files["nested/padded.csv"]["columns"] == {"a": "int64", "b": "str"}

    code, drawn = run_on_terminal(snap_repo, "snapshot", "verify", "many", "--all")
    assert code == 0 and "verify" in drawn and "/252 files" in drawn, drawn
    quiet = mlrepro(snap_repo.path, "snapshot", "verify", "many", "--all")
    assert quiet.stderr == ""
