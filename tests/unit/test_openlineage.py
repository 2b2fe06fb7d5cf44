"""lineage.openlineage: run events from a hand-made lineage, validated against the OpenLineage
spec's JSON schemas (tests/fixtures/openlineage/, the spec repo's files unchanged) and each
facet against the schema its `_schemaURL` names."""

from __future__ import annotations

import copy
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from mlrepro.lineage.openlineage import (
    CUSTOM,
    FACETS,
    PRODUCER,
    SPEC,
    STANDARD,
    manifest_columns,
    run_events,
    write_events,
)
from mlrepro.lineage.records import Entry, StageRecord
from mlrepro.lineage.upstream import Snapshot, Step, Upstream
from mlrepro.snapshot.manifest import FileEntry, Manifest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openlineage"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
TIME = 1_700_000_000  # 2023-11-14T22:13:20Z
NAMESPACE = "https://example.com/team/flights.git"
SNAPSHOT = Snapshot(
    "rows",
    "20240101T000000Z-abcdef12",
    "data/snapshots/rows/20240101T000000Z-abcdef12.json",
    ("prepare",),
    {"name": "rows", "path": "rows.csv"},
    "2024-01-01T00:00:00Z",
    "abcdef12" + "0" * 56,
    "fedcba9876543210fedcba9876543210fedcba98",
    3,
    42,
)
PREPARE = StageRecord(
    "prepare",
    "python -m prep --out data/prep",
    {"params.yaml": {"ingest.pins.rows": SNAPSHOT.id, "prepare.start": date(2013, 1, 5)}},
    (Entry("src/prep.py", "1" * 32, 120),),
    (Entry("data/prep", "2" * 32 + ".dir", 900, 2),),
)
TRAIN = StageRecord(
    "train",
    "python -m train --data data/prep && touch models/done",
    {"params.yaml": {"train.seed": 7, "train.tol": float("nan")}},
    (Entry("data/prep", "2" * 32 + ".dir", 900, 2), Entry("src/train.py", "3" * 32, 80)),
    (Entry("models/model.pkl", "4" * 32, 5000),),
)
COLUMNS = {SNAPSHOT.ref: {"day": "int64", "carrier": "str"}}


def lineage(commit: str | None = COMMIT, snapshot: Snapshot = SNAPSHOT) -> Upstream:
    steps = (
        Step(PREPARE, {}, (snapshot.ref,)),
        Step(TRAIN, {"prepare": ("data/prep",)}, ()),
    )
    model = TRAIN.outs[0]
    evidence = ("dvc.lock at HEAD", f"{snapshot.manifest} at HEAD")
    return Upstream(model.path, "HEAD", commit, model, model.md5, steps, (snapshot,), evidence)


def arguments() -> dict[str, Any]:
    return {"commit_time": TIME, "namespace": NAMESPACE, "columns": COLUMNS, "repo_url": NAMESPACE}


def events(**changes: Any) -> list[dict[str, Any]]:
    """`run_events` of `lineage()` (or `lineage=`) with `arguments()`, some changed."""
    return run_events(changes.pop("lineage", None) or lineage(), **{**arguments(), **changes})


# --- the spec's schemas, each under its $id -------------------------------------------------


ROOT = json.loads((FIXTURES / "OpenLineage.json").read_text(encoding="utf-8"))


def _schemas() -> Iterator[dict[str, Any]]:
    yield ROOT
    for path in sorted((FIXTURES / "facets").glob("*.json")):
        yield json.loads(path.read_text(encoding="utf-8"))
    yield FACETS  # mlrepro's custom facets, as the module publishes them


REGISTRY: Registry[Any] = Registry().with_resources(
    (schema["$id"], Resource.from_contents(schema)) for schema in _schemas()
)
FORMATS = FormatChecker()  # a copy of the registered checks: uri and date-time checked here


@FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    parts = urlsplit(str(value))
    return bool(parts.scheme and parts.netloc) and not re.search(r"\s", str(value))


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    text = str(value)
    pattern = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"
    return re.fullmatch(pattern, text) is not None and bool(datetime.fromisoformat(text))


def validator(url: str) -> Draft202012Validator:
    """A validator for the schema at `url` (a `$id`, a `#/$defs/...` pointer into one)."""
    return Draft202012Validator({"$ref": url}, registry=REGISTRY, format_checker=FORMATS)


def facet_sets(event: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "run", event["run"].get("facets", {})
    yield "job", event["job"].get("facets", {})
    for side in ("inputs", "outputs"):
        for dataset in event.get(side, []):
            yield f"{side} {dataset['name']}", dataset.get("facets", {})


def validate_event(event: dict[str, Any]) -> None:
    """The event against the whole spec (a RunEvent, not a job or dataset event), against the
    schema its schemaURL names, and each facet against the schema its _schemaURL names, which
    must be the one this module declares for that key."""
    validator(ROOT["$id"]).validate(event)
    validator(event["schemaURL"]).validate(event)
    for where, facets in facet_sets(event):
        for key, facet in facets.items():
            if key in STANDARD:
                assert facet["_schemaURL"] == f"https://openlineage.io/spec/facets/{STANDARD[key]}"
            else:
                assert key in CUSTOM, f"{where}: facet {key} is neither standard nor mlrepro_"
                assert facet["_schemaURL"].endswith(f"#/$defs/{CUSTOM[key]}"), (where, key)
            validator(facet["_schemaURL"]).validate(facet)


# --- the tests ----------------------------------------------------------------------------


def test_every_event_and_facet_validates_against_the_spec() -> None:
    found = events()
    assert [e["job"]["name"] for e in found] == ["prepare", "train"]
    for event in found:
        validate_event(event)
    Draft202012Validator.check_schema(FACETS)


def test_the_workspace_and_an_unreadable_manifest_validate_too() -> None:
    broken = Snapshot(SNAPSHOT.source, SNAPSHOT.id, SNAPSHOT.manifest, ("prepare",), problem="x")
    for event in events(lineage=lineage(None, broken), columns=None, repo_url=None):
        validate_event(event)


REQUIRED = [
    ("eventTime",),
    ("producer",),
    ("schemaURL",),
    ("run",),
    ("job",),
    ("run", "runId"),
    ("job", "name"),
    ("job", "namespace"),
    ("inputs", 0, "name"),
    ("outputs", 0, "namespace"),
    ("job", "facets", "jobType", "_producer"),
    ("job", "facets", "sourceCode", "language"),
    ("job", "facets", "sourceCodeLocation", "url"),
    ("inputs", 0, "facets", "version", "datasetVersion"),
    ("inputs", 0, "facets", "mlrepro_snapshot", "evidence"),
    ("outputs", 0, "facets", "mlrepro_record", "_schemaURL"),
    ("run", "facets", "mlrepro_params", "params"),
]


@pytest.mark.parametrize("path", REQUIRED, ids=["/".join(map(str, p)) for p in REQUIRED])
def test_an_event_without_a_required_field_fails(path: tuple[str | int, ...]) -> None:
    event = copy.deepcopy(events()[0])
    holder: Any = event
    for step in path[:-1]:
        holder = holder[step]
    del holder[path[-1]]
    with pytest.raises(ValidationError):
        validate_event(event)


@pytest.mark.parametrize(
    "path, value",
    [
        (("eventType",), "DONE"),
        (("run", "runId"), "not-a-uuid"),
        (("eventTime",), "yesterday"),
        (("producer",), "mlrepro"),
        (("inputs", 0, "facets", "schema", "fields", 0, "name"), 5),
        (("inputs", 0, "facets", "mlrepro_snapshot", "hashKind"), "md5"),
    ],
)
def test_an_event_with_a_wrong_value_fails(path: tuple[str | int, ...], value: object) -> None:
    event = copy.deepcopy(events()[0])
    holder: Any = event
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = value
    with pytest.raises(ValidationError):
        validate_event(event)


@pytest.fixture
def other_time_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process in another time zone: eventTime is UTC whatever the zone."""
    monkeypatch.setenv("TZ", "Asia/Seoul")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_events_are_the_same_bytes_every_time(tmp_path: Path, other_time_zone: None) -> None:
    write_events(tmp_path / "a.jsonl", events())
    write_events(tmp_path / "b.jsonl", run_events(lineage(), **arguments()))
    first = (tmp_path / "a.jsonl").read_bytes()
    assert first == (tmp_path / "b.jsonl").read_bytes()
    lines = first.decode().splitlines()
    assert [json.loads(line) for line in lines] == json.loads(json.dumps(events()))
    assert lines == [
        json.dumps(json.loads(line), sort_keys=True, separators=(",", ":")) for line in lines
    ]  # keys sorted, one event a line
    assert sorted(os.listdir(tmp_path)) == ["a.jsonl", "b.jsonl"]  # no temporary file left


def test_the_event_head_is_the_commit_time_and_this_producer() -> None:
    event = events()[1]
    assert {k: event[k] for k in ("eventType", "eventTime", "producer", "schemaURL")} == {
        "eventType": "COMPLETE",
        "eventTime": "2023-11-14T22:13:20Z",
        "producer": PRODUCER,
        "schemaURL": f"{SPEC}#/$defs/RunEvent",
    }
    assert PRODUCER.startswith("https://github.com/mlrepro/mlrepro/tree/v")


def test_run_ids_are_uuid7_of_commit_and_record_stable_and_distinct() -> None:
    ids = [e["run"]["runId"] for e in events()]
    assert ids == [
        "018bcfe5-6800-7974-8b64-d7556face954",
        "018bcfe5-6800-72db-b595-23ae84ab3edc",
    ]  # pinned: a change to the derivation changes every id a catalogue holds
    for value in ids:
        parsed = uuid.UUID(value)
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
        assert parsed.int >> 80 == TIME * 1000  # the time bits: the commit time in ms
    assert [e["run"]["runId"] for e in events()] == ids
    other_commit = [e["run"]["runId"] for e in events(lineage=lineage("f" * 40))]
    assert (other_commit[0] != ids[0], other_commit[1] != ids[1]) == (True, True)
    changed = replace(PREPARE, outs=(Entry("data/prep", "9" * 32 + ".dir", 900, 2),))
    rerun = replace(lineage(), steps=(Step(changed, {}, (SNAPSHOT.ref,)), lineage().steps[1]))
    again = [e["run"]["runId"] for e in events(lineage=rerun)]
    assert (again[0] != ids[0], again[1]) == (True, ids[1])  # only the changed record's id


def summary(dataset: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """name, kind (mlrepro_record or a snapshot), datasetVersion."""
    facets = dataset["facets"]
    kind = facets["mlrepro_record"]["kind"] if "mlrepro_record" in facets else "snapshot"
    return dataset["name"], kind, facets.get("version", {}).get("datasetVersion")


def test_inputs_are_the_snapshots_deps_and_params_files_outputs_the_outs() -> None:
    prepare, train = events()
    assert [summary(d) for d in prepare["inputs"]] == [
        ("data/snapshots/rows/20240101T000000Z-abcdef12", "snapshot", SNAPSHOT.content_sha256),
        ("src/prep.py", "source", "1" * 32),
        ("params.yaml", "params", None),
    ]
    assert [summary(d) for d in train["inputs"]] == [
        ("data/prep", "data", "2" * 32 + ".dir"),
        ("src/train.py", "source", "3" * 32),
        ("params.yaml", "params", None),
    ]
    assert [summary(d) for d in prepare["outputs"]] == [("data/prep", "out", "2" * 32 + ".dir")]
    assert {d["namespace"] for e in (prepare, train) for d in e["inputs"] + e["outputs"]} == {
        NAMESPACE
    }


def test_what_mlrepro_records_goes_in_its_custom_facets() -> None:
    prepare, train = events()
    record = {
        k: v for k, v in train["inputs"][0]["facets"]["mlrepro_record"].items() if k[0] != "_"
    }
    assert record == {
        "kind": "data",
        "madeBy": "prepare",
        "hash": "2" * 32 + ".dir",
        "hashKind": "md5-dir",
        "size": 900,
        "nfiles": 2,
        "evidence": {"path": "dvc.lock", "commit": COMMIT},
    }
    snapshot = prepare["inputs"][0]["facets"]
    assert {k: v for k, v in snapshot["mlrepro_snapshot"].items() if k[0] != "_"} == {
        "source": "rows",
        "id": SNAPSHOT.id,
        "hash": SNAPSHOT.content_sha256,
        "hashKind": "sha256-content",
        "takenAt": "2024-01-01T00:00:00Z",
        "takenAtCommit": SNAPSHOT.git_commit,
        "rows": 3,
        "bytes": 42,
        "definition": {"name": "rows", "path": "rows.csv"},
        "problem": None,
        "evidence": {"path": SNAPSHOT.manifest, "commit": COMMIT},
    }
    assert snapshot["schema"]["fields"] == [
        {"name": "day", "type": "int64"},
        {"name": "carrier", "type": "str"},
    ]
    assert prepare["run"]["facets"]["mlrepro_params"]["params"] == {
        "params.yaml": {"ingest.pins.rows": SNAPSHOT.id, "prepare.start": "2013-01-05"}
    }  # a YAML date as ISO 8601
    assert train["run"]["facets"]["mlrepro_params"]["params"] == {
        "params.yaml": {"train.seed": 7, "train.tol": "nan"}
    }  # JSON has no NaN


def test_the_job_is_the_stage_its_command_and_where_dvc_yaml_is() -> None:
    job = events()[1]["job"]
    facets = {
        k: {f: v for f, v in facet.items() if f[0] != "_"} for k, facet in job["facets"].items()
    }
    assert (job["namespace"], job["name"]) == (NAMESPACE, "train")
    assert facets == {
        "jobType": {"processingType": "BATCH", "integration": "DVC", "jobType": "STAGE"},
        "sourceCode": {"language": "shell", "sourceCode": TRAIN.cmd},
        "sourceCodeLocation": {
            "type": "git",
            "url": f"https://example.com/team/flights/blob/{COMMIT}/dvc.yaml",
            "repoUrl": NAMESPACE,
            "path": "dvc.yaml",
            "version": COMMIT,
        },
    }


@pytest.mark.parametrize(
    "commit, repo_url",
    [(None, NAMESPACE), (COMMIT, "git@example.com:team/flights.git"), (COMMIT, None)],
)
def test_no_source_code_location_without_a_commit_and_a_web_url(
    commit: str | None, repo_url: str | None
) -> None:
    for event in events(lineage=lineage(commit), repo_url=repo_url):
        assert set(event["job"]["facets"]) == {"jobType", "sourceCode"}


def test_a_snapshot_folder_as_a_dep_is_one_dataset_versioned_by_its_content() -> None:
    folder = f"data/snapshots/rows/{SNAPSHOT.id}"
    record = StageRecord("prepare", "prep", {}, (Entry(folder, "5" * 32 + ".dir", 42, 1),), ())
    found = replace(lineage(), steps=(Step(record, {}, (SNAPSHOT.ref,)),))
    (event,) = run_events(found, commit_time=TIME, namespace="flights")
    assert [summary(d) for d in event["inputs"]] == [(folder, "snapshot", SNAPSHOT.content_sha256)]
    facets = event["inputs"][0]["facets"]
    assert (facets["mlrepro_record"]["hash"], set(facets)) == (
        "5" * 32 + ".dir",
        {"version", "mlrepro_record", "mlrepro_snapshot"},
    )
    assert "facets" not in event["run"]  # no params read
    validate_event(event)


def test_manifest_columns_are_the_ones_every_file_shares() -> None:
    def manifest(*columns: dict[str, str] | None) -> Manifest:
        files = tuple(FileEntry(f"{i}.csv", 1, "s", "m", 1, c) for i, c in enumerate(columns))
        return Manifest("id", "src", {}, "t", None, {}, "c", files)

    assert manifest_columns(manifest({"a": "int64"}, {"a": "int64"})) == {"a": "int64"}
    assert manifest_columns(manifest({"a": "int64"}, {"a": "str"})) is None
    assert manifest_columns(manifest({"a": "int64"}, None)) is None
    assert manifest_columns(manifest()) is None


def test_the_published_custom_facet_schema_is_the_one_the_module_writes() -> None:
    published = Path(__file__).resolve().parents[2] / "src/mlrepro/lineage/openlineage-facets.json"
    assert json.loads(published.read_text(encoding="utf-8")) == FACETS, (
        "regenerate it: python -c 'import json; from mlrepro.lineage.openlineage import FACETS; "
        "print(json.dumps(FACETS, indent=2, sort_keys=True))' "
        "> src/mlrepro/lineage/openlineage-facets.json"
    )
