"""A fresh clone of HEAD under each varied environment runs `dvc repro`; its dvc.lock and every
git-tracked output must equal the committed ones. Writes bench/ENVIRONMENTS_RESULTS.md.

    python bench/environments.py [--output bench/ENVIRONMENTS_RESULTS.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from pipeline import scratch

PROJECT = Path(__file__).resolve().parents[1]

# name -> (extra environment variables, umask, folder name of the clone)
VARIANTS: dict[str, tuple[dict[str, str], int, str]] = {
    "OMP_NUM_THREADS=1": ({"OMP_NUM_THREADS": "1"}, 0o022, "clone"),
    "OMP_NUM_THREADS=3": ({"OMP_NUM_THREADS": "3"}, 0o022, "clone"),
    "TZ=Asia/Seoul": ({"TZ": "Asia/Seoul"}, 0o022, "clone"),
    "LC_ALL=C": ({"LC_ALL": "C"}, 0o022, "clone"),
    "umask 077": ({}, 0o077, "clone"),
    "path with a space": ({}, 0o022, "a clone with spaces"),
}


def run_variant(extra: dict[str, str], umask: int, folder: str) -> tuple[bool, float, str]:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", **extra}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.pop("PYTHONPATH", None)
    with scratch("mlrepro-env-") as tmp:
        clone = tmp / folder
        subprocess.run(["git", "clone", "-q", str(PROJECT), str(clone)], check=True, env=env)
        start = time.perf_counter()
        result = subprocess.run(
            ["bash", "-c", f"umask {umask:03o} && exec dvc repro"],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        if result.returncode != 0:
            return False, wall, result.stderr.strip().splitlines()[-1]
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, env=env
        ).stdout.strip()
        return status == "", wall, status.replace("\n", "; ") or "dvc.lock identical"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(PROJECT / "bench" / "ENVIRONMENTS_RESULTS.md"))
    args = parser.parse_args()
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT, capture_output=True, text=True
    ).stdout.strip()
    lines = [
        "# A fresh clone under varied environments",
        "",
        f"`python bench/environments.py` on commit {head}: {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} cores. Each row: a fresh `git clone` of HEAD "
        "(no DVC cache; ingest restores the pinned snapshots from their sources), `dvc repro`, "
        "then `git status`: identical when dvc.lock and every git-tracked output are unchanged.",
        "",
        "| environment | result | dvc repro wall (s) | detail |",
        "|---|---|--:|---|",
    ]
    ok = True
    for name, (extra, umask, folder) in VARIANTS.items():
        same, wall, detail = run_variant(extra, umask, folder)
        ok &= same
        lines.append(f"| {name} | {'identical' if same else 'DIFFERS'} | {wall:.1f} | {detail} |")
        print(lines[-1], flush=True)
    Path(args.output).write_text("\n".join(lines) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
