"""The HTTP JSON service of `mlrepro serve`, a Starlette app around one loaded model.

- `POST /predict`: a JSON object (one row) or a list of them, raw rows of the main source as
  `mlrepro predict` reads them; 200 `{"request", "predictions": [...], "model": {md5, commit,
  rev}}`, one prediction per row in order (the key columns, `probability`, the label).
- `GET /health`: 200 `{"status": "ok", "model": {...}, "log": {folder, written, dropped,
  problem}}`.
- `GET /model`: the model card, the provenance and `mlrepro lineage` of the model file.

Every other answer is JSON `{"error", "field", "row"}`: 400 not UTF-8 or not JSON (NaN, a number
out of range, half a surrogate pair, a key given twice in one object included), 413 a body over
MAX_BODY_BYTES, 415 a content type that is not JSON (a request without one is read as JSON), 422
what the SERVING schema refuses (a missing field, a wrong type, a value out of bounds or domain),
404 and 405 as Starlette routes, 500 an unexpected exception (one line; the traceback goes to
stderr; the server keeps serving). Each /predict answer carries `X-Request-ID` (the client's,
when it sent a plain one).

The work of a /predict request (parsing, typing, predicting, logging) runs on worker threads, at
most `workers` at once (default: the CPUs this process may use): the event loop stays free to
accept and read requests, and requests beyond that wait their turn instead of sharing the cores.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import traceback
import uuid
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from mlrepro.serving.predict import InputError, output_records, predict, records_frame
from mlrepro.serving.requestlog import (
    MIB,
    RequestLog,
    plain,
    prediction_records,
    refusal_record,
    utc_now,
)
from mlrepro.serving.served import Served

MAX_BODY_BYTES = 1 * MIB
DRAIN_BYTES = 16 * MIB  # an over-size body is read (and dropped) up to this, then cut off
REQUEST_ID = "x-request-id"
SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")  # a surrogate's escape: lone, or half a pair
PLAIN_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # a client's id kept as it is
ROUTES = "POST /predict, GET /health, GET /model"


class Refused(Exception):
    """A /predict request answered with an error: its status and the JSON error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        row: int | None = None,
        rows: Any = None,
    ) -> None:
        super().__init__(message)
        self.status, self.rows = status, rows  # rows: the parsed body, for the log
        self.error = {"error": message, "field": field, "row": row}


def to_json(document: Any) -> bytes:
    text = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8")


def json_response(status: int, document: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(to_json(document), status, headers, media_type="application/json")


def check_content_type(value: str | None) -> None:
    """Refused 415 unless `value` is JSON (application/json or application/*+json) in UTF-8;
    no content type at all is taken as JSON."""
    if not value:
        return
    media, _, parameters = value.partition(";")
    media = media.strip().lower()
    is_json = media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )
    charset = next(
        (p.split("=", 1)[1].strip().strip('"').lower() for p in parameters.split(";") if "=" in p),
        "utf-8",
    )
    if not is_json or charset not in ("utf-8", "utf8"):
        raise Refused(415, f"content type {value!r}: send application/json in UTF-8")


def parse_json(body: bytes) -> Any:
    """The JSON document of a body; Refused 400 naming what is wrong and where."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(400, f"body: not UTF-8 (byte {exc.start + 1})") from None
    try:
        document = json.loads(
            text, parse_constant=_not_json, parse_float=_finite, object_pairs_hook=_unique_keys
        )
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise Refused(400, f"body: not JSON: {exc.msg} ({where})") from None
    except (RecursionError, ValueError) as exc:  # nested too deep; an int of 4,300+ digits
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise Refused(400, f"body: not JSON this service reads: {why}") from None
    if SURROGATE.search(body):  # JSON allows "\ud800" escapes; no UTF-8 text holds one
        try:
            json.dumps(document, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            message = "body: a \\u escape is half of a UTF-16 surrogate pair, not a character"
            raise Refused(400, message) from None
    return document


def _not_json(name: str) -> Any:
    raise Refused(400, f"body: not JSON: {name} is not a JSON value (send null for a missing one)")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise Refused(400, f"body: not JSON this service reads: {text} is out of range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise Refused(400, f"body: field {key!r} given twice in one object", field=key)
        found[key] = value
    return found


async def read_body(request: Request, limit: int) -> bytes:
    """The body; Refused 413 when it is over `limit` bytes. An over-size body is still read
    (and dropped) up to DRAIN_BYTES, so that the client, still sending, hears why; a larger one
    is cut off (the client sees the connection reset)."""
    length = request.headers.get("content-length", "")
    declared = int(length) if length.isdigit() else None
    if declared is not None and declared > DRAIN_BYTES:
        raise Refused(413, _too_large(declared, limit))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > DRAIN_BYTES:
            break
    if size > limit:
        raise Refused(413, _too_large(declared, limit))
    return b"".join(chunks)


def _too_large(declared: int | None, limit: int) -> str:
    size = "" if declared is None else f" of {declared} bytes"
    return f"body{size}: over the limit of {limit} bytes; send fewer rows at once"


def request_id(request: Request) -> str:
    sent = request.headers.get(REQUEST_ID, "")
    return sent if PLAIN_ID.match(sent) else uuid.uuid4().hex


def internal_error(request: str, exc: BaseException) -> dict[str, Any]:
    """The 500 body: one line; the traceback goes to stderr."""
    line = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
    print(f"mlrepro serve: error: request {request}: {line}", file=sys.stderr, flush=True)
    traceback.print_exception(exc, file=sys.stderr)
    return {"error": f"internal error (request {request}): {line}", "field": None, "row": None}


class Service:
    """What the routes share: the model, the log, the static answers, the worker limit."""

    def __init__(self, served: Served, log: RequestLog, model_page: dict[str, Any], workers: int):
        self.served, self.log, self.workers = served, log, workers
        self.model = {"md5": served.model_md5, "commit": served.commit, "rev": served.rev}
        self.model_page = to_json({"model": self.model, **model_page})
        self._limiter: anyio.CapacityLimiter | None = None

    async def predict(self, request: Request) -> Response:
        rid = request_id(request)
        headers = {"X-Request-ID": rid}
        try:
            check_content_type(request.headers.get("content-type"))
            body = await read_body(request, MAX_BODY_BYTES)
        except Refused as refused:
            record = refusal_record(self._base(rid), refused.status, refused.error)
            await anyio.to_thread.run_sync(self.log.write, [record])
            return json_response(refused.status, refused.error, headers)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody reads it
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.workers)
        status, answer = await anyio.to_thread.run_sync(
            self.respond, rid, body, limiter=self._limiter
        )
        return Response(answer, status, headers, media_type="application/json")

    def respond(self, rid: str, body: bytes) -> tuple[int, bytes]:
        """The status and body of a /predict answer; its records go to the log. Never raises."""
        base = self._base(rid)
        try:
            answer, records = self._predict(rid, body, base)
            status = 200
        except Refused as refused:
            status, answer = refused.status, to_json(refused.error)
            records = [refusal_record(base, status, refused.error, refused.rows)]
        except Exception as exc:  # a bug, not the input: answer 500 and keep serving
            error = internal_error(rid, exc)
            status, answer, records = 500, to_json(error), [refusal_record(base, 500, error)]
        self.log.write(records)
        return status, answer

    def _predict(
        self, rid: str, body: bytes, base: dict[str, Any]
    ) -> tuple[bytes, list[dict[str, Any]]]:
        document = parse_json(body)
        try:
            predictions = predict(self.served, records_frame(document), where="body")
        except InputError as exc:
            raise Refused(422, str(exc), field=exc.field, row=exc.row, rows=document) from None
        rows = [document] if isinstance(document, dict) else document
        answers = output_records(predictions.frame)
        keys = set(self.served.keys)
        outputs = [{k: v for k, v in a.items() if k not in keys} for a in answers]
        features = [plain(f) for f in output_records(predictions.features)]
        records = prediction_records(base, rows, features, outputs)
        answer = {"request": rid, "predictions": answers, "model": self.model}
        return to_json(answer), records

    def _base(self, rid: str) -> dict[str, Any]:
        return {
            "time": utc_now(),
            "request": rid,
            "model_md5": self.served.model_md5,
            "commit": self.served.commit,
        }

    async def health(self, request: Request) -> Response:
        log = await anyio.to_thread.run_sync(self.log.status)
        return json_response(200, {"status": "ok", "model": self.model, "log": log})

    async def model_card(self, request: Request) -> Response:
        return Response(self.model_page, 200, media_type="application/json")


async def http_error(request: Request, exc: Exception) -> Response:
    """404, 405 (and any other HTTPException) as the service's JSON error."""
    assert isinstance(exc, HTTPException)
    phrase = HTTPStatus(exc.status_code).phrase.lower()
    allowed = (exc.headers or {}).get("Allow")
    detail = f"allowed: {allowed}" if allowed else f"this service answers {ROUTES}"
    message = f"{request.method} {request.url.path}: {phrase} ({detail})"
    document = {"error": message, "field": None, "row": None}
    return json_response(exc.status_code, document, exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    """An exception no route caught: a JSON 500 (Starlette then logs its traceback)."""
    return json_response(500, internal_error(request_id(request), exc))


def build_app(
    served: Served,
    log: RequestLog,
    *,
    lineage: Mapping[str, Any] | None = None,
    lineage_problem: str | None = None,
    workers: int | None = None,
) -> Starlette:
    """The service for `served`, logging to `log`. `lineage` is `mlrepro lineage` of the model
    file (`Upstream.as_dict()`), computed once by the caller; `lineage_problem` says why there is
    none. At most `workers` predictions run at once (default: the CPUs this process may use)."""
    page = {
        "card": served.card,
        "provenance": served.provenance(),
        "lineage": None if lineage is None else dict(lineage),
        "lineage_problem": lineage_problem,
    }
    service = Service(served, log, page, workers or len(os.sched_getaffinity(0)))
    routes = [
        Route("/predict", service.predict, methods=["POST"]),
        Route("/health", service.health, methods=["GET"]),
        Route("/model", service.model_card, methods=["GET"]),
    ]
    handlers = {HTTPException: http_error, Exception: server_error}
    return Starlette(routes=routes, exception_handlers=handlers)
