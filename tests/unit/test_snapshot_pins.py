"""Pins are set by editing one line of params.yaml, keeping everything else byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlrepro.core.errors import ParamsError
from mlrepro.snapshot.pins import set_pin, write_pin

BASE = """seed: 1  # keep me

ingest:
  sources:
    a: {path: a.csv}
  main: a
  pins:  # set by mlrepro
    a: OLD  # first

split:
  time_column: null
"""


def test_replaces_the_pin_keeping_comments() -> None:
    text = BASE
    assert set_pin(text, "a", "NEW") == text.replace("a: OLD  # first", "a: NEW  # first")


def test_adds_a_source_to_the_pins_block() -> None:
    text = BASE
    new = set_pin(text, "b", "B1")
    assert new == text.replace("    a: OLD  # first\n", "    a: OLD  # first\n    b: B1\n")


def test_adds_a_pins_block_when_there_is_none() -> None:
    text = "ingest:\n  main: a  # x\n\nsplit: {}\n"
    assert set_pin(text, "a", "ID") == "ingest:\n  main: a  # x\n  pins:\n    a: ID\n\nsplit: {}\n"


@pytest.mark.parametrize("inline", ["null", "{}", "{a: OLD}"])
def test_rewrites_inline_pins_in_block_style(inline: str) -> None:
    text = f"ingest:\n  main: a\n  pins: {inline}\nsplit: {{}}\n"
    pins = yaml.safe_load(set_pin(text, "b", "B1"))["ingest"]["pins"]
    expected = {"a": "OLD", "b": "B1"} if "OLD" in inline else {"b": "B1"}
    assert pins == expected


def test_write_pin_returns_the_old_pin(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(BASE)
    assert write_pin(path, "a", "NEW") == "OLD"
    assert write_pin(path, "b", "B1") is None
    assert yaml.safe_load(path.read_text())["ingest"]["pins"] == {"a": "NEW", "b": "B1"}


def test_no_ingest_section_is_a_params_error() -> None:
    with pytest.raises(ParamsError, match=r"params\.yaml: ingest: missing"):
        set_pin("seed: 1\n", "a", "ID")


def test_a_comment_next_to_the_pins_key_stays_when_a_pin_is_added() -> None:
    text = BASE.replace("    a: OLD  # first\n", "")
    text = text.replace("  pins:  # set by mlrepro\n", "  pins: null  # set by mlrepro\n")
    new = set_pin(text, "a", "NEW")
    assert new == BASE.replace("a: OLD  # first", "a: NEW"), new


def test_a_new_pin_goes_before_the_comments_of_the_next_section() -> None:
    text = "ingest:\n  main: a\n  pins:\n    a: OLD  # first\n\n# the split\nsplit: {}\n"
    assert set_pin(text, "b", "B1") == text.replace("# first\n", "# first\n    b: B1\n")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("pins: {a: OLD}  # c", "pins: {a: NEW}  # c"),  # a flow mapping stays one
        ("pins: {a: OLD, b: B}", "pins: {a: NEW, b: B}"),
        ("pins:\n    a: 'OLD'   # quoted", "pins:\n    a: 'NEW'   # quoted"),  # its quotes too
        ("pins:\n    a: OLDER  # longer", "pins:\n    a: NEW  # longer"),  # the gap stays
    ],
)
def test_a_pin_keeps_its_style_and_comment(before: str, after: str) -> None:
    text = f"ingest:\n  main: a\n  {before}\nsplit: {{}}\n"
    assert set_pin(text, "a", "NEW") == f"ingest:\n  main: a\n  {after}\nsplit: {{}}\n"


def test_a_pin_added_to_a_flow_mapping_keeps_the_comment_as_far() -> None:
    text = "ingest:\n  pins: {a: OLD}  # set by mlrepro\n"
    assert set_pin(text, "b", "B1") == "ingest:\n  pins: {a: OLD, b: B1}  # set by mlrepro\n"


def test_empty_flow_pins_become_a_block_and_blank_lines_stay_after_it() -> None:
    text = "ingest:\n  main: a\n  pins: {}  # c\n\nsplit: {}\n"
    assert set_pin(text, "a", "ID") == "ingest:\n  main: a\n  pins:  # c\n    a: ID\n\nsplit: {}\n"


def test_the_projects_params_change_on_the_pins_line_only() -> None:
    """The round trip gives the rest of params.yaml back byte for byte: comments, blank lines,
    quotes, flow and block styles, `null`, long lines, the indents of lists."""
    text = (Path(__file__).resolve().parents[2] / "params.yaml").read_text(encoding="utf-8")
    pins = yaml.safe_load(text)["ingest"]["pins"]
    source, old = next(iter(pins.items()))
    new = set_pin(text, source, "20300101T000000Z-00000000")
    changed = [(a, b) for a, b in zip(text.splitlines(), new.splitlines(), strict=True) if a != b]
    assert changed == [(f"    {source}: {old}", f"    {source}: 20300101T000000Z-00000000")]
    added = set_pin(text, "extra", "ID")
    assert added.replace("    extra: ID\n", "", 1) == text


def test_indents_of_another_layout_are_kept() -> None:
    text = "ingest:\n    sources:\n    - a\n    - b\n    pins:\n        a: OLD\nsplit: {}\n"
    assert set_pin(text, "b", "B1") == text.replace("a: OLD\n", "a: OLD\n        b: B1\n")


def test_pins_that_are_not_a_mapping_are_a_params_error() -> None:
    with pytest.raises(ParamsError, match=r"ingest\.pins: expected a mapping, got \['x'\]"):
        set_pin("ingest:\n  pins: [x]\n", "a", "ID")


def test_text_that_is_not_yaml_is_one_line() -> None:
    with pytest.raises(ParamsError) as caught:
        set_pin("ingest:\n  pins: {a: [\n", "a", "ID")
    assert str(caught.value).startswith("params.yaml: not valid YAML: ")
    assert "\n" not in str(caught.value)
