"""`mlrepro predict`: parse, load the revision's model, predict, write.

Exit codes: 0 written; 2 usage or input error (unknown revision, an input row the SERVING schema
refuses, a model not in the local DVC cache), with one line naming what and where.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from mlrepro.core.errors import DataError
from mlrepro.revisions import open_repo

HELP = "predictions for raw rows with the model a revision names, checked against SERVING"
DESCRIPTION = (
    "Predicts for raw rows of the main source (for flights: carrier, origin, dest, time_hour, "
    "tailnum, ...) with the model the revision's dvc.lock names, loaded from the local DVC cache "
    "after its md5 matches. Each row is typed and checked against the SERVING view of the "
    "schema, joined against the tables that revision's featurize read, and scored; the label is "
    "probability >= evaluate.threshold. Output rows keep the input's key columns. A CSV or JSON "
    "Lines output gets FILE.provenance.json beside it (model md5, commit, snapshots); Parquet "
    "keeps it in its metadata. Without --output: CSV on stdout, the provenance on stderr."
)
EXAMPLE = "Example: mlrepro predict --input new_flights.csv --rev v1 --output predictions.parquet"


def add_commands(nouns: Any) -> None:
    cmd: argparse.ArgumentParser = nouns.add_parser(
        "predict", help=HELP, description=DESCRIPTION, epilog=EXAMPLE
    )
    cmd.add_argument("--input", required=True, metavar="FILE", help=".csv or .parquet")
    cmd.add_argument("--rev", default="HEAD", help="default: %(default)s; or 'workspace'")
    cmd.add_argument("--output", metavar="FILE", help=".csv, .parquet or .jsonl")
    cmd.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    from mlrepro.serving.output import to_csv, write_predictions
    from mlrepro.serving.predict import predict, read_input
    from mlrepro.serving.served import load_served

    source = Path(args.input)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise DataError(f"{source}: cannot read: {exc.strerror}") from None
    raw = read_input(data, str(source))
    with open_repo(Path.cwd()) as repo:
        served = load_served(repo, args.rev)
    predictions = predict(served, raw, where=str(source))
    digest = hashlib.sha256(data).hexdigest()  # not its path: the bytes must not depend on it
    provenance = {**served.provenance(), "input": {"sha256": digest, "rows": len(raw)}}
    if args.output is None:
        sys.stdout.write(to_csv(predictions.frame))
        print(f"provenance: {json.dumps(provenance, sort_keys=True)}", file=sys.stderr)
        return 0
    written = write_predictions(predictions.frame, Path(args.output), provenance)
    shown = " and ".join(str(p) for p in written)
    print(f"predict: {len(predictions.frame)} rows -> {shown}", file=sys.stderr)
    return 0
