"""Benchmark the drift stage on the full default data (data/featurize/ of this work tree: 244,646
train rows), against the issue's budget for all data checks: at most 3 s, and at most 15% of a
cold `dvc repro`.

Measured, median of --runs:
- in process (`measure`, which another bench can call): read the three parts, profile and
  compare, write the JSON, draw the PNG;
- the stage's command as DVC runs it (`python -m mlrepro.stages.drift ...`, a new process: its
  imports included), and its start-up alone (the command with `--help`).

Outputs go to a temporary folder; nothing in the work tree is written. The cold `dvc repro` it is
compared with is the one bench/pipeline.py measured (its results file), or --repro-seconds.
Example:

    .venv/bin/python bench/drift.py --runs 5 --output bench/DRIFT_RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BUDGET_SECONDS, BUDGET_SHARE = 3.0, 0.15
STAGE = [sys.executable, "-m", "mlrepro.stages.drift"]
IMPORTS = {  # where the start-up goes: a bare process with each set of libraries imported
    "pandas, numpy": "import pandas, numpy",
    "+ scipy.stats, scipy.spatial.distance": "import pandas, scipy.stats, scipy.spatial.distance",
    "+ matplotlib.pyplot": "import pandas, scipy.stats, scipy.spatial.distance, matplotlib.pyplot",
}


def measure(data: Path, out: Path) -> dict[str, float]:
    """Seconds of each step of the stage's body, in this process (libraries already imported)."""
    from mlrepro.core.files import read_parquet, write_json
    from mlrepro.core.params import load_params
    from mlrepro.pipeline.driftplot import drift_png
    from mlrepro.stages.drift import CURRENT, REFERENCE, part_drift, report

    params = load_params(ROOT / "params.yaml")
    times, start = {}, time.perf_counter()
    parts = {p: read_parquet(data / f"{p}.parquet") for p in (REFERENCE, *CURRENT)}
    times["read"], start = time.perf_counter() - start, time.perf_counter()
    results = part_drift(parts, params.featurize, params.drift)
    times["measure"], start = time.perf_counter() - start, time.perf_counter()
    write_json(out / "drift.json", report(results, params.drift))
    times["json"], start = time.perf_counter() - start, time.perf_counter()
    drift_png(results, params.drift.plot_top, out / "drift.png")
    times["png"] = time.perf_counter() - start
    times["total"] = sum(times.values())
    return times


def wall(argv: list[str]) -> float:
    return timed(argv)[0]


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of `argv`, run to its end."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv} failed")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def cold_repro(args: argparse.Namespace) -> tuple[float, str]:
    if args.repro_seconds is not None:
        return args.repro_seconds, "--repro-seconds"
    text = (BENCH / "RESULTS.md").read_text()
    found = re.search(r"\| dvc repro \(cold\) \| ([\d.]+) \|", text)
    if found is None:
        raise SystemExit("bench/RESULTS.md has no cold dvc repro figure: pass --repro-seconds")
    return float(found.group(1)), "bench/RESULTS.md (bench/pipeline.py)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repro-seconds", type=float, help="a cold dvc repro's wall seconds")
    parser.add_argument("--output", type=Path, help="write the results as Markdown here")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    data = ROOT / "data" / "featurize"
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        out = Path(tmp)
        inner = [measure(data, out) for _ in range(args.runs)]
        command = [*STAGE, "--data", str(data), "--report", str(out / "r.json")]
        command += ["--metrics", str(out / "m.json"), "--image", str(out / "r.png")]
        runs = [timed(command) for _ in range(args.runs)]
        stage = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        start = statistics.median(wall([*STAGE, "--help"]) for _ in range(args.runs))
        imports = {
            name: statistics.median(wall([sys.executable, "-c", code]) for _ in range(args.runs))
            for name, code in IMPORTS.items()
        }
    steps = {k: statistics.median(t[k] for t in inner) for k in inner[0]}
    repro, where = cold_repro(args)
    steps |= {f"import {k}": v for k, v in imports.items()}
    text = render(args, steps, (stage, cpu), start, repro, where)
    print(text)
    if args.output:
        args.output.write_text(text)


def render(
    args: argparse.Namespace,
    steps: dict[str, float],
    stage_times: tuple[float, float],
    start: float,
    repro: float,
    where: str,
) -> str:
    stage, cpu = stage_times
    share = stage / repro
    load = os.getloadavg()[0]
    lines = [
        "# Benchmark: the drift stage on the full default data",
        "",
        f"Command: `.venv/bin/python bench/drift.py --runs {args.runs}`",
        "",
        f"- date (UTC): {datetime.now(UTC):%Y-%m-%d %H:%M}",
        f"- CPUs (nproc): {os.cpu_count()}; load average (1 min) at the end: {load:.2f}",
        f"- Python: {platform.python_version()}; data: data/featurize/ of the work tree",
        "",
        f"Median of {args.runs} run(s).",
        "",
        "| what | seconds |",
        "|---|--:|",
        *(f"| {_label(name)} | {value:.2f} |" for name, value in steps.items()),
        f"| stage command, start-up and imports only (`--help`) | {start:.2f} |",
        f"| stage command, whole (what `dvc repro` runs) | {stage:.2f} |",
        f"| stage command, whole: CPU seconds (user + system) | {cpu:.2f} |",
        f"| cold `dvc repro`, whole pipeline ({where}) | {repro:.1f} |",
        "",
        f"**The drift stage takes {stage:.2f} s, {share:.1%} of a cold `dvc repro` "
        f"({repro:.1f} s). Budget for all checks together: {BUDGET_SECONDS:g} s and "
        f"{BUDGET_SHARE:.0%}.**",
        "",
    ]
    return "\n".join(lines)


def _label(step: str) -> str:
    if step.startswith("import "):
        return f"a new process that imports {step.removeprefix('import ')}"
    return f"in process: {step}"


if __name__ == "__main__":
    main()
