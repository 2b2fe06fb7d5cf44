"""Gates: which metrics must not get worse, by how much, read from gates.yaml at the repo root.

Per flattened metric key (or glob, e.g. `*.roc_auc`; an exact key wins over globs, then the first
matching glob in file order): `higher_is_better` (required), `abs_tol`, `rel_tol` (default 0),
`missing_fails` (default true), `gate` (default true). Verdicts are pure functions of old, new and
the gate; `regressed` means worse by more than max(abs_tol, rel_tol * |old|).

One top-level key is not a metric: `test_looks: {warn: N}`, how many distinct models may be
scored on one test part before `mlrepro diff` warns (default 20; `mlrepro.diff.looks`).
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from mlrepro.core.errors import MlreproError

GATES_FILE = "gates.yaml"
Verdict = Literal["ok", "improved", "regressed", "missing", "new", "not gated", "not numeric"]
FAILING: frozenset[Verdict] = frozenset({"regressed", "not numeric"})
_FIELDS = {"higher_is_better", "abs_tol", "rel_tol", "missing_fails", "gate"}
TEST_LOOKS = "test_looks"  # the one top-level key that is not a metric
TEST_LOOKS_WARN = 20  # its default `warn`


class GateError(MlreproError):
    """gates.yaml is malformed, or names a metric that exists at neither revision."""


@dataclass(frozen=True)
class Gate:
    pattern: str  # a flattened metric key or a glob
    higher_is_better: bool
    abs_tol: float = 0.0
    rel_tol: float = 0.0
    missing_fails: bool = True
    gate: bool = True


@dataclass(frozen=True)
class GatesConfig:
    """What gates.yaml configures: the gates, and when the test-looks counter warns."""

    gates: tuple[Gate, ...] = ()
    test_looks_warn: int = TEST_LOOKS_WARN


def load_config(path: Path) -> GatesConfig | None:
    """The gates file at `path`, or None when there is no such file."""
    if not path.is_file():
        return None
    return parse_config_text(path.read_text(encoding="utf-8"), path.name)


def parse_config_text(text: str, file: str) -> GatesConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise GateError(f"{file}: not valid YAML: {str(exc).splitlines()[0]}") from None
    return parse_config(data, file)


def parse_config(data: Any, file: str = GATES_FILE) -> GatesConfig:
    if data is None:
        return GatesConfig()
    if not isinstance(data, dict):
        raise GateError(f"{file}: expected a mapping of metric key -> gate")
    gates = tuple(_parse_gate(str(k), spec, file) for k, spec in data.items() if k != TEST_LOOKS)
    return GatesConfig(gates, _test_looks_warn(data.get(TEST_LOOKS, {}), file))


def _test_looks_warn(spec: Any, file: str) -> int:
    if not isinstance(spec, dict) or set(spec) - {"warn"}:
        raise GateError(f"{file}: {TEST_LOOKS}: expected a mapping with only warn, got {spec!r}")
    warn = spec.get("warn", TEST_LOOKS_WARN)
    if not isinstance(warn, int) or isinstance(warn, bool) or warn < 0:
        raise GateError(f"{file}: {TEST_LOOKS}.warn: expected a whole number >= 0, got {warn!r}")
    return warn


def load_gates(path: Path) -> tuple[Gate, ...] | None:
    """The gates in `path`, or None when there is no such file."""
    config = load_config(path)
    return None if config is None else config.gates


def parse_gates(data: Any, file: str = GATES_FILE) -> tuple[Gate, ...]:
    return parse_config(data, file).gates


def _parse_gate(key: str, spec: Any, file: str) -> Gate:
    if not isinstance(spec, dict):
        raise GateError(f"{file}: {key}: expected a mapping with higher_is_better")
    unknown = sorted(set(spec) - _FIELDS)
    if unknown:
        raise GateError(f"{file}: {key}.{unknown[0]}: unknown field; known: {sorted(_FIELDS)}")
    if "higher_is_better" not in spec:
        raise GateError(f"{file}: {key}.higher_is_better: missing (true or false)")
    return Gate(
        pattern=key,
        higher_is_better=_flag(spec, "higher_is_better", key, file, default=True),
        abs_tol=_tolerance(spec, "abs_tol", key, file),
        rel_tol=_tolerance(spec, "rel_tol", key, file),
        missing_fails=_flag(spec, "missing_fails", key, file, default=True),
        gate=_flag(spec, "gate", key, file, default=True),
    )


def _flag(spec: dict[str, Any], name: str, key: str, file: str, *, default: bool) -> bool:
    value = spec.get(name, default)
    if not isinstance(value, bool):
        raise GateError(f"{file}: {key}.{name}: expected true or false, got {value!r}")
    return value


def _tolerance(spec: dict[str, Any], name: str, key: str, file: str) -> float:
    value = spec.get(name, 0.0)
    if not _is_number(value) or value < 0:
        raise GateError(f"{file}: {key}.{name}: expected a number >= 0, got {value!r}")
    return float(value)


def gate_for(key: str, gates: Iterable[Gate]) -> Gate | None:
    """The gate for a metric key: an exact match, else the first matching glob."""
    gates = tuple(gates)
    exact = (g for g in gates if g.pattern == key)
    globbed = (g for g in gates if fnmatch.fnmatchcase(key, g.pattern))
    return next(exact, None) or next(globbed, None)


def check_gates_match(gates: Iterable[Gate], keys: Iterable[str], revs: str) -> None:
    """Every gate names (or matches) a metric present at one revision at least."""
    keys = tuple(keys)
    for gate in gates:
        if not any(fnmatch.fnmatchcase(k, gate.pattern) for k in keys):
            raise GateError(f"{GATES_FILE}: {gate.pattern}: no such metric at {revs}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def verdict(old: Any, new: Any, gate: Gate | None) -> Verdict:
    """How `new` compares with `old` under `gate` (None or gate: false -> "not gated")."""
    if gate is None or not gate.gate:
        return "not gated"
    if new is None:
        return "missing"
    if not _is_number(new) or not math.isfinite(new):
        return "not numeric"
    if old is None:
        return "new"
    if not _is_number(old) or not math.isfinite(old):
        return "not numeric"
    return _compare(float(old), float(new), gate)


def _compare(old: float, new: float, gate: Gate) -> Verdict:
    better = new - old if gate.higher_is_better else old - new
    tolerance = max(gate.abs_tol, gate.rel_tol * abs(old))
    if abs(better) <= tolerance or math.isclose(abs(better), tolerance, abs_tol=1e-12):
        return "ok"  # within tolerance; a change equal to it (up to float rounding) passes
    return "improved" if better > 0 else "regressed"


def fails(result: Verdict, gate: Gate | None) -> bool:
    """Whether this verdict fails `mlrepro diff --gate`."""
    if gate is None or not gate.gate:
        return False
    return result in FAILING or (result == "missing" and gate.missing_fails)
