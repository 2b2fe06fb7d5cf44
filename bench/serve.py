"""Issue 14's speed goals for `mlrepro predict` and `mlrepro serve`, side by side in one run, on
the full-data model of this work tree's HEAD (its dvc.lock; the model and tables from the local
DVC cache, read only).

- batch: the raw rows of the test month (November 2013, by `time_hour` in UTC, from the pinned
  flights snapshot; every cell as its text, as `mlrepro predict` reads a CSV) through `predict()`
  after `load_served(repo, "HEAD")`, against the fitted Pipeline's `predict_proba` on the
  already-featurized rows (`Predictions.features`), both under the revision's thread limit;
  median of --runs. Goals: >= 100,000 rows/s, <= 2x the Pipeline alone. Also the
  `mlrepro predict` CLI end to end (start-up, loading, reading, writing Parquet).
- serve: each server is a subprocess (`mlrepro serve --port 0 --log <tmp>`, or the minimal
  handler of bench/serve_minimal.py: the same model, no validation, featurized rows in; with
  `--empty`, no model at all: HTTP alone), found by its listening line; --clients threads in
  this process, each with one keep-alive `http.client` connection, send single-row JSON
  requests (rows of the test month, cycled, each client from its own offset) one after another
  for --seconds (after --warmup seconds not counted; 10 s timeout a request). Latency is from
  sending a request to reading its whole answer. Every answer is checked: a failure is an
  exception or a status other than 200; a mismatch is a probability other than the batch's for
  that row (compared exactly). Server CPU is user + system of its process over the measured
  window. The servers' runs go in rounds (one run of each per round), so the changing load of
  this shared machine falls on all alike. Goals: p99 <= 50 ms, no failed request.
- where the time goes: `predict()` in this process on 1, 16 and 256 rows and the whole month, and
  its steps.

Example:

    .venv/bin/python bench/serve.py --seconds 30 --clients 16 --runs 3 \
        --output bench/SERVE_RESULTS.md
"""

from __future__ import annotations

import argparse
import http.client
import importlib.metadata
import io
import json
import os
import platform
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
MONTH = "2013-11"  # the test month: split.test_start is 2013-11-01
ROWS_GOAL, RATIO_GOAL, P99_GOAL_MS = 100_000, 2.0, 50.0
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+) ")
TIMEOUT = 10.0  # seconds a request may take before it counts as failed
SERVE = ["-m", "mlrepro.cli", "serve"]
EMPTY = "empty handler (HTTP alone, no model)"
VARIANTS = {  # name -> the server's command line (after the interpreter); featurized rows in?
    "serve": (SERVE, False),
    "serve --batch-wait 0": ([*SERVE, "--batch-wait", "0"], False),
    "serve --workers 2": ([*SERVE, "--workers", "2"], False),
    "serve --max-batch 1 --workers 2 (no batching: as before)": (
        [*SERVE, "--max-batch", "1", "--workers", "2"],
        False,
    ),
    "minimal handler (no validation)": ([str(BENCH / "serve_minimal.py")], True),
    EMPTY: ([str(BENCH / "serve_minimal.py"), "--empty"], True),
}
COMPARED = {  # the serve variants set against the minimal handler, and what the ratio shows
    "serve": "the checks, batched",
    "serve --max-batch 1 --workers 2 (no batching: as before)": "the checks, each row alone",
}
PACKAGES = ("pandas", "pandera", "scikit-learn", "numpy", "pyarrow", "starlette", "uvicorn", "h11")


# -- batch


@dataclass
class Month:
    csv: bytes  # the month's raw rows as a CSV file
    raw: Any  # the same, read as `mlrepro predict` reads it (every cell as text)
    bodies: list[bytes]  # one JSON row per raw row, as a client sends it
    featurized: list[bytes]  # the row's features as JSON (the minimal handler's input)
    probabilities: list[float]  # what batch predict gives each row
    rows_in_snapshot: int = 0


def read_month(served: Any) -> Month:
    """The test month's rows of the pinned flights snapshot, and what batch predict gives them."""
    import pandas as pd

    from mlrepro.serving.predict import output_records, predict, read_input
    from mlrepro.serving.requestlog import plain

    pin = served.params.ingest.pins[served.params.ingest.main]
    [path] = (ROOT / "data" / "snapshots" / served.params.ingest.main / pin).glob("*.csv*")
    everything = pd.read_csv(path, dtype=str, keep_default_na=False)
    month = everything[everything["time_hour"].str.startswith(MONTH)].reset_index(drop=True)
    buffer = io.StringIO()
    month.to_csv(buffer, index=False)
    csv = buffer.getvalue().encode()
    raw = read_input(csv, "month.csv")
    predictions = predict(served, raw)
    probabilities = predictions.frame["probability"].tolist()
    featurized = [json.dumps(plain(r)).encode() for r in output_records(predictions.features)]
    bodies = [json.dumps(as_json(r)).encode() for r in month.to_dict(orient="records")]
    return Month(csv, raw, bodies, featurized, probabilities, len(everything))


def as_json(row: dict[str, str]) -> dict[str, Any]:
    """A raw text row as a client sends it: numbers as numbers, NA and empty as null."""
    out: dict[str, Any] = {}
    for key, text in row.items():
        value: Any = text
        if text in ("", "NA"):
            value = None
        elif re.fullmatch(r"-?\d+", text):
            value = int(text)
        elif re.fullmatch(r"-?\d+\.\d*", text):
            value = float(text)
        out[key] = value
    return out


def median_seconds(call: Callable[[], Any], runs: int) -> tuple[float, list[float]]:
    call()  # warm
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def batch(served: Any, month: Month, runs: int, tmp: Path) -> dict[str, Any]:
    """predict() on the month against the Pipeline alone, and the CLI end to end."""
    from mlrepro.core.threads import pinned_threads
    from mlrepro.serving.predict import predict, read_input

    features = predict(served, month.raw).features
    with pinned_threads(served.params.threads):
        model, model_runs = median_seconds(lambda: served.model.predict_proba(features), runs)
    whole, whole_runs = median_seconds(lambda: predict(served, month.raw), runs)
    reading, _ = median_seconds(lambda: read_input(month.csv, "month.csv"), runs)
    (tmp / "month.csv").write_bytes(month.csv)
    argv = [sys.executable, "-m", "mlrepro.cli", "predict", "--input", str(tmp / "month.csv")]
    argv += ["--output", str(tmp / "predictions.parquet")]
    cli, cli_runs = median_seconds(lambda: subprocess.run(argv, cwd=ROOT, check=True), runs)
    return {
        "rows": len(month.raw),
        "predict": (whole, whole_runs),
        "model": (model, model_runs),
        "read": reading,
        "cli": (cli, cli_runs),
    }


def steps(served: Any, month: Month, repeats: int) -> list[dict[str, float]]:
    """predict() and its steps, in ms (median of `repeats`; of 5 on the whole month), on 1, 16
    and 256 rows and the month."""
    from mlrepro.core.threads import pinned_threads

    sizes = [(1, repeats), (16, repeats), (256, repeats), (len(month.raw), 5)]
    with pinned_threads(served.params.threads):
        return [step_times(served, month.raw.head(n), times) for n, times in sizes]


def step_times(served: Any, raw: Any, repeats: int) -> dict[str, float]:
    from mlrepro.pipeline.anomalies import column_schema
    from mlrepro.serving.predict import checked, predict, typed
    from mlrepro.stages.featurize import features

    spec, params = served.spec, served.params.featurize
    rows = typed(raw, spec, "body")
    kept = checked(rows, served, "body")
    x = features(kept, served.tables, params)[list(params.features)]
    return {
        "rows": len(raw),
        "predict()": predict_ms(lambda: predict(served, raw, pin=False), repeats),
        "typed (parse_table)": predict_ms(lambda: typed(raw, spec, "body"), repeats),
        "checked (pandera, handling)": predict_ms(lambda: checked(rows, served, "body"), repeats),
        "of which the pandera schema's construction": predict_ms(
            lambda: column_schema(spec), repeats
        ),
        "features (joins, calendar)": predict_ms(
            lambda: features(kept, served.tables, params), repeats
        ),
        "model.predict_proba": predict_ms(lambda: served.model.predict_proba(x), repeats),
    }


def predict_ms(call: Callable[[], Any], repeats: int) -> float:
    return 1000 * median_seconds(call, repeats)[0]


# -- serve


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    failed: int = 0
    mismatched: int = 0
    problems: dict[str, int] = field(default_factory=dict)


def client(
    port: int,
    bodies: Sequence[bytes],
    expected: Sequence[float],
    offset: int,
    until: tuple[float, float],
    load: Load,
) -> None:
    """Send bodies[offset:] (cycled) one at a time until `until[1]`; count from `until[0]`."""
    start_counting, stop = until
    connection: http.client.HTTPConnection | None = None
    i = offset
    while time.perf_counter() < stop:
        index = i % len(bodies)
        i += 1
        sent = time.perf_counter()
        problem = None
        try:
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
            connection.request(
                "POST", "/predict", bodies[index], {"Content-Type": "application/json"}
            )
            answer = connection.getresponse()
            data = answer.read()
            if answer.status != 200:
                problem = f"status {answer.status}"
        except (OSError, http.client.HTTPException) as exc:
            problem = type(exc).__name__
            if connection is not None:
                connection.close()
            connection = None
        done = time.perf_counter()
        if sent < start_counting:
            continue
        load.latencies.append(done - sent)
        if problem is not None:
            load.failed += 1
            load.problems[problem] = load.problems.get(problem, 0) + 1
        elif (found := probability(data)) is not None and found != expected[index]:
            load.mismatched += 1
    if connection is not None:
        connection.close()


def probability(data: bytes) -> float | None:
    """The answer's probability (None: the empty handler's)."""
    document = json.loads(data)
    if "predictions" in document:
        return float(document["predictions"][0]["probability"])
    return None if document["probability"] is None else float(document["probability"])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int

    def cpu(self) -> float:
        """User + system seconds of the server process so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start(argv: list[str], log: Path | None, err: Path) -> Server:
    """Start a server (`argv` after the interpreter) on a free port, logging to `log` (`mlrepro
    serve`); the port of its listening line."""
    command = [sys.executable, *argv, "--port", "0", *(["--log", str(log)] if log else [])]
    with err.open("wb") as stderr:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    found = LISTENING.search(line)
    if not found:
        proc.kill()
        raise SystemExit(f"{shlex.join(command)}: no listening line: {line!r} {err.read_text()}")
    return Server(proc, int(found.group(1)))


def load_test(server: Server, month: Month, featurized: bool, args: argparse.Namespace) -> dict:
    bodies = month.featurized if featurized else month.bodies
    now = time.perf_counter()
    until = (now + args.warmup, now + args.warmup + args.seconds)
    loads = [Load() for _ in range(args.clients)]
    step = len(bodies) // args.clients
    threads = [
        threading.Thread(
            target=client, args=(server.port, bodies, month.probabilities, i * step, until, load)
        )
        for i, load in enumerate(loads)
    ]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, until[0] - time.perf_counter()))
    cpu_start, load_average = server.cpu(), os.getloadavg()[0]
    time.sleep(max(0.0, until[1] - time.perf_counter()))
    cpu = server.cpu() - cpu_start
    for thread in threads:
        thread.join()
    latencies = sorted(x for load in loads for x in load.latencies)
    problems: dict[str, int] = {}
    for load in loads:
        for what, count in load.problems.items():
            problems[what] = problems.get(what, 0) + count
    return {
        "requests": len(latencies),
        "per_second": len(latencies) / args.seconds,
        "p50": quantile(latencies, 0.50),
        "p90": quantile(latencies, 0.90),
        "p99": quantile(latencies, 0.99),
        "max": latencies[-1] if latencies else float("nan"),
        "failed": sum(load.failed for load in loads),
        "mismatched": sum(load.mismatched for load in loads),
        "problems": problems,
        "cpu": cpu,
        "load": load_average,
    }


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(-(-q * len(sorted_values) // 1)))
    return sorted_values[rank - 1]


def serve(month: Month, args: argparse.Namespace, tmp: Path) -> dict[str, list[dict]]:
    chosen = {name: VARIANTS[name] for name in args.variants}
    results: dict[str, list[dict]] = {name: [] for name in chosen}
    for round_ in range(1, args.runs + 1):
        for name, (argv, featurized) in chosen.items():
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            log, err = tmp / f"log-{slug}-{round_}", OUT / f"serve-{slug}-{round_}.err"
            server = start(argv, None if featurized else log, err)
            try:
                result = load_test(server, month, featurized, args)
            finally:
                server.stop()
            results[name].append(result)
            print(
                f"  {name} run {round_}: {result['per_second']:.0f} req/s, p50 "
                f"{1000 * result['p50']:.1f} ms, p99 {1000 * result['p99']:.1f} ms, "
                f"{result['failed']} failed",
                file=sys.stderr,
                flush=True,
            )
    return results


# -- report


def machine() -> dict[str, str]:
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )

    def output(*argv: str) -> str:
        return subprocess.run(argv, capture_output=True, text=True).stdout.strip()

    changed = output("git", "-C", str(ROOT), "status", "--short", "--untracked-files=no")
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return {
        "date (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "commit": output("git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD")
        + (" plus the work tree's edits" if changed else ""),
        "CPUs (nproc)": str(os.cpu_count()),
        "CPUs this process may use": str(len(os.sched_getaffinity(0))),
        "RAM": f"{mem_kib / 1024**2:.1f} GiB",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "packages": ", ".join(versions),
        "load average (1, 5, 15 min) at start": load(),
    }


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f}"


def met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def report(
    command: str,
    info: dict[str, str],
    month: Month,
    results: tuple[dict[str, Any] | None, dict[str, list[dict]], list[dict[str, float]]],
    args: argparse.Namespace,
) -> str:
    batch_result, loads, timings = results
    lines = [
        "# Benchmark: `mlrepro predict` and `mlrepro serve` against the model alone",
        "",
        f"Command: `{command}`",
        "",
        *(f"- {k}: {v}" for k, v in info.items()),
        f"- load average (1, 5, 15 min) at end: {load()}",
        "",
        __doc__.split("\n\n", 1)[1].split("\n\nExample:")[0].strip(),
        "",
    ]
    if batch_result is not None:
        lines += batch_section(month, batch_result, args.runs)
    lines += serve_section(loads, args)
    if timings:
        lines += steps_section(timings)
        if "serve" in loads:
            summary = {name: summarize(runs, args.seconds) for name, runs in loads.items()}
            lines += explanation(summary, timings, args)
    return "\n".join(lines)


def explanation(
    summary: dict[str, dict[str, float]], timings: list[dict[str, float]], args: argparse.Namespace
) -> list[str]:
    """Where a request's latency goes, from this run's figures."""
    from mlrepro.serving.serve_cli import BATCH_WAIT_MS

    s = summary["serve"]
    one, sixteen = (list(t.values()) for t in timings[:2])
    _, call1, *_ = one
    _, call, typed, checked, schema, joins, model = sixteen
    http = summary.get(EMPTY, {}).get("cpu_ms", float("nan"))
    rows = call / max(s["cpu_ms"] - http, 0.01)
    return [
        "## Where the latency goes",
        "",
        f"Every request waits for at least one `predict()` call: {call1:.0f} ms for 1 row, "
        f"{call:.0f} ms for 16 (the table above: typed {typed:.0f}, checked {checked:.0f} "
        f"(pandera; {schema:.1f} of it building its schema again each call), features "
        f"{joins:.0f}, the model {model:.0f}); nearly all of it is a fixed cost per call, not per "
        f"row. With {args.clients} clients and one worker, a round is one batch: up to "
        f"--batch-wait (default {BATCH_WAIT_MS:g} ms) of waiting for the others, one call on all "
        f"the rows, the answers (`serve`'s p50: {ms(s['p50'])} ms). A request that comes after "
        "its round's batch has started waits for that batch to end and then for its own: about "
        "two calls, the p90-p99 tail; on 2 cores shared with other jobs, a call that is "
        f"preempted stretches every request of its batch. `serve` used {s['cpu_ms']:.2f} ms of "
        f"server CPU a request: with a 16-row call at {call:.0f} ms and {http:.2f} ms of HTTP "
        "a request (uvicorn with h11: the empty handler's), about "
        f"{rows:.0f} rows a call on average. The p99 goal would need a 16-row call well under "
        "50 ms on a quiet core. The minimal handler shows that without batching even no checks "
        "at all cannot meet it: its requests queue behind one another on the model's own "
        "per-call cost.",
        "",
    ]


def batch_section(month: Month, result: dict[str, Any], runs: int) -> list[str]:
    rows = result["rows"]
    (whole, whole_runs), (model, model_runs), (cli, cli_runs) = (
        result["predict"],
        result["model"],
        result["cli"],
    )
    rate, ratio = rows / whole, whole / model
    return [
        "## Batch: the test month through `predict()`",
        "",
        f"{rows:,} raw rows: the flights of {MONTH} (by `time_hour`, UTC) of the pinned "
        f"snapshot's {month.rows_in_snapshot:,}. Median of {runs} runs (after one not counted).",
        "",
        "| what | median (s) | rows/s | / the Pipeline alone | runs (s) |",
        "|---|--:|--:|--:|---|",
        f"| `predict(served, rows)`: typed, checked, featurized, scored, labelled | {whole:.3f} "
        f"| {rate:,.0f} | {ratio:.2f} | {runs_text(whole_runs)} |",
        f"| the fitted Pipeline's `predict_proba(Predictions.features)` | {model:.3f} | "
        f"{rows / model:,.0f} | 1.00 | {runs_text(model_runs)} |",
        f"| `mlrepro predict --input month.csv --output p.parquet` (a new process: start-up, "
        f"loading, reading, writing) | {cli:.3f} | {rows / cli:,.0f} | {cli / model:.2f} "
        f"| {runs_text(cli_runs)} |",
        "",
        f"Reading the CSV (`read_input`, not in `predict()`): {result['read']:.3f} s. "
        f"Goals: >= {ROWS_GOAL:,} rows/s: {met(rate >= ROWS_GOAL)} ({rate:,.0f}); <= "
        f"{RATIO_GOAL:g}x the Pipeline alone: {met(ratio <= RATIO_GOAL)} ({ratio:.2f}x).",
        "",
    ]


def serve_section(loads: dict[str, list[dict]], args: argparse.Namespace) -> list[str]:
    lines = [
        f"## Serve: single-row requests from {args.clients} clients for {args.seconds:g} s",
        "",
        f"{args.runs} run(s) of each, in rounds; {args.warmup:g} s of load before each measured "
        "window. Latency in ms; the medians of the runs' values (max: the largest); server CPU "
        "in % of one core.",
        "",
        "| server | req/s | p50 | p90 | p99 | max | failed | mismatched | server CPU % | "
        "CPU ms / request | load (1 min) | p99 per run |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    summary = {name: summarize(runs, args.seconds) for name, runs in loads.items()}
    for name, s in summary.items():
        lines.append(
            f"| {name} | {s['per_second']:.0f} | {ms(s['p50'])} | {ms(s['p90'])} | "
            f"{ms(s['p99'])} | {ms(s['max'])} | {s['failed']:.0f} | {s['mismatched']:.0f} | "
            f"{s['cpu_percent']:.0f} | {s['cpu_ms']:.2f} | {s['load']:.2f} | "
            f"{', '.join(ms(r['p99']) for r in loads[name])} |"
        )
    lines += ["", *goals(summary), ""]
    problems = {n: r["problems"] for n, runs in loads.items() for r in runs if r["problems"]}
    if problems:
        lines += [f"Failures by kind: {json.dumps(problems)}", ""]
    return lines


def steps_section(timings: list[dict[str, float]]) -> list[str]:
    names = [k for k in timings[0] if k != "rows"]
    lines = [
        "## Where the time goes: `predict()` in this process",
        "",
        "Median of 30 calls each (5 on the whole month), ms, under the revision's thread limit:",
        "",
        "| rows | " + " | ".join(names) + " |",
        "|--:|" + "--:|" * len(names),
    ]
    for t in timings:
        lines.append(f"| {t['rows']:,.0f} | " + " | ".join(f"{t[k]:.1f}" for k in names) + " |")
    return [*lines, ""]


def runs_text(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


def summarize(runs: list[dict], seconds: float) -> dict[str, float]:
    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    requests = sum(r["requests"] for r in runs)
    cpu = sum(r["cpu"] for r in runs)
    return {
        "per_second": med("per_second"),
        "p50": med("p50"),
        "p90": med("p90"),
        "p99": med("p99"),
        "max": max(r["max"] for r in runs),
        "failed": sum(r["failed"] for r in runs),
        "mismatched": sum(r["mismatched"] for r in runs),
        "cpu_percent": 100 * cpu / (seconds * len(runs)),
        "load": med("load"),
        "cpu_ms": 1000 * cpu / requests if requests else float("nan"),
    }


def goals(summary: dict[str, dict[str, float]]) -> list[str]:
    lines = []
    for name, s in summary.items():
        if name.startswith("serve"):
            ok = s["p99"] <= P99_GOAL_MS / 1000 and s["failed"] == 0
            over = 1000 * s["p99"] - P99_GOAL_MS
            by = "" if over <= 0 else f" by {over:.0f} ms ({1000 * s['p99'] / P99_GOAL_MS:.1f}x)"
            lines.append(
                f"- `{name}`: p99 {ms(s['p99'])} ms (goal <= {P99_GOAL_MS:g}), "
                f"{s['failed']:.0f} failed: {met(ok)}{by}"
            )
    minimal = next((s for n, s in summary.items() if n.startswith("minimal")), None)
    for name, s in summary.items():
        if minimal is None or not name.startswith("serve") or name not in COMPARED:
            continue
        ratios = {k: s[k] / minimal[k] for k in ("per_second", "p50", "p99", "cpu_ms")}
        lines.append(
            f"- `{name}` / the minimal handler ({COMPARED[name]}): throughput "
            f"{ratios['per_second']:.2f}x, p50 {ratios['p50']:.2f}x, p99 {ratios['p99']:.2f}x, "
            f"server CPU per request {ratios['cpu_ms']:.2f}x"
        )
    return lines


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="default: %(default)s")
    parser.add_argument("--warmup", type=float, default=3.0, help="default: %(default)s")
    parser.add_argument("--clients", type=int, default=16, help="default: %(default)s")
    parser.add_argument("--runs", type=int, default=3, help="default: %(default)s")
    parser.add_argument(
        "--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS), metavar="NAME"
    )
    parser.add_argument("--skip-batch", action="store_true", help="serve only")
    parser.add_argument("--output", type=Path, help="write the Markdown report here too")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    command = shlex.join([".venv/bin/python", "bench/serve.py", *sys.argv[1:]])
    OUT.mkdir(parents=True, exist_ok=True)
    info = machine()
    from mlrepro.revisions import open_repo
    from mlrepro.serving.served import load_served

    started = time.perf_counter()
    with open_repo(ROOT) as repo:
        served = load_served(repo, "HEAD")
    info['`load_served(repo, "HEAD")` (s)'] = f"{time.perf_counter() - started:.2f}"
    month = read_month(served)
    with tempfile.TemporaryDirectory(dir=OUT) as name:
        tmp = Path(name)
        print("batch ...", file=sys.stderr, flush=True)
        batch_result = None if args.skip_batch else batch(served, month, args.runs, tmp)
        timings = [] if args.skip_batch else steps(served, month, 30)
        print("serve ...", file=sys.stderr, flush=True)
        loads = serve(month, args, tmp)
    raw = {"info": info, "batch": batch_result, "serve": loads, "steps": timings}
    (OUT / "serve-results.json").write_text(json.dumps(raw, indent=1, default=str))
    text = report(command, info, month, (batch_result, loads, timings), args)
    print(text)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
