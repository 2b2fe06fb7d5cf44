"""Static checks of the project's configuration: params.yaml against the schema file."""

from __future__ import annotations

from pathlib import Path

from mlrepro.core.errors import ParamsError
from mlrepro.core.params import load_params
from mlrepro.schema import load_schema
from mlrepro.snapshot.sources import source_files


def check_project(params_file: str, schema_file: str) -> list[str]:
    """Raise the first problem as an MlreproError; return a short summary when all is well."""
    params = load_params(params_file)
    schema = load_schema(schema_file)
    for source in params.ingest.sources:
        if source.name not in schema:
            raise ParamsError(f"{params_file}: ingest.sources.{source.name}: not in {schema_file}")
        if source.path is not None:
            source_files(source, Path.cwd())
    spec = params.featurize
    available = set(schema[params.ingest.main].names)
    for join in spec.joins:
        if join.table not in schema:
            raise ParamsError(f"{params_file}: featurize.joins: no table {join.table!r}")
        right = set(schema[join.table].names)
        for column in [*join.keys, *join.columns]:
            if column not in right:
                raise ParamsError(
                    f"{params_file}: featurize.joins ({join.table}): no column {column!r}"
                )
        available |= set(join.columns.values())
    if spec.datetime is not None:
        available |= set(spec.datetime.parts.values())
    for name in [*spec.features, spec.target_column]:
        if name not in available:
            raise ParamsError(f"{params_file}: featurize: {name!r} is not produced by any table")
    return [
        f"{params_file}: ok ({len(params.ingest.sources)} sources, {len(spec.features)} features)",
        f"{schema_file}: ok ({len(schema)} tables)",
    ]
