"""The thin shell every stage's `main()` runs in: parse paths, run, and on a user-facing error
print one line, remove the stage's partial outputs and exit non-zero."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from mlrepro.core.errors import MlreproError
from mlrepro.core.files import remove_outputs


def run_stage(
    name: str,
    body: Callable[[argparse.Namespace], None],
    argv: Sequence[str] | None,
    *,
    inputs: Sequence[str],
    outputs: Sequence[str],
) -> int:
    """Parse `--<input>` / `--<output>` paths, call `body(args)`; MlreproError -> one line."""
    parser = argparse.ArgumentParser(prog=f"python -m mlrepro.stages.{name}")
    for option in [*inputs, *outputs]:
        parser.add_argument(f"--{option}", required=True)
    args = parser.parse_args(argv)
    try:
        body(args)
    except MlreproError as exc:
        remove_outputs(*(getattr(args, o.replace("-", "_")) for o in outputs))
        print(f"mlrepro {name}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        remove_outputs(*(getattr(args, o.replace("-", "_")) for o in outputs))
        return 130
    return 0
