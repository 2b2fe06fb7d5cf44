"""The minimal handler bench/serve.py sets beside `mlrepro serve`: the same model (loaded by
`load_served`, md5 checked), behind one Starlette route with no validation at all. POST /predict
takes one already-featurized row (a JSON object of the model's features) -> a DataFrame ->
`predict_proba` -> `{"probability": p}`, on the event loop (`--empty`: no model, a constant
answer: what HTTP alone costs). The same listening socket, uvicorn settings, stop signals and
listening line as `mlrepro serve` (serve_cli's `listen` and `run`).

    .venv/bin/python bench/serve_minimal.py --port 0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mlrepro.core.threads import pinned_threads
from mlrepro.revisions import open_repo
from mlrepro.serving.serve_cli import announcement, listen, run
from mlrepro.serving.served import Served, load_served


def minimal_app(served: Served, *, empty: bool = False) -> Starlette:
    """`empty`: read the body and answer a constant, no model: what HTTP alone costs."""
    features = list(served.params.featurize.features)
    model: Any = served.model

    async def predict(request: Request) -> Response:
        row = json.loads(await request.body())
        if empty:
            return Response(b'{"probability": null}', 200, media_type="application/json")
        probability = float(model.predict_proba(pd.DataFrame([row], columns=features))[0, 1])
        body = json.dumps({"probability": probability}).encode()
        return Response(body, 200, media_type="application/json")

    return Starlette(routes=[Route("/predict", predict, methods=["POST"])])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--empty", action="store_true", help="no model: a constant answer")
    args = parser.parse_args()
    sock = listen("127.0.0.1", args.port)
    with open_repo(Path.cwd()) as repo:
        served = load_served(repo, args.rev)
    with pinned_threads(served.params.threads):  # the predictions run on this (the loop's) thread
        run(minimal_app(served, empty=args.empty), sock, announcement(sock, served))
    sock.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
