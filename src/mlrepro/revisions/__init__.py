"""The one reader of "what does revision X hold": dvc.yaml (its stages, metrics, plots and
params, resolved with DVC's interpolation rules), dvc.lock, params, metrics files and their
contents, pinned snapshots and the outputs DVC caches. `mlrepro diff`, `report`, `history`,
`verify` and `remote verify` all read revisions here; none re-derives any of it.

A revision is any git rev (commit, tag, branch, `HEAD~2`), a DVC experiment name, or
`workspace` (the files on disk). Files at a commit come from git's object database through one
`git cat-file --batch` process per `Repository`, however many revisions are read; the work tree
and the index are never written.

- `git`: `open_repo`, `Repository` (resolve names, read blobs, list files), `Rev`, `RevError`
- `parse`: a file's content by its suffix, or `Unreadable` (why not); `flatten`
- `interpolate`: DVC's `vars` context and `${...}` references
- `pipeline`: dvc.yaml resolved: stages (foreach, matrix), metrics, plots, params, outputs
- `revision`: `Revision`, everything one revision holds, read once; `load_many`, the same files
  at many revisions in one pass
- `lock`: `lock_field`, one field of one stage of a dvc.lock, parsed alone (fast at many revisions)
- `cache`: the files of cached outputs and their bytes from the local DVC cache, checked
"""

from mlrepro.revisions.cache import CachedFile, CachedFiles
from mlrepro.revisions.git import WORKSPACE, Blob, Repository, Rev, RevError, open_repo
from mlrepro.revisions.interpolate import InterpolationError
from mlrepro.revisions.lock import lock_field, stage_blocks
from mlrepro.revisions.parse import Unreadable, flatten, parse, parse_blob
from mlrepro.revisions.pipeline import Out, Pipeline, resolve_pipeline
from mlrepro.revisions.revision import (
    DVC_LOCK,
    DVC_YAML,
    CachedOutput,
    DvcYamlError,
    Pin,
    Revision,
    load_many,
    lock_hashes,
)

__all__ = [
    "DVC_LOCK",
    "DVC_YAML",
    "WORKSPACE",
    "Blob",
    "CachedFile",
    "CachedFiles",
    "CachedOutput",
    "DvcYamlError",
    "InterpolationError",
    "Out",
    "Pin",
    "Pipeline",
    "Repository",
    "Rev",
    "RevError",
    "Revision",
    "Unreadable",
    "flatten",
    "load_many",
    "lock_field",
    "lock_hashes",
    "open_repo",
    "parse",
    "parse_blob",
    "resolve_pipeline",
    "stage_blocks",
]
