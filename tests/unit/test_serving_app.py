"""`mlrepro serve` in process: the app through its ASGI interface (no HTTP client library) with a
real model fitted on a tiny frame; requests at the same time batched into one predict call and
split back (a refused row or a failure answered as alone, the row cap); the request log
(rotation, records, reading back, a full disk, one writer per folder); the listening socket."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pandas as pd
import pytest

from mlrepro.core.errors import DataError
from mlrepro.core.params import load_params
from mlrepro.pipeline.schema import load_schema, parse_table, serving_view
from mlrepro.serving.app import (
    MAX_BODY_BYTES,
    Batcher,
    Batching,
    build_app,
    check_content_type,
    parse_json,
)
from mlrepro.serving.predict import output_records, predict, records_frame, typed
from mlrepro.serving.requestlog import (
    LogError,
    RequestLog,
    log_files,
    prediction_records,
    read_records,
    refusal_record,
)
from mlrepro.serving.serve_cli import ServeError, listen
from mlrepro.serving.served import Served
from mlrepro.stages.featurize import features, prepare_join
from mlrepro.stages.train import fit
from tests.runner import mlrepro

PROJECT = Path(__file__).resolve().parents[2]
UTC_HOURS = range(11, 23)  # 06:00 to 17:00 in New York on 5 Jan 2013


def flight(i: int) -> dict[str, Any]:
    """A raw row of the flights source, as a client sends it."""
    hour = 6 + i % 12
    return {
        "year": 2013,
        "month": 1,
        "day": 5,
        "sched_dep_time": hour * 100,
        "sched_arr_time": hour * 100 + 230,
        "carrier": ("AA", "B6", "UA")[i % 3],
        "flight": 100 + i,
        "tailnum": ("N1", "N2", None)[i % 3],
        "origin": ("EWR", "JFK", "LGA")[i % 3],
        "dest": ("ORD", "MIA")[i % 2],
        "distance": 700 + 10 * i,
        "hour": hour,
        "minute": 0,
        "time_hour": f"2013-01-05T{hour + 5:02d}:00:00Z",
    }


def table(spec: Any, rows: list[dict[str, Any]]) -> pd.DataFrame:
    return parse_table(pd.DataFrame(rows, dtype="string"), spec, file=spec.name)


@pytest.fixture(scope="module")
def served() -> Served:
    """The project's params and schema, a model fitted on 60 rows, tiny joined tables."""
    params = load_params(PROJECT / "params.yaml")
    params = replace(params, train={**params.train, "max_iter": 5, "min_samples_leaf": 2})
    schema = load_schema(PROJECT / "schema.yaml")
    planes = [
        {"tailnum": t, "year": y, "type": "Fixed wing multi engine", "manufacturer": "AIRBUS"}
        | {"model": "A320", "engines": 2, "seats": 180, "speed": None, "engine": "Turbo-fan"}
        for t, y in (("N1", 2001), ("N2", 2009))
    ]
    weather = [
        {"origin": o, "year": 2013, "month": 1, "day": 5, "hour": h - 5, "temp": 30 + h}
        | {
            "dewp": 20,
            "humid": 60,
            "wind_dir": 270,
            "wind_speed": 10,
            "wind_gust": 25 if h != 13 else None,
        }
        | {"precip": 0, "pressure": 1015, "visib": 10, "time_hour": f"2013-01-05T{h:02d}:00:00Z"}
        for o in ("EWR", "JFK", "LGA")
        for h in UTC_HOURS
    ]
    raw = {"planes": planes, "weather": weather}
    tables = {
        j.table: prepare_join(table(schema[j.table], raw[j.table]), j)[0]
        for j in params.featurize.joins
    }
    spec = serving_view(schema["flights"])
    rows = typed(records_frame([flight(i) for i in range(60)]), spec, "fixture")
    frame = features(rows, tables, params.featurize)
    late = (frame["origin"] == "EWR") | (frame["sched_hour"] > 14)
    model = fit(frame.assign(**{params.featurize.label: late.astype("int8")}), params)
    main = next(s for s in params.ingest.sources if s.name == params.ingest.main)
    return Served(
        rev="HEAD",
        commit="c" * 40,
        params=params,
        spec=spec,
        keys=tuple(main.key),
        model=model,
        model_path="models/model.skops",
        model_md5="d" * 32,
        tables=tables,
        card={"estimator": "HistGradientBoostingClassifier"},
    )


@pytest.fixture
def log(tmp_path: Path) -> Iterator[RequestLog]:
    opened = RequestLog.open(tmp_path / "log")
    yield opened
    opened.close()


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body
        self.json = json.loads(body)

    def __repr__(self) -> str:
        return f"{self.status} {self.body[:300]!r}"


def call(
    app: Any,
    method: str,
    path: str,
    body: bytes | Sequence[bytes] = b"",
    headers: dict[str, str] | None = None,
) -> Answer:
    """One HTTP request through the app's ASGI interface; a list of bytes is sent in chunks
    without a content length."""
    return anyio.run(_call, app, method, path, body, headers)


async def _call(
    app: Any, method: str, path: str, body: bytes | Sequence[bytes], headers: dict[str, str] | None
) -> Answer:
    chunks = [body] if isinstance(body, bytes) else list(body)
    sent = {"content-type": "application/json"} if body else {}
    if isinstance(body, bytes):
        sent["content-length"] = str(len(body))
    sent.update(headers or {})
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    replies: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        replies.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in sent.items() if v is not None],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    start = replies[0]
    headers_out = {k.decode(): v.decode() for k, v in start["headers"]}
    return Answer(start["status"], headers_out, b"".join(m.get("body", b"") for m in replies[1:]))


def post(app: Any, document: Any, headers: dict[str, str] | None = None) -> Answer:
    return call(app, "POST", "/predict", json.dumps(document).encode(), headers)


MODEL = {"md5": "d" * 32, "commit": "c" * 40, "rev": "HEAD"}


def test_a_row_and_a_batch_are_predicted_in_order_as_predict_does(
    served: Served, log: RequestLog
) -> None:
    app = build_app(served, log)
    one = post(app, flight(0))
    assert one.status == 200, one
    expected = output_records(predict(served, records_frame([flight(0)]), where="body").frame)
    request = one.headers["x-request-id"]
    assert one.json == {"request": request, "predictions": expected, "model": MODEL}
    batch = [flight(i) for i in range(30, 0, -1)]
    many = post(app, batch)
    assert many.status == 200, many
    assert many.json["predictions"] == output_records(
        predict(served, records_frame(batch), where="body").frame
    )
    assert [p["flight"] for p in many.json["predictions"]] == [r["flight"] for r in batch]


def test_each_prediction_is_logged_with_its_input_features_and_output(
    served: Served, log: RequestLog
) -> None:
    app = build_app(served, log)
    rows = [flight(1), flight(2)]
    answer = post(app, rows, {"X-Request-ID": "client-7"})
    assert answer.status == 200, answer
    assert answer.headers["x-request-id"] == "client-7"
    records = read_records(log.folder)
    assert len(records) == 2
    fields = {"time", "request", "status", "model_md5", "commit", "row", "input", "features"}
    label = served.params.featurize.label
    for i, record in enumerate(records):
        assert set(record) == fields | {"output"}, record
        assert record["time"].endswith("Z"), record
        assert (record["request"], record["status"], record["row"]) == ("client-7", 200, i)
        assert (record["model_md5"], record["commit"]) == ("d" * 32, "c" * 40)
        assert record["input"] == rows[i]
        assert list(record["features"]) == list(served.params.featurize.features)
        prediction = answer.json["predictions"][i]
        assert record["output"] == {k: prediction[k] for k in ("probability", label)}
    first, second = (r["features"] for r in records)  # flight(1): plane N2; flight(2): none
    assert (first["plane_year"], first["sched_hour"], first["temp"]) == (2009, 7, 42.0)
    assert (second["plane_year"], second["wind_gust"]) == (None, None)  # NaN is null


def refused(error: str, field: str | None = None, row: int | None = None) -> dict[str, Any]:
    return {"error": error, "field": field, "row": row}


NOT_ROWS = "body: expected a JSON object (one row) or a non-empty list of them"
OUT_OF_RANGE = "body: not JSON this service reads: 1e400 is out of range"
TOO_LONG = (
    "body: not JSON this service reads: Exceeds the limit (4300 digits) for integer string "
    "conversion: value has 5000 digits; use sys.set_int_max_str_digits() to increase the limit"
)
HALF_PAIR = "body: a \\u escape is half of a UTF-16 surrogate pair, not a character"
NESTED = "body: not JSON this service reads: nested too deeply"
BAD_BODIES = [  # body, content type, status, the error answer
    (b'{"carrier": ', None, 400, refused("body: not JSON: Expecting value (line 1 column 13)")),
    (b"\xff{}", None, 400, refused("body: not UTF-8 (byte 1)")),
    (
        b'{"distance": NaN}',
        None,
        400,
        refused("body: not JSON: NaN is not a JSON value (send null for a missing one)"),
    ),
    (
        b'{"flight": 1, "flight": 2}',
        None,
        400,
        refused("body: field 'flight' given twice in one object", "flight"),
    ),
    (b'{"distance": 1e400}', None, 400, refused(OUT_OF_RANGE)),
    (b'{"flight": ' + b"7" * 5000 + b"}", None, 400, refused(TOO_LONG)),
    (b'{"carrier": "\\ud800"}', None, 400, refused(HALF_PAIR)),
    (b"[" * 100_000 + b"]" * 100_000, None, 400, refused(NESTED)),
    (b"[]", None, 422, refused(NOT_ROWS)),
    (b'"a row"', None, 422, refused(NOT_ROWS)),
    (
        b"{}",
        "text/plain",
        415,
        refused("content type 'text/plain': send application/json in UTF-8"),
    ),
    (
        b"{}",
        "application/json; charset=latin-1",
        415,
        refused("content type 'application/json; charset=latin-1': send application/json in UTF-8"),
    ),
]


def without(row: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != field}


BAD_ROWS = [  # rows, the 422 answer
    ([flight(0), 5], refused("body: row 2 is not a JSON object", None, 1)),
    (
        flight(0) | {"flight": "abc"},
        refused("body: column 'flight' row 1: 'abc' is not int", "flight", 0),
    ),
    (without(flight(0), "carrier"), refused("body: field 'carrier' is missing", "carrier")),
    (
        [flight(0), without(flight(1), "carrier")],
        refused("body row 2: field 'carrier' fails not null: null (schema table flights)")
        | {"field": "carrier", "row": 1},
    ),
    (
        [flight(0), flight(1) | {"origin": "XXX"}],
        refused(
            "body row 2: field 'origin' fails allowed categories: XXX (schema table flights)",
            "origin",
            1,
        ),
    ),
    (
        flight(0) | {"distance": 9000},
        refused("body row 1: field 'distance' fails <= 6000: 9000.0 (schema table flights)")
        | {"field": "distance", "row": 0},
    ),
    (
        flight(0) | {"carrier": "\U0001f600"},  # sent as a surrogate pair: a character
        refused(
            "body row 1: field 'carrier' fails allowed categories: \U0001f600 (schema table "
            "flights)",
            "carrier",
            0,
        ),
    ),
    (
        flight(0) | {"dest": {"code": "ORD"}},
        refused("body row 1: field 'dest' is a dict, not a value", "dest", 0),
    ),
]


@pytest.mark.parametrize(("body", "kind", "status", "error"), BAD_BODIES)
def test_a_body_that_is_not_json_rows_is_refused_naming_why(
    served: Served, log: RequestLog, body: bytes, kind: str | None, status: int, error: Any
) -> None:
    app = build_app(served, log)
    answer = call(app, "POST", "/predict", body, {"content-type": kind or "application/json"})
    assert (answer.status, answer.json) == (status, error)
    [record] = read_records(log.folder)
    assert record["status"] == status and record["error"] == error, record
    assert "features" not in record and "output" not in record
    assert post(app, flight(0)).status == 200


def test_each_row_the_schema_refuses_is_a_422_naming_field_and_row(
    served: Served, log: RequestLog
) -> None:
    app = build_app(served, log)
    for document, error in BAD_ROWS:
        answer = post(app, document)
        assert (answer.status, answer.json) == (422, error), document
        assert post(app, flight(0)).status == 200
    records = [r for r in read_records(log.folder) if r["status"] != 200]
    assert [(r["status"], r["error"], r["input"]) for r in records] == [
        (422, error, document) for document, error in BAD_ROWS
    ]


def test_a_body_over_the_limit_is_413_with_or_without_a_length(
    served: Served, log: RequestLog
) -> None:
    app = build_app(served, log)
    over = b" " * (MAX_BODY_BYTES + 1)
    declared = call(app, "POST", "/predict", over)
    assert (declared.status, declared.json["error"]) == (
        413,
        f"body of {MAX_BODY_BYTES + 1} bytes: over the limit of {MAX_BODY_BYTES} bytes; "
        "send fewer rows at once",
    )
    chunked = call(app, "POST", "/predict", [b" " * (MAX_BODY_BYTES // 2)] * 3)
    assert (chunked.status, chunked.json["error"]) == (
        413,
        f"body: over the limit of {MAX_BODY_BYTES} bytes; send fewer rows at once",
    )
    at_limit = call(app, "POST", "/predict", [json.dumps(flight(0)).encode()] + [b" " * 1000] * 9)
    assert at_limit.status == 200, at_limit
    assert [r["status"] for r in read_records(log.folder)] == [413, 413, 200]


def test_no_content_type_is_read_as_json(served: Served, log: RequestLog) -> None:
    answer = post(build_app(served, log), flight(0), {"content-type": None})  # type: ignore[dict-item]
    assert answer.status == 200, answer
    assert check_content_type("application/problem+json; charset=UTF-8") is None


def test_unknown_path_and_wrong_method_are_json(served: Served, log: RequestLog) -> None:
    app = build_app(served, log)
    missing = call(app, "GET", "/predictions")
    assert (missing.status, missing.json) == (
        404,
        {
            "error": "GET /predictions: not found (this service answers POST /predict, "
            "GET /health, GET /model)",
            "field": None,
            "row": None,
        },
    )
    wrong = call(app, "GET", "/predict")
    assert (wrong.status, wrong.json["error"]) == (
        405,
        "GET /predict: method not allowed (allowed: POST)",
    )
    assert wrong.headers["allow"] == "POST"
    assert call(app, "DELETE", "/health").status == 405
    assert read_records(log.folder) == []  # not predictions: not in the request log


def test_an_unexpected_exception_is_a_500_and_the_service_goes_on(
    served: Served, log: RequestLog, capsys: pytest.CaptureFixture[str]
) -> None:
    app = build_app(replace(served, model=object()), log)  # a model that cannot predict
    for _ in range(2):
        answer = post(app, flight(0), {"X-Request-ID": "r1"})
        assert (answer.status, answer.json) == (
            500,
            {
                "error": "internal error (request r1): AttributeError: 'object' object has no "
                "attribute 'predict_proba'",
                "field": None,
                "row": None,
            },
        )
    assert call(app, "GET", "/health").status == 200
    err = capsys.readouterr().err
    assert err.startswith("mlrepro serve: error: request r1: AttributeError: "), err
    assert "Traceback" in err
    assert [r["status"] for r in read_records(log.folder)] == [500, 500]


def test_health_and_model_say_which_model_and_where_it_came_from(
    served: Served, log: RequestLog
) -> None:
    lineage = {"target": "models/model.skops", "stages": []}
    app = build_app(served, log, lineage=lineage)
    post(app, [flight(0), flight(1)])
    health = call(app, "GET", "/health")
    assert health.json == {
        "status": "ok",
        "model": MODEL,
        "log": {"folder": str(log.folder), "written": 2, "dropped": 0, "problem": None},
    }
    page = call(app, "GET", "/model").json
    assert page == {
        "model": MODEL,
        "card": served.card,
        "provenance": json.loads(json.dumps(served.provenance())),
        "lineage": lineage,
        "lineage_problem": None,
    }
    without = build_app(served, log, lineage_problem="dvc.lock at HEAD: not found")
    assert call(without, "GET", "/model").json["lineage_problem"] == "dvc.lock at HEAD: not found"


def test_requests_at_once_are_all_answered_and_logged_whole(
    served: Served, log: RequestLog
) -> None:
    app = build_app(served, log, batching=Batching(workers=2))
    answers: list[Answer] = []

    async def many() -> None:
        async with anyio.create_task_group() as group:
            for i in range(16):
                group.start_soon(one, i)

    async def one(i: int) -> None:
        body = json.dumps([flight(i), flight(i + 1)]).encode()
        answers.append(await _call(app, "POST", "/predict", body, {"X-Request-ID": f"r{i}"}))

    anyio.run(many)
    assert sorted(a.status for a in answers) == [200] * 16
    records = read_records(log.folder)
    assert len(records) == 32
    assert sorted(r["request"] for r in records) == sorted(f"r{i}" for i in range(16) for _ in "ab")


WAIT = 0.25  # seconds a batch waits: far longer than tasks of one event loop take to send


class Counting:
    """The fitted model, noting the rows of each `predict_proba` call (one call: one batch)."""

    def __init__(self, model: Any) -> None:
        self.model, self.calls = model, []  # type: ignore[var-annotated]

    def predict_proba(self, x: pd.DataFrame) -> Any:
        self.calls.append(len(x))
        return self.model.predict_proba(x)


def at_once(app: Any, bodies: Sequence[bytes]) -> list[Answer]:
    """The bodies sent at the same time (request ids r0, r1, ...); the answers in their order."""
    answers: list[Answer | None] = [None] * len(bodies)

    async def one(i: int) -> None:
        headers = {"X-Request-ID": f"r{i}"}
        answers[i] = await _call(app, "POST", "/predict", bodies[i], headers)

    async def many() -> None:
        async with anyio.create_task_group() as group:
            for i in range(len(bodies)):
                group.start_soon(one, i)

    anyio.run(many)
    return [a for a in answers if a is not None]


def alone(served: Served, document: Any) -> list[dict[str, Any]]:
    return output_records(predict(served, records_frame(document), where="body").frame)


def test_requests_waiting_together_are_predicted_in_one_call_and_split_back_in_order(
    served: Served, log: RequestLog
) -> None:
    model = Counting(served.model)
    app = build_app(replace(served, model=model), log, batching=Batching(wait=WAIT))
    documents: list[Any] = [flight(0), [flight(1), flight(2), flight(3)], [flight(4)], flight(5)]
    documents.append([flight(i) for i in range(6, 11)])
    answers = at_once(app, [json.dumps(d).encode() for d in documents])
    assert model.calls == [11]  # every row in one call
    for i, (document, answer) in enumerate(zip(documents, answers, strict=True)):
        assert answer.status == 200, answer
        assert answer.json == {"request": f"r{i}", "predictions": alone(served, document)} | {
            "model": MODEL
        }
    records = read_records(log.folder)
    rows = [[d] if isinstance(d, dict) else d for d in documents]
    assert sorted((r["request"], r["row"], r["status"]) for r in records) == [
        (f"r{i}", j, 200) for i, sent in enumerate(rows) for j in range(len(sent))
    ]
    for record in records:
        sent = rows[int(record["request"][1:])][record["row"]]
        assert record["input"] == sent
        assert record["features"]["carrier"] == sent["carrier"]


def test_a_refused_row_in_a_batch_fails_only_its_own_request(
    served: Served, log: RequestLog
) -> None:
    model = Counting(served.model)
    app = build_app(replace(served, model=model), log, batching=Batching(wait=WAIT))
    bad = [flight(1), flight(2) | {"origin": "XXX"}]
    documents: list[Any] = [flight(0), bad, [flight(3), flight(4)], flight(5)]
    bodies = [json.dumps(d).encode() for d in documents] + [b'{"carrier": ']
    answers = at_once(app, bodies)
    assert model.calls == [1, 2, 1]  # the batch refused; then each alone (the bad one: no call)
    assert [a.status for a in answers] == [200, 422, 200, 200, 400]
    assert answers[1].json == refused(
        "body row 2: field 'origin' fails allowed categories: XXX (schema table flights)",
        "origin",
        1,
    )
    for i in (0, 2, 3):
        assert answers[i].json["predictions"] == alone(served, documents[i]), i
    records = sorted(read_records(log.folder), key=lambda r: (r["request"], r.get("row", 0)))
    assert [(r["request"], r["status"]) for r in records] == [
        ("r0", 200),
        ("r1", 422),
        ("r2", 200),
        ("r2", 200),
        ("r3", 200),
        ("r4", 400),
    ]
    assert (records[1]["error"], records[1]["input"]) == (answers[1].json, bad)
    assert "input" not in records[-1]  # not JSON: nothing to keep


def test_a_batch_takes_rows_up_to_max_rows_and_a_larger_request_alone(
    served: Served, log: RequestLog
) -> None:
    sizes = [3, 2, 6, 1, 1]
    documents = [[flight(i) for i in range(n)] for n in sizes]
    bodies = [json.dumps(d).encode() for d in documents]
    for batching, calls in [
        (Batching(max_rows=5, wait=WAIT), [5, 6, 2]),
        (Batching(max_rows=4, wait=WAIT), [3, 2, 6, 2]),
        (Batching(max_rows=1), sizes),  # no batching
    ]:
        model = Counting(served.model)
        answers = at_once(build_app(replace(served, model=model), log, batching=batching), bodies)
        assert model.calls == calls, batching
        assert [a.json["predictions"] for a in answers] == [alone(served, d) for d in documents]


def test_a_failure_in_a_batch_is_a_500_for_each_request_alone(
    served: Served, log: RequestLog, capsys: pytest.CaptureFixture[str]
) -> None:
    app = build_app(replace(served, model=object()), log, batching=Batching(wait=WAIT))
    answers = at_once(app, [json.dumps(flight(i)).encode() for i in range(3)])
    assert [(a.status, a.json["error"]) for a in answers] == [
        (
            500,
            f"internal error (request r{i}): AttributeError: 'object' object has no attribute "
            "'predict_proba'",
        )
        for i in range(3)
    ]
    lines = [line for line in capsys.readouterr().err.splitlines() if "mlrepro serve" in line]
    assert sorted(lines) == [
        f"mlrepro serve: error: request r{i}: AttributeError: 'object' object has no attribute "
        "'predict_proba'"
        for i in range(3)
    ]


def test_the_batcher_gives_each_item_its_result_or_the_batch_s_exception() -> None:
    batches: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        batches.append(items)
        if -1 in items:
            raise ValueError("no negative items")
        return [10 * i for i in items]

    batcher = Batcher(run, lambda item: 1, Batching(max_rows=3, wait=WAIT), threads=1)

    async def submit_all(items: list[int]) -> list[Any]:
        results: list[Any] = [None] * len(items)

        async def one(i: int) -> None:
            try:
                results[i] = await batcher.submit(items[i])
            except ValueError as exc:
                results[i] = str(exc)

        async with anyio.create_task_group() as group:
            for i in range(len(items)):
                group.start_soon(one, i)
        return results

    before = set(threading.enumerate())
    assert anyio.run(submit_all, [1, 2, 3, 4]) == [10, 20, 30, 40]
    assert anyio.run(submit_all, [5, -1, 6]) == ["no negative items"] * 3
    assert batches == [[1, 2, 3], [4], [5, -1, 6]]
    workers = set(threading.enumerate()) - before
    assert [t.name for t in workers] == ["mlrepro-predict-1"]  # started with the first item
    batcher.close()
    assert not any(t.is_alive() for t in workers)


def test_parse_json_gives_the_document() -> None:
    assert parse_json(b'[{"a": 1, "b": null}]') == [{"a": 1, "b": None}]


# -- the request log


def record(n: int, pad: int = 60) -> dict[str, Any]:
    return {"n": n, "pad": "x" * pad}  # 80 bytes a line


def test_the_log_rotates_by_size_and_keeps_the_newest_files(tmp_path: Path) -> None:
    log = RequestLog.open(tmp_path, max_bytes=250, keep=2)
    for n in range(20):
        log.write([record(n)])
    log.close()
    files = log_files(tmp_path)
    assert [p.name.split("-")[0] for p in files] == ["requests"] * 2 + ["requests.jsonl"]
    assert [int(p.stem.split("-")[2]) for p in files[:2]] == [5, 6]  # 6 rotations, 2 kept
    assert all(p.stat().st_size <= 250 for p in files), [p.stat().st_size for p in files]
    assert [r["n"] for r in read_records(tmp_path)] == list(range(12, 20))


def test_one_request_spans_files_when_it_must_and_seq_goes_on_after_a_restart(
    tmp_path: Path,
) -> None:
    log = RequestLog.open(tmp_path, max_bytes=250, keep=10)
    log.write([record(n) for n in range(7)])
    log.close()
    again = RequestLog.open(tmp_path, max_bytes=250, keep=10)
    again.write([record(n) for n in range(7, 10)])
    again.close()
    seqs = [int(p.stem.split("-")[2]) for p in log_files(tmp_path)[:-1]]
    assert seqs == [1, 2, 3]
    assert [r["n"] for r in read_records(tmp_path)] == list(range(10))
    too_big = RequestLog.open(tmp_path, max_bytes=10, keep=10)
    too_big.write([record(10)])  # one record over the limit still gets a file of its own
    too_big.close()
    assert read_records(tmp_path)[-1]["n"] == 10


def test_keep_zero_keeps_only_the_current_file(tmp_path: Path) -> None:
    log = RequestLog.open(tmp_path, max_bytes=100, keep=0)
    log.write([record(n) for n in range(3)])
    log.close()
    assert [p.name for p in log_files(tmp_path)] == ["requests.jsonl"]


def test_read_records_skips_a_line_a_kill_cut_short_and_names_a_broken_one(
    tmp_path: Path,
) -> None:
    (tmp_path / "requests-20260101T000000Z-000001.jsonl").write_text('{"n": 0}\n{"n": 1}\n')
    (tmp_path / "requests.jsonl").write_text('{"n": 2}\n{"n": 3, "pa')
    assert read_records(tmp_path) == [{"n": 0}, {"n": 1}, {"n": 2}]
    (tmp_path / "requests.jsonl").write_text('{"n": 2}\n[1]\n{"n": 4}\n')
    with pytest.raises(DataError, match=r"requests\.jsonl:2: not a JSON record$"):
        read_records(tmp_path)
    with pytest.raises(DataError, match="no request log there"):
        read_records(tmp_path / "nothing")


FULL_DISK = """
import json, resource, signal, sys
from pathlib import Path
from mlrepro.serving.requestlog import RequestLog
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
log = RequestLog.open(Path(sys.argv[1]))
resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))  # no file grows past 200 bytes
line = lambda n: {"n": n, "pad": "x" * 60}  # 80 bytes
log.write([line(0)])
log.write([line(1), line(2)])  # 120 of its 160 bytes fit: a half-written record
log.write([line(3)])  # fits again
log.write([line(4)])  # full again
log.write([line(5)])
print(json.dumps(log.status()))
"""


def test_a_write_that_fails_drops_records_counts_them_and_the_log_goes_on(
    tmp_path: Path,
) -> None:
    """A real failing write (a file-size limit, as a full disk fails a write: part of the bytes
    written, then an error), in a process of its own."""
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    problem = f"{tmp_path}/requests.jsonl: cannot write: File too large"
    assert status == {"folder": str(tmp_path), "written": 2, "dropped": 4, "problem": problem}
    assert read_records(tmp_path) == [record(0), record(3)]  # no half record left behind
    warning = (
        f"mlrepro serve: warning: {problem}; request records are dropped until it can (counted "
        "on /health)"
    )
    assert done.stderr.splitlines() == [  # one line when it stops working, one when it works
        warning,
        "mlrepro serve: the request log is written again (2 records dropped so far)",
        warning,
    ]


def test_a_record_json_cannot_hold_is_dropped_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = RequestLog.open(tmp_path)
    log.write([record(0), {"n": float("nan")}])
    log.write([record(1)])
    assert (log.status()["written"], log.status()["dropped"]) == (1, 2)
    log.close()
    assert read_records(tmp_path) == [record(1)]
    assert capsys.readouterr().err == (
        "mlrepro serve: warning: records not logged: Out of range float values are not JSON "
        "compliant\n"
    )


def test_one_server_writes_a_folder(tmp_path: Path) -> None:
    first = RequestLog.open(tmp_path)
    with pytest.raises(LogError, match="another mlrepro serve writes its request log there"):
        RequestLog.open(tmp_path)
    first.close()
    RequestLog.open(tmp_path).close()


def test_a_folder_the_log_creates_is_git_ignored_an_existing_one_is_left_alone(
    tmp_path: Path,
) -> None:
    RequestLog.open(tmp_path / "logs" / "serving").close()
    assert (tmp_path / "logs" / "serving" / ".gitignore").read_text() == "*\n"
    RequestLog.open(tmp_path).close()
    assert not (tmp_path / ".gitignore").exists()


def test_the_record_shapes() -> None:
    base = {"time": "2026-01-01T00:00:00.000000Z", "request": "r", "model_md5": "m", "commit": "c"}
    rows = [{"carrier": "AA"}, {"carrier": "B6"}]
    assert prediction_records(
        base, rows, [{"x": 1.5}, {"x": float("nan")}], [{"p": 0.1}, {"p": 0.2}]
    ) == [
        base
        | {"status": 200, "row": 0, "input": rows[0], "features": {"x": 1.5}, "output": {"p": 0.1}},
        base
        | {
            "status": 200,
            "row": 1,
            "input": rows[1],
            "features": {"x": None},
            "output": {"p": 0.2},
        },
    ]
    error = {"error": "e", "field": "f", "row": 0}
    assert refusal_record(base, 422, error, rows) == base | {"status": 422, "error": error} | {
        "input": rows
    }
    assert refusal_record(base, 400, error) == base | {"status": 400, "error": error}


# -- the listening socket


def test_a_port_in_use_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    with pytest.raises(ServeError) as info:
        listen("127.0.0.1", port)
    taken.close()
    assert str(info.value) == (
        f"127.0.0.1:{port}: cannot listen: Address already in use (another process has it; "
        "choose another --port)"
    )
    free = listen("127.0.0.1", 0)
    assert free.getsockname()[1] > 0
    free.close()
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (("--max-batch", "0"), "argument --max-batch: '0': give a whole number, 1 or more"),
        (("--workers", "two"), "argument --workers: 'two': give a whole number, 1 or more"),
        (("--batch-wait", "-1"), "argument --batch-wait: '-1': give milliseconds from 0 to 1000"),
        (("--batch-wait", "x"), "argument --batch-wait: 'x': give milliseconds from 0 to 1000"),
    ],
)
def test_batching_options_out_of_range_are_one_line(
    tmp_path: Path, argv: tuple[str, ...], error: str
) -> None:
    result = mlrepro(tmp_path, "serve", *argv, code=2)
    assert result.stderr.splitlines()[-1] == f"mlrepro serve: error: {error}", result.stderr


def test_a_host_that_is_not_loopback_is_warned_about(capsys: pytest.CaptureFixture[str]) -> None:
    bound = listen("0.0.0.0", 0)  # bound, never listening: nothing is reachable
    bound.close()
    assert capsys.readouterr().err == (
        "mlrepro serve: warning: 0.0.0.0 is not a loopback address: anyone who can reach this "
        "machine can call the service (no authentication, no TLS)\n"
    )
