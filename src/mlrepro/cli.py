"""The `mlrepro` command: `mlrepro <noun> <verb>`, a thin shell over the library.

Each noun's commands live in the package of the same name (`mlrepro.<noun>.cli`); this module
only assembles them. Each command's help text ends in an example. User errors print one line and
exit non-zero.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from mlrepro import __version__
from mlrepro.core.errors import MlreproError
from mlrepro.diff.cli import add_commands as add_diff_commands
from mlrepro.drift.cli import add_commands as add_drift_commands
from mlrepro.history.cli import add_commands as add_history_commands
from mlrepro.lineage.cli import add_commands as add_lineage_commands
from mlrepro.metrics.cli import add_commands as add_metrics_commands
from mlrepro.params.cli import add_commands as add_params_commands
from mlrepro.remote.cli import add_commands as add_remote_commands
from mlrepro.report.cli import add_commands as add_report_commands
from mlrepro.schema.cli import add_commands as add_schema_commands
from mlrepro.serving.cli import add_commands as add_predict_commands
from mlrepro.serving.monitor_cli import add_commands as add_monitor_commands
from mlrepro.serving.serve_cli import add_commands as add_serve_commands
from mlrepro.snapshot.cli import add_commands as add_snapshot_commands
from mlrepro.sweep.cli import add_commands as add_sweep_commands
from mlrepro.verify.cli import add_commands as add_verify_commands

NOUNS = (
    add_params_commands,
    add_schema_commands,
    add_snapshot_commands,
    add_diff_commands,
    add_drift_commands,
    add_report_commands,
    add_history_commands,
    add_lineage_commands,
    add_predict_commands,
    add_serve_commands,
    add_monitor_commands,
    add_remote_commands,
    add_verify_commands,
    add_sweep_commands,
    add_metrics_commands,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlrepro",
        description="Reproducible machine-learning pipelines on DVC and Git.",
        epilog="Example: mlrepro metrics show",
    )
    parser.add_argument("--version", action="version", version=f"mlrepro {__version__}")
    nouns = parser.add_subparsers(dest="noun", metavar="NOUN", required=True)
    for add_commands in NOUNS:
        add_commands(nouns)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except MlreproError as exc:
        print(f"mlrepro: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:  # Ctrl-C: the command has cleaned up after itself
        print("mlrepro: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps Python's exit-time flush quiet
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
