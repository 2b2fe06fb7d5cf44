"""verify's pure parts: lock comparison, JSON and folder changes, environments, error lines."""

from __future__ import annotations

import hashlib
import json

import pytest

from mlrepro.core.errors import MlreproError
from mlrepro.core.threads import pinned_threads
from mlrepro.verify.environments import ASPECTS, environments, parse_aspects
from mlrepro.verify.outputs import Change, OutputCheck, compare_stage, explain, flat, json_changes
from mlrepro.verify.runner import reason


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class FakeSide:
    """Files by path and folders by path, as a verify side would read them."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def read(self, path: str, md5_: str) -> bytes | None:
        data = self.files.get(path)
        return data if data is not None and md5(data) == md5_ else None

    def listing(self, path: str, md5_: str) -> dict[str, str] | None:
        prefix = path + "/"
        return {k[len(prefix) :]: md5(v) for k, v in self.files.items() if k.startswith(prefix)}


def test_flat_indexes_lists_and_nests_keys() -> None:
    assert flat({"a": [{"b": 1}, 2], "c": {"d": None}, "e": []}) == {
        "a[0].b": 1,
        "a[1]": 2,
        "c.d": None,
        "e": [],
    }


def test_json_changes_lists_changed_added_and_removed_keys() -> None:
    old = json.dumps({"test": {"auc": 0.7, "rows": 5}, "gone": 1}).encode()
    new = json.dumps({"test": {"auc": 0.8, "rows": 5}, "new": 2}).encode()
    assert json_changes(old, new) == [
        Change("test.auc", 0.7, 0.8),
        Change("gone", 1, None),
        Change("new", None, 2),
    ]
    assert json_changes(b"not json", new) is None


def test_compare_stage_pairs_outputs_by_path() -> None:
    a = {"stages": {"s": {"outs": [{"path": "x", "md5": "1"}, {"path": "y", "md5": "2"}]}}}
    b = {"stages": {"s": {"outs": [{"path": "x", "md5": "1"}, {"path": "z", "md5": "3"}]}}}
    checks = compare_stage(a, b, "s")
    assert [(c.path, c.expected, c.actual, c.identical) for c in checks] == [
        ("x", "1", "1", True),
        ("y", "2", None, False),
        ("z", None, "3", False),
    ]


def test_explain_a_folder_names_files_and_json_keys() -> None:
    old = FakeSide({"plots/roc.json": b'[{"tpr": 0.5}]', "plots/a.png": b"png1"})
    new = FakeSide({"plots/roc.json": b'[{"tpr": 0.6}]', "plots/a.png": b"png2"})
    check = explain(OutputCheck("evaluate", "plots", "old.dir", "new.dir"), old, new)
    assert check.changes == (
        Change("a.png", md5(b"png1"), md5(b"png2")),
        Change("roc.json: [0].tpr", 0.5, 0.6),
    )
    assert check.changed == 2 and not check.identical


def test_explain_a_json_file_and_a_missing_reference() -> None:
    old, new = b'{"rows": 1}', b'{"rows": 2}'
    check = OutputCheck("split", "r.json", md5(old), md5(new))
    assert explain(check, FakeSide({"r.json": old}), FakeSide({"r.json": new})).changes == (
        Change("rows", 1, 2),
    )
    missing = explain(check, FakeSide({}), FakeSide({"r.json": new}))
    assert missing.changes == () and missing.detail is not None


def test_environments_differ_in_each_aspect() -> None:
    assert [e.label for e in environments(())] == ["run"]
    a, b = environments(ASPECTS)
    assert a.variables["TZ"] != b.variables["TZ"]
    assert a.variables["OMP_NUM_THREADS"] != b.variables["OMP_NUM_THREADS"]
    assert a.variables["LC_ALL"] != b.variables["LC_ALL"]
    assert a.variables["PYTHONHASHSEED"] != b.variables["PYTHONHASHSEED"]
    assert (a.umask, b.umask) == (0o022, 0o077)
    assert " " in b.folder and " " not in a.folder
    a, b = environments(("tz",))
    assert a.variables == {"TZ": "UTC"} and b.umask is None


def test_parse_aspects() -> None:
    assert parse_aspects("all") == ASPECTS
    assert parse_aspects("tz, threads,tz") == ("tz", "threads")
    with pytest.raises(MlreproError, match="unknown aspect 'moon'"):
        parse_aspects("tz,moon")


def test_reason_prefers_the_stage_error_line() -> None:
    lines = ["Running stage 'x':", "mlrepro x: error: bad", "ERROR: failed to reproduce 'x'"]
    assert reason(lines) == "mlrepro x: error: bad"
    assert reason(lines[:1] + lines[2:]) == "ERROR: failed to reproduce 'x'"
    assert reason([]) == "failed"


def test_pinned_threads_limits_openmp_whatever_the_environment() -> None:
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

    with pinned_threads(1):
        assert _openmp_effective_n_threads() == 1
    with pinned_threads(None):
        assert _openmp_effective_n_threads() >= 1
