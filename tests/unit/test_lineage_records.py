"""lineage.records, commits, find and cli helpers on tiny hand-made dvc.lock data: which
snapshots a stage read, the graph between stages, refs that hold a commit, queries."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlrepro.lineage.cli import web_url
from mlrepro.lineage.commits import Commit, Scope, _label
from mlrepro.lineage.find import _pairs, query
from mlrepro.lineage.records import Entry, Graph, producer, stage_records
from mlrepro.lineage.scan import PIN_LINE
from mlrepro.lineage.upstream import LineageError
from mlrepro.revisions import RevError

OLD, NEW = "20240101T000000Z-aaaaaaaa", "20240201T000000Z-bbbbbbbb"
LOCK = {
    "schema": "2.0",
    "stages": {
        "ingest": {
            "cmd": "python -m ingest",
            "params": {"params.yaml": {"ingest": {"pins": {"rows": OLD, "more": None}}}},
            "deps": [{"path": "src/ingest.py", "md5": "1" * 32, "size": 10}],
            "outs": [{"path": "data/ingest", "md5": "2" * 32 + ".dir", "nfiles": 2}],
        },
        "extra": {
            "cmd": ["python -m extra", "touch x"],
            "deps": [{"path": "data/snapshots/other/" + NEW, "md5": "3" * 32 + ".dir"}],
            "outs": [{"path": "data/extra.csv", "md5": "4" * 32}],
        },
        "train": {
            "cmd": "python -m train",
            "params": {"params.yaml": {"ingest.pins.rows": OLD, "train.lr": 0.1}},
            "deps": [
                {"path": "data/ingest/rows.parquet", "md5": "5" * 32},
                {"path": "./data/extra.csv", "md5": "4" * 32},
            ],
            "outs": [{"path": "models/model.skops", "md5": "6" * 32}],
        },
        "evaluate": {
            "cmd": "python -m evaluate",
            "deps": [{"path": "models/model.skops", "md5": "6" * 32}],
            "outs": [{"path": "metrics.json", "md5": "7" * 32}],
        },
        "odd": "not a mapping",
    },
}


def test_records_keep_commands_params_and_hashes() -> None:
    records = stage_records(LOCK)
    assert list(records) == ["ingest", "extra", "train", "evaluate"]
    assert records["extra"].cmd == "python -m extra && touch x"
    assert records["train"].params == {"params.yaml": {"ingest.pins.rows": OLD, "train.lr": 0.1}}
    assert records["ingest"].outs == (Entry("data/ingest", "2" * 32 + ".dir", None, 2),)
    assert records["train"].deps[1].path == "data/extra.csv"  # normalised


def test_a_stage_reads_snapshots_through_its_pins_or_a_dep_in_one() -> None:
    records = stage_records(LOCK)
    assert records["ingest"].snapshots() == {"rows": OLD}  # a null pin is no read
    assert records["train"].snapshots() == {"rows": OLD}  # a tracked key, flattened
    assert records["extra"].snapshots() == {"other": NEW}
    assert records["evaluate"].snapshots() == {}


def test_the_graph_follows_paths_into_folders() -> None:
    records = stage_records(LOCK)
    made = producer(records, "data/ingest/rows.parquet")
    assert made is not None and made[0].name == "ingest"
    assert producer(records, "src/ingest.py") is None
    graph = Graph.of(records)
    assert graph.inputs["train"] == {
        "ingest": ("data/ingest/rows.parquet",),
        "extra": ("data/extra.csv",),
    }
    assert graph.upstream("evaluate") == ["ingest", "extra", "train", "evaluate"]
    assert graph.downstream(["extra"]) == ["extra", "train", "evaluate"]
    assert graph.downstream(["evaluate"]) == ["evaluate"]


def test_pin_lines_are_found_in_the_lock_text() -> None:
    text = f"      pins:\n        rows: {OLD}\n        more: '{NEW}'\n      other: 3\n".encode()
    assert PIN_LINE.findall(text) == [(b"rows", OLD.encode()), (b"more", NEW.encode())]


def commit(sha: str, *parents: str, time: int = 0) -> Commit:
    return Commit(sha, parents, time, sha, (), ())


def test_each_commit_knows_the_refs_at_it_and_the_refs_that_hold_it() -> None:
    # a <- b <- c (main); b <- d (feature); an experiment e based on b
    commits = [commit("e", "b"), commit("c", "b"), commit("d", "b"), commit("b", "a"), commit("a")]
    refs = [("c", "main"), ("d", "feature"), ("c", "tag v2"), ("e", "exp lr")]
    labelled = {c.sha: c for c in _label(commits, refs)}
    assert labelled["c"].refs == ("main", "tag v2")
    assert labelled["b"].refs == ()
    assert labelled["b"].on == ("main", "feature", "tag v2", "exp lr")
    assert labelled["d"].on == ("feature",)
    assert labelled["a"].on == labelled["b"].on


def test_since_takes_iso_dates_and_refuses_anything_else() -> None:
    assert Scope(since="1970-01-02").since_time() == 86400
    assert Scope(since="1970-01-01T01:00:00+01:00").since_time() == 0
    assert Scope().since_time() is None
    with pytest.raises(RevError, match="--since '2 weeks ago': not a date"):
        Scope(since="2 weeks ago").since_time()


def test_queries_are_hashes_or_files(tmp_path: Path) -> None:
    assert query("A" * 32).md5 == frozenset({"a" * 32})
    assert query("b" * 32 + ".dir").md5 == frozenset({"b" * 32 + ".dir"})
    assert query("c" * 64).sha256 == frozenset({"c" * 64})
    assert query("d" * 40).git_object == "d" * 40
    model = tmp_path / "model.bin"
    model.write_bytes(b"abc")
    found = query(str(model))
    assert found.md5 == frozenset({"900150983cd24fb0d6963f7d28e17f72"})
    assert found.sha256 == frozenset(
        {"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}
    )
    with pytest.raises(LineageError, match="not a file, nor a hash"):
        query("e" * 31)
    with pytest.raises(LineageError, match="a folder"):
        query(str(tmp_path))


def test_a_sha256_is_looked_up_through_records_of_both_hashes() -> None:
    card = {"model": {"path": "m", "md5": "1" * 32, "sha256": "2" * 64}, "x": [{"sha256": "3"}]}
    assert _pairs(card, {"2" * 64}) == [("1" * 32, "model.sha256")]
    assert _pairs(card, {"3"}) == []  # no md5 beside it


def test_web_urls_for_links_to_files() -> None:
    assert web_url("git@github.com:team/flights.git") == "https://github.com/team/flights"
    assert web_url("https://example.com/a/b.git/") == "https://example.com/a/b"
    assert web_url("/srv/git/flights") is None
    assert web_url(None) is None
