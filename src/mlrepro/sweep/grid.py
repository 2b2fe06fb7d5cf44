"""The grid of a sweep: `-S` options as `dvc exp run` reads them, expanded into configurations.

Parsed and expanded by DVC's own functions, so a sweep means what `dvc exp run -S ... --queue`
would queue: `dvc.utils.cli_parse.to_path_overrides` groups `[FILE:]KEY=VALUE` by params file
(params.yaml when none is named), `dvc.utils.hydra.get_hydra_sweeps` expands Hydra's sweep syntax
(`a=1,2`, `a=choice(1,2)`, `a=range(1,4)`) into the product over the keys. Two things DVC lets
pass are refused here: a key given twice (Hydra keeps the last, silently) and no `-S` at all.

A configuration's experiment name is a function of the commit and its overrides only, so running
the same sweep again finds the experiments it already made.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from mlrepro.core.errors import MlreproError

PARAMS_FILE = "params.yaml"  # DVC's default params file (ParamsDependency.DEFAULT_PARAMS_FILE)
PREFIX = "sweep"
NAME_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,40}$")  # a safe git ref component
HASH_DIGITS = 8
GRAMMAR = "https://hydra.cc/docs/advanced/override_grammar/basic"


class SweepError(MlreproError):
    """The sweep cannot start: a bad `-S`, an unknown param, a bad name, no cluster."""


@dataclass(frozen=True)
class Config:
    """One configuration: the overrides `dvc exp run -S` takes, `[FILE:]KEY=VALUE`, in the order
    the keys were given (FILE only when it is not params.yaml)."""

    overrides: tuple[str, ...]

    @property
    def label(self) -> str:
        return " ".join(self.overrides)

    def by_file(self) -> dict[str, list[str]]:
        """params file -> its overrides without the `FILE:` prefix."""
        from dvc.utils.cli_parse import to_path_overrides

        found: dict[str, list[str]] = to_path_overrides(self.overrides)
        return found

    def name(self, commit: str, prefix: str = PREFIX) -> str:
        """`<prefix>-<8 hex digits>`: a hash of the commit and the sorted overrides."""
        text = "\n".join([commit, *sorted(self.overrides)])
        return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:HASH_DIGITS]}"


def expand(sets: Sequence[str]) -> list[Config]:
    """The configurations of the `-S` options, in DVC's order (the first key varies slowest)."""
    from dvc.exceptions import InvalidArgumentError
    from dvc.utils.cli_parse import to_path_overrides
    from dvc.utils.hydra import get_hydra_sweeps

    if not sets:
        raise SweepError("nothing to sweep: give at least one -S KEY=VALUE[,VALUE...]")
    for text in sets:
        parse_one(text)
    path_overrides = to_path_overrides(sets)
    check_repeated(path_overrides)
    try:
        sweeps = get_hydra_sweeps(path_overrides)
    except InvalidArgumentError as exc:  # a glob override
        raise SweepError(f"-S: {exc}") from None
    return [Config(tuple(_flat(sweep))) for sweep in sweeps]


def parse_one(text: str) -> None:
    """Refuse one `-S` that Hydra's override grammar does not read, naming it."""
    from dvc.utils.cli_parse import to_path_overrides
    from dvc.utils.hydra import to_hydra_overrides
    from hydra.errors import OverrideParseException

    ((_, (override,)),) = to_path_overrides([text]).items()
    try:
        to_hydra_overrides([override])
    except OverrideParseException as exc:
        raise SweepError(f"-S {text!r}: {hydra_reason(str(exc))} (grammar: {GRAMMAR})") from None


def hydra_reason(message: str) -> str:
    """The line of a Hydra parse error that says what is wrong."""
    lines = [ln for ln in message.splitlines() if ln.strip() and not ln.startswith("See ")]
    detail = [ln for ln in lines if not ln.startswith("Error parsing override")]
    return (detail or lines or ["not KEY=VALUE"])[0].strip()


def check_repeated(path_overrides: dict[str, list[str]]) -> None:
    """A key given twice: Hydra would keep the last one without a word."""
    from dvc.utils.hydra import to_hydra_overrides

    for path, overrides in path_overrides.items():
        seen: set[str] = set()
        for parsed in to_hydra_overrides(overrides):
            key = parsed.key_or_group
            if key in seen:
                where = "" if path == PARAMS_FILE else f"{path}:"
                raise SweepError(f"-S: {where}{key} is given twice; list its values once: a=1,2")
            seen.add(key)


def _flat(sweep: dict[str, list[str]]) -> list[str]:
    return [o if path == PARAMS_FILE else f"{path}:{o}" for path, ovs in sweep.items() for o in ovs]


def check_prefix(prefix: str) -> str:
    if not NAME_PREFIX.match(prefix) or prefix.endswith((".", ".lock")) or ".." in prefix:
        raise SweepError(
            f"--name {prefix!r}: letters, digits, '.', '_' and '-' only (a git ref name part)"
        )
    return prefix


def names(configs: Sequence[Config], commit: str, prefix: str = PREFIX) -> list[str]:
    """Each configuration's experiment name; two configurations that give the same overrides in
    another order would share one, and are refused."""
    found = [c.name(commit, prefix) for c in configs]
    for i, name in enumerate(found):
        if name in found[:i]:
            other = configs[found.index(name)]
            raise SweepError(f"-S: {configs[i].label!r} repeats {other.label!r}")
    return found
