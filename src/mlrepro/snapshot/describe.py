"""Rows and column dtypes of a snapshot's CSV files, for its manifest.

The dtypes are the ones `pandas.read_csv` infers (defaults, first `SAMPLE_ROWS` rows), so
manifests taken by either path compare equal in `snapshot diff`. A small, plain file (the usual
case for a directory of many parts) is described from the bytes the copy pass already holds,
without pandas: for 10,000 files of 3 KB, 0.9 s of CPU instead of 6 s. Anything the fast path
is not sure to read exactly as pandas does (compression, whitespace around cells, ragged rows,
duplicate or empty header names, mixed booleans, integers beyond int64, undecodable bytes) goes
to pandas, which also gives the error message for a broken file.

Why not pyarrow.csv (measured side by side on 2 shared cores, medians of 5): on the 10,000 CSV
files of 1-4 KiB of bench/snapshot.py, `read_csv` per file costs 3.3 s of CPU in a fresh process
against 0.9-1.1 s here (0.2 s of both is reading the files; importing pyarrow.csv 0.18 s, this
module 0.06 s). That is more than take's copy loop, so the helper no longer hides it: with it in
the helper, take waited 4.9 s for it instead of 0.1 s and took 8.9 s, against 3.8 and 4.6 s with
this module (runs before and after; the floor 1.6, 2.0, 1.2 s). Its types are its own (double,
string, timestamp[s, tz=UTC]; int64 for an integer column with gaps, where pandas says float64):
36 of the 53 columns of the committed default snapshots would show as dtype changes in `snapshot
diff`, and SQL sources (described by pandas) would use another vocabulary. It reads no .csv.zip
(the default flights table) nor .csv.xz. On one large file it saves only pandas' import: 0.54 s
of CPU against 0.76 s for flights.csv (31 MB).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import queue
import re
import subprocess
import sys
import threading
import zipfile
import zlib
from functools import cache
from pathlib import Path
from typing import Any

from mlrepro.core.errors import DataError

TABLE_SUFFIXES = (".csv", ".csv.gz", ".csv.zip", ".csv.bz2", ".csv.xz", ".tsv")
PLAIN_SUFFIXES = (".csv", ".tsv")  # uncompressed: the fast path reads these from memory
BATCH_BYTES = 256 << 10  # the helper is fed in batches of this size
QUEUED_BYTES = 64 << 20  # at most this much waits for the helper
SAMPLE_ROWS = 1000  # dtypes come from the first rows, as pandas' `nrows` sample gives them
# pandas' default NA strings (pandas._libs.parsers.STR_NA_VALUES; a unit test keeps them equal)
NA_VALUES = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN"}
    | {"<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)
BOOLEANS = frozenset({"True", "TRUE", "true", "False", "FALSE", "false"})
_INT = r"[+-]?\d+"
# unambiguous (one way to match a value), so a failing column costs linear time, never more
_FLOAT = r"[+-]?(?:\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|(?i:inf|infinity))"
INT, FLOAT = re.compile(_INT), re.compile(_FLOAT)
INTS = re.compile(rf"{_INT}(?:\n{_INT})*")  # one match over a column's values, newline-joined
FLOATS = re.compile(rf"{_FLOAT}(?:\n{_FLOAT})*")
INT64 = (-(2**63), 2**63 - 1)

Description = tuple[int | None, dict[str, str] | None]


def is_table(name: str) -> bool:
    return name.lower().endswith(TABLE_SUFFIXES)


def is_plain(name: str) -> bool:
    """An uncompressed table: described from its bytes in memory when small."""
    return name.lower().endswith(PLAIN_SUFFIXES)


def separator(name: str) -> str:
    return "\t" if name.lower().endswith(".tsv") else ","


def describe_table(path: Path, content: bytes | None = None) -> Description:
    """Rows and column dtypes of a CSV-like file (None, None for other files). `content`: the
    whole file when the caller already holds it, which lets a plain file skip pandas."""
    if not is_table(path.name):
        return None, None
    if content is not None and is_plain(path.name):
        described = describe_text(content, separator(path.name))
        if described is not None:
            return described
    return describe_with_pandas(path)


# what reading a broken file raises: a parse error, bad text, a truncated or corrupt archive
# (zipfile.BadZipFile, EOFError from gzip/bz2/lzma, OSError for a bad gzip header or bz2 stream)
UNREADABLE = (ValueError, UnicodeDecodeError, EOFError, OSError, zipfile.BadZipFile, zlib.error)


def describe_with_pandas(path: Path) -> tuple[int, dict[str, str]]:
    import pandas as pd

    sep = separator(path.name)
    try:
        header = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str).iloc[0].tolist()
        twice = sorted({str(n) for n in header if header.count(n) > 1})
        if twice:  # pandas would rename the second one to `name.1`
            raise DataError(f"{path.name}: column {twice[0]!r} appears twice in the header")
        sample = pd.read_csv(path, sep=sep, nrows=SAMPLE_ROWS)
        rows = len(sample)
        if rows == SAMPLE_ROWS:  # more rows than the sample: count them all
            rows = 0
            for chunk in pd.read_csv(path, sep=sep, usecols=[0], dtype=str, chunksize=1 << 20):
                rows += len(chunk)
    except pd.errors.EmptyDataError:
        return 0, {}
    except UNREADABLE as exc:
        raise DataError(f"{path.name}: cannot be read as CSV: {_reason(exc)}") from None
    return rows, {str(c): str(t) for c, t in sample.dtypes.items()}


def _reason(exc: BaseException) -> str:
    """The library's message on one line (pandas' parser errors end in a newline)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def describe_text(content: bytes, sep: str) -> tuple[int, dict[str, str]] | None:
    """What `describe_with_pandas` gives for this file, or None when unsure (ask pandas)."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text or text.isspace() or text.startswith("\ufeff") or _has_padding(text, sep):
        return None
    if "\r" in text and text.count("\r") != text.count("\r\n"):
        return None
    if '"' not in text:  # no quoting: a split is exact, and twice as fast as the csv module
        lines = text.replace("\r\n", "\n").split("\n")
        records = [line.split(sep) for line in lines if line]
    else:
        try:
            records = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=sep) if r]
        except csv.Error:
            return None
    header, rows = records[0], records[1:]
    if len(set(header)) != len(header) or "" in header:
        return None
    if rows and set(map(len, rows)) != {len(header)}:
        return None
    if not rows:
        return 0, dict.fromkeys(header, "object")
    dtypes = {}
    for name, column in zip(header, zip(*rows[:SAMPLE_ROWS], strict=True), strict=True):
        dtype = column_dtype(set(column))
        if dtype is None:
            return None
        dtypes[name] = dtype
    return len(rows), dtypes


def column_dtype(values: set[str]) -> str | None:
    """pandas' dtype for a column holding `values` (None: unsure)."""
    missing = not values.isdisjoint(NA_VALUES)
    present = values - NA_VALUES if missing else values
    if not present:
        return "float64"
    if present <= BOOLEANS:
        return "object" if missing else "bool"
    if not present.isdisjoint(BOOLEANS):
        return None
    first = next(iter(present))  # one value that is not a number settles it, without a join
    if INT.fullmatch(first):
        joined = "\n".join(present)
        if INTS.fullmatch(joined):
            if max(map(len, present)) > 18 and not all(
                INT64[0] <= int(v) <= INT64[1] for v in present
            ):
                return None  # uint64 or object in pandas
            return "float64" if missing else "int64"
        return "float64" if FLOATS.fullmatch(joined) else string_dtype()
    if FLOAT.fullmatch(first) and FLOATS.fullmatch("\n".join(present)):
        return "float64"
    return string_dtype()


def _padding(sep: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    blanks = (" ",) if sep == "\t" else (" ", "\t")
    edges = (sep, '"', "\n", "\r")
    pairs = {p for b in blanks for e in edges if e != b for p in (b + e, e + b)}
    return blanks, tuple(sorted(pairs))


PADDING = {sep: _padding(sep) for sep in (",", "\t")}


def _has_padding(text: str, sep: str) -> bool:
    """Whitespace next to a separator, a quote or a line end (pandas strips it around numbers
    only). Substring scans: a regex over every character costs more than the rest together."""
    blanks, pairs = PADDING[sep]
    if not any(blank in text for blank in blanks):
        return False  # the common case for machine-written parts: one scan per blank
    if text[:1] in blanks or text.rstrip("\r\n")[-1:] in blanks:
        return True
    return any(pair in text for pair in pairs)


@cache
def string_dtype() -> str:
    """The name pandas gives a column of text: `str` from pandas 3 on, `object` before."""
    import importlib.metadata

    major = int(importlib.metadata.version("pandas").split(".")[0])
    return "str" if major >= 3 else "object"


class Helper:
    """Describes small plain tables in a second process, on the second core, while the caller
    copies the next files: for a directory of many parts the description then costs almost no
    wall time. `add` each file with its content, in order; `results` gives their descriptions.
    A thread feeds the helper in batches, so the copy never waits for it (up to QUEUED_BYTES
    ahead). Files the helper is unsure of go to pandas here; if the helper cannot start or
    fails, this process describes every file itself, with the same result."""

    def __init__(self) -> None:
        import mlrepro

        env = dict(os.environ)
        top = str(Path(mlrepro.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (top, env.get("PYTHONPATH")) if p)
        self.paths: list[str] = []
        self.batch = bytearray()
        self.batches: queue.Queue[bytes | None] = queue.Queue(QUEUED_BYTES // BATCH_BYTES)
        self.writer: threading.Thread | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        with contextlib.suppress(OSError):  # no helper: this process describes the files
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mlrepro.snapshot.describe"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
            self.writer = threading.Thread(target=self._feed, name="describe-feed", daemon=True)
            self.writer.start()

    def add(self, path: str | Path, content: bytes) -> None:
        self.paths.append(os.fspath(path))
        if self.writer is not None:
            self.batch += b"%d %s\n" % (len(content), separator(self.paths[-1]).encode())
            self.batch += content
            if len(self.batch) >= BATCH_BYTES:
                self.batches.put(bytes(self.batch))
                self.batch.clear()

    def _feed(self) -> None:
        """The writer thread: batches to the helper's stdin, then EOF. After a failed write it
        keeps taking batches (so `add` never blocks) until the end marker."""
        assert self.proc is not None and self.proc.stdin is not None
        stdin, broken = self.proc.stdin, False
        while (item := self.batches.get()) is not None:
            if not broken:
                try:
                    stdin.write(item)
                except OSError:
                    broken = True
        with contextlib.suppress(OSError):
            stdin.close()

    def _finish_feeding(self) -> None:
        if self.writer is not None:
            self.batches.put(bytes(self.batch))
            self.batches.put(None)
            self.batch.clear()
            self.writer.join()
            self.writer = None

    def results(self) -> list[Description]:
        answers: list[Any] | None = None
        if self.proc is not None and self.proc.stdout is not None:
            self._finish_feeding()
            try:
                out = self.proc.stdout.read()
                if self.proc.wait() == 0:
                    answers = json.loads(out)
            except (OSError, ValueError):
                pass
            self.stop()
        paths = [Path(p) for p in self.paths]
        if not isinstance(answers, list) or len(answers) != len(paths):
            return [describe_table(p, p.read_bytes()) for p in paths]
        return [
            describe_with_pandas(p) if a is None else (a[0], a[1])
            for p, a in zip(paths, answers, strict=True)
        ]

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.returncode is None:
                self.proc.kill()
            self._finish_feeding()
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
            self.proc = None

    def __enter__(self) -> Helper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve() -> None:
    """The helper's side: records `<length> <sep>\\n<bytes>` on stdin; at its end, a JSON list of
    [rows, dtypes] or null per record on stdout."""
    stdin, answers = sys.stdin.buffer, []
    while header := stdin.readline():
        size, _, sep = header.rstrip(b"\n").partition(b" ")
        answers.append(describe_text(stdin.read(int(size)), sep.decode()))
    sys.stdout.write(json.dumps(answers))


if __name__ == "__main__":
    _serve()
