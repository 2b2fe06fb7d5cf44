"""Benchmark `mlrepro verify HEAD` and `mlrepro verify HEAD --vary` against a cold `dvc repro` in
a fresh clone, one run each, side by side on the same machine. Goals: verify at most 1.15x the
cold repro, `--vary` (two runs under varied environments) at most 2.3x.

The cold repro works in a fresh `git clone` of HEAD (no outputs, empty DVC cache: ingest restores
the pinned snapshots from their sources). verify runs in this repository, as a user would: it
reads the pinned snapshots from the local DVC cache and re-runs every stage in its own clean
checkout. Writes bench/VERIFY_RESULTS.md. Example:

    .venv/bin/python bench/verify.py --output bench/VERIFY_RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from pipeline import LOGS, ROOT, Measurement, git, machine, measure, scratch

GOALS = {"verify": 1.15, "vary": 2.3}
COMMAND = " ".join([".venv/bin/python", *map(shlex.quote, sys.argv)])


def cold_repro(tmp: Path) -> Measurement:
    clone = tmp / "clone"
    git("clone", "--quiet", str(ROOT), str(clone))
    return measure(["dvc", "repro"], clone, LOGS / "verify-cold-repro.log")


def verify(*args: str) -> tuple[Measurement, dict[str, object]]:
    log = LOGS / f"verify{'-'.join(('', *args)).replace('--', '')}.log"
    taken = measure(["mlrepro", "verify", "HEAD", "--json", *args], ROOT, log)
    return taken, json.loads(log.read_text())


def render(rows: dict[str, Measurement], identical: dict[str, bool], info: dict[str, str]) -> str:
    cold = rows["cold"]
    lines = [
        "# Benchmark: `mlrepro verify` against a cold `dvc repro`",
        "",
        f"Command: `{COMMAND}`",
        "",
        *(f"- {key}: {value}" for key, value in info.items()),
        "",
        "One run each, side by side. Cold repro: a fresh `git clone` of HEAD, `dvc repro` (empty "
        "cache; the snapshots are restored from their sources). verify: in this repository, "
        "every stage re-run in a clean temporary checkout, snapshots from the local cache.",
        "",
        "| what | wall (s) | CPU (s) | peak memory (MiB) | wall / cold repro | goal | result |",
        "|---|--:|--:|--:|--:|--:|---|",
        f"| `dvc repro`, cold, fresh clone | {cold.wall:.1f} | {cold.cpu:.1f} | {cold.rss:.0f} "
        "| 1.00 | | |",
    ]
    names = {"verify": "`mlrepro verify HEAD`", "vary": "`mlrepro verify HEAD --vary`"}
    for key, label in names.items():
        m, ratio = rows[key], rows[key].wall / cold.wall
        verdict = "holds" if ratio <= GOALS[key] else "does not hold"
        same = "every output identical" if identical[key] else "OUTPUTS DIFFER"
        lines.append(
            f"| {label} | {m.wall:.1f} | {m.cpu:.1f} | {m.rss:.0f} | {ratio:.2f} "
            f"| {GOALS[key]} | {verdict}; {same} |"
        )
    lines += [
        "",
        "`--vary` runs its two checkouts at the same time (each stage pinned to one thread), so "
        "on two or more cores it costs little more than one run; on one core it costs about two. "
        "Peak memory is the largest single process.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "VERIFY_RESULTS.md")
    args = parser.parse_args()
    info = machine(git("rev-parse", "HEAD").strip())
    rows, identical = {}, {}
    with scratch("mlrepro-bench-verify-") as tmp:
        rows["cold"] = cold_repro(tmp)
    for key, extra in (("verify", ()), ("vary", ("--vary",))):
        rows[key], result = verify(*extra)
        identical[key] = bool(result["identical"])
        print(f"{key}: {rows[key].wall:.1f} s", flush=True)
    info["load average (1 min) at end"] = f"{os.getloadavg()[0]:.2f}"
    report = render(rows, identical, info)
    args.output.write_text(report)
    print(report)
    return 0 if all(identical.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
