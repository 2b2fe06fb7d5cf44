"""The manifest's rows and dtypes: the pandas-free path for small plain files must give exactly
what pandas gives, or hand the file to pandas."""

from __future__ import annotations

import io
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pandas._libs.parsers import STR_NA_VALUES

from mlrepro.core.errors import DataError
from mlrepro.snapshot import describe
from mlrepro.snapshot.describe import (
    NA_VALUES,
    Helper,
    describe_table,
    describe_text,
    describe_with_pandas,
)

# cells that exercise each rule: ints, floats, booleans, NA strings, text, and edge spellings
TOKENS = [
    "0",
    "1",
    "-3",
    "+4",
    "007",
    "42",
    "1.5",
    "-2.25",
    ".5",
    "5.",
    "1e3",
    "1E-2",
    "+.5",
    "inf",
    "-Infinity",
    "INF",
    "True",
    "false",
    "TRUE",
    "",
    "NA",
    "nan",
    "NaN",
    "None",
    "null",
    "N/A",
    "<NA>",
    "abc",
    "A",
    "2013-01-01",
    "0x1",
    "1_000",
    "1e",
    "NAN",
    "yes",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "é",
    '"q, uoted"',
    '"1"',
    '""',
    " 1",
    "x ",
    "a b",
]
# columns drawn from one family at a time, so most tables are typed (not all text)
FAMILIES = [
    ["0", "1", "-3", "+4", "007", "42"],
    ["1", "1.5", "-2.25", ".5", "5.", "1e3", "inf"],
    ["True", "false", "TRUE"],
    ["abc", "A", "2013-01-01", "a b"],
    ["", "NA", "nan", "None"],
]


def pandas_description(text: str, sep: str = ",") -> tuple[int, dict[str, str]]:
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, nrows=1000)
    except pd.errors.EmptyDataError:
        return 0, {}
    return len(df), {str(c): str(t) for c, t in df.dtypes.items()}


def random_table(rng: random.Random, sep: str) -> str:
    width, height = rng.randint(1, 4), rng.randint(0, 6)
    header = sep.join(f"c{i}" for i in range(width))
    pools = [
        rng.choice(FAMILIES) + (rng.sample(TOKENS, 2) if rng.random() < 0.3 else [])
        for _ in range(width)
    ]
    lines = [header]
    for _ in range(height):
        lines.append(sep.join(rng.choice(pool) for pool in pools))
        if rng.random() < 0.05:
            lines.append("")  # a blank line
    return "\n".join(lines) + ("\n" if rng.random() < 0.8 else "")


@pytest.mark.parametrize("sep", [",", "\t"])
def test_fast_path_agrees_with_pandas_or_defers(sep: str) -> None:
    rng = random.Random(7)
    answered = 0
    for _ in range(1000):
        text = random_table(rng, sep)
        fast = describe_text(text.encode(), sep)
        if fast is None:
            continue
        answered += 1
        assert fast == pandas_description(text, sep), text
    assert answered > 600  # the fast path must take the common case, not defer everything


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a,b\n1,x\n2,y\n", (2, {"a": "int64", "b": "str"})),
        ("a,b\n1,\n,y\n", (2, {"a": "float64", "b": "str"})),
        ("a,b\nTrue,1.5\nfalse,2\n", (2, {"a": "bool", "b": "float64"})),
        ("a,b\nTrue,1\n,2\n", (2, {"a": "object", "b": "int64"})),
        ("a,b\n,\nNA,null\n", (2, {"a": "float64", "b": "float64"})),
        ("a,b\n", (0, {"a": "object", "b": "object"})),
        ('a,b\n1,"two\nlines"\n\n3,"x,y"\n', (2, {"a": "int64", "b": "str"})),
        ("a,b\r\n1,2\r\n", (1, {"a": "int64", "b": "int64"})),
    ],
)
def test_fast_path_examples(text: str, expected: tuple[int, dict[str, str]]) -> None:
    assert describe_text(text.encode(), ",") == expected
    assert pandas_description(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "a,b\n1, 2\n",  # padding: pandas strips it around numbers only
        "a,a\n1,2\n",  # duplicate names: pandas renames them
        "a,\n1,2\n",  # an empty name: "Unnamed: 1"
        "a,b\n1,2,3\n",  # ragged
        "a,b\nTrue,1\n1,2\n",  # booleans mixed with numbers
        "a\n9223372036854775808\n",  # beyond int64
        "\ufeffa,b\n1,2\n",  # byte order mark
        "",
    ],
)
def test_fast_path_defers_when_unsure(text: str) -> None:
    assert describe_text(text.encode(), ",") is None


def test_undecodable_bytes_defer_to_pandas_which_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"a,b\n1,\xff\xfe\n")
    assert describe_text(path.read_bytes(), ",") is None
    with pytest.raises(DataError, match=r"^bad.csv: cannot be read as CSV"):
        describe_table(path, path.read_bytes())


def test_large_files_and_compressed_files_use_pandas(tmp_path: Path) -> None:
    rows = 2500  # more than the 1,000-row dtype sample: every row is counted
    df = pd.DataFrame({"n": range(rows), "s": ["x"] * rows})
    df.to_csv(tmp_path / "t.csv.gz", index=False)
    df.to_csv(tmp_path / "t.csv", index=False)
    expected = (rows, {"n": "int64", "s": "str"})
    assert describe_table(tmp_path / "t.csv.gz") == expected
    assert describe_table(tmp_path / "t.csv") == describe_with_pandas(tmp_path / "t.csv")
    content = (tmp_path / "t.csv").read_bytes()
    assert describe_table(tmp_path / "t.csv", content) == expected
    assert describe_table(tmp_path / "notes.txt", b"hello") == (None, None)


def test_na_strings_are_pandas_defaults() -> None:
    assert set(STR_NA_VALUES) == NA_VALUES


def helper_inputs(folder: Path) -> list[Path]:
    texts = {
        "ints.csv": "a,b\n1,x\n2,y\n",
        "padded.csv": "a,b\n 1,x\n",  # the helper defers it: pandas describes it here
        "empty.csv": "",
        "tabs.tsv": "a\tb\n1.5\tTrue\n",
    }
    for name, text in texts.items():
        (folder / name).write_text(text)
    return [folder / name for name in texts]


def test_helper_process_describes_like_pandas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = helper_inputs(tmp_path)
    expected = [describe_with_pandas(p) for p in paths]

    def not_here(*args: object) -> None:
        raise AssertionError("described in this process, not by the helper")

    monkeypatch.setattr(describe, "describe_text", not_here)
    with Helper() as helper:
        proc = helper.proc
        assert proc is not None
        for path in paths:
            helper.add(path, path.read_bytes())
        results = helper.results()
        assert proc.returncode == 0
    assert results == expected


def test_a_failed_helper_leaves_the_work_to_this_process(tmp_path: Path) -> None:
    paths = helper_inputs(tmp_path)
    with Helper() as helper:
        assert helper.proc is not None
        helper.proc.kill()  # dies before (or while) it reads: writes fail or answers are missing
        for path in paths:
            helper.add(path, path.read_bytes())
        assert helper.results() == [describe_with_pandas(p) for p in paths]


def test_a_long_numeric_column_with_one_word_is_fast() -> None:
    """The number patterns must be unambiguous: an ambiguous one backtracks exponentially on a
    column of numbers that ends in a word (it hung a take of a 6,000-row table)."""
    code = (
        "from mlrepro.snapshot.describe import column_dtype\n"
        "values = {str(1000 + i) for i in range(5000)} | {'far'}\n"
        "print(column_dtype(values), column_dtype({v + '.5' for v in values}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=20, check=True
    )
    assert done.stdout.split() == ["str", "str"]
