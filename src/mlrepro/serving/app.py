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

The work of a /predict request (parsing, typing, predicting, logging) runs on the service's own
worker threads (`Batching.workers`), so that the event loop stays free to accept and read
requests. Requests waiting at the same time are scored in one `predict` call (dynamic batching,
as TF Serving and Triton do: most of a call's cost is the same for 1 row as for 500): a free
worker takes every waiting request up to `max_rows` rows, waiting up to `wait` seconds for more,
and splits the predictions back per request. A row refused in a batch fails only its own
request: the batch is then scored request by request, so that every answer (and log record) is
exactly the one the request gets alone. `max_rows=1` scores each request alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import queue
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Generic, TypeVar

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from mlrepro.core.threads import pinned_threads
from mlrepro.serving.predict import (
    Cells,
    InputError,
    cells_frame,
    output_records,
    predict,
    record_cells,
)
from mlrepro.serving.requestlog import (
    MIB,
    RequestLog,
    plain,
    prediction_records,
    refusal_record,
    utc_now,
)
from mlrepro.serving.serve_cli import (  # the defaults, with the CLI that shows them
    BATCH_WAIT_MS,
    BATCH_WORKERS,
    MAX_BATCH_ROWS,
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


T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Batching:
    """How /predict requests share `predict` calls."""

    max_rows: int = MAX_BATCH_ROWS  # a batch takes waiting requests up to this many rows (1: alone)
    wait: float = BATCH_WAIT_MS / 1000  # seconds a batch waits for more requests
    workers: int = BATCH_WORKERS  # batches scored at once, each on a thread of its own


class _Waiting(Generic[T, R]):
    """An item submitted from an event loop, and the future that loop awaits."""

    def __init__(self, item: T, loop: asyncio.AbstractEventLoop) -> None:
        self.item, self.loop = item, loop
        self.future: asyncio.Future[R] = loop.create_future()
        self.rows: int | None = None

    def settle(self, result: R | None = None, error: BaseException | None = None) -> None:
        def done() -> None:
            if self.future.done():  # cancelled: the client went away
                return
            if error is None:
                self.future.set_result(result)  # type: ignore[arg-type]
            else:
                self.future.set_exception(error)

        with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits for it
            self.loop.call_soon_threadsafe(done)


class Batcher(Generic[T, R]):
    """Runs submitted items in batches on threads of its own: a free worker takes the oldest
    waiting item and the others waiting behind it up to `max_rows` rows (`size(item)`; an item is
    never split, the first is always taken), waiting up to `wait` seconds for more, and gives
    them to one `run(items)` call (one result per item, in order). `size` and `run` are not to
    raise; if they do, the items of that batch get the exception. Each worker holds the
    libraries' thread limit (`threads`) for its life: OpenMP's limit is per thread."""

    def __init__(
        self,
        run: Callable[[list[T]], list[R]],
        size: Callable[[T], int],
        batching: Batching,
        *,
        threads: int | None,
    ) -> None:
        self._run, self._size, self.threads = run, size, threads
        self.max_rows, self.wait = max(1, batching.max_rows), max(0.0, batching.wait)
        self.workers = max(1, batching.workers)
        self._queue: queue.SimpleQueue[_Waiting[T, R] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    async def submit(self, item: T) -> R:
        waiting: _Waiting[T, R] = _Waiting(item, asyncio.get_running_loop())
        if not self._threads:
            self._start()
        self._queue.put(waiting)
        return await waiting.future

    def close(self) -> None:
        """Stop the workers after the batches they hold (items still waiting are left)."""
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join()

    def _start(self) -> None:
        with self._lock:
            while len(self._threads) < self.workers:
                name = f"mlrepro-predict-{len(self._threads) + 1}"
                thread = threading.Thread(target=self._work, name=name, daemon=True)
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        with pinned_threads(self.threads):
            carry: _Waiting[T, R] | None = None
            while True:
                first = carry or self._queue.get()
                if first is None:
                    return
                batch: list[_Waiting[T, R]] = [first]
                try:
                    carry = self._collect(batch)
                    results = self._run([w.item for w in batch])
                except Exception as exc:  # a bug: the batch's requests fail, the worker goes on
                    carry = None
                    for waiting in batch:
                        waiting.settle(error=exc)
                    continue
                for waiting, result in zip(batch, results, strict=True):
                    waiting.settle(result)

    def _collect(self, batch: list[_Waiting[T, R]]) -> _Waiting[T, R] | None:
        """Add the items waiting behind `batch[0]` that fit; the first that does not, if any."""
        rows = self._rows(batch[0])
        deadline = time.monotonic() + self.wait
        while rows < self.max_rows:
            left = deadline - time.monotonic()
            try:
                waiting = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                return None
            if waiting is None:  # close(): keep it for the loop
                self._queue.put(None)
                return None
            batch.append(waiting)
            rows += self._rows(waiting)
            if rows > self.max_rows and len(batch) > 1:
                return batch.pop()
        return None

    def _rows(self, waiting: _Waiting[T, R]) -> int:
        if waiting.rows is None:
            waiting.rows = self._size(waiting.item)
        return waiting.rows


class Job:
    """One /predict request in a worker: its body, then its rows, then its answer and records."""

    def __init__(self, rid: str, body: bytes) -> None:
        self.rid, self.body = rid, body
        self.base: dict[str, Any] = {}
        self.document: Any = None
        self.cells: Cells | None = None  # None: refused (or failed) before predicting
        self.answer: tuple[int, bytes] = (500, b"")
        self.records: list[dict[str, Any]] = []


class Service:
    """What the routes share: the model, the log, the static answers, the batcher."""

    def __init__(
        self, served: Served, log: RequestLog, model_page: dict[str, Any], batching: Batching
    ) -> None:
        self.served, self.log = served, log
        self.model = {"md5": served.model_md5, "commit": served.commit, "rev": served.rev}
        self.model_page = to_json({"model": self.model, **model_page})
        self.batcher: Batcher[Job, tuple[int, bytes]] = Batcher(
            self.answer, self.parse, batching, threads=served.params.threads
        )

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
        status, answer = await self.batcher.submit(Job(rid, body))
        return Response(answer, status, headers, media_type="application/json")

    def parse(self, job: Job) -> int:
        """The job's body as JSON rows; their count (0 when refused: its answer is then set).
        Never raises."""
        job.base = self._base(job.rid)
        try:
            job.document = parse_json(job.body)
            job.cells = record_cells(job.document)
        except Refused as refused:
            self._refuse(job, refused)
        except InputError as exc:
            refusal = Refused(422, str(exc), field=exc.field, row=exc.row, rows=job.document)
            self._refuse(job, refusal)
        except Exception as exc:  # a bug, not the input: answer 500 and keep serving
            self._fail(job, exc)
        return 0 if job.cells is None else job.cells[1]

    def answer(self, jobs: list[Job]) -> list[tuple[int, bytes]]:
        """The status and body of each job's answer: the rows of all in one `predict` call, or,
        when one is refused or fails, each alone (so every answer is the one it gets alone);
        their records go to the log, in order. Never raises."""
        ready = [(job, job.cells) for job in jobs if job.cells is not None]
        if len(ready) < 2 or not self._together(ready):
            for job, cells in ready:
                self._alone(job, cells)
        self.log.write([record for job in jobs for record in job.records])
        return [job.answer for job in jobs]

    def _together(self, ready: list[tuple[Job, Cells]]) -> bool:
        try:
            frame = cells_frame([cells for _, cells in ready])
            predictions = predict(self.served, frame, where="body", pin=False)
            answers = output_records(predictions.frame)
            features = output_records(predictions.features)
            start = 0
            for job, (_, rows) in ready:
                self._predicted(job, answers[start : start + rows], features[start : start + rows])
                start += rows
        except Exception:  # a row refused, or a failure: alone, each request says its own
            return False
        return True

    def _alone(self, job: Job, cells: Cells) -> None:
        try:
            predictions = predict(self.served, cells_frame([cells]), where="body", pin=False)
            answers = output_records(predictions.frame)
            self._predicted(job, answers, output_records(predictions.features))
        except InputError as exc:
            refused = Refused(422, str(exc), field=exc.field, row=exc.row, rows=job.document)
            self._refuse(job, refused)
        except Exception as exc:  # a bug, not the input: answer 500 and keep serving
            self._fail(job, exc)

    def _predicted(
        self, job: Job, answers: list[dict[str, Any]], features: list[dict[str, Any]]
    ) -> None:
        keys = set(self.served.keys)
        outputs = [{k: v for k, v in a.items() if k not in keys} for a in answers]
        rows = [job.document] if isinstance(job.document, dict) else job.document
        job.records = prediction_records(job.base, rows, [plain(f) for f in features], outputs)
        job.answer = 200, to_json({"request": job.rid, "predictions": answers, "model": self.model})

    def _refuse(self, job: Job, refused: Refused) -> None:
        job.answer = refused.status, to_json(refused.error)
        job.records = [refusal_record(job.base, refused.status, refused.error, refused.rows)]

    def _fail(self, job: Job, exc: Exception) -> None:
        error = internal_error(job.rid, exc)
        job.answer = 500, to_json(error)
        job.records = [refusal_record(job.base, 500, error)]

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
    batching: Batching | None = None,
) -> Starlette:
    """The service for `served`, logging to `log`. `lineage` is `mlrepro lineage` of the model
    file (`Upstream.as_dict()`), computed once by the caller; `lineage_problem` says why there is
    none. `batching`: how requests share predict calls (default `Batching()`). Its worker
    threads start with the first request; the app's lifespan shutdown stops them."""
    page = {
        "card": served.card,
        "provenance": served.provenance(),
        "lineage": None if lineage is None else dict(lineage),
        "lineage_problem": lineage_problem,
    }
    service = Service(served, log, page, batching or Batching())
    routes = [
        Route("/predict", service.predict, methods=["POST"]),
        Route("/health", service.health, methods=["GET"]),
        Route("/model", service.model_card, methods=["GET"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await anyio.to_thread.run_sync(service.batcher.close)

    handlers = {HTTPException: http_error, Exception: server_error}
    return Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)
