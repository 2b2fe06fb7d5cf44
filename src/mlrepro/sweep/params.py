"""Every configuration's params, checked on the client before any task starts.

Each configuration's overrides are applied to its params files as the commit holds them, by
DVC's own `apply_overrides` (what `dvc exp run -S` does in the checkout), so a key that the file
lacks is refused as DVC refuses it (`+KEY=VALUE` adds one). params.yaml is then read by the
stages' own parser (`core.params.parse_params`: unknown keys, types and ranges of every section)
and its `train:` keys checked as estimator arguments, the checks of `mlrepro params check` that
need no data. The values of `train:` are the estimator's to judge, in the train stage: a bad one
fails its configuration with the stage's own line, and the others run.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from mlrepro.core.errors import MlreproError
from mlrepro.revisions import Repository, Rev
from mlrepro.sweep.grid import PARAMS_FILE, Config, SweepError


def check_configs(repo: Repository, commit: str, configs: Sequence[Config]) -> list[str]:
    """Raise a SweepError naming the first configuration whose params would not run; return
    the configurations whose `threads` is not 1 (their model bytes follow the worker)."""
    rev = Rev(commit[:12], commit)
    texts = {PARAMS_FILE: _read(repo, rev, PARAMS_FILE)}
    unpinned = []
    with tempfile.TemporaryDirectory(prefix="mlrepro-sweep-params-") as tmp:
        for config in configs:
            params = texts[PARAMS_FILE].decode("utf-8")
            for path, overrides in config.by_file().items():
                if path not in texts:
                    texts[path] = _read(repo, rev, path)
                applied = _apply(Path(tmp), path, texts[path], overrides, config)
                params = applied if path == PARAMS_FILE else params
            if _threads(params, config) != 1:
                unpinned.append(config.label)
    return unpinned


def _read(repo: Repository, rev: Rev, path: str) -> bytes:
    data = repo.read(rev, path)
    if data is None:
        raise SweepError(f"-S {path}:...: {path} is not in commit {rev.name}")
    return data


def _apply(tmp: Path, path: str, text: bytes, overrides: list[str], config: Config) -> str:
    """The params file with the overrides applied by DVC."""
    from dvc.exceptions import InvalidArgumentError
    from dvc.utils.hydra import apply_overrides

    target = tmp / Path(path).name
    target.write_bytes(text)
    try:
        apply_overrides(target, overrides)
    except InvalidArgumentError as exc:
        raise SweepError(f"-S {config.label}: {path}: {_why(exc)}") from None
    return target.read_text(encoding="utf-8")


def _why(exc: BaseException) -> str:
    """Hydra's reason (`Could not override 'train.foo'. To append ... use +train.foo=1`)."""
    cause = exc.__cause__ or exc
    lines = [ln.strip() for ln in str(cause).splitlines() if ln.strip()]
    if lines and lines[0].startswith("Could not override"):
        key = lines[0].split("'")[1] if "'" in lines[0] else "?"
        hint = next((ln for ln in lines if ln.startswith("To append")), "")
        add = f" (to add it: {hint.split(' use ', 1)[1]})" if " use " in hint else ""
        return f"no param {key}{add}"
    return lines[0] if lines else type(cause).__name__


def _threads(text: str, config: Config) -> int | None:
    """params.yaml checked as the stages read it; its `threads`."""
    from mlrepro.core.params import parse_params
    from mlrepro.pipeline.model import check_estimator_params

    try:
        params = parse_params(text, PARAMS_FILE)
        check_estimator_params(params.train)
    except MlreproError as exc:
        raise SweepError(f"-S {config.label}: {exc}") from None
    return params.threads
