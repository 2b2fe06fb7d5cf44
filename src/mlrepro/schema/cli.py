"""`mlrepro schema infer`: parse, call `infer_snapshot`, write or print the schema text."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mlrepro.commands import noun
from mlrepro.core.params import PARAMS_FILE


def add_commands(nouns: Any) -> None:
    verb = noun(nouns, "schema", "the schema file: infer a starting schema from a snapshot")
    cmd = verb(
        "infer",
        "write a starting schema for a table from a snapshot, to edit and commit",
        "mlrepro schema infer planes --snapshot latest -o planes.schema.yaml",
    )
    cmd.add_argument("table", help="a source declared in params.yaml ingest.sources")
    cmd.add_argument(
        "--snapshot", metavar="ID", help="snapshot id, unique prefix or latest (default: pinned)"
    )
    cmd.add_argument("-o", "--output", metavar="FILE", help="write here (default: print it)")
    cmd.add_argument("--force", action="store_true", help="replace FILE if it exists")
    cmd.add_argument("--params", default=PARAMS_FILE, help="default: %(default)s")
    cmd.set_defaults(func=cmd_infer)


def cmd_infer(args: argparse.Namespace) -> int:
    from mlrepro.core.errors import MlreproError
    from mlrepro.core.files import atomic_path
    from mlrepro.core.params import load_params
    from mlrepro.schema.infer import infer_snapshot
    from mlrepro.schema.render import render_written, schema_yaml

    out = Path(args.output) if args.output else None
    if out is not None and out.exists() and not args.force:
        raise MlreproError(f"{out}: exists (--force replaces it)")
    inferred = infer_snapshot(load_params(args.params), args.table, args.snapshot, Path.cwd())
    text = schema_yaml(inferred)
    if out is None:
        sys.stdout.write(text)
        return 0
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    print(render_written(inferred, str(out)))
    return 0
