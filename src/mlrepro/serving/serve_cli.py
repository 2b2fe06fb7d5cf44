"""`mlrepro serve`: load a revision's model once, serve it over HTTP (uvicorn, this process).

Exit codes: 0 stopped by Ctrl-C or SIGTERM (after the requests in flight are answered); 2 usage
or input error (unknown revision, a model not in the local DVC cache, a port in use, a log
folder another server writes), with one line naming what and where.
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import socket
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from mlrepro.core.errors import MlreproError
from mlrepro.revisions import Repository, open_repo

if TYPE_CHECKING:
    from mlrepro.serving.served import Served

HELP = "serve a revision's model over HTTP: POST /predict, GET /health, GET /model"
DESCRIPTION = (
    "Loads the model the revision's dvc.lock names (from the local DVC cache, after its md5 "
    "matches) and answers JSON over HTTP: POST /predict takes one raw row of the main source or "
    "a list of them, checked against the SERVING view of the schema as mlrepro predict checks "
    "them (a refused row is a 4xx answer naming the field); GET /health; GET /model gives the "
    "model card, the provenance and the model's lineage. Each predicted row is logged (input, "
    "features, output) as JSON Lines in --log, rotated by size. Listens on loopback unless "
    "--host says otherwise; --port 0 picks a free port. Once listening, it prints one line on "
    "stdout: the URL, the model's md5 and commit. Requests waiting at the same time are "
    "predicted in one call (--max-batch, --batch-wait), each answer exactly the one it gets "
    "alone. Ctrl-C or SIGTERM stops it (exit 0)."
)
EXAMPLE = "Example: mlrepro serve --rev v1 --port 8000"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACE = 10  # seconds the requests in flight get after a stop signal
# The defaults of the service's batching (bench/SERVE_RESULTS.md measures others): one predict
# call takes the waiting requests up to MAX_BATCH_ROWS rows, after waiting up to BATCH_WAIT_MS
# for more; BATCH_WORKERS batches at once (a second one shares the GIL: slower on 2 cores).
MAX_BATCH_ROWS = 512
BATCH_WAIT_MS = 5.0
BATCH_WORKERS = 1


class ServeError(MlreproError):
    """The service cannot start: the address cannot be listened on."""


def add_commands(nouns: Any) -> None:
    from mlrepro.serving.requestlog import DEFAULT_KEEP, DEFAULT_MAX_MIB, LOG_DIR

    cmd: argparse.ArgumentParser = nouns.add_parser(
        "serve", help=HELP, description=DESCRIPTION, epilog=EXAMPLE
    )
    cmd.add_argument("--rev", default="HEAD", help="default: %(default)s; or 'workspace'")
    cmd.add_argument("--host", default="127.0.0.1", help="default: %(default)s (loopback)")
    cmd.add_argument("--port", type=_port, default=8000, help="default: %(default)s; 0: any free")
    cmd.add_argument(
        "--log", metavar="DIR", help=f"request log folder (default: {LOG_DIR}/ in the repository)"
    )
    cmd.add_argument(
        "--log-max-mib",
        type=_positive,
        default=DEFAULT_MAX_MIB,
        metavar="N",
        help="rotate the log file past N MiB (default: %(default)g)",
    )
    cmd.add_argument(
        "--log-keep",
        type=_count,
        default=DEFAULT_KEEP,
        metavar="N",
        help="rotated log files to keep (default: %(default)s)",
    )
    cmd.add_argument(
        "--max-batch",
        type=_at_least_one,
        default=MAX_BATCH_ROWS,
        metavar="ROWS",
        help="requests waiting at the same time are predicted in one call, up to this many rows "
        "(default: %(default)s; 1: each request alone)",
    )
    cmd.add_argument(
        "--batch-wait",
        type=_milliseconds,
        default=BATCH_WAIT_MS,
        metavar="MS",
        help="how long a batch waits for more requests before it is predicted (default: "
        "%(default)g ms; 0 suits a lone client that sends one request at a time)",
    )
    cmd.add_argument(
        "--workers",
        type=_at_least_one,
        default=BATCH_WORKERS,
        metavar="N",
        help="batches predicted at once, each on a thread of its own (default: %(default)s)",
    )
    cmd.set_defaults(func=cmd_serve)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: a port is a number from 0 to 65535")
    return int(text)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number")
    return value


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number, 0 or more")
    return int(text)


def _at_least_one(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number, 1 or more")
    return int(text)


def _milliseconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"{text!r}: give milliseconds from 0 to 1000")
    return value


def cmd_serve(args: argparse.Namespace) -> int:
    from mlrepro.serving.app import Batching, build_app
    from mlrepro.serving.requestlog import LOG_DIR, MIB, RequestLog
    from mlrepro.serving.served import load_served

    sock = listen(args.host, args.port)
    try:
        with open_repo(Path.cwd()) as repo:
            served = load_served(repo, args.rev)
            lineage, problem = model_lineage(repo, served)
            folder = Path(args.log) if args.log else repo.root / LOG_DIR
        log = RequestLog.open(folder, max_bytes=int(args.log_max_mib * MIB), keep=args.log_keep)
        batch = Batching(args.max_batch, args.batch_wait / 1000, args.workers)
        try:  # the revision's `threads` is pinned in each worker thread, where predictions run
            app = build_app(served, log, lineage=lineage, lineage_problem=problem, batching=batch)
            stopped_by = run(app, sock, announcement(sock, served))
        finally:
            log.close()
    finally:
        sock.close()
    print(f"mlrepro serve: stopped ({stopped_by})", file=sys.stderr)
    return 0


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (port 0: a free one); ServeError in one line when the
    address cannot be had. A host that is not loopback gets a warning."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ServeError(f"{host}:{port}: cannot listen: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        hint = " (another process has it; choose another --port)" if port else ""
        raise ServeError(f"{host}:{port}: cannot listen: {exc.strerror}{hint}") from None
    if not ipaddress.ip_address(sock.getsockname()[0]).is_loopback:
        print(
            f"mlrepro serve: warning: {host} is not a loopback address: anyone who can reach "
            "this machine can call the service (no authentication, no TLS)",
            file=sys.stderr,
        )
    return sock


def url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def announcement(sock: socket.socket, served: Served) -> str:
    commit = served.commit or "the workspace"
    return (
        f"mlrepro serve: listening on {url(sock)} (model {served.model_path} md5 "
        f"{served.model_md5}, commit {commit}, rev {served.rev})"
    )


def model_lineage(repo: Repository, served: Served) -> tuple[dict[str, Any] | None, str | None]:
    """`mlrepro lineage` of the model file at the revision, or None and the reason (the service
    runs without it; a warning line says so)."""
    from mlrepro.lineage.upstream import upstream

    try:
        return upstream(repo, served.model_path, served.rev).as_dict(), None
    except Exception as exc:  # optional: any failure leaves /model without lineage, not the service
        reason = str(exc) if isinstance(exc, MlreproError) else f"{type(exc).__name__}: {exc}"
        print(f"mlrepro serve: warning: no lineage on /model: {reason}", file=sys.stderr)
        return None, reason


def run(app: Any, sock: socket.socket, line: str) -> str:
    """Serve on `sock` until SIGINT or SIGTERM; print `line` once listening. Returns the name of
    the signal that stopped it."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                print(line, flush=True)

    config = uvicorn.Config(  # lifespan: the app stops its worker threads at shutdown
        app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=GRACE
    )
    server = Server(config)
    stops: list[str] = []

    def stop(number: int, frame: FrameType | None) -> None:
        # before uvicorn's own handlers are in place, and when it re-raises the signal it
        # caught after its graceful shutdown: record it, and stop (or keep stopping)
        stops.append(signal.Signals(number).name)
        server.should_exit = True

    previous = {s: signal.signal(s, stop) for s in STOP_SIGNALS}
    try:
        server.run(sockets=[sock])
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return stops[0] if stops else "server exited"
