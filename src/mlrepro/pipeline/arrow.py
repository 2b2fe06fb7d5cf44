"""What the check stages (drift, leakage) share to work on Arrow columns without pandas: reading
the Parquet columns a check uses, and a column's numbers or codes as numpy arrays.

pandas costs the checks 0.3 s of import per process (the issue's budget for all of them is 3 s),
and a string column it reads becomes a Python object per value; pyarrow reads and counts without
either. Some pyarrow calls convert through pandas, and import it, when it is installed:
`Array.to_numpy()` of an array with nulls and `pa.array()` of numpy or Python values among them.
These helpers read and build arrays from their buffers instead, and tests/unit check that a
stage's process never imports pandas. A pandas DataFrame or Series is accepted everywhere (the
library's tests and `mlrepro drift` pass them) and converted, with NaN as a null, as pandas'
own `pa.Table.from_pandas` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlrepro.core.errors import DataError


def read_table(path: str | Path, columns: Iterable[str]) -> pa.Table:
    """The `columns` that the Parquet file at `path` has (those it lacks are left for the check
    to name), through ParquetFile, which needs no pyarrow.dataset import (pq.read_table does)."""
    try:
        file = pq.ParquetFile(path)
        present = set(file.schema_arrow.names)
        return file.read([c for c in dict.fromkeys(columns) if c in present])
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (run the stage that writes it first)") from None
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: not a readable Parquet file: {exc}") from None


def as_table(frame: Any) -> pa.Table:
    """A pyarrow Table as it is; a pandas DataFrame converted (missing values as nulls)."""
    if isinstance(frame, pa.Table):
        return frame
    return pa.Table.from_pandas(frame, preserve_index=False)


def as_array(values: Any) -> pa.Array:
    """One Arrow array of values: a (chunked) pyarrow array combined, a pandas Series converted,
    a dictionary array decoded."""
    if isinstance(values, pa.ChunkedArray):
        array = values.combine_chunks()
    elif isinstance(values, pa.Array):
        array = values
    else:
        array = pa.array(values, from_pandas=True)
    if pa.types.is_dictionary(array.type):  # a pandas Categorical: its values, not its codes
        array = array.dictionary_decode()
    return array


def is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        return is_text(kind.value_type)
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def is_number(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind))


def numbers(values: Any) -> np.ndarray:
    """A numeric column as float64, null (and NaN) as NaN, -0.0 as 0.0."""
    array = as_array(values)
    floats = pc.cast(array, pa.float64(), safe=False)
    return _fixed(floats, np.float64, np.nan) + 0.0


def integers(values: Any, *, missing: int = -1) -> np.ndarray:
    """An integer column as int64, null as `missing`."""
    array = as_array(values)
    return _fixed(pc.cast(array, pa.int64()), np.int64, missing)


def codes(values: Any) -> tuple[np.ndarray, int]:
    """Each row's distinct value as an integer, in the order of first appearance (as
    pandas.factorize numbers them), -1 where missing (null, or NaN in a numeric column; -0.0 is
    0.0); and how many distinct values there are."""
    array = as_array(values)
    if is_number(array.type):
        array = _float_array(numbers(array))
    encoded = pc.dictionary_encode(array)
    return integers(encoded.indices), len(encoded.dictionary)


def _float_array(x: np.ndarray) -> pa.Array:
    """float64 numpy values as an Arrow array, NaN as null, without pa.array() (see above)."""
    valid = ~np.isnan(x)
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    data = pa.py_buffer(np.ascontiguousarray(x))
    return pa.Array.from_buffers(pa.float64(), len(x), [bitmap, data], int((~valid).sum()))


def _fixed(array: pa.Array, dtype: type[np.generic], missing: float) -> np.ndarray:
    """A fixed-width Arrow array's values as numpy, `missing` where null, from its buffers."""
    if len(array) == 0:
        return np.empty(0, dtype=dtype)
    validity, data = array.buffers()[:2]
    end = array.offset + len(array)
    values = np.frombuffer(data, dtype=dtype, count=end)[array.offset :]
    if array.null_count == 0:
        return values  # read-only: a view of the Arrow buffer
    bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), count=end, bitorder="little")
    return np.where(bits[array.offset :].astype(bool), values, missing).astype(dtype)
