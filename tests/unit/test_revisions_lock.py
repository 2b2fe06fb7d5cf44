"""`lock_field`: one stage's field of a dvc.lock, cut out and parsed alone, equals the whole
file parsed; any other layout is parsed whole."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlrepro.revisions import lock_field, parse, stage_blocks

PROJECT_LOCK = Path(__file__).resolve().parents[2] / "dvc.lock"

LOCK = b"""\
schema: '2.0'
stages:
  train:
    cmd: python train.py --a 1
      --b 2
    deps:
    - path: data
      hash: md5
      md5: d1.dir
    outs:
    - path: model.bin
      hash: md5
      md5: m1
      size: 3
  train@big:
    cmd: python train.py --big
    outs:
    - path: big.bin
      md5: m2
  evaluate:
    cmd: python evaluate.py
    deps:
    - path: model.bin
      md5: m1
    params:
      params.yaml:
        train:
          outs: not a field of the stage
    outs:
    - path: metrics.json
      md5: e1
"""


def test_every_field_of_this_projects_lock_equals_the_whole_parse() -> None:
    data = PROJECT_LOCK.read_bytes()
    whole = yaml.safe_load(data)["stages"]
    for stage, entry in whole.items():
        for field in [*entry, "nope"]:
            assert lock_field(data, stage, field) == entry.get(field), (stage, field)


@pytest.mark.parametrize(
    ("stage", "field", "expected"),
    [
        ("train", "outs", [{"path": "model.bin", "hash": "md5", "md5": "m1", "size": 3}]),
        ("train", "cmd", "python train.py --a 1 --b 2"),  # a folded continuation line
        ("train@big", "outs", [{"path": "big.bin", "md5": "m2"}]),  # not train's prefix
        ("evaluate", "outs", [{"path": "metrics.json", "md5": "e1"}]),  # not the nested `outs`
        ("evaluate", "params", {"params.yaml": {"train": {"outs": "not a field of the stage"}}}),
        ("train", "params", None),
        ("nope", "outs", None),
    ],
)
def test_fields_of_a_small_lock(stage: str, field: str, expected: object) -> None:
    assert lock_field(LOCK, stage, field) == expected
    assert yaml.safe_load(LOCK)["stages"].get(stage, {}).get(field) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"stages: {train: {outs: [{path: model.bin, md5: m1}]}}\n",  # flow style: no header
        b"schema: '2.0'\nstages:\n    train:\n        outs:\n        -   path: model.bin\n"
        b"            md5: m1\n",  # four spaces a level: the cut finds nothing, so parsed whole
        b"schema: '2.0'\nstages:\n  train:\n    outs: [{path: model.bin,\n  md5: m1}]\n",
    ],
)
def test_other_layouts_are_parsed_whole(data: bytes) -> None:
    assert lock_field(data, "train", "outs") == [{"path": "model.bin", "md5": "m1"}]


@pytest.mark.parametrize("data", [b"", b"{not yaml", b"- a list\n", b"stages: 3\n"])
def test_not_a_lock_file_is_none(data: bytes) -> None:
    assert lock_field(data, "train", "outs") is None


def merged_blocks(data: bytes) -> dict[str, object] | None:
    """The stages of dvc.lock bytes, each stage's block parsed alone; None when not so."""
    blocks = stage_blocks(data)
    if blocks is None:
        return None
    merged: dict[str, object] = {}
    for block in blocks:
        parsed = parse("dvc.lock", block)
        if not isinstance(parsed, dict) or len(parsed) != 1:
            return None
        merged.update(parsed)
    return merged


@pytest.mark.parametrize("data", [PROJECT_LOCK.read_bytes(), LOCK])
def test_stage_blocks_parsed_alone_equal_the_whole_parse(data: bytes) -> None:
    blocks = stage_blocks(data)
    assert blocks is not None and all(b.startswith(b"  ") for b in blocks)
    assert merged_blocks(data) == yaml.safe_load(data)["stages"]


def test_stage_blocks_of_other_layouts_are_none_or_unparsable() -> None:
    assert stage_blocks(b"stages: {train: {outs: []}}\n") is None  # no DVC header
    assert stage_blocks(b"schema: '2.0'\nstages:\n  a:\n    cmd: x\nextra: 1\n") is None
    flow = b"schema: '2.0'\nstages:\n  train:\n    outs: [{path: model.bin,\n  md5: m1}]\n"
    assert merged_blocks(flow) is None  # a line at two spaces inside a flow mapping
    four = b"schema: '2.0'\nstages:\n    train:\n        cmd: x\n"
    assert merged_blocks(four) == {"train": {"cmd": "x"}}  # one block, parsed whole
