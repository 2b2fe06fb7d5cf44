"""The diff rendered: one table per metrics file with bare keys, unchanged ungated rows of a long
file folded (JSON keeps them all), a note shared by every row of a file said once, and the
test-part line."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from mlrepro.diff.core import RevDiff, RevFiles, diff_files
from mlrepro.diff.gates import Gate
from mlrepro.diff.looks import Looks
from mlrepro.diff.render import file_rows, render_json, render_markdown, render_table
from mlrepro.revisions import Rev

METRICS, DRIFT = "evaluate/metrics.json", "reports/drift_metrics.json"
GATES = (Gate("test.roc_auc", True, abs_tol=0.01),)


def files(name: str, metrics: dict[str, dict[str, Any]], **reasons: str) -> RevFiles:
    return RevFiles(Rev(name, name * 40), metrics, dict(reasons), {}, {}, {})


def many(auc: float) -> dict[str, Any]:
    """12 keys: test.roc_auc (gated) and 11 that never change."""
    return {"test.roc_auc": auc, **{f"valid.k{i:02}": i for i in range(11)}}


def two_files() -> RevDiff:
    old = files("a", {METRICS: many(0.70), DRIFT: {"test.share": 0.1, "test.verdict": "ok"}})
    new = files("b", {METRICS: many(0.65), DRIFT: {"test.share": 0.2, "test.verdict": "ok"}})
    return diff_files(old, new, GATES)


def test_rows_are_grouped_by_file_and_long_files_fold() -> None:
    groups = file_rows(two_files())
    assert [(g.file, [r.key for r in g.shown], len(g.folded)) for g in groups] == [
        (METRICS, ["test.roc_auc"], 11),  # gated; the rest unchanged and not gated
        (DRIFT, ["test.share", "test.verdict"], 0),  # 2 rows: nothing folds
    ]


def test_table() -> None:
    assert render_table(two_files()).splitlines()[:11] == [
        "a (aaaaaaa) -> b (bbbbbbb)",
        "",
        "evaluate/metrics.json         a     b   change       rel  verdict      note",
        "  test.roc_auc              0.7  0.65  -0.05 ↓    -7.14%  regressed ✗",
        "  … 11 more unchanged, not gated (--format json lists them)",
        "",
        "reports/drift_metrics.json    a     b   change       rel  verdict      note",
        "  test.share                0.1   0.2   +0.1 ↑  +100.00%  not gated",
        "  test.verdict               ok    ok                     not gated",
        "",
        "params: none changed",
    ]


def test_markdown() -> None:
    text = render_markdown(two_files())
    metrics = text.index("#### `evaluate/metrics.json`\n\n| metric | `a` | `b` |")
    row = text.index("| `test.roc_auc` | 0.7 | 0.65 | -0.05 ↓ | -7.14% | regressed ✗ |  |")
    folded = text.index("<details><summary>11 more unchanged, not gated</summary>")
    drift = text.index("#### `reports/drift_metrics.json`")
    assert metrics < row < folded < text.index("| `valid.k00` |") < drift, text


def test_json_keeps_every_row() -> None:
    rows = json.loads(render_json(two_files()))["metrics"]
    assert len(rows) == 14
    assert {r["file"] for r in rows} == {METRICS, DRIFT}


def test_a_file_absent_at_one_side_says_so_once() -> None:
    old = files("a", {METRICS: many(0.70)})
    new = files("b", {METRICS: many(0.70), DRIFT: {"test.share": 0.2, "test.verdict": "ok"}})
    result = diff_files(old, new, GATES)
    assert {r.note for r in result.metrics if r.file == DRIFT} == {"a: not a metrics file there"}
    lines = render_table(result).splitlines()
    at = lines.index(next(line for line in lines if line.startswith(DRIFT)))
    assert lines[at + 1] == "  a: not a metrics file there"
    assert lines[at + 2].split() == ["test.share", "—", "0.2", "not", "gated"]
    assert "_a: not a metrics file there_" in render_markdown(result)


def test_a_file_with_every_row_folded_is_one_line_and_last() -> None:
    old = files("a", {DRIFT: many(0.7), METRICS: {"test.auc": 0.1}})
    new = files("b", {DRIFT: many(0.7), METRICS: {"test.auc": 0.2}})
    result = diff_files(old, new, ())
    assert [g.file for g in file_rows(result)] == [METRICS, DRIFT]
    text = render_table(result)
    assert f"\n{DRIFT}: all 12 unchanged, not gated (--format json lists them)\n" in text, text
    md = render_markdown(result)
    assert f"#### `{DRIFT}`\n\n<details><summary>all 12 unchanged, not gated</summary>" in md, md


def test_markdown_lists_at_most_50_folded_rows() -> None:
    big = {f"k{i:03}": i for i in range(80)}
    md = render_markdown(diff_files(files("a", {DRIFT: big}), files("b", {DRIFT: big}), ()))
    assert md.count("| `k0") == 50 and "and 30 more: `mlrepro diff --format json`" in md, md


def test_the_test_part_line() -> None:
    looks = Looks("reports/leakage.json", "db3439983e37" + "0" * 52, 55479, 7, 9, warn_at=20)
    result = replace(two_files(), test_looks=looks)
    line = (
        "test part db3439983e37 (55,479 rows): scored by 7 models (commits and experiments); "
        "warn at 20"
    )
    assert f"\n\n{line}\n\n" in render_table(result)
    assert f"\n{line}\n" in render_markdown(result)
    data = json.loads(render_json(result))["test_looks"]
    assert data == {**vars(looks), "warned": False}
    over = replace(result, test_looks=replace(looks, models=21))
    text = render_table(over)
    assert "scored by 21 models (commits and experiments); warn at 20: WARNING, every look" in text
    assert "**test part db3439983e37 (55,479 rows): scored by 21 models" in render_markdown(over)
    one = render_table(replace(result, test_looks=replace(looks, models=1, rows=None)))
    assert "test part db3439983e37: scored by 1 model (commits" in one
