"""`mlrepro monitor --log DIR`: parse, call `monitor.monitor`, render the table, write the report
and the PNG.

Exit codes: 0 no feature's drift reaches the alert level; 1 a feature's does (`fail`, or `warn`
with `--fail-on warn`): what a scheduled job alerts on; 2 usage or input error (an unknown
revision, a log folder that is missing, a model or its training data not in the local DVC
cache, too few records to measure, a record that does not fit the training data), one line.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlrepro.serving.monitor import Monitoring

HELP = "drift of the inputs a model was served (its request log) against its training data"
DESCRIPTION = (
    "Measures each model feature of the rows the request log DIR (requests.jsonl and its "
    "rotated requests-<stamp>-<seq>.jsonl) records for the model REV names against the "
    "train.parquet that model was trained on (from the local DVC cache, checked against "
    "dvc.lock), with the drift stage's measures, bins and thresholds (params.yaml drift: at "
    "REV). Records of other models are skipped and counted by md5; refused requests are "
    "counted, not measured; fewer records than drift.bins is no measurement. Prints a table; "
    "--report writes every measure, verdict and the window as JSON, --plot the most drifted "
    "features as a PNG. Exit codes: 0 no feature reaches the alert level, 1 a feature does "
    "(fail; warn with --fail-on warn), 2 usage or input error (unknown revision, no log "
    "folder, model not in the cache, too few records)."
)
EXAMPLE = "Example: mlrepro monitor --log logs/ --rev v1 --report monitor.json --plot monitor.png"


def add_commands(nouns: Any) -> None:
    cmd: argparse.ArgumentParser = nouns.add_parser(
        "monitor", help=HELP, description=DESCRIPTION, epilog=EXAMPLE
    )
    cmd.add_argument("--log", required=True, metavar="DIR", help="the request log's folder")
    cmd.add_argument("--rev", default="HEAD", help="the model's revision (default: %(default)s)")
    cmd.add_argument("--report", metavar="FILE.json", help="write the report as JSON")
    cmd.add_argument("--plot", metavar="FILE.png", help="write the most drifted features' PNG")
    cmd.add_argument("--since", metavar="ISO", help="only records at or after this time (UTC)")
    cmd.add_argument(
        "--fail-on",
        choices=("warn", "fail"),
        default="fail",
        help="the feature verdict that exits 1 (default: %(default)s)",
    )
    cmd.set_defaults(func=cmd_monitor)


def cmd_monitor(args: argparse.Namespace) -> int:
    from mlrepro.core.files import write_json
    from mlrepro.pipeline.driftplot import drift_png
    from mlrepro.revisions import open_repo
    from mlrepro.serving.monitor import MonitorError, monitor, parse_time

    try:
        since = None if args.since is None else parse_time(args.since)
    except ValueError:
        raise MonitorError(f"--since: {args.since!r} is not an ISO 8601 time") from None
    with open_repo(Path.cwd()) as repo:
        found = monitor(repo, Path(args.log), args.rev, since=since, fail_on=args.fail_on)
    print(render_text(found))
    try:
        if args.report is not None:
            write_json(args.report, found.as_dict())
        if args.plot is not None:
            drift_png([found.result], found.params.plot_top, args.plot)
    except OSError as exc:  # a full disk is already one line (atomic_path)
        raise MonitorError(f"{exc.filename or args.report}: cannot write: {exc.strerror}") from None
    return found.alert.exit_code


def render_text(found: Monitoring) -> str:
    """The model and the window, the drift table of `mlrepro drift`, then the verdict."""
    from mlrepro.drift.render import render_text as drift_table

    model, selection, alert = found.model, found.selection, found.alert
    window = selection.window(found.since)
    at = "the workspace" if model.commit is None else f"{model.rev} ({model.commit[:7]})"
    hits = ", ".join(alert.features)
    verdict = (
        f"alert: {len(alert.features)} feature(s) at {alert.fail_on} or worse: {hits} (exit 1)"
        if alert.features
        else f"ok: no feature at {alert.fail_on} or worse (worst: {alert.worst})"
    )
    return "\n".join(
        [
            f"model {model.path} (md5 {model.md5}) at {at}, trained on {model.training_path}",
            f"window: {window['first']} to {window['last']}: {window['records']:,} records of "
            f"{selection.read:,} read; skipped: {selection.skipped()}",
            "",
            drift_table(found.result, found.params),
            "",
            verdict,
        ]
    )
