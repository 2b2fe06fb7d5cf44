"""Model files: written with skops (no pickle), byte-identical for identical models, and loaded
only after their hash matches the record that produced them, through skops' loader, which refuses
any type not listed in TRUSTED_TYPES (kept here, in the repository, never in the model file).

skops names the arrays in its zip after object ids, marks shared objects with their id
(`__id__`), and stamps each entry with the current local time; `canonical` renumbers both by
their order in the schema and fixes the stamps, so the same model gives the same bytes in every
process, time zone and machine.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from mlrepro.core.errors import MlreproError
from mlrepro.core.files import atomic_path

SUFFIX = ".skops"
# The types of the model Pipeline that skops does not trust by default: exactly these may be
# loaded. Anything else in a model file (a function, a class of another package) is refused.
TRUSTED_TYPES = [
    "functools.partial",
    "mlrepro.pipeline.model.as_model_input",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
]
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
SCHEMA = "schema.json"


class ModelFileError(MlreproError):
    """A model file whose hash is not the recorded one, or that holds untrusted types."""


def _renamed(node: Any, names: dict[str, str], known: set[str], ids: dict[int, int]) -> Any:
    """The schema with every member-file reference and object id renumbered in order of first
    appearance (the same old id or name always gets the same new one)."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "file" and isinstance(value, str) and value in known:
                if value not in names:
                    names[value] = f"{len(names)}{Path(value).suffix}"
                out[key] = names[value]
            elif key == "__id__" and isinstance(value, int):
                out[key] = ids.setdefault(value, len(ids))
            else:
                out[key] = _renamed(value, names, known, ids)
        return out
    if isinstance(node, list):
        return [_renamed(v, names, known, ids) for v in node]
    return node


def canonical(data: bytes) -> bytes:
    """A skops file with members named 0.npy, 1.npy, ... and fixed zip metadata."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        known = set(source.namelist()) - {SCHEMA}
        names: dict[str, str] = {}
        schema = _renamed(json.loads(source.read(SCHEMA)), names, known, {})
        if set(names) != known:
            raise ModelFileError("skops wrote a member the schema does not name; cannot fix it")
        members = [(new, source.read(old)) for old, new in names.items()]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as target:
        for name, content in [*members, (SCHEMA, json.dumps(schema, indent=2).encode())]:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.create_system, info.external_attr = 3, 0o644 << 16
            target.writestr(info, content)
    return out.getvalue()


def dumps(model: Any) -> bytes:
    import skops.io

    return canonical(skops.io.dumps(model))


def save(model: Any, path: str | Path) -> None:
    """Write the model as a canonical skops file, atomically."""
    data = dumps(model)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def loads(data: bytes, where: str) -> Any:
    """Deserialize skops bytes whose hash the caller has checked; only trusted types."""
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ModelFileError(f"{where}: not a skops model file (pickles are never loaded)")
    try:
        return skops.io.loads(data, trusted=TRUSTED_TYPES)
    except UntrustedTypesFoundException as exc:
        raise ModelFileError(
            f"{where}: holds types that are not trusted, not loaded: {str(exc).splitlines()[0]}"
        ) from None
    except (KeyError, ValueError, TypeError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{where}: not a readable skops model file: {exc}") from None


def load(path: str | Path, expected_md5: str, record: str) -> Any:
    """The model at `path`, after its md5 matched `expected_md5` (from `record`, e.g.
    dvc.lock); a mismatch is one line with both hashes and how to rebuild it."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"{path}: file not found (run the train stage first)") from None
    actual = md5(data)
    if actual != expected_md5:
        raise ModelFileError(
            f"{path}: md5 {actual} is not the {expected_md5} that {record} records; not loaded "
            "(rebuild it: dvc repro --force train)"
        )
    return loads(data, str(path))


def recorded_md5(path: str | Path, lock_file: str | Path = "dvc.lock") -> str:
    """The md5 that dvc.lock records for the output at `path` (the stage that wrote it)."""
    import yaml

    target = Path(path).as_posix()
    try:
        lock = yaml.safe_load(Path(lock_file).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        lock = {}
    for stage in (lock.get("stages") or {}).values():
        for out in (stage or {}).get("outs") or []:
            if out.get("path") == target and out.get("md5"):
                return str(out["md5"])
    raise ModelFileError(
        f"{target}: {lock_file} records no hash for it, so it is not loaded (run dvc repro train)"
    )
