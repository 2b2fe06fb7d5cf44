"""Time the leakage stage's checks on the real parts of this checkout (data/split, data/featurize:
run `dvc repro featurize` first), and the whole stage as DVC runs it (a Python process: imports
included). Also the acceptance case: `dep_delay` put back as a feature, scored on the full data.

    python bench/leakage.py --runs 5      # writes bench/LEAKAGE_RESULTS.md

The issue's budget: all data checks add at most 3 s, and at most 15% of a cold `dvc repro`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mlrepro.core.files import read_parquet, sha256_file  # noqa: E402
from mlrepro.core.params import PARTS, load_params  # noqa: E402
from mlrepro.pipeline.independence import check_independence  # noqa: E402
from mlrepro.pipeline.leakage import label_proxies, overlap, temporal  # noqa: E402
from mlrepro.stages.leakage import pipeline_stages, project_sources  # noqa: E402

SPLIT, FEATURIZE = "data/split", "data/featurize"


def cpu() -> float:
    """CPU seconds (user + system) of this process and of its finished children."""
    own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(runs: int, step: Callable[[], Any]) -> tuple[tuple[float, float], Any]:
    """The median wall and CPU seconds of `runs` calls, and the last result. CPU time is the
    figure to trust on a busy machine: wall time there includes waiting for a core."""
    walls, cpus, result = [], [], None
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), cpu()
        result = step()
        walls.append(time.perf_counter() - start)
        cpus.append(cpu() - start_cpu)
    return (statistics.median(walls), statistics.median(cpus)), result


def with_dep_delay(train: Any, split_train: Any, target: str) -> Any:
    """The train features plus the split part's dep_delay, row for row (featurize keeps the
    split's order and drops the rows without a target)."""
    kept = split_train[split_train[target].notna()].reset_index(drop=True)
    return train.assign(dep_delay=kept["dep_delay"].to_numpy())


def measure(runs: int) -> dict[str, Any]:
    params = load_params()
    spec, leak = params.featurize, params.leakage
    key = params.ingest.source(params.ingest.main).key
    read_s, (parts, features) = timed(
        runs,
        lambda: (
            {p: read_parquet(f"{SPLIT}/{p}.parquet") for p in PARTS},
            {p: read_parquet(f"{FEATURIZE}/{p}.parquet") for p in ("train", "test")},
        ),
    )
    columns = [*spec.features, spec.label]
    steps: dict[str, Callable[[], Any]] = {
        "label proxy": lambda: label_proxies(features["train"], spec, leak, params.seed),
        "temporal": lambda: temporal(parts, params.split.time_column, spec.joins),
        "overlap": lambda: overlap(features, parts, columns, key, leak.overlap_max),
        "fit only on train": lambda: check_independence(
            (stages := pipeline_stages()), project_sources(stages), [SPLIT, FEATURIZE]
        ),
        "test part sha256": lambda: sha256_file(f"{SPLIT}/test.parquet"),
    }
    seconds = {name: timed(runs, step)[0] for name, step in steps.items()}
    leaky = dataclasses.replace(spec, numeric=(*spec.numeric, "dep_delay"))
    train = with_dep_delay(features["train"], parts["train"], spec.target_column)
    proxies = label_proxies(train, leaky, leak, params.seed)
    return {
        "read": read_s,
        "seconds": seconds,
        "stage": stage_seconds(runs),
        "dep_delay": next(p for p in proxies if p.feature == "dep_delay"),
        "top": [p for p in proxies if p.feature != "dep_delay"][:3],
        "rows": {p: len(f) for p, f in features.items()},
    }


def stage_seconds(runs: int) -> tuple[float, float]:
    """`python -m mlrepro.stages.leakage` as dvc.yaml runs it, outputs in a temporary folder."""
    env = {**os.environ, "PYTHONPATH": "src"}
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "mlrepro.stages.leakage", "--split", SPLIT]
        argv += ["--data", FEATURIZE, "--report", f"{tmp}/l.json", "--metrics", f"{tmp}/m.json"]
        argv += ["--passed", f"{tmp}/p.json"]
        run = lambda: subprocess.run(argv, cwd=ROOT, env=env, check=True, capture_output=True)  # noqa: E731
        return timed(runs, run)[0]


def render(result: dict[str, Any], runs: int) -> str:
    wall = sum(w for w, _ in result["seconds"].values())
    used = sum(c for _, c in result["seconds"].values())
    lines = [
        "# Leakage checks: cost on the full data",
        "",
        f"`python bench/leakage.py --runs {runs}`: median of {runs} runs, on "
        f"{platform.machine()} with {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"train {result['rows']['train']:,} rows, test {result['rows']['test']:,}; load average "
        f"{os.getloadavg()[0]:.1f} when it ended.",
        "",
        "| step | wall (s) | CPU (s) |",
        "|---|--:|--:|",
        *(f"| {name} | {w:.3f} | {c:.3f} |" for name, (w, c) in result["seconds"].items()),
        f"| **all checks** (the pure functions) | **{wall:.3f}** | **{used:.3f}** |",
        "| reading the five Parquet parts | {:.3f} | {:.3f} |".format(*result["read"]),
        "| the whole stage process (`python -m mlrepro.stages.leakage`, imports included) "
        "| {:.3f} | {:.3f} |".format(*result["stage"]),
        "",
        f"Acceptance: `dep_delay` as a feature scores ROC AUC {result['dep_delay'].auc} on train "
        f"(verdict {result['dep_delay'].verdict}); the highest model features: "
        + ", ".join(f"{p.feature} {p.auc}" for p in result["top"])
        + ".",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "bench" / "LEAKAGE_RESULTS.md"))
    args = parser.parse_args()
    os.chdir(ROOT)
    text = render(measure(args.runs), args.runs)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
