"""Where a snapshot's parts are, which snapshots exist, and which one a reference names.

    data/snapshots/<source>/<id>/        the files, immutable (else read-only), tracked by DVC
                                         (<id>.dvc), git-ignored (.gitignore: `/<id>`)
    data/snapshots/<source>/<id>.json    the manifest, tracked by git, read-only

A snapshot exists (is listed, can be pinned) when its manifest is there beside its `<id>.dvc`
file and its .gitignore entry; a reference is `source@ID` (a unique prefix), `source@latest`,
`source@pinned` or `source` (the latest).
"""

from __future__ import annotations

import re
from pathlib import Path

from mlrepro.snapshot.manifest import Manifest, SnapshotError, read_manifest

SNAPSHOTS = Path("data") / "snapshots"
TMP_PREFIX = ".tmp-"  # a take's temporary folder inside the source folder
IGNORED_ID = re.compile(r"/\d{8}T\d{6}Z-[0-9a-f]{8}")  # a snapshot's line in .gitignore (`new_id`)


def source_dir(repo: Path, source: str) -> Path:
    return repo / SNAPSHOTS / source


def data_dir(repo: Path, source: str, snapshot_id: str) -> Path:
    return source_dir(repo, source) / snapshot_id


def manifest_path(repo: Path, source: str, snapshot_id: str) -> Path:
    return source_dir(repo, source) / f"{snapshot_id}.json"


def dvc_file(repo: Path, source: str, snapshot_id: str) -> Path:
    return source_dir(repo, source) / f"{snapshot_id}.dvc"


def list_snapshots(repo: Path, source: str) -> list[Manifest]:
    """Complete snapshots of `source`, oldest first: a manifest with its `<id>.dvc` file and
    .gitignore entry (a take writes the manifest last; an older version wrote it before them).
    The folder itself may be absent: a fresh clone before `dvc pull`, or only in the DVC cache."""
    folder = source_dir(repo, source)
    if not folder.is_dir():
        return []
    ignored = ignored_ids(folder)
    manifests = [read_manifest(p) for p in folder.glob("*.json") if tracked(p, ignored)]
    return sorted(manifests, key=lambda m: (m.taken_at, m.id))


def ignored_ids(folder: Path) -> set[str]:
    """The entries of a source folder's .gitignore (`/<id>` for each tracked snapshot)."""
    ignore = folder / ".gitignore"
    return set(ignore.read_text(encoding="utf-8").splitlines()) if ignore.is_file() else set()


def tracked(manifest_file: Path, ignored: set[str]) -> bool:
    """Whether the snapshot of this manifest file has its `.dvc` file and .gitignore entry."""
    return f"/{manifest_file.stem}" in ignored and manifest_file.with_suffix(".dvc").is_file()


def resolve_ref(repo: Path, ref: str, pins: dict[str, str]) -> Manifest:
    """`source@ID` (a unique prefix), `source@latest` or `source@pinned`; `source` = latest."""
    source, _, wanted = ref.partition("@")
    snapshots = list_snapshots(repo, source)
    if not snapshots:
        raise SnapshotError(f"{ref}: source {source!r} has no snapshots (mlrepro snapshot take)")
    if wanted in ("", "latest"):
        return snapshots[-1]
    if wanted == "pinned":
        if source not in pins:
            raise SnapshotError(f"{ref}: source {source!r} has no pin (params.yaml ingest.pins)")
        wanted = pins[source]
    matches = [m for m in snapshots if m.id.startswith(wanted)]
    if not matches:
        raise SnapshotError(f"{ref}: no snapshot of {source!r} with id {wanted!r}")
    if len(matches) > 1:
        ids = ", ".join(m.id for m in matches)
        raise SnapshotError(f"{ref}: prefix {wanted!r} is ambiguous ({ids})")
    return matches[0]
