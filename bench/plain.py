"""The pipeline's work with no DVC: every stage's `_run` in one Python process, in dvc.yaml order.

Each call gets exactly the arguments its dvc.yaml `cmd` passes: the command is read from dvc.yaml,
`${paths.*}` is filled from dvc.yaml `vars[0]`, and its `--name value` pairs become the Namespace.
No path is declared here. Run from a repository root, like `dvc repro`:

    .venv/bin/python bench/plain.py
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import yaml

VAR = re.compile(r"\$\{([\w.]+)\}")


def lookup(variables: dict[str, Any], dotted: str) -> str:
    value: Any = variables
    for key in dotted.split("."):
        value = value[key]
    return str(value)


def commands(dvc_yaml: dict[str, Any]) -> dict[str, str]:
    """Each stage's `cmd`, in dvc.yaml order, with `${...}` filled from `vars[0]`."""
    variables = dvc_yaml["vars"][0]

    def fill(match: re.Match[str]) -> str:
        return lookup(variables, match.group(1))

    return {name: VAR.sub(fill, stage["cmd"]) for name, stage in dvc_yaml["stages"].items()}


def stage_call(cmd: str) -> tuple[str, argparse.Namespace]:
    """`PYTHONPATH=src python -m <module> --a x --b y` -> (module, Namespace(a=x, b=y)).

    PYTHONPATH entries go to the front of sys.path, as the variable would put them."""
    words = shlex.split(cmd)
    at = words.index("-m")
    for word in words[:at]:
        name, equals, value = word.partition("=")
        if equals and name != "PYTHONPATH":
            raise ValueError(f"dvc.yaml: unexpected variable {name!r} in {cmd!r}")
        for entry in reversed(value.split(os.pathsep) if equals else []):
            if str(Path(entry).resolve()) not in sys.path:
                sys.path.insert(0, str(Path(entry).resolve()))
    module, options = words[at + 1], words[at + 2 :]
    if len(options) % 2 or not all(o.startswith("--") for o in options[::2]):
        raise ValueError(f"dvc.yaml: expected --name value pairs in {cmd!r}")
    pairs = {o[2:].replace("-", "_"): v for o, v in zip(options[::2], options[1::2], strict=True)}
    return module, argparse.Namespace(**pairs)


def main() -> int:
    dvc_yaml = yaml.safe_load(Path("dvc.yaml").read_text(encoding="utf-8"))
    for name, cmd in commands(dvc_yaml).items():
        start = time.perf_counter()
        module, args = stage_call(cmd)
        importlib.import_module(module)._run(args)
        print(f"plain: {name} done in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
