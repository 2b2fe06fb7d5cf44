"""`mlrepro lineage`: parse, call `upstream`, `used_by` or `find`, render.

Exit codes: 0 an answer; 1 nothing found (`--find` of a hash no commit made, `--used-by` of a
snapshot no commit read); 2 usage or input error (unknown revision, snapshot or path).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mlrepro.lineage.commits import Scope
from mlrepro.lineage.upstream import LineageError, Upstream
from mlrepro.revisions import Repository, open_repo

HELP = "what made an artifact, what used a snapshot, who made a hash: from git history alone"
DESCRIPTION = (
    "Answers lineage questions from git history alone (each commit's dvc.lock and the snapshot "
    "manifests), without checking anything out. PATH: the upstream tree of an artifact at "
    "--rev: each stage on the way with its command, params and their values, deps and outs "
    "with their hashes, down to the pinned snapshots (source, take time, content sha256, the "
    "commit that took them). --used-by SOURCE@ID: every commit on every branch and tag and every "
    "DVC experiment whose pipeline read that snapshot, with the models and metrics it made. "
    "--find HASH|FILE: the commits and experiments that made an output (or snapshot) with that "
    "md5 or sha256 (a FILE: both of its hashes), or that brought in a git object id, and since "
    "when. Every answer names its evidence."
)
EXAMPLE = (
    "Example: mlrepro lineage models/model.skops --plot lineage.png "
    "(also: mlrepro lineage --used-by flights@20261123T030448Z; "
    "mlrepro lineage --find prod/model.skops)"
)
FORMATS = ("table", "json", "mermaid")


def add_commands(nouns: Any) -> None:
    cmd: argparse.ArgumentParser = nouns.add_parser(
        "lineage", help=HELP, description=DESCRIPTION, epilog=EXAMPLE
    )
    cmd.add_argument("path", nargs="?", metavar="PATH", help="an output of a stage (or in one)")
    ask = cmd.add_mutually_exclusive_group()
    ask.add_argument("--used-by", metavar="SOURCE@ID", help="who read this snapshot (downstream)")
    ask.add_argument("--find", metavar="HASH|FILE", help="who made something with this hash")
    cmd.add_argument("--rev", help="PATH at this revision (default: HEAD; or 'workspace')")
    cmd.add_argument("--since", metavar="DATE", help="--used-by/--find: commits since (git date)")
    cmd.add_argument("--branch", metavar="B", help="--used-by/--find: one branch (default: all)")
    cmd.add_argument("--format", choices=FORMATS, default="table")
    cmd.add_argument("--metric", action="append", default=[], help="--used-by: a column (repeat)")
    cmd.add_argument("--plot", metavar="PNG", help="PATH: also draw the graph as a PNG")
    cmd.add_argument("--openlineage", metavar="FILE", help="PATH: also write OpenLineage events")
    cmd.add_argument("--namespace", help="--openlineage: the job namespace (default: the repo)")
    cmd.set_defaults(func=cmd_lineage, parser=cmd)


def cmd_lineage(args: argparse.Namespace) -> int:
    _check_usage(args)
    with open_repo(Path.cwd()) as repo:
        if args.used_by:
            return _used_by(repo, args)
        if args.find:
            return _find(repo, args)
        return _upstream(repo, args)


def _check_usage(args: argparse.Namespace) -> None:
    parser: argparse.ArgumentParser = args.parser
    asks = [bool(args.path), bool(args.used_by), bool(args.find)]
    if sum(asks) != 1:
        parser.error("give one of PATH, --used-by SOURCE@ID or --find HASH|FILE")
    history = {"--since": args.since, "--branch": args.branch}
    upstream_only = {"--rev": args.rev, "--plot": args.plot, "--openlineage": args.openlineage}
    wrong = [k for k, v in (history if args.path else upstream_only).items() if v]
    if args.path and args.metric:
        wrong.append("--metric")
    if not args.path and args.format == "mermaid":
        wrong.append("--format mermaid")
    if wrong:
        asked = "PATH" if args.path else ("--used-by" if args.used_by else "--find")
        parser.error(f"{', '.join(wrong)}: not with {asked}")


def _upstream(repo: Repository, args: argparse.Namespace) -> int:
    from mlrepro.lineage import render
    from mlrepro.lineage.upstream import upstream

    lineage = upstream(repo, repo_path(repo, args.path), args.rev or "HEAD")
    if args.format == "mermaid":
        from mlrepro.lineage.graph import mermaid

        sys.stdout.write(mermaid(lineage.graph(), title=_title(lineage)))
    else:
        text = render.to_json(lineage) if args.format == "json" else render.upstream_text(lineage)
        sys.stdout.write(text)
    if args.plot:
        from mlrepro.lineage.graph import draw

        draw(lineage.graph(), Path(args.plot), title=_title(lineage))
        print(f"wrote {args.plot}", file=sys.stderr)
    if args.openlineage:
        _write_openlineage(repo, lineage, args)
    return 0


def _write_openlineage(repo: Repository, lineage: Upstream, args: argparse.Namespace) -> None:
    from mlrepro.lineage.openlineage import run_events, write_events

    url = origin_url(repo)
    namespace = args.namespace or url or repo.root.name
    when = commit_time(repo, lineage)
    events = run_events(lineage, commit_time=when, namespace=namespace, repo_url=web_url(url))
    write_events(Path(args.openlineage), events)
    print(f"wrote {args.openlineage}: {len(events)} OpenLineage run events", file=sys.stderr)


def _used_by(repo: Repository, args: argparse.Namespace) -> int:
    from mlrepro.lineage import render
    from mlrepro.lineage.usedby import used_by

    result = used_by(repo, args.used_by, Scope(args.branch, args.since))
    if args.format == "json":
        sys.stdout.write(render.to_json(result))
    else:
        sys.stdout.write(render.used_by_text(result, args.metric or default_metrics(repo, result)))
    return 0 if result.uses else 1


def _find(repo: Repository, args: argparse.Namespace) -> int:
    from mlrepro.lineage import render
    from mlrepro.lineage.find import find, query

    result = find(repo, query(args.find), Scope(args.branch, args.since))
    sys.stdout.write(render.to_json(result) if args.format == "json" else render.found_text(result))
    return 0 if result.matches else 1


def repo_path(repo: Repository, path: str) -> str:
    """`path` (relative to the current folder) relative to the repository's top folder."""
    full = (Path.cwd() / path).resolve()
    try:
        return full.relative_to(repo.root.resolve()).as_posix()
    except ValueError:
        raise LineageError(f"{path}: outside the repository at {repo.root}") from None


def default_metrics(repo: Repository, result: Any) -> list[str]:
    """The exactly named metrics the repo's gates.yaml gates, among those the commits scored
    (at most 3)."""
    from mlrepro.diff.gates import GATES_FILE, load_gates

    gates = load_gates(repo.root / GATES_FILE) or ()
    seen = {key for use in result.uses for values in use.metrics.values() for key in values}
    exact = [g.pattern for g in gates if g.gate and not set("*?[") & set(g.pattern)]
    return [key for key in exact if key in seen][:3]


def origin_url(repo: Repository) -> str | None:
    """The `origin` remote's URL, if there is one."""
    url = repo.git("remote", "get-url", "origin")
    return url.stdout.strip() or None if url.returncode == 0 else None


def web_url(url: str | None) -> str | None:
    """An http(s) address for a remote URL (`git@host:o/r.git` -> `https://host/o/r`), for links
    to files at a commit; None for a local path or another kind of URL."""
    if url is None:
        return None
    if url.startswith("git@") and ":" in url:
        host, _, path = url.removeprefix("git@").partition(":")
        url = f"https://{host}/{path}"
    if not url.startswith(("https://", "http://")):
        return None
    return url.removesuffix("/").removesuffix(".git")


def commit_time(repo: Repository, lineage: Upstream) -> int:
    """The revision's committer time; in the workspace, dvc.lock's modification time."""
    if lineage.commit is None:
        return int((repo.root / "dvc.lock").stat().st_mtime)
    return int(repo.git("show", "-s", "--format=%ct", lineage.commit).stdout.strip())


def _title(lineage: Upstream) -> str:
    at = lineage.rev if lineage.commit is None else f"{lineage.rev} ({lineage.commit[:7]})"
    return f"{lineage.target} at {at}"
