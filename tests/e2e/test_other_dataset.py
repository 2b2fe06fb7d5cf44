"""Pointing params.yaml and the schema at another table runs the whole pipeline, no code change."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import Repo

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
    repo.run("mlrepro", "snapshot", "take", "items")
    repo.run("mlrepro", "snapshot", "pin", "items@latest")

    repo.dvc("repro")

    split = json.loads((repo.path / "reports/split.json").read_text())
    assert {p: split[p]["rows"] for p in split} == {"train": 360, "valid": 120, "test": 120}
    metrics = json.loads((repo.path / "evaluate/metrics.json").read_text())
    assert metrics["test"]["rows"] == 120
    assert metrics["test"]["roc_auc"] > 0.8, metrics["test"]
    card = json.loads((repo.path / "models/model_card.json").read_text())
    assert card["features"] == ["color", "size"]
    assert "from" not in card["training"]
