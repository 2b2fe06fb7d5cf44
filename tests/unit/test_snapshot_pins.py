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
