"""`mlrepro lineage PATH --openlineage FILE`: the lineage as OpenLineage run events (spec 2-0-2),
one COMPLETE RunEvent per stage on the way, sources first, for a lineage catalogue (Marquez, a
data catalogue's OpenLineage endpoint) to read from a JSON Lines file.

Every byte is a function of the lineage and the arguments: `eventTime` is the commit's committer
time, never the time of the export; the run id is a UUIDv7 whose time is that commit time and
whose other 74 bits are the sha256 of the commit and the stage's dvc.lock record (`run_id`);
`producer` names this mlrepro version. Jobs and datasets share one namespace (the repo: its
remote URL or folder name, as the caller decides); a dataset's name is its repo-relative path, a
pinned snapshot's `data/snapshots/<source>/<id>`.

What OpenLineage has no facet for travels in mlrepro's custom facets (`FACETS`): the params a
stage read with their values (run facet `mlrepro_params`), what dvc.lock records of a dep or an
out (`mlrepro_record`) and what a snapshot's manifest records (`mlrepro_snapshot`), each naming
its evidence, the file and the commit it was read at.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from mlrepro import __version__
from mlrepro.core.files import atomic_path
from mlrepro.lineage.records import SNAPSHOTS_DIR, Entry
from mlrepro.lineage.upstream import Snapshot, Step, Upstream
from mlrepro.lineage.upstream import manifest_columns as manifest_columns  # re-exported
from mlrepro.revisions import DVC_LOCK

SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
SPEC_FACETS = "https://openlineage.io/spec/facets"
PRODUCER = f"https://github.com/mlrepro/mlrepro/tree/v{__version__}"
FACETS_URL = (  # where `FACETS` is published, as the spec asks: immutable, one URL per version
    f"https://raw.githubusercontent.com/mlrepro/mlrepro/v{__version__}"
    "/src/mlrepro/lineage/openlineage-facets.json"
)
STANDARD = {  # facet key -> its schema: the facet versions this module writes
    "jobType": "2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
    "sourceCode": "1-0-1/SourceCodeJobFacet.json#/$defs/SourceCodeJobFacet",
    "sourceCodeLocation": "1-1-0/SourceCodeLocationJobFacet.json#/$defs/SourceCodeLocationJobFacet",
    "version": "1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
    "schema": "1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
}
CUSTOM = {  # facet key -> its definition in `FACETS`
    "mlrepro_params": "MlreproParamsRunFacet",
    "mlrepro_record": "MlreproRecordDatasetFacet",
    "mlrepro_snapshot": "MlreproSnapshotDatasetFacet",
}

_TEXT = {"type": "string"}
_COUNT = {"type": ["integer", "null"], "minimum": 0}
_EVIDENCE = {
    "description": "The file this facet was read from and the commit it was read at (null: the "
    "workspace).",
    "type": "object",
    "properties": {"path": _TEXT, "commit": {"type": ["string", "null"]}},
    "required": ["path", "commit"],
    "additionalProperties": False,
}


def _facet(base: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    own = {"type": "object", "properties": properties, "required": required}
    return {"allOf": [{"$ref": f"{SPEC}#/$defs/{base}"}, own], "type": "object"}


FACETS: dict[str, Any] = {  # the JSON schema of mlrepro's custom facets, to publish at FACETS_URL
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": FACETS_URL,
    "$defs": {
        "MlreproParamsRunFacet": _facet(
            "RunFacet",
            {"params": {"description": "params file -> key -> the value the stage read"}},
            ["params"],
        ),
        "MlreproRecordDatasetFacet": _facet(
            "DatasetFacet",
            {
                "kind": {"enum": ["data", "source", "params", "snapshot", "out"]},
                "madeBy": {"description": "The stage that made this data.", **_TEXT},
                "hash": {"type": ["string", "null"]},
                "hashKind": {"enum": ["md5", "md5-dir", None]},
                "size": _COUNT,
                "nfiles": _COUNT,
                "evidence": _EVIDENCE,
            },
            ["kind", "evidence"],
        ),
        "MlreproSnapshotDatasetFacet": _facet(
            "DatasetFacet",
            {
                "source": _TEXT,
                "id": _TEXT,
                "hash": {"type": ["string", "null"]},
                "hashKind": {"const": "sha256-content"},
                "takenAt": {"type": ["string", "null"]},
                "takenAtCommit": {"type": ["string", "null"]},
                "rows": _COUNT,
                "bytes": _COUNT,
                "definition": {"type": ["object", "null"]},
                "problem": {"type": ["string", "null"]},
                "evidence": _EVIDENCE,
            },
            ["source", "id", "hashKind", "evidence"],
        ),
    },
}


def run_events(
    lineage: Upstream,
    *,
    commit_time: int,
    namespace: str,
    columns: Mapping[str, Mapping[str, str]] | None = None,
    repo_url: str | None = None,
) -> list[dict[str, Any]]:
    """One COMPLETE RunEvent per stage of `lineage`, sources first. `commit_time`: the commit's
    committer time (Unix seconds); `columns`: snapshot `source@id` -> column -> dtype, for a
    schema facet (default: each snapshot's own, from its manifest); `repo_url`: the repo's
    http(s) URL, for a sourceCodeLocation facet pointing at dvc.yaml at the commit."""
    snapshots = {s.ref: s for s in lineage.snapshots}
    if columns is None:
        columns = {s.ref: s.columns for s in lineage.snapshots if s.columns}
    return [
        {
            "eventType": "COMPLETE",
            "eventTime": datetime.fromtimestamp(commit_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "producer": PRODUCER,
            "schemaURL": f"{SPEC}#/$defs/RunEvent",
            "run": _run(lineage.commit, step, commit_time),
            "job": _job(lineage.commit, step, namespace, repo_url),
            "inputs": _inputs(lineage.commit, step, namespace, snapshots, columns or {}),
            "outputs": [
                {"namespace": namespace, "name": out.path, "facets": _entry(lineage.commit, out)}
                for out in step.record.outs
            ],
        }
        for step in lineage.steps
    ]


def run_id(commit: str | None, step: Step, commit_time: int) -> str:
    """A UUIDv7 (RFC 9562) made deterministic: its 48-bit time is the commit time in
    milliseconds, its 74 other bits the first of sha256 over the commit and the stage's dvc.lock
    record (canonical JSON). Same commit and record, same id; ids sort by commit time."""
    key = {"commit": commit, "record": _plain(step.record.as_dict())}
    canonical = json.dumps(key, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    bits = int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:10]) >> 6  # 74 bits
    millis = (commit_time * 1000) & ((1 << 48) - 1)
    value = millis << 80 | 7 << 76 | (bits >> 62) << 64 | 0b10 << 62 | bits & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def write_events(path: str | Path, events: Iterable[Mapping[str, Any]]) -> None:
    """The events as JSON Lines (one event a line, keys sorted), written atomically."""
    lines = (
        json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        for e in events
    )
    text = "".join(f"{line}\n" for line in lines)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _run(commit: str | None, step: Step, commit_time: int) -> dict[str, Any]:
    run: dict[str, Any] = {"runId": run_id(commit, step, commit_time)}
    if step.record.params:
        params = {**_custom("mlrepro_params"), "params": _plain(step.record.params)}
        run["facets"] = {"mlrepro_params": params}
    return run


def _job(commit: str | None, step: Step, namespace: str, repo_url: str | None) -> dict[str, Any]:
    facets = {
        "jobType": {
            **_standard("jobType"),
            "processingType": "BATCH",
            "integration": "DVC",
            "jobType": "STAGE",
        },
        "sourceCode": {
            **_standard("sourceCode"),
            "language": "shell",
            "sourceCode": step.record.cmd,
        },
    }
    if commit is not None and repo_url is not None and repo_url.startswith(("https://", "http://")):
        facets["sourceCodeLocation"] = {
            **_standard("sourceCodeLocation"),
            "type": "git",
            "url": f"{repo_url.removesuffix('/').removesuffix('.git')}/blob/{commit}/dvc.yaml",
            "repoUrl": repo_url,
            "path": "dvc.yaml",
            "version": commit,
        }
    return {"namespace": namespace, "name": step.record.name, "facets": facets}


def _inputs(
    commit: str | None,
    step: Step,
    namespace: str,
    snapshots: Mapping[str, Snapshot],
    columns: Mapping[str, Mapping[str, str]],
) -> list[dict[str, Any]]:
    """The snapshots the stage read, then its deps, then its params files; one dataset a name."""
    found: dict[str, dict[str, Any]] = {}
    for ref in step.snapshots:
        if ref in snapshots:
            snapshot = snapshots[ref]
            name = f"{SNAPSHOTS_DIR}{snapshot.source}/{snapshot.id}"
            found[name] = _snapshot(commit, snapshot, columns.get(ref))
    read = set(found)
    made = {path: maker for maker, paths in step.inputs.items() for path in paths}
    for dep in step.record.deps:
        kind = "snapshot" if dep.path in read else "data" if dep.path in made else "source"
        facets = _entry(commit, dep, kind, made.get(dep.path))
        found[dep.path] = {**found.get(dep.path, {}), **facets}  # a snapshot keeps its version
    for file in step.record.params:
        found.setdefault(file, {"mlrepro_record": _record(commit, "params")})
    return [{"namespace": namespace, "name": name, "facets": f} for name, f in found.items()]


def _entry(
    commit: str | None, entry: Entry, kind: str = "out", made_by: str | None = None
) -> dict[str, Any]:
    record = {
        **_record(commit, kind),
        **({} if made_by is None else {"madeBy": made_by}),
        "hash": entry.md5,
        "hashKind": _hash_kind(entry.md5),
        "size": entry.size,
        "nfiles": entry.nfiles,
    }
    facets: dict[str, Any] = {"mlrepro_record": record}
    if entry.md5 is not None and kind != "snapshot":
        facets["version"] = {**_standard("version"), "datasetVersion": entry.md5}
    return facets


def _snapshot(
    commit: str | None, snapshot: Snapshot, columns: Mapping[str, str] | None
) -> dict[str, Any]:
    facets: dict[str, Any] = {
        "mlrepro_snapshot": {
            **_custom("mlrepro_snapshot"),
            "source": snapshot.source,
            "id": snapshot.id,
            "hash": snapshot.content_sha256,
            "hashKind": "sha256-content",
            "takenAt": snapshot.taken_at,
            "takenAtCommit": snapshot.git_commit,
            "rows": snapshot.rows,
            "bytes": snapshot.bytes,
            "definition": _plain(snapshot.definition),
            "problem": snapshot.problem,
            "evidence": {"path": snapshot.manifest, "commit": commit},
        }
    }
    if snapshot.content_sha256 is not None:
        facets["version"] = {**_standard("version"), "datasetVersion": snapshot.content_sha256}
    if columns:
        fields = [{"name": name, "type": dtype} for name, dtype in columns.items()]
        facets["schema"] = {**_standard("schema"), "fields": fields}
    return facets


def _record(commit: str | None, kind: str) -> dict[str, Any]:
    evidence = {"path": DVC_LOCK, "commit": commit}
    return {**_custom("mlrepro_record"), "kind": kind, "evidence": evidence}


def _hash_kind(md5: str | None) -> str | None:
    """DVC's hash of a folder is the md5 of its listing, written `<md5>.dir`."""
    return None if md5 is None else "md5-dir" if md5.endswith(".dir") else "md5"


def _standard(key: str) -> dict[str, str]:
    return {"_producer": PRODUCER, "_schemaURL": f"{SPEC_FACETS}/{STANDARD[key]}"}


def _custom(key: str) -> dict[str, str]:
    return {"_producer": PRODUCER, "_schemaURL": f"{FACETS_URL}#/$defs/{CUSTOM[key]}"}


def _plain(value: Any) -> Any:
    """A YAML value as JSON: a date as ISO 8601, a NaN or infinity as its name, keys as text."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
