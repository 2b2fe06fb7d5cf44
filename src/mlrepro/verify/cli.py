"""`mlrepro verify [REV]`: parse, call `core.verify`, render the result as text or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mlrepro.verify.environments import ASPECTS

SHOWN = 8  # changes printed per output on the terminal (--json has them all)

DESCRIPTION = (
    "Re-run REV (default HEAD) from scratch in a clean temporary checkout, with no run-cache and "
    "no stage output (every stage really runs) and the pinned snapshots taken from the local "
    "cache, a DVC remote or their sources (exact hash), and compare every output hash with REV's "
    "dvc.lock. For a JSON file that differs it shows the keys that changed; for a model file, "
    "whether it predicts the same on the valid part. Your work tree, index and DVC cache are "
    "never touched. Exit codes: 0 every output identical, 1 an output differs or a stage failed, "
    "2 usage or input error."
)


def add_commands(nouns: Any) -> None:
    cmd = nouns.add_parser(
        "verify",
        help="re-run a commit from scratch and prove every output hash in its dvc.lock",
        description=DESCRIPTION,
        epilog="Example: mlrepro verify HEAD --vary threads,tz,locale,umask",
    )
    cmd.add_argument("rev", nargs="?", default="HEAD", help="commit, tag, branch or experiment")
    cmd.add_argument(
        "--vary",
        nargs="?",
        const="all",
        metavar="ASPECTS",
        help=(
            "run twice under environments that differ in these aspects (comma-separated; "
            f"default all: {','.join(ASPECTS)}) and compare the runs with each other and the lock"
        ),
    )
    cmd.add_argument("--stage", metavar="NAME", help="verify one stage from its locked inputs")
    cmd.add_argument("--keep", action="store_true", help="leave the checkout and name it")
    cmd.add_argument("--json", action="store_true", help="the result as JSON")
    cmd.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    from mlrepro.verify.core import verify
    from mlrepro.verify.environments import parse_aspects

    aspects = parse_aspects(args.vary) if args.vary is not None else ()
    progress = print_progress if sys.stderr.isatty() else None
    if progress:
        print(f"verify: checking out {args.rev} and its pinned snapshots", file=sys.stderr)
    result = verify(
        Path.cwd(), args.rev, aspects=aspects, stage=args.stage, keep=args.keep, progress=progress
    )
    data = result.as_dict()
    print(json.dumps(data, indent=2, sort_keys=True) if args.json else render(data))
    return 0 if result.identical else 1


def print_progress(label: str, stage: str, seconds: float) -> None:
    who = "" if label == "run" else f"{label}: "
    print(f"verify: {who}{stage} ran in {seconds:.1f} s", file=sys.stderr, flush=True)


def render(data: dict[str, Any]) -> str:
    """The terminal text: one line per stage and per output, the changes under a difference."""
    what = f"stage {data['stage']} of " if data["stage"] else ""
    lines = [f"verify {what}{data['rev']} ({data['commit'][:12]})"]
    for snap in data["snapshots"]:
        lines.append(f"snapshot {snap['source']}@{snap['id']}: from the {snap['origin']}")
    lines += [f"note: {note}" for note in data["notes"]]
    for run in data["runs"]:
        env = ", ".join(f"{k}={v}" for k, v in run["environment"].items())
        lines.append(f"{run['run']} against {run['against']} ({env})")
        for stage in run["stages"]:
            lines += render_stage(stage)
    lines.append(summary(data))
    if data["kept"]:
        lines.append(f"kept: {data['kept']} (remove it when done)")
    return "\n".join(lines)


def render_stage(stage: dict[str, Any]) -> list[str]:
    took = "" if stage["seconds"] is None else f" ({stage['seconds']} s)"
    if stage["error"]:
        return [f"  stage {stage['stage']}: FAILED{took}: {stage['error']}"]
    state = "identical" if stage["identical"] else "DIFFERS"
    lines = [f"  stage {stage['stage']}: {state}{took}"]
    for out in stage["outputs"]:
        if out["identical"]:
            lines.append(f"    {out['path']}: identical {out['expected']}")
            continue
        lines.append(
            f"    {out['path']}: differs: expected {out['expected']}, actual {out['actual']}"
        )
        lines += render_changes(out)
    return lines


def render_changes(out: dict[str, Any]) -> list[str]:
    lines = [
        f"      {c['key']}: {_value(c['old'])} -> {_value(c['new'])}"
        for c in out["changes"][:SHOWN]
    ]
    if out["changed"] > SHOWN:
        lines.append(f"      ... {out['changed'] - SHOWN} more (--json lists them)")
    model = out["model"]
    if model is not None and model["same_predictions"]:
        lines.append(
            f"      different bytes, same model: equal predictions on all {model['rows']} rows "
            f"of {model['data']}"
        )
    elif model is not None:
        lines.append(
            f"      different model: predictions differ on {model['differing']} of "
            f"{model['rows']} rows of {model['data']} (max |difference| "
            f"{model['max_difference']:.3g})"
        )
    if out["detail"]:
        lines.append(f"      ({out['detail']})")
    return lines


def _value(value: Any) -> str:
    return "(absent)" if value is None else json.dumps(value)


def summary(data: dict[str, Any]) -> str:
    outputs = [o for r in data["runs"] for s in r["stages"] for o in s["outputs"]]
    failed = [s["stage"] for r in data["runs"] for s in r["stages"] if s["error"]]
    differ = [o for o in outputs if not o["identical"]]
    if data["identical"]:
        return f"result: identical: every output hash matches ({len(outputs)} checks)"
    parts = []
    if differ:
        parts.append(f"{len(differ)} of {len(outputs)} output checks differ")
    if failed:
        parts.append(f"stages failed or not run: {', '.join(dict.fromkeys(failed))}")
    return "result: NOT reproduced: " + "; ".join(parts)
