"""The thread count of the numeric libraries (OpenMP, BLAS) in a stage: params.yaml `threads`.

HistGradientBoosting sums gradients with an OpenMP reduction, and the model file records the thread
count it was fitted with, so the bytes of a model depend on the number of threads. Pinning one
recorded value makes them a function of the inputs, code and params only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits


@contextmanager
def pinned_threads(threads: int | None) -> Iterator[None]:
    """Limit every loaded OpenMP and BLAS runtime to `threads` (None: the libraries' default,
    which depends on the machine and OMP_NUM_THREADS)."""
    if threads is None:
        yield
        return
    with threadpool_limits(limits=threads):
        yield
