"""What a sweep gives back, as data: a progress `Event`, each configuration's `Result`, the
`SweepResult` ranked by the gated `Metric`; rendered by `render`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlrepro.core.errors import MlreproError


class SweepInterrupted(MlreproError):
    """Ctrl-C or SIGTERM: the tasks are cancelled, their dvc processes stopped."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


@dataclass(frozen=True)
class Event:
    """A progress line: `kind` is start, note, queued, running, done, failed or exists."""

    name: str
    kind: str
    text: str


Progress = Callable[[Event], None]


@dataclass(frozen=True)
class Metric:
    key: str | None  # the gated metric to rank by; None without gates
    higher_is_better: bool = True
    baseline: Any = None  # its value at the commit


@dataclass(frozen=True)
class Result:
    name: str
    overrides: tuple[str, ...]
    status: str  # "Success" or "Failed"
    reason: str | None = None
    value: Any = None  # the ranking metric's value
    worker: str | None = None
    attempts: int = 0  # times a worker started it
    seconds: float | None = None  # dvc exp run's wall time
    experiment: str | None = None  # the experiment's commit
    existed: bool = False  # made by an earlier sweep of the same commit
    pulled: str | None = None  # the git remote it was pulled from (a worker elsewhere)
    log: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class SweepResult:
    commit: str
    cluster: str
    metric: Metric
    results: tuple[Result, ...]

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if r.status != "Success"]

    def ranked(self) -> list[Result]:
        """Successes best first by the metric (those without a value after), then failures."""
        sign = -1 if self.metric.higher_is_better else 1

        def order(r: Result) -> tuple[int, float, str]:
            if r.status != "Success":
                return (2, 0.0, r.name)
            if not isinstance(r.value, int | float) or isinstance(r.value, bool):
                return (1, 0.0, r.name)
            return (0, sign * float(r.value), r.name)

        return sorted(self.results, key=order)

    def as_dict(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "cluster": self.cluster,
            "metric": self.metric.__dict__,
            "results": [r.as_dict() for r in self.ranked()],
        }
