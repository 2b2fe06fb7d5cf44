"""dvc.lock never claims a snapshot that ingest did not read: a pin that moves while ingest runs
makes the stage fail, so DVC records nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlrepro.core.errors import DataError
from mlrepro.stages import ingest
from tests.conftest import Repo

pytestmark = pytest.mark.e2e


def test_check_pins_unchanged() -> None:
    ingest.check_pins_unchanged({"a": "1"}, {"a": "1"})
    with pytest.raises(DataError, match=r"ingest.pins.a changed from 1 to 2 while ingest ran"):
        ingest.check_pins_unchanged({"a": "1"}, {"a": "2"})


def test_pin_moved_while_ingest_ran_fails_the_stage(
    pipeline_repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ingest stage runs in-process; halfway (after it read the snapshots) the flights pin
    is moved, as `mlrepro snapshot pin` in another terminal would."""
    monkeypatch.chdir(pipeline_repo.path)
    real = ingest.ingest
    params_file = pipeline_repo.path / "params.yaml"

    def ingest_then_pin(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        text = params_file.read_text()
        pinned = pipeline_repo.read_yaml("params.yaml")["ingest"]["pins"]["flights"]
        params_file.write_text(text.replace(f"flights: {pinned}", "flights: 20991231T000000Z-0"))
        return result

    monkeypatch.setattr(ingest, "ingest", ingest_then_pin)
    code = ingest.main(["--out", "data/ingest"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mlrepro ingest: error: params.yaml: ingest.pins.flights changed from ")
    assert not Path("data/ingest").exists()
    status = json.loads(pipeline_repo.dvc("status", "--json").stdout)
    assert "ingest" in status  # DVC does not take the stage as up to date
