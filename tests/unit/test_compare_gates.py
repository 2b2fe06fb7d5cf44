"""Gate verdicts are pure functions of old, new and the gate; gates.yaml errors are one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlrepro.diff.gates import (
    Gate,
    GateError,
    GatesConfig,
    check_gates_match,
    fails,
    gate_for,
    load_config,
    load_gates,
    parse_config,
    parse_gates,
    verdict,
)

AUC = Gate("test.roc_auc", higher_is_better=True, abs_tol=0.01)
LOSS = Gate("test.log_loss", higher_is_better=False, rel_tol=0.1)


@pytest.mark.parametrize(
    ("old", "new", "gate", "expected"),
    [
        (0.70, 0.70, AUC, "ok"),
        (0.70, 0.695, AUC, "ok"),
        (0.70, 0.69, AUC, "ok"),  # exactly the tolerance (0.7 - 0.69 is 0.0100000...9 in floats)
        (0.70, 0.689, AUC, "regressed"),
        (0.70, 0.72, AUC, "improved"),
        (0.50, 0.54, LOSS, "ok"),  # within 10% of 0.5
        (0.50, 0.56, LOSS, "regressed"),
        (0.50, 0.40, LOSS, "improved"),
        (0.70, None, AUC, "missing"),
        (None, None, AUC, "missing"),
        (None, 0.70, AUC, "new"),
        (0.70, "n/a", AUC, "not numeric"),
        ("n/a", 0.70, AUC, "not numeric"),
        (0.70, True, AUC, "not numeric"),
        (0.70, float("nan"), AUC, "not numeric"),
        (0.70, 0.10, None, "not gated"),
        (0.70, 0.10, Gate("x", higher_is_better=True, gate=False), "not gated"),
        (3, 1, Gate("tp", higher_is_better=True), "regressed"),
    ],
)
def test_verdict(old: Any, new: Any, gate: Gate | None, expected: str) -> None:
    assert verdict(old, new, gate) == expected


def test_which_verdicts_fail() -> None:
    lenient = Gate("x", higher_is_better=True, missing_fails=False)
    assert [fails(v, AUC) for v in ("ok", "improved", "new", "not gated")] == [False] * 4
    assert [fails(v, AUC) for v in ("regressed", "missing", "not numeric")] == [True] * 3
    assert not fails("missing", lenient)
    assert not fails("regressed", None)
    assert not fails("regressed", Gate("x", higher_is_better=True, gate=False))


def test_parse_defaults_and_fields() -> None:
    gates = parse_gates(
        {"test.roc_auc": {"higher_is_better": True}, "*.ece": {"higher_is_better": False}}
    )
    assert gates == (
        Gate("test.roc_auc", True, 0.0, 0.0, True, True),
        Gate("*.ece", False, 0.0, 0.0, True, True),
    )
    assert parse_gates(None) == ()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1], "gates.yaml: expected a mapping of metric key -> gate"),
        ({"a": 1}, "gates.yaml: a: expected a mapping with higher_is_better"),
        ({"a": {}}, "gates.yaml: a.higher_is_better: missing (true or false)"),
        ({"a": {"higher_is_better": "yes"}}, "gates.yaml: a.higher_is_better: expected true or"),
        ({"a": {"higher_is_better": True, "abs_tol": -1}}, "gates.yaml: a.abs_tol: expected a"),
        ({"a": {"higher_is_better": True, "rel_tol": "x"}}, "gates.yaml: a.rel_tol: expected a"),
        ({"a": {"higher_is_better": True, "tol": 1}}, "gates.yaml: a.tol: unknown field"),
    ],
)
def test_malformed_gates_are_one_line(data: Any, message: str) -> None:
    with pytest.raises(GateError) as info:
        parse_gates(data)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_exact_key_wins_over_globs_then_first_glob() -> None:
    exact = Gate("test.roc_auc", True, abs_tol=0.5)
    first, second = Gate("*.roc_auc", True), Gate("test.*", False)
    assert gate_for("test.roc_auc", [first, second, exact]) is exact
    assert gate_for("valid.roc_auc", [first, second, exact]) is first
    assert gate_for("test.ece", [first, second, exact]) is second
    assert gate_for("valid.ece", [first, second, exact]) is None


def test_a_gate_must_match_a_metric() -> None:
    check_gates_match([Gate("*.roc_auc", True)], ["valid.roc_auc"], "a or b")
    with pytest.raises(GateError, match=r"^gates.yaml: test.auc: no such metric at a or b$"):
        check_gates_match([AUC, Gate("test.auc", True)], ["test.roc_auc"], "a or b")


def test_the_shipped_gates_file_parses() -> None:
    gates = load_gates(Path(__file__).resolve().parents[2] / "gates.yaml")
    assert gates is not None
    assert {g.pattern for g in gates} == {
        "test.roc_auc",
        "test.average_precision",
        "test.log_loss",
        "test.brier",
        "test.ece",
        "test.ece_equal_mass",
        "test.mce",
        "valid.dataset.share",  # reports/drift_metrics.json
        "test.dataset.share",
    }
    assert {g.pattern for g in gates if g.higher_is_better} == {
        "test.roc_auc",
        "test.average_precision",
    }
    config = load_config(Path(__file__).resolve().parents[2] / "gates.yaml")
    assert config is not None and config.test_looks_warn == 20


def test_test_looks_is_not_a_metric() -> None:
    auc = {"test.roc_auc": {"higher_is_better": True}}
    assert parse_config({**auc, "test_looks": {"warn": 5}}) == GatesConfig(
        (Gate("test.roc_auc", True),), 5
    )
    assert parse_config(auc).test_looks_warn == 20  # the default
    assert parse_config({"test_looks": {}}) == GatesConfig((), 20)
    assert parse_config(None) == GatesConfig((), 20)
    assert parse_gates({**auc, "test_looks": {"warn": 0}}) == (Gate("test.roc_auc", True),)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (20, "gates.yaml: test_looks: expected a mapping with only warn, got 20"),
        ({"warn": 5, "max": 2}, "gates.yaml: test_looks: expected a mapping with only warn"),
        ({"warn": "20"}, "gates.yaml: test_looks.warn: expected a whole number >= 0, got '20'"),
        ({"warn": -1}, "gates.yaml: test_looks.warn: expected a whole number >= 0, got -1"),
        ({"warn": 2.5}, "gates.yaml: test_looks.warn: expected a whole number >= 0, got 2.5"),
        ({"warn": True}, "gates.yaml: test_looks.warn: expected a whole number >= 0, got True"),
    ],
)
def test_malformed_test_looks_is_one_line(spec: Any, message: str) -> None:
    with pytest.raises(GateError) as info:
        parse_config({"test_looks": spec})
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_no_gates_file(tmp_path: Path) -> None:
    assert load_gates(tmp_path / "gates.yaml") is None
    (tmp_path / "gates.yaml").write_text("a: [unclosed\n")
    with pytest.raises(GateError, match=r"^gates.yaml: not valid YAML: "):
        load_gates(tmp_path / "gates.yaml")
