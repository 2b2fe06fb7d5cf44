"""The model a revision names, with everything a prediction needs, read from git and the local
DVC cache (never from the work tree's outputs, which may belong to another run):

- params.yaml and schema.yaml at the revision (the featurize spec, the threshold, the SERVING
  view of the main table, its key columns);
- the model file by the md5 the revision's dvc.lock records for the train stage's `.skops` out,
  checked against it and only then loaded through the safe loader (`modelfile.loads`: skops, the
  repository's trusted types; never a pickle);
- the tables featurize joined, from the folder output its dvc.lock entry read them from (each
  file checked against its md5 in that folder's listing), prepared as featurize prepares them;
- the model card at the revision (its lineage: snapshots and code).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mlrepro import dvccache
from mlrepro.core.errors import MlreproError
from mlrepro.core.params import PARAMS_FILE, SCHEMA_FILE, Params, parse_params
from mlrepro.pipeline import modelfile
from mlrepro.pipeline.schema import TableSpec, parse_schema, serving_view
from mlrepro.revisions import DVC_LOCK, Repository, Revision, Unreadable
from mlrepro.revisions.cache import cached_listing, read_object
from mlrepro.stages.featurize import prepare_join

TRAIN, FEATURIZE = "train", "featurize"  # the stages whose records name the model and tables
MODEL_SUFFIX = ".skops"


class ServingError(MlreproError):
    """The revision has no model to serve: no record, a model or table not in the cache."""


@dataclass(frozen=True)
class Served:
    rev: str
    commit: str | None  # None: the workspace
    params: Params
    spec: TableSpec  # the SERVING view of the main table
    keys: tuple[str, ...]  # the main table's key columns, kept in every output row
    model: Any  # the fitted scikit-learn Pipeline
    model_path: str
    model_md5: str
    tables: dict[str, pd.DataFrame]  # each joined table, prepared
    card: dict[str, Any]

    @property
    def threshold(self) -> float:
        assert self.params.evaluate is not None
        return self.params.evaluate.threshold

    def provenance(self) -> dict[str, Any]:
        """What every prediction records: the model, the revision, the snapshots."""
        lineage = self.card.get("lineage") if isinstance(self.card.get("lineage"), dict) else {}
        return {
            "rev": self.rev,
            "commit": self.commit,
            "model": {"path": self.model_path, "md5": self.model_md5},
            "threshold": self.threshold,
            "snapshots": (lineage or {}).get("snapshots"),
            "pins": dict(self.params.ingest.pins),
        }


def load_served(repo: Repository, rev: str = "HEAD") -> Served:
    """The model `rev` names and what predicting with it needs; ServingError (or ParamsError,
    SchemaError, RevError) in one line when something is missing."""
    revision = Revision(repo, repo.resolve(rev))
    at = _where(revision)
    params = parse_params(_text(revision, PARAMS_FILE, at), f"{PARAMS_FILE} at {at}")
    schema = parse_schema(_text(revision, SCHEMA_FILE, at), f"{SCHEMA_FILE} at {at}")
    main = params.ingest.main
    if main not in schema:
        raise ServingError(f"{SCHEMA_FILE} at {at}: no table {main!r} (ingest.main)")
    stages = revision.lock.get("stages") if isinstance(revision.lock, dict) else None
    if not isinstance(stages, dict) or TRAIN not in stages or FEATURIZE not in stages:
        raise ServingError(f"{DVC_LOCK} at {at}: no record of the {TRAIN} and {FEATURIZE} runs")
    path, md5 = _model_out(stages[TRAIN], at)
    model = modelfile.loads(
        cached_object(repo, md5, f"{path} (md5 {md5}, {DVC_LOCK} at {at})"), path
    )
    source = next(s for s in params.ingest.sources if s.name == main)
    return Served(
        rev=rev,
        commit=revision.rev.commit,
        params=params,
        spec=serving_view(schema[main]),
        keys=tuple(source.key),
        model=model,
        model_path=path,
        model_md5=md5,
        tables=_tables(repo, stages[FEATURIZE], params, at),
        card=_card(revision, stages[TRAIN]),
    )


def _where(revision: Revision) -> str:
    commit = revision.rev.commit
    return "the workspace" if commit is None else f"{revision.rev.name} ({commit[:7]})"


def _text(revision: Revision, path: str, at: str) -> str:
    data = revision.read(path)
    if data is None:
        raise ServingError(f"{path} at {at}: not found")
    return data.decode("utf-8")


def _model_out(train: Any, at: str) -> tuple[str, str]:
    for out in train.get("outs") or [] if isinstance(train, dict) else []:
        if isinstance(out, dict) and str(out.get("path", "")).endswith(MODEL_SUFFIX):
            return str(out["path"]), str(out["md5"])
    raise ServingError(f"{DVC_LOCK} at {at}: the {TRAIN} stage records no {MODEL_SUFFIX} model")


def cached_object(repo: Repository, md5: str, what: str) -> bytes:
    """The local DVC cache's object, checked against its md5 (`read_object` does)."""
    data = read_object(repo.root, md5)
    if data is not None:
        return data
    if dvccache.object_path(repo.root, md5).is_file():
        raise ServingError(
            f"{what}: the local DVC cache's copy does not have that md5 (damaged); not loaded"
        )
    raise ServingError(f"{what}: not in the local DVC cache (dvc pull, or dvc repro there)")


def _tables(repo: Repository, featurize: Any, params: Params, at: str) -> dict[str, pd.DataFrame]:
    """Each table featurize joined, read from the folder it read (its dvc.lock deps)."""
    folders = [d for d in featurize.get("deps") or [] if str(d.get("md5", "")).endswith(".dir")]
    found: dict[str, pd.DataFrame] = {}
    for join in params.featurize.joins:
        name = f"{join.table}.parquet"
        md5 = file_in_folders(repo, folders, name)
        if md5 is None:
            raise ServingError(f"{DVC_LOCK} at {at}: no folder {FEATURIZE} read holds {name}")
        data = cached_object(repo, md5, f"{name} (md5 {md5}, read by {FEATURIZE} at {at})")
        table = pd.read_parquet(io.BytesIO(data), engine="pyarrow")
        found[join.table], _ = prepare_join(table, join)
    return found


def file_in_folders(repo: Repository, folders: list[dict[str, Any]], name: str) -> str | None:
    """The md5 of `name` in the first of `folders` whose cached listing holds it."""
    for folder in folders:
        listing = cached_listing(repo.root, str(folder["md5"]))
        if listing is None:
            raise ServingError(
                f"{folder['path']} (md5 {folder['md5']}): its listing is not in the local DVC "
                "cache (dvc pull)"
            )
        md5 = next((m for rel, m in listing if rel == name), None)
        if md5 is not None:
            return md5
    return None


def _card(revision: Revision, train: Any) -> dict[str, Any]:
    """The model card train wrote (git-tracked), or {} when there is none readable."""
    for out in train.get("outs") or []:
        path = str(out.get("path", "")) if isinstance(out, dict) else ""
        if path.endswith(".json"):
            card = revision.mapping(path)
            if not isinstance(card, Unreadable):
                return card
    return {}
