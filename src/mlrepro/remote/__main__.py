"""`python -m mlrepro.remote VERB ...`: the `mlrepro remote` commands on their own."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mlrepro.core.errors import MlreproError
from mlrepro.remote.cli import add_commands


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlrepro")
    add_commands(parser.add_subparsers(dest="noun", metavar="NOUN", required=True))
    args = parser.parse_args(["remote", *(sys.argv[1:] if argv is None else argv)])
    try:
        code: int = args.func(args)
    except MlreproError as exc:
        print(f"mlrepro: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return code


if __name__ == "__main__":
    sys.exit(main())
