"""`mlrepro serve` as a real process on a free loopback port, in a real repo with a model trained
on the slice: real HTTP requests (urllib), the same probabilities as `mlrepro predict` (one at a
time and many at once, batched), every kind of bad input answered (and the server still
serving), the request log it wrote, its rotation, and a clean stop on SIGTERM and Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from mlrepro.serving.requestlog import ROTATED, log_files, read_records
from tests.conftest import SLICE, Repo
from tests.runner import mlrepro, mlrepro_process, start_mlrepro, wait_for

pytestmark = pytest.mark.e2e

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
Answer = tuple[int, dict[str, str], Any]  # status, headers (lower-case names), JSON body


class Server:
    def __init__(self, proc: subprocess.Popen[str], url: str, err: Path) -> None:
        self.proc, self.url, self.err = proc, url, err

    def call(
        self, method: str, path: str, body: bytes | None = None, kind: str = "application/json"
    ) -> Answer:
        headers = {"Content-Type": kind} if body is not None else {}
        request = urllib.request.Request(self.url + path, body, headers, method=method)
        try:
            with NO_PROXY.open(request, timeout=60) as answer:
                return answer.status, _headers(answer.headers), json.loads(answer.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, _headers(error.headers), json.loads(error.read())

    def post(self, document: Any) -> Answer:
        return self.call("POST", "/predict", json.dumps(document).encode())

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        """Send `sig`; the exit code and stderr."""
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        return code, self.err.read_text()


def _headers(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


@contextmanager
def serving(repo: Path, tmp: Path, *args: str) -> Iterator[Server]:
    """`mlrepro serve --port 0 ARGS` in `repo` until its listening line; stopped at the end."""
    out, err = tmp / "serve.out", tmp / "serve.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = start_mlrepro(repo, "serve", "--port", "0", *args, stdout=stdout, stderr=stderr)

    def listening() -> str | None:
        found = re.search(
            r"^mlrepro serve: listening on (http://127\.0\.0\.1:\d+) ", out.read_text()
        )
        assert found or proc.poll() is None, f"serve exited {proc.returncode}: {err.read_text()}"
        return found.group(1) if found else None

    try:
        yield Server(proc, wait_for(listening, timeout=120, what="mlrepro serve to listen"), err)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def raw_rows(repo: Repo, count: int) -> pd.DataFrame:
    """`count` raw rows of the pinned flights snapshot (as the slice ingests it), on the valid
    part's day, every cell as its text."""
    pin = repo.read_yaml("params.yaml")["ingest"]["pins"]["flights"]
    path = repo.path / "data" / "snapshots" / "flights" / pin / "flights.csv.zip"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, nrows=SLICE["ingest"]["max_rows"])
    day = SLICE["split"]["valid_start"]
    return frame[frame["time_hour"].str.startswith(f"{day}T1")].head(count).reset_index(drop=True)


def as_json(row: dict[str, str]) -> dict[str, Any]:
    """A raw text row as a client sends it: numbers as numbers, NA as null."""
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


def predicted_by_cli(repo: Repo, rows: pd.DataFrame, tmp: Path) -> list[dict[str, Any]]:
    rows.to_csv(tmp / "rows.csv", index=False)
    mlrepro(
        repo.path, "predict", "--input", str(tmp / "rows.csv"), "--output", str(tmp / "p.jsonl")
    )
    return [json.loads(line) for line in (tmp / "p.jsonl").read_text().splitlines()]


def model_md5(repo: Repo) -> str:
    lock = yaml.safe_load((repo.path / "dvc.lock").read_text())
    return next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"].endswith(".skops"))


JSON = "application/json"
BAD_REQUESTS = [  # what, method, path, body, content type, status
    ("bad JSON", "POST", "/predict", b'{"carrier": "UA",', JSON, 400),
    ("a content type that is not JSON", "POST", "/predict", b"{}", "text/csv", 415),
    ("an over-size body", "POST", "/predict", b"[" + b" " * (1 << 20) + b"]", JSON, 413),
    ("a wrong method", "GET", "/predict", None, JSON, 405),
    ("an unknown path", "GET", "/predictions", None, JSON, 404),
]


def bad_rows(row: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    """What, the body, where the 422 answer must say the fault is."""
    return [
        ("a list with a non-object", [row, 5], {"field": None, "row": 1}),
        ("a missing field", without(row, "carrier"), {"field": "carrier", "row": None}),
        ("a wrong type", row | {"flight": "abc"}, {"field": "flight", "row": 0}),
        ("a value out of its domain", row | {"origin": "XXX"}, {"field": "origin", "row": 0}),
    ]


def without(row: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != field}


def still_works(server: Server, row: dict[str, Any], after: str) -> str:
    """A valid request after a bad one: answered; its request id."""
    status, headers, body = server.post(row)
    assert status == 200, (f"after {after}", body)
    return headers["x-request-id"]


def test_serve_answers_refuses_logs_and_stops_cleanly(pipeline_repo: Repo, tmp_path: Path) -> None:
    repo = pipeline_repo
    frame = raw_rows(repo, 51)
    rows = [as_json(r) for r in frame.to_dict(orient="records")]
    row = rows[0]
    commit = repo.git("rev-parse", "HEAD").stdout.strip()
    model = {"md5": model_md5(repo), "commit": commit, "rev": "HEAD"}
    folder = repo.path / "logs" / "serving"  # the default
    with serving(repo.path, tmp_path) as server:
        health = server.call("GET", "/health")
        log = {"folder": str(folder), "written": 0, "dropped": 0, "problem": None}
        assert health[::2] == (200, {"status": "ok", "model": model, "log": log})
        status, headers, one = server.post(row)
        assert status == 200, one
        ids = [headers["x-request-id"]]
        assert one == {"request": ids[0], "predictions": one["predictions"], "model": model}
        status, headers, batch = server.post(rows[1:])
        assert status == 200, batch
        ids += [headers["x-request-id"]] * 50
        answered = one["predictions"] + batch["predictions"]
        assert answered == predicted_by_cli(repo, frame, tmp_path)  # the same floats, exactly
        refusals, after = [], []  # what the log keeps of each refusal; the ids of valid ones
        for what, method, path, body, kind, status in BAD_REQUESTS:
            answer = server.call(method, path, body, kind)
            assert answer[0] == status and set(answer[2]) == {"error", "field", "row"}, answer
            if (method, path) == ("POST", "/predict"):
                refusals.append({"status": status, "error": answer[2]})
            after.append(still_works(server, row, what))
        for what, document, where in bad_rows(row):
            status, _, error = server.post(document)
            assert (status, {k: error[k] for k in where}) == (422, where), (what, error)
            refusals.append({"status": 422, "error": error, "input": document})
            after.append(still_works(server, row, what))
        page = server.call("GET", "/model")
        port = server.url.rsplit(":", 1)[1]
        taken = mlrepro_process(repo.path, "serve", "--port", port, code=2)
        code, err = server.stop()
    assert code == 0, err
    assert err.splitlines()[-1] == "mlrepro serve: stopped (SIGTERM)", err
    assert taken.stderr == (
        f"mlrepro: error: 127.0.0.1:{port}: cannot listen: Address already in use (another "
        "process has it; choose another --port)\n"
    )
    names = features_of(repo)
    assert page[0] == 200, page
    assert (page[2]["model"], page[2]["card"]["features"]) == (model, names)
    assert page[2]["provenance"]["model"] == {"path": "models/model.skops", "md5": model["md5"]}
    lineage = page[2]["lineage"]
    assert (lineage["target"], lineage["commit"], lineage["md5"]) == (
        "models/model.skops",
        commit,
        model["md5"],
    )
    assert page[2]["lineage_problem"] is None

    records = read_records(folder)
    ok = [r for r in records if r["status"] == 200]
    assert [(r["request"], r["row"], r["input"]) for r in ok] == [
        *zip(ids, [0, *range(50)], rows, strict=True),
        *((rid, 0, row) for rid in after),
    ]
    fields = {"time", "request", "status", "model_md5", "commit", "row", "input", "features"}
    label = repo.read_yaml("params.yaml")["featurize"]["target"]["label"]
    outputs = [{"probability": a["probability"], label: a[label]} for a in answered]
    for record, output in zip(ok, outputs + [outputs[0]] * len(after), strict=True):
        assert set(record) == fields | {"output"}, record
        assert (record["model_md5"], record["commit"]) == (model["md5"], commit)
        assert list(record["features"]) == names
        seen, sent = record["features"], record["input"]
        assert (seen["carrier"], seen["origin"], seen["distance"]) == (
            sent["carrier"],
            sent["origin"],
            sent["distance"],
        )
        assert record["output"] == output
    kept = [{k: r[k] for k in ("status", "error", "input") if k in r} for r in records]
    assert [k for k in kept if k["status"] != 200] == refusals
    assert repo.git("status", "--porcelain").stdout == ""  # the log folder ignores itself


def features_of(repo: Repo) -> list[str]:
    featurize = repo.read_yaml("params.yaml")["featurize"]
    return [*featurize["categorical"], *featurize["numeric"]]


def test_requests_at_the_same_time_are_each_answered_as_alone(
    pipeline_template: Repo, tmp_path: Path
) -> None:
    """Batched (a long --batch-wait makes sure of it): each answer is `mlrepro predict`'s for its
    row, and a refused row fails only its own request."""
    frame = raw_rows(pipeline_template, 12)
    rows = [as_json(r) for r in frame.to_dict(orient="records")]
    bad = rows[0] | {"origin": "XXX"}
    folder = tmp_path / "log"
    args = ("--log", str(folder), "--batch-wait", "300")
    with serving(pipeline_template.path, tmp_path, *args) as server:
        with ThreadPoolExecutor(len(rows) + 1) as pool:
            answers = list(pool.map(server.post, [*rows, bad]))
        code, err = server.stop()
    assert code == 0, err
    expected = predicted_by_cli(pipeline_template, frame, tmp_path)
    assert [(status, body["predictions"]) for status, _, body in answers[:-1]] == [
        (200, [p]) for p in expected
    ]
    status, _, error = answers[-1]
    assert (status, error["field"], error["row"]) == (422, "origin", 0), error
    records = read_records(folder)
    assert sorted(json.dumps(r["input"]) for r in records if r["status"] == 200) == sorted(
        json.dumps(r) for r in rows
    )
    assert [r["input"] for r in records if r["status"] == 422] == [bad]


def test_the_log_rotates_by_size_and_keeps_count(pipeline_template: Repo, tmp_path: Path) -> None:
    rows = [as_json(r) for r in raw_rows(pipeline_template, 5).to_dict(orient="records")]
    folder = tmp_path / "log"
    args = ("--log", str(folder), "--log-max-mib", "0.002", "--log-keep", "3")
    with serving(pipeline_template.path, tmp_path, *args) as server:
        ids = []
        for _ in range(4):
            status, headers, body = server.post(rows)
            assert status == 200, body
            ids.append(headers["x-request-id"])
        code, err = server.stop(signal.SIGINT)
    assert code == 0, err
    assert err.strip().splitlines()[-1] == "mlrepro serve: stopped (SIGINT)", err
    files = log_files(folder)
    rotated = [ROTATED.match(p.name) for p in files[:-1]]
    assert len(rotated) == 3 and all(rotated), [p.name for p in files]
    seqs = [int(m.group(2)) for m in rotated if m]
    assert seqs == list(range(seqs[0], seqs[0] + 3)) and seqs[0] > 1, seqs  # older ones removed
    assert files[-1].name == "requests.jsonl"
    limit = int(0.002 * (1 << 20))
    for path in files:
        lines = path.read_bytes().splitlines()
        assert path.stat().st_size <= limit or len(lines) == 1, (path, path.stat().st_size)
    records = read_records(folder)
    assert 0 < len(records) < 20
    assert [(r["request"], r["row"]) for r in records] == [
        (rid, i) for rid in ids for i in range(5)
    ][-len(records) :]
