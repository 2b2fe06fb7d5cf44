"""lineage.openlineage on the real pipeline: the run events of what made models/model.skops at
the template's HEAD, read through `upstream`, validate against the OpenLineage spec (with the
snapshots' column dtypes from their manifests), and are the same bytes on a second read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlrepro.lineage.openlineage import manifest_columns, run_events, write_events
from mlrepro.lineage.upstream import upstream
from mlrepro.revisions import Revision, Unreadable, open_repo
from tests.conftest import Repo
from tests.unit.test_openlineage import summary, validate_event

pytestmark = pytest.mark.e2e

TARGET = "models/model.skops"


def export(repo: Repo) -> list[dict[str, Any]]:
    """What `mlrepro lineage models/model.skops --openlineage FILE` writes, without the CLI."""
    commit_time = int(repo.git("show", "-s", "--format=%ct", "HEAD").stdout)
    with open_repo(repo.path) as source:
        lineage = upstream(source, TARGET)
        revision = Revision(source, source.resolve("HEAD"))
        columns = {}
        for snapshot in lineage.snapshots:
            manifest = revision.manifest(snapshot.source, snapshot.id)
            found = None if isinstance(manifest, Unreadable) else manifest_columns(manifest)
            if found is not None:
                columns[snapshot.ref] = found
    return run_events(lineage, commit_time=commit_time, namespace="repo", columns=columns)


def test_the_model_lineage_as_openlineage_events(pipeline_template: Repo, tmp_path: Path) -> None:
    repo = pipeline_template
    events = export(repo)
    lock = yaml.safe_load((repo.path / "dvc.lock").read_text())["stages"]
    head = repo.git("rev-parse", "HEAD").stdout.strip()
    names = [e["job"]["name"] for e in events]
    assert names == ["ingest", "validate", "split", "featurize", "leakage", "train"], names
    for event in events:
        validate_event(event)
    assert len({e["run"]["runId"] for e in events}) == len(events)
    utc = "--date=format-local:%Y-%m-%dT%H:%M:%SZ"  # the committer time, in UTC
    shown = repo.run("git", "show", "-s", "--format=%cd", utc, "HEAD", env={"TZ": "UTC"})
    assert {e["eventTime"] for e in events} == {shown.stdout.strip()}

    train = events[-1]
    model = next(d for d in train["outputs"] if d["name"] == TARGET)
    recorded = next(o for o in lock["train"]["outs"] if o["path"] == TARGET)
    assert model["facets"]["version"]["datasetVersion"] == recorded["md5"]
    assert model["facets"]["mlrepro_record"]["evidence"] == {"path": "dvc.lock", "commit": head}
    assert ("data/featurize", "data", lock["featurize"]["outs"][0]["md5"]) in [
        summary(d) for d in train["inputs"]
    ]
    pins = yaml.safe_load((repo.path / "params.yaml").read_text())["ingest"]["pins"]
    snapshots = [d for d in events[0]["inputs"] if "mlrepro_snapshot" in d["facets"]]
    assert [d["name"] for d in snapshots] == [
        f"data/snapshots/{source}/{pins[source]}" for source in sorted(pins)
    ]
    for dataset in snapshots:
        manifest = json.loads((repo.path / f"{dataset['name']}.json").read_text())
        assert dataset["facets"]["version"]["datasetVersion"] == manifest["content_sha256"]
        assert dataset["facets"]["schema"]["fields"] == [
            {"name": name, "type": dtype} for name, dtype in manifest["files"][0]["columns"].items()
        ]

    write_events(tmp_path / "a.jsonl", events)
    write_events(tmp_path / "b.jsonl", export(repo))  # a second read of the repo, same bytes
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == len(events)
