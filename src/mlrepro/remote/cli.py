"""`mlrepro remote add|push|pull|verify`: parse, call the library, render.

Exit codes: 0 fine, 1 damage found (missing or corrupt objects), 2 usage, configuration or
connection error (one line naming the remote, endpoint and bucket); a push stopped by signal N
exits 128 + N (130 for Ctrl-C) after one line saying what it stopped and aborted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mlrepro.commands import noun
from mlrepro.remote.audit import JOBS, verify_remote
from mlrepro.remote.core import add_remote
from mlrepro.remote.render import render_add, render_audit, render_json, render_pull, render_push
from mlrepro.remote.transfer import pull, push


def add_commands(nouns: Any) -> None:
    verb = noun(nouns, "remote", "DVC remote storage on S3: add, push, pull, verify")

    cmd = verb(
        "add",
        "make an S3 bucket the default DVC remote (no credentials in tracked files)",
        "mlrepro remote add s3://mlrepro/dvc --endpoint http://127.0.0.1:5555",
    )
    cmd.add_argument("url", help="s3://BUCKET/PREFIX")
    cmd.add_argument("--endpoint", help="S3 API endpoint URL (default: AWS)")
    cmd.add_argument("--name", default="storage", help="remote name (default: %(default)s)")
    cmd.set_defaults(func=cmd_add)

    cmd = verb("push", "dvc push to a remote that answers, in parallel", "mlrepro remote push")
    cmd.description = (
        "Dvc push to a remote that answers, in parallel. First hashes every local cache object "
        "the push would send and refuses (exit 1, nothing sent) when one is corrupt; a push "
        "stopped by Ctrl-C or SIGTERM stops dvc and aborts the multipart uploads it started."
    )
    _common(cmd)
    cmd.add_argument("--json", action="store_true", help="print JSON")
    cmd.set_defaults(func=cmd_push)

    cmd = verb(
        "pull",
        "dvc pull, then hash every pulled file; remove and report damaged ones",
        "mlrepro remote pull --json",
    )
    _common(cmd)
    cmd.add_argument("--json", action="store_true", help="print JSON")
    cmd.set_defaults(func=cmd_pull)

    cmd = verb(
        "verify",
        "check that every object a revision needs is on the remote with the right content",
        "mlrepro remote verify --rev main --json",
    )
    _common(cmd)
    cmd.add_argument("--rev", help="a git revision (default: the workspace's dvc.lock and .dvc)")
    cmd.add_argument("--json", action="store_true", help="print JSON")
    cmd.set_defaults(func=cmd_verify)


def _common(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("-r", "--remote", help="remote name (default: core.remote)")
    cmd.add_argument(
        "-j", "--jobs", type=int, default=JOBS, help="parallel transfers (%(default)s)"
    )


def cmd_add(args: argparse.Namespace) -> int:
    info = add_remote(Path.cwd(), args.url, endpoint=args.endpoint, name=args.name)
    print(render_add(info))
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    result = push(Path.cwd(), remote=args.remote, jobs=args.jobs)
    if result.warning:
        print(f"mlrepro: warning: {result.warning}", file=sys.stderr)
    print(render_json(result.as_dict()) if args.json else render_push(result))
    return 1 if result.check.problems else 0


def cmd_pull(args: argparse.Namespace) -> int:
    result = pull(Path.cwd(), remote=args.remote, jobs=args.jobs)
    print(render_json(result.as_dict()) if args.json else render_pull(result))
    if result.problems:
        return 1
    return 2 if result.dvc_error else 0


def cmd_verify(args: argparse.Namespace) -> int:
    report = verify_remote(Path.cwd(), args.rev, remote=args.remote, jobs=args.jobs)
    print(render_json(report.as_dict()) if args.json else render_audit(report))
    return 1 if report.problems else 0
