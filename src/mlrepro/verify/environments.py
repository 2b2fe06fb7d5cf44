"""The environments a verify run gets: the caller's as it is, or, with `--vary`, two that differ
in each chosen aspect (as reprotest does), so that hidden nondeterminism shows before a user
finds it."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlrepro.core.errors import MlreproError

THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# aspect -> (variables of run a, variables of run b)
VARIABLES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "threads": ({v: "1" for v in THREADS}, {v: "3" for v in THREADS}),
    "tz": ({"TZ": "UTC"}, {"TZ": "Asia/Seoul"}),
    "locale": ({"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}, {"LC_ALL": "C", "LANG": "C"}),
    "hashseed": ({"PYTHONHASHSEED": "0"}, {"PYTHONHASHSEED": "4242"}),
    "user": ({}, {"USER": "mlrepro-verify", "LOGNAME": "mlrepro-verify"}),
}
ASPECTS = (*VARIABLES, "umask", "path")


@dataclass(frozen=True)
class Environment:
    label: str  # "run", "run a", "run b"
    folder: str  # the checkout's folder name in the temporary place
    variables: dict[str, str] = field(default_factory=dict)
    umask: int | None = None  # None: the caller's

    def describe(self) -> dict[str, str]:
        shown = dict(sorted(self.variables.items()))
        if self.umask is not None:
            shown["umask"] = f"{self.umask:03o}"
        shown["path"] = self.folder
        return shown


def parse_aspects(text: str) -> tuple[str, ...]:
    """`threads,tz` -> ("threads", "tz"); `all` -> every aspect. Unknown names are refused."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return ASPECTS
    for name in names:
        if name not in ASPECTS:
            raise MlreproError(
                f"--vary: unknown aspect {name!r} (known: all, {', '.join(ASPECTS)})"
            )
    if not names:
        raise MlreproError(f"--vary: name at least one aspect (known: all, {', '.join(ASPECTS)})")
    return tuple(dict.fromkeys(names))


def environments(aspects: tuple[str, ...]) -> list[Environment]:
    """One environment (the caller's) without aspects; two that differ in each aspect with."""
    if not aspects:
        return [Environment("run", "run")]
    a: dict[str, str] = {}
    b: dict[str, str] = {}
    for aspect in aspects:
        if aspect in VARIABLES:
            a.update(VARIABLES[aspect][0])
            b.update(VARIABLES[aspect][1])
    umask: tuple[int | None, int | None] = (0o022, 0o077) if "umask" in aspects else (None, None)
    folder_b = "run b (a path with spaces)" if "path" in aspects else "run-b"
    return [
        Environment("run a", "run-a", a, umask[0]),
        Environment("run b", folder_b, b, umask[1]),
    ]
