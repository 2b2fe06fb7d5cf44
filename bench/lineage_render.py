"""The Markdown report of bench/lineage.py, and the goals (issue 13) it judges against.

`render` turns what `one_size` returns for each size (a dict of timings, the repo's plan, the
questions and the library's answers) into text; nothing here runs or times anything.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from history import verdict
from lineage_repos import PIN_EVERY, Plan
from pipeline import COMMAND

from mlrepro.lineage.find import Found
from mlrepro.lineage.usedby import UsedBy

if TYPE_CHECKING:  # bench/lineage.py is the script that imports this module
    from lineage import Questions, Timing

LIB_GOAL, CLI_GOAL, DVC_GOAL = 1.0, 3.0, 10.0
HISTORY_LIB, HISTORY_CLI = "mlrepro history (library)", "mlrepro history -n all --format json"
HISTORY_HARNESS = "mlrepro history: `python -c` harness with only the history noun"


def library_hits(result: UsedBy | Found) -> set[str]:
    if isinstance(result, UsedBy):
        return {u.commit.sha for u in result.uses}
    return {c.sha for m in result.matches for c in m.commits}


def found(result: UsedBy | Found) -> str:
    if isinstance(result, UsedBy):
        return f"{len(result.uses)} of {result.scanned} commits"
    paths = ", ".join(f"{m.path} ({m.kind})" for m in result.matches)
    return f"{len(library_hits(result))} of {result.scanned} commits: {paths or 'nothing'}"


def runs_cell(t: Timing) -> str:
    return ", ".join(f"{w:.3f}" for w in t.walls) or "—"


def secs(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def times(a: float | None, b: float | None) -> str:
    return f"{a / b:,.1f}" if a is not None and b else "—"


def describe(result: dict[str, Any]) -> list[str]:
    p: Plan = result["plan"]
    q: Questions = result["questions"]
    branches = sorted({s.ref for s in p.steps if s.ref.startswith("refs/heads/")})
    snaps = {s.id for step in p.steps for s in step.state.snapshots}
    return [
        f"Repo built with `git fast-import` in {result['build']:.1f} s: {len(p.steps):,} commits "
        f"({len(p.main):,} on main, one a merge; {len(branches) - 1} other branches; "
        f"{len(p.experiments)} experiments), {len(p.tags)} tags, {len(snaps)} snapshots "
        f"(5 copied from this project, one new pin every {PIN_EVERY} commits on main). "
        f"`mlrepro history` reads main's {result['history']:,} first-parent commits; lineage "
        "reads every commit on every ref.",
        "",
        f"- `--used-by flights@{q.snapshot.id}` (pinned a quarter of the way along main, later "
        "replaced)",
        f"- `--find {q.model}` (the model's md5 half-way along main)",
        f"- `--find {q.snapshot.sha256}` (that flights snapshot's content sha256)",
        "",
    ]


def render_size(result: dict[str, Any]) -> list[str]:
    q: Questions = result["questions"]
    lib: dict[str, Timing] = result["lib"]
    history_lib, history_cli, harness = (
        result[k] for k in ("history_lib", "history_cli", "harness")
    )
    lines = [f"## {result['commits']:,} commits", "", *describe(result)]
    lines += [
        "### In this process (library)",
        "",
        "| call | wall (s, median) | CPU (s, median) | runs, wall (s) | found | "
        "/ history (library) |",
        "|---|--:|--:|---|---|--:|",
    ]
    rows = [
        (f"lineage {' '.join(q.argv(k))}", t, found(result["results"][k])) for k, t in lib.items()
    ]
    rows.append((HISTORY_LIB, history_lib, f"{result['history']:,} commits"))
    for label, t, answer in rows:
        lines.append(
            f"| {label} | {secs(t.wall)} | {secs(t.cpu)} | {runs_cell(t)} | {answer} | "
            f"{times(t.wall, history_lib.wall)} |"
        )
    lines += [
        "",
        "### As a subprocess (CLI)",
        "",
        f"| command | wall (s, median) | CPU (s, median) | runs, wall (s) | / `{HISTORY_CLI}` | "
        "/ history harness |",
        "|---|--:|--:|---|--:|--:|",
    ]
    cli = [(HISTORY_CLI, history_cli), (HISTORY_HARNESS, harness), *result["cli"].values()]
    for label, t in cli:
        lines.append(
            f"| {label} | {secs(t.wall)} | {secs(t.cpu)} | {runs_cell(t)} | "
            f"{times(t.wall, history_cli.wall)} | {times(t.wall, harness.wall)} |"
        )
    lines += ["", *dvc_table(result), "", "### Goals", "", *goals(result), ""]
    for question, (wall, own, ours) in result["profiles"].items():
        lines += [
            f"### Profile: lineage {' '.join(q.argv(question))}",
            "",
            f"One call under cProfile: {wall:.2f} s (cProfile slows it). Top {len(own)} functions "
            "by own time, then mlrepro's by cumulative time:",
            "",
            "| function | calls | own (s) | cumulative (s) |",
            "|---|--:|--:|--:|",
            *(f"| `{name}` | {calls:,} | {t:.3f} | {cum:.3f} |" for name, calls, t, cum in own),
            "",
            "| mlrepro function | calls | own (s) | cumulative (s) |",
            "|---|--:|--:|--:|",
            *(f"| `{name}` | {calls:,} | {t:.3f} | {cum:.3f} |" for name, calls, t, cum in ours),
            "",
        ]
    return lines


def dvc_table(result: dict[str, Any]) -> list[str]:
    lines = [
        "### The DVC way",
        "",
        "A script over the same commits (`git rev-list --branches --remotes --tags` and the "
        "`refs/exps` commits) that reads each commit's dvc.lock through DVC, parses it (libyaml, "
        "as the library does) and answers the question; for the sha256, the manifest of each pin "
        "it meets, read once. Its answer is checked against the library's on the commits it read.",
        "",
        "| way | question | commits read | wall (s, median) | CPU (s, median) | runs, wall (s) | "
        "all commits (s) | per commit (ms) | / library | answer |",
        "|---|---|--:|--:|--:|---|--:|--:|--:|---|",
    ]
    for d in result["dvc"]:
        t: Timing = d.timing
        est = "—" if d.estimate is None else f"{d.estimate:.1f}"
        est += "" if d.read == d.total else " (extrapolated)"
        per = "—" if t.wall is None else f"{1000 * t.wall / d.read:.0f}"
        ratio = times(d.estimate, result["lib"][d.question].wall)
        lines.append(
            f"| {d.way} | {d.question} | {d.read:,} of {d.total:,} | {secs(t.wall)} | "
            f"{secs(t.cpu)} | {runs_cell(t)} | {est} | {per} | {ratio} | {d.checked} |"
        )
    dag = result["dag"]
    lines.append(
        f"| `dvc dag` (the workspace only: answers neither question) | — | — | {secs(dag.wall)} | "
        f"{secs(dag.cpu)} | {runs_cell(dag)} | — | — | — | — |"
    )
    return lines


def goals(result: dict[str, Any]) -> list[str]:
    history_cli: Timing = result["history_cli"]
    q: Questions = result["questions"]
    lines = []
    for question, t in result["lib"].items():
        wall = t.wall or 0.0
        lines.append(f"- lineage {' '.join(q.argv(question))}")
        if result["commits"] >= 1000:
            over = "" if wall <= LIB_GOAL else f", {wall / LIB_GOAL:.1f}x the goal"
            ok = verdict(wall <= LIB_GOAL)
            lines.append(
                f"  - library: {wall:.3f} s (CPU {secs(t.cpu)} s), goal <= {LIB_GOAL:.0f} s: "
                f"{ok}{over}"
            )
        _, cli_t = result["cli"][question]
        ratio = (cli_t.wall or 0.0) / (history_cli.wall or 1.0)
        if result["wired"]:
            ok = verdict(ratio <= CLI_GOAL)
            lines.append(f"  - CLI: {ratio:.1f}x `{HISTORY_CLI}`, goal <= {CLI_GOAL:.0f}x: {ok}")
        else:
            lines.append(
                f"  - CLI: not measured, `mlrepro lineage` is not wired yet; the `python -c` "
                f"stand-in is {ratio:.1f}x `{HISTORY_CLI}` (goal for the CLI: <= {CLI_GOAL:.0f}x)"
            )
        for d in result["dvc"]:
            if d.question == question and d.estimate is not None and t.wall:
                fast = d.estimate / t.wall
                how = "" if d.read == d.total else " (extrapolated)"
                ok = verdict(fast >= DVC_GOAL)
                lines.append(
                    f"  - {fast:,.1f}x faster than {d.way}{how}, goal >= {DVC_GOAL:.0f}x: {ok}"
                )
    return lines


def render(results: list[dict[str, Any]], info: dict[str, str], args: argparse.Namespace) -> str:
    sample = (
        f"On a repo of more than {args.dvc_sample} commits, the `dvc.api.read` way reads every "
        f"k-th commit of its list (about {args.dvc_sample}) and its wall is extrapolated linearly "
        "to all commits (marked); the `brancher` way always reads every commit."
        if args.dvc_sample
        else "The DVC way reads every commit."
    )
    return "\n".join(
        [
            "# Benchmark: `mlrepro lineage --used-by` and `--find` against `mlrepro history` and "
            "the DVC way",
            "",
            f"Command: `{COMMAND}`",
            "",
            *(f"- {key}: {value}" for key, value in info.items()),
            "",
            f"Warm page cache, every way in this one run. Each call runs --runs={args.runs} "
            f"times, or once when a run takes over {args.repeat_below:.0f} s; the runs of a table "
            "go in rounds (one run of each call per round), so the changing load of this shared "
            "machine falls on all alike; medians shown. CPU is user + system of the process and "
            "its children (git cat-file, or the subprocess). The library calls open the repo "
            "(`open_repo`) and answer in this process, as the CLI does; subprocesses start a "
            f"fresh Python. {sample} Repos are generated (see bench/lineage.py): this project's "
            "dvc.yaml, params.yaml, dvc.lock, snapshot manifests and reports at HEAD, then commits "
            "that change `train.learning_rate` (new train and evaluate md5s, metrics, model card), "
            "`evaluate.threshold` (every fourth: the model is shared) or a snapshot pin (every out "
            f"gets a new md5). Goals (issue 13): the library <= {LIB_GOAL:.0f} s at 1,000 "
            f"commits; the CLI <= {CLI_GOAL:.0f}x `mlrepro history` on the same repo; >= "
            f"{DVC_GOAL:.0f}x faster than the DVC way.",
            "",
            *(line for r in results for line in render_size(r)),
        ]
    )
