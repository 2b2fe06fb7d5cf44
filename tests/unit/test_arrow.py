"""The Arrow helpers of the check stages: numbers and codes from an array's buffers (offsets and
nulls included), as pandas would give them, without importing pandas."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from mlrepro.core.files import write_parquet
from mlrepro.pipeline.arrow import as_array, codes, integers, numbers


def test_numbers_and_integers_honour_offsets_and_nulls() -> None:
    array = pa.array([1.5, None, -0.0, 4.0, None, 6.0]).slice(1, 4)  # None, -0.0, 4.0, None
    got = numbers(array)
    assert [math.isnan(v) for v in got] == [True, False, False, True]
    assert got[1] == 0.0 and math.copysign(1, got[1]) == 1.0 and got[2] == 4.0  # -0.0 is 0.0
    assert integers(pa.array([7, None, 9]).slice(1), missing=-5).tolist() == [-5, 9]
    chunked = pa.chunked_array([[1, 2], [None, 4]])
    assert numbers(chunked)[[0, 1, 3]].tolist() == [1.0, 2.0, 4.0]


def test_codes_number_values_as_pandas_factorize_does() -> None:
    values = pd.Series([3.0, np.nan, 0.0, 3.0, -0.0, None, 5.0])
    expected, uniques = pd.factorize(values, use_na_sentinel=True)
    found, distinct = codes(values)
    assert (found.tolist(), distinct) == (expected.tolist(), len(uniques))
    words = pd.Series(["b", None, "a", "b"], dtype="string")
    found, distinct = codes(words)
    assert (found.tolist(), distinct) == ([0, -1, 1, 0], 2)
    assert codes(pa.array(["b", None, "a", "b"]))[0].tolist() == found.tolist()
    category = pd.Series(["b", "a", "b"], dtype="category")  # its values, not its codes
    assert as_array(category).to_pylist() == ["b", "a", "b"]
    assert codes(category)[0].tolist() == [0, 1, 0]


def test_the_helpers_do_not_import_pandas(tmp_path: Path) -> None:
    """Read as the stages read (pa.array() of Python values would import pandas itself)."""
    frame = pd.DataFrame({"x": [1.0, None, 2.0], "c": ["a", None, "a"]})
    write_parquet(frame, tmp_path / "t.parquet")
    code = (
        "import sys\n"
        "from mlrepro.pipeline.arrow import codes, numbers, read_table\n"
        f"t = read_table({str(tmp_path / 't.parquet')!r}, ['x', 'c'])\n"
        "print(numbers(t['x']).tolist()[::2], codes(t['x'])[0].tolist(), codes(t['c'])[1])\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "[1.0, 2.0] [0, -1, 1] 1\nFalse\n", out.stdout + out.stderr
