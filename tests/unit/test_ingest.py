"""ingest parses the very bytes it checked: plain and compressed tables from memory."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile

import pytest

from mlrepro.core.errors import DataError
from mlrepro.pipeline.schema import ColumnSpec, TableSpec
from mlrepro.snapshot.describe import TABLE_SUFFIXES
from mlrepro.stages.ingest import COMPRESSION, read_table

SPEC = TableSpec("t", (ColumnSpec("n", "int"), ColumnSpec("c", "string")))
TEXT = b"n,c\n1,a\n2,\n"


def _zip(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("t.csv", data)
    return out.getvalue()


PACKERS = {".gz": gzip.compress, ".zip": _zip, ".bz2": bz2.compress, ".xz": lzma.compress}


def test_every_compressed_table_suffix_has_a_codec() -> None:
    packed = {s.rsplit(".", 1)[-1] for s in TABLE_SUFFIXES if s.count(".") == 2}
    assert {f".{s}" for s in packed} == set(COMPRESSION) == set(PACKERS)


@pytest.mark.parametrize("suffix", sorted(PACKERS))
def test_compressed_tables_parse_like_plain_ones(suffix: str) -> None:
    plain = read_table({"t.csv": TEXT}, SPEC, "t@1")
    packed = read_table({f"t.csv{suffix}": PACKERS[suffix](TEXT)}, SPEC, "t@1")
    assert packed.equals(plain)
    assert plain["n"].tolist() == [1, 2] and plain["c"].isna().tolist() == [False, True]


def test_files_are_concatenated_in_the_order_given() -> None:
    df = read_table({"a.csv": b"n,c\n2,x\n", "b.csv": b"n,c\n1,y\n"}, SPEC, "t@1")
    assert df["n"].tolist() == [2, 1]


def test_unreadable_bytes_name_the_snapshot_file() -> None:
    with pytest.raises(DataError, match=r"^t@1/t\.csv\.gz: cannot be read as CSV: "):
        read_table({"t.csv.gz": b"not gzip"}, SPEC, "t@1")
