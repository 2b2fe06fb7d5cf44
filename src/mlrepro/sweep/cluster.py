"""The Dask cluster a sweep runs on: a `LocalCluster` of worker processes on this machine
(loopback only, one thread each, no dashboard), or the scheduler at `--scheduler ADDRESS`.

On the local cluster Ctrl-C at the terminal reaches the worker processes too (one process
group): they ignore it (`dask_setup`, preloaded), and the client cancels the tasks, stops their
dvc processes and closes the cluster. A task whose worker dies is run once more on another
worker, then reported as failed (`distributed.scheduler.allowed-failures` 1, Dask's default
being 3); a scheduler started elsewhere keeps its own setting.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mlrepro.sweep.grid import SweepError

ALLOWED_FAILURES = 1  # local cluster: a task is re-run once after its worker died
CONNECT_TIMEOUT = "10s"


@dataclass(frozen=True)
class Cluster:
    client: Any  # distributed.Client
    description: str  # for the first progress line
    local: bool


@contextmanager
def connect(scheduler: str | None, workers: int) -> Iterator[Cluster]:
    """A client on the cluster, closed (the local cluster's workers with it) on exit."""
    if scheduler is None:
        with local_cluster(workers) as cluster:
            yield cluster
        return
    from distributed import Client

    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError, ValueError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SweepError(f"--scheduler {scheduler}: cannot connect: {why}") from None
    try:
        count = len(client.scheduler_info(n_workers=-1).get("workers", {}))
        yield Cluster(client, f"scheduler {scheduler} ({count} workers now)", local=False)
    finally:
        client.close()  # type: ignore[no-untyped-call]


@contextmanager
def local_cluster(workers: int) -> Iterator[Cluster]:
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
            preload=[__name__],  # dask_setup below, in every worker process
        )
        try:
            client = Client(cluster)  # type: ignore[no-untyped-call]
            try:
                plural = "s" if workers != 1 else ""
                yield Cluster(client, f"a local cluster of {workers} worker{plural}", local=True)
            finally:
                client.close()  # type: ignore[no-untyped-call]
        finally:
            cluster.close()


def dask_setup(worker: Any) -> None:
    """Run in each local worker process as it starts (a Dask preload): ignore SIGINT, which the
    client handles for the whole sweep, instead of dying of it with a traceback."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
