"""Predictions for raw rows of the main source, the way the pipeline made its features: typed by
the SERVING view of the schema (what is known when a prediction is asked for; the label and
what is only known later are not read), checked against its bounds, domains and rules, the
declared handling applied (a value training set missing is set missing here too), joined and
given their calendar parts by featurize's own code, scored by the model, labelled at the
pipeline's threshold (`p >= evaluate.threshold`, as evaluate labels).

A row that the schema refuses (a missing or mistyped field, a value out of its bounds or
domain, or one training would have dropped) is an `InputError` naming the field and the row.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlrepro.core.errors import DataError, MlreproError
from mlrepro.core.threads import pinned_threads
from mlrepro.pipeline.anomalies import Anomaly, handle
from mlrepro.pipeline.schema import TableSpec, parse_table
from mlrepro.serving.served import Served
from mlrepro.stages.featurize import features

PROBABILITY = "probability"


class InputError(MlreproError):
    """Input the SERVING schema refuses; `field` and `row` (0-based) say where."""

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None):
        super().__init__(message)
        self.field, self.row = field, row

    def as_dict(self) -> dict[str, Any]:
        return {"error": str(self), "field": self.field, "row": self.row}


@dataclass(frozen=True)
class Predictions:
    frame: pd.DataFrame  # the key columns, the probability and the label, one row per input row
    features: pd.DataFrame  # what the model saw, for the request log and drift


def predict(
    served: Served, raw: pd.DataFrame, *, where: str = "input", pin: bool = True
) -> Predictions:
    """Score `raw` (text cells, or typed ones: read as their text) with `served`'s model.
    `pin`: limit the libraries' threads to `threads` for this call (3 ms); a caller whose thread
    holds that limit already (`mlrepro serve`'s workers: OpenMP's limit is per thread) passes
    False."""
    rows = typed(raw, served.spec, where)
    rows = checked(rows, served, where)
    table = features(rows, served.tables, served.params.featurize)
    x = table[list(served.params.featurize.features)]
    with pinned_threads(served.params.threads) if pin else contextlib.nullcontext():
        p = np.asarray(served.model.predict_proba(x)[:, 1], dtype=np.float64)
    label = served.params.featurize.label
    frame = rows[list(served.keys)].assign(
        **{PROBABILITY: p, label: (p >= served.threshold).astype("int8")}
    )
    return Predictions(frame.reset_index(drop=True), x.reset_index(drop=True))


def typed(raw: pd.DataFrame, spec: TableSpec, where: str) -> pd.DataFrame:
    """The SERVING columns of `raw` in their declared dtypes; InputError names the field."""
    for column in spec.names:
        if column not in raw.columns:
            raise InputError(f"{where}: field {column!r} is missing", field=column)
    try:  # parse_table reads each cell as its text itself: no copy as text first
        return parse_table(raw, spec, file=where)
    except DataError as exc:
        field = FIELD.search(str(exc))
        raise InputError(
            str(exc), field=field.group(1) if field else None, row=_row(str(exc))
        ) from None


FIELD = re.compile(r"column '([^']+)' row ")  # how parse_table names the cell it refuses


def checked(rows: pd.DataFrame, served: Served, where: str) -> pd.DataFrame:
    """The rows with the schema's handling applied; InputError for a value that stops training
    or that training would drop (a prediction for it would be a guess)."""
    handled = handle(rows, served.spec, keys=())
    refused = [a for a in handled.anomalies if a.severity == "error" or a.handling == "drop"]
    if refused:
        raise _refusal(refused[0], where)
    return handled.table


def _refusal(anomaly: Anomaly, where: str) -> InputError:
    row = anomaly.positions[0] if anomaly.positions else None
    at = "" if row is None else f" row {row + 1}"
    field = anomaly.column
    what = f"field {field!r}" if field else "the row"
    value = f": {anomaly.examples[0]}" if anomaly.examples else ""
    return InputError(
        f"{where}{at}: {what} fails {anomaly.rule}{value} (schema table {anomaly.table})",
        field=field,
        row=row,
    )


def _row(message: str) -> int | None:
    """The 0-based row of a `parse_table` message (`... row 3: ...`)."""
    head = message.split(" row ", 1)
    number = head[1].split(":", 1)[0] if len(head) == 2 else ""
    return int(number) - 1 if number.isdigit() else None


def records_frame(records: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> pd.DataFrame:
    """JSON rows (one object or a list of them) as a frame of text cells: numbers as JSON
    writes them, null as missing; InputError for anything that is not a row of plain values."""
    return cells_frame([record_cells(records)])


Cells = tuple[dict[str, list[Any]], int]  # column -> text cells, and the row count


def record_cells(records: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> Cells:
    """The columns of `records_frame`, not yet a frame (`cells_frame` makes one of several)."""
    rows = [records] if isinstance(records, Mapping) else records
    if not isinstance(rows, list) or not rows:
        raise InputError("body: expected a JSON object (one row) or a non-empty list of them")
    cells: dict[str, list[Any]] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise InputError(f"body: row {i + 1} is not a JSON object", row=i)
        for key, value in row.items():
            cells.setdefault(str(key), [pd.NA] * i).append(_cell(value, str(key), i))
        for values in cells.values():
            values.extend([pd.NA] * (i + 1 - len(values)))
    return cells, len(rows)


def cells_frame(parts: Sequence[Cells]) -> pd.DataFrame:
    """One frame of text cells with the rows of every part in order (a column that a part lacks
    is missing in its rows): what `records_frame` gives for all their rows at once."""
    if len(parts) == 1:
        columns = parts[0][0]
    else:
        names = dict.fromkeys(name for cells, _ in parts for name in cells)
        columns = {
            name: [v for cells, n in parts for v in cells.get(name) or [pd.NA] * n]
            for name in names
        }
    return pd.DataFrame(columns, dtype="string")


def _cell(value: Any, field: str, row: int) -> Any:
    if value is None:
        return pd.NA
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(f"body row {row + 1}: field {field!r} is not finite", field=field)
        return repr(value)
    raise InputError(
        f"body row {row + 1}: field {field!r} is a {type(value).__name__}, not a value",
        field=field,
        row=row,
    )


def read_input(data: bytes, name: str) -> pd.DataFrame:
    """An input file's rows: CSV (every cell as text, as ingest reads it) or Parquet (each cell
    as its text); DataError naming the file when it cannot be read."""
    if name.lower().endswith(".parquet"):
        try:
            frame = pd.read_parquet(io.BytesIO(data), engine="pyarrow")
        except (OSError, ValueError) as exc:
            raise DataError(f"{name}: not a readable Parquet file: {exc}") from None
        return _as_text(frame)
    from mlrepro.stages.ingest import read_text

    return read_text({name: data}, name)


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed columns as the text parse_table reads: timestamps in ISO 8601."""
    out = {}
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(
            column.dtype
        ):
            column = column.map(lambda t: pd.NA if pd.isna(t) else t.isoformat())
        out[str(name)] = column.astype("string")
    return pd.DataFrame(out)


def output_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Prediction rows as JSON-ready dicts: timestamps in ISO 8601, numbers as numbers."""
    return [{str(k): _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return None if value is pd.NA else value
