"""Static checks of the project's configuration: params.yaml against the schema file, with the
checks the stages themselves run, so that `params check` says ok only when the pipeline will not
stop at a bad key, value or column type."""

from __future__ import annotations

from pathlib import Path

from mlrepro.core.errors import ParamsError
from mlrepro.core.params import Params, check_train, load_params
from mlrepro.pipeline.schema import (
    TIME_DTYPES,
    TableSpec,
    check_serving,
    feature_origins,
    load_schema,
)
from mlrepro.snapshot.sources import source_files

NUMERIC = ("int", "float", "bool")


def check_project(params_file: str, schema_file: str) -> list[str]:
    """Raise the first problem as an MlreproError; return a short summary when all is well."""
    params = load_params(params_file)
    schema = load_schema(schema_file)
    repo = Path.cwd()
    for source in params.ingest.sources:
        if source.name not in schema:
            raise ParamsError(f"{params_file}: ingest.sources.{source.name}: not in {schema_file}")
        if source.path is not None:
            source_files(source, repo)
    check_pins(params, repo)
    dtypes = feature_dtypes(params, schema, params_file)
    check_columns(params, schema, dtypes, params_file)
    check_target(params, schema, dtypes, params_file)
    check_serving(
        params.featurize,
        params.ingest.main,
        schema,
        params_file=params_file,
        schema_file=schema_file,
    )
    check_train_section(params, params_file)
    spec = params.featurize
    return [
        f"{params_file}: ok ({len(params.ingest.sources)} sources, {len(spec.features)} features)",
        f"{schema_file}: ok ({len(schema)} tables)",
    ]


def check_pins(params: Params, repo: Path) -> None:
    """Every source pinned to a snapshot whose manifest exists: ingest's own check."""
    from mlrepro.stages.ingest import pinned

    for source in params.ingest.sources:
        pinned(params.ingest, source, repo)


def feature_dtypes(
    params: Params, schema: dict[str, TableSpec], params_file: str
) -> dict[str, str]:
    """Schema dtype of every column of the feature table: the main table's, the joined columns
    (renamed), and the calendar parts."""
    spec = params.featurize
    dtypes = {c.name: c.dtype for c in schema[params.ingest.main].columns}
    for join in spec.joins:
        if join.table not in schema:
            raise ParamsError(f"{params_file}: featurize.joins: no table {join.table!r}")
        right = {c.name: c.dtype for c in schema[join.table].columns}
        for column in [*join.keys, *join.columns]:
            if column not in right:
                raise ParamsError(
                    f"{params_file}: featurize.joins ({join.table}): no column {column!r}"
                )
        dtypes |= {name: right[column] for column, name in join.columns.items()}
    if spec.datetime is not None:
        dtypes |= dict.fromkeys(spec.datetime.parts.values(), "int")
    return dtypes


def check_columns(
    params: Params, schema: dict[str, TableSpec], dtypes: dict[str, str], params_file: str
) -> None:
    """Features and target produced by some table; time columns datetime (or date)."""
    spec = params.featurize
    for name in [*spec.features, spec.target_column]:
        if name not in dtypes:
            raise ParamsError(f"{params_file}: featurize: {name!r} is not produced by any table")
    main = {c.name: c.dtype for c in schema[params.ingest.main].columns}
    times = [("split.time_column", params.split.time_column, main)]
    if spec.datetime is not None:
        times.append(("featurize.datetime.column", spec.datetime.column, dtypes))
    for key, column, columns in times:
        if column is None:
            continue
        if column not in columns:
            raise ParamsError(f"{params_file}: {key}: {column!r} is not a column")
        if columns[column] not in TIME_DTYPES:
            raise ParamsError(
                f"{params_file}: {key}: {column!r} is {columns[column]}, not datetime in the schema"
            )
    dt = spec.datetime
    if dt is not None and dtypes[dt.column] == "date" and "hour" in dt.parts:
        raise ParamsError(
            f"{params_file}: featurize.datetime.parts.hour: {dt.column!r} is a date in the "
            "schema, it has no hour"
        )


def check_target(
    params: Params, schema: dict[str, TableSpec], dtypes: dict[str, str], params_file: str
) -> None:
    """A number for `greater_than` (or a 0/1 column); a string for `equals` / `in`, whose values
    are among the column's `allowed` ones when the schema lists them."""
    spec = params.featurize
    target = dtypes[spec.target_column]
    values = spec.target_values
    if values is None:
        if target not in NUMERIC:
            raise ParamsError(
                f"{params_file}: featurize.target.column: {spec.target_column!r} is {target}, "
                "not a number (int, float or bool in the schema; for a string column set "
                "featurize.target.equals or in)"
            )
        return
    key = "featurize.target." + ("equals" if spec.target_equals is not None else "in")
    if target != "string":
        raise ParamsError(
            f"{params_file}: {key}: {spec.target_column!r} is {target} in the schema, not string "
            "(equals and in are for string columns; use greater_than for a number)"
        )
    allowed = target_allowed(params, schema)
    for value in values:
        if allowed is not None and value not in allowed:
            raise ParamsError(
                f"{params_file}: {key}: {value!r} is not an allowed value of "
                f"{spec.target_column!r} ({', '.join(map(str, allowed))})"
            )


def target_allowed(params: Params, schema: dict[str, TableSpec]) -> tuple[object, ...] | None:
    """The schema's `allowed` values of the target column (or of the column it is joined from)."""
    origins = feature_origins(params.featurize, params.ingest.main, schema)
    own = origins.get(params.featurize.target_column, ())
    column = schema[own[0].table].column(own[0].column) if own else None
    return None if column is None else column.allowed


def check_train_section(params: Params, params_file: str) -> None:
    """`train:` as the train stage checks it: every key an estimator argument with a valid value."""
    from mlrepro.pipeline.model import check_estimator_params

    check_estimator_params(params.train)
    check_train(params.train, params_file)
