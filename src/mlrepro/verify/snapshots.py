"""The pinned snapshots of a commit, put into a verify checkout.

Each is taken from the first place that has every file with the manifest's exact sha256: the
user's DVC cache or work tree (read, never written), a DVC remote configured for the commit, or a
fresh take of its source. A damaged or missing copy is passed over, never used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrepro import dvccache
from mlrepro import revisions as revs
from mlrepro.core.copying import private_copy
from mlrepro.core.errors import MlreproError
from mlrepro.core.files import READ_ONLY, sha256_file
from mlrepro.core.params import PARAMS_FILE
from mlrepro.snapshot import layout
from mlrepro.snapshot.manifest import Manifest
from mlrepro.verify.checkout import VerifyInputError, remove_tree


@dataclass(frozen=True)
class SnapshotOrigin:
    source: str
    id: str
    origin: str  # "local cache", "work tree", "remote", "source"

    def as_dict(self) -> dict[str, str]:
        return {"source": self.source, "id": self.id, "origin": self.origin}


def pinned_manifests(revision: revs.Revision) -> list[Manifest]:
    """The manifest of every snapshot that params.yaml pins at the revision, read from git."""
    manifests = []
    for source, snapshot_id in revision.pinned().items():
        manifest = revision.manifest(source, str(snapshot_id))
        if isinstance(manifest, revs.Unreadable):
            path = layout.manifest_path(Path(), source, str(snapshot_id)).as_posix()
            raise VerifyInputError(
                f"{revision.rev.name}: params.yaml: ingest.pins.{source}: manifest {path} is "
                f"{manifest}"
            )
        manifests.append(manifest)
    return manifests


def copy_checked(candidate: Path, target: Path, sha256: str) -> bool:
    """A private copy of candidate at target when its bytes have the sha256; else nothing."""
    if not candidate.is_file():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    private_copy(candidate, target)
    if sha256_file(target) == sha256:
        target.chmod(READ_ONLY)
        return True
    target.unlink()
    return False


def copy_from(
    folders: dict[str, Path], user_repo: Path | None, manifest: Manifest, target: Path
) -> str | None:
    """Fill target with the snapshot's files from the first place holding each one intact:
    `folders` (origin -> a copy of the snapshot folder) or the DVC cache of `user_repo`.
    Returns where they came from, or None (and nothing left) when a file is found nowhere."""
    tmp = target.with_name(f".{target.name}.tmp")
    remove_tree(tmp)
    used = set()
    for entry in manifest.files:
        candidates = [(o, f / entry.path) for o, f in folders.items()]
        if user_repo is not None:
            candidates.insert(0, ("local cache", dvccache.object_path(user_repo, entry.md5)))
        origin = next(
            (o for o, c in candidates if copy_checked(c, tmp / entry.path, entry.sha256)), None
        )
        if origin is None:
            remove_tree(tmp)
            return None
        used.add(origin)
    os.rename(tmp, target)
    return " and ".join(sorted(used))


def fetch_from_remote(checkout: Path, manifest: Manifest) -> str | None:
    """`dvc pull` the snapshot in the checkout (its own cache) and check every sha256."""
    folder = layout.data_dir(checkout, manifest.source, manifest.id)
    from mlrepro.remote.core import run_dvc

    remotes = run_dvc(checkout, "remote", "list")
    if remotes.returncode != 0 or not remotes.stdout.strip():
        return None
    target = folder.with_suffix(".dvc").relative_to(checkout).as_posix()
    pulled = run_dvc(checkout, "pull", "--quiet", target)
    intact = pulled.returncode == 0 and all(
        (folder / e.path).is_file() and sha256_file(folder / e.path) == e.sha256
        for e in manifest.files
    )
    if not intact:
        remove_tree(folder)
        return None
    return "remote"


def take_from_source(checkout: Path, rev_params: Any, manifest: Manifest) -> str | None:
    """Take the snapshot's source again (as the commit declares it); accept it only when the
    content hash is the pinned one exactly."""
    from mlrepro.core.params import _Node, parse_source
    from mlrepro.stages.ingest import restore

    sources = (rev_params.get("ingest") or {}).get("sources") or {}
    if manifest.source not in sources:
        return None
    try:
        node = _Node(sources[manifest.source], f"ingest.sources.{manifest.source}", PARAMS_FILE)
        restore(manifest, parse_source(node, manifest.source), checkout)
    except MlreproError:
        return None
    return "source"


def provide(
    user_repo: Path, rev_params: Any, manifests: list[Manifest], checkouts: list[Path]
) -> list[SnapshotOrigin]:
    """Put every pinned snapshot into each checkout; VerifyInputError names one found nowhere."""
    origins = []
    first, others = checkouts[0], checkouts[1:]
    for manifest in manifests:
        folder = layout.data_dir(first, manifest.source, manifest.id)
        folder.parent.mkdir(parents=True, exist_ok=True)
        work = {"work tree": layout.data_dir(user_repo, manifest.source, manifest.id)}
        origin = (
            copy_from(work, user_repo, manifest, folder)
            or fetch_from_remote(first, manifest)
            or take_from_source(first, rev_params, manifest)
        )
        if origin is None:
            raise VerifyInputError(
                f"{manifest.source}@{manifest.id}: not in the local DVC cache or work tree, not "
                f"on a DVC remote of this commit, and source {manifest.source!r} no longer "
                "yields it"
            )
        origins.append(SnapshotOrigin(manifest.source, manifest.id, origin))
        for other in others:
            copy = layout.data_dir(other, manifest.source, manifest.id)
            copy.parent.mkdir(parents=True, exist_ok=True)
            if copy_from({"checkout": folder}, None, manifest, copy) is None:
                raise MlreproError(f"{folder}: changed while it was copied")
    return origins
