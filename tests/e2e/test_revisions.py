"""The revision reader (`mlrepro.revisions`) against real `dvc` on the same repos: the metrics
files and values of `dvc metrics show`, the params of `dvc params diff`, the stages of `dvc stage
list` and the cached outputs of DVC's own index, at two commits and the workspace.

One repo uses every interpolation rule at once: `vars: [params.yaml]`, a vars file, an inline
mapping, foreach over a list (from params.yaml) and over a mapping (`${key}`, a `wdir` from a vars
file, params relative to it), a matrix (one axis from a vars file), params from another file and
a top-level `metrics:` entry. The other is this project's own pipeline.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlrepro.revisions import Repository, Rev, RevError, Revision, Unreadable, flatten, open_repo
from tests.conftest import Repo

pytestmark = pytest.mark.e2e

DVC_YAML = """\
vars:
  - params.yaml
  - conf/vars.yaml
  - names: {summary: summary}
stages:
  train:
    foreach: ${models}
    do:
      cmd: python write.py ${train.lr} models/${item}.bin ${paths.metrics}/${item}.json
      deps: [write.py]
      params: [train.lr, {other.yaml: [lr]}]
      outs:
        - models/${item}.bin
      metrics:
        - ${paths.metrics}/${item}.json:
            cache: false
  tune:
    matrix:
      model: ${models}
      depth: ${opts.depth}
    cmd: python write.py ${train.lr} ${paths.metrics}/tune-${key}.json
    metrics:
      - ${paths.metrics}/tune-${key}.json:
          cache: false
  report:
    foreach:
      test: {split: test}
      valid: {split: valid}
    do:
      cmd: python ../write.py ${train.lr} ${item.split}.yaml
      wdir: ${report.dir}
      params: [seed]
      metrics:
        - ${item.split}.yaml:
            cache: false
metrics:
  - ${paths.metrics}/${names.summary}.json
"""
WRITE = """\
import json, pathlib, sys
value = float(sys.argv[1])
for name in sys.argv[2:]:
    path = pathlib.Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    score = round(value + len(name) / 1000, 6)
    if path.suffix == ".json":
        path.write_text(json.dumps({"score": score, "detail": {"chars": len(name)}}))
    elif path.suffix == ".yaml":
        path.write_text(f"score: {score}\\nname: {name}\\n")
    else:
        path.write_bytes(name.encode() * 100)
"""
PARAMS = {
    "train": {"lr": 0.1, "epochs": 2},
    "models": ["small", "big"],
    "paths": {"metrics": "metrics"},
    "seed": 1,
}
FILES = {
    "write.py": WRITE,
    "dvc.yaml": DVC_YAML,
    "params.yaml": yaml.safe_dump(PARAMS, sort_keys=False),
    "conf/vars.yaml": "opts: {depth: [1, 2], unused: 0}\nreport: {dir: reports}\n",
    "other.yaml": "lr: 0.5\nextra: {a: 1}\n",
    "reports/params.yaml": "seed: 7\n",
    "metrics/summary.json": '{"score": 0.5}\n',
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """v1; v2 (train.lr and other.yaml's lr changed, re-run) = HEAD; a workspace whose summary
    metrics file is edited and not committed."""
    repo = Repo(tmp_path_factory.mktemp("revisions") / "repo")
    repo.path.mkdir()
    repo.git("init", "-q", "-b", "main")
    repo.dvc("init", "-q")
    for name, text in FILES.items():
        (repo.path / name).parent.mkdir(parents=True, exist_ok=True)
        (repo.path / name).write_text(text)
    repo.dvc("repro", "-q")
    repo.commit_all("v1")
    repo.git("tag", "v1")
    repo.edit_params({"train": {"lr": 0.2}})
    (repo.path / "other.yaml").write_text("lr: 0.6\nextra: {a: 1}\n")
    repo.dvc("repro", "-q")
    repo.commit_all("v2")
    (repo.path / "metrics" / "summary.json").write_text('{"score": 0.75}\n')
    return repo


@pytest.fixture
def reader(repo: Repo) -> Iterator[Repository]:
    with open_repo(repo.path) as source:
        yield source


REVS = ["v1", "HEAD", "workspace"]


def shown_by_dvc(metrics: dict[str, Any]) -> dict[str, Any]:
    """The values `dvc metrics show` keeps: numbers, booleans and strings (mlrepro also keeps
    lists and nulls, as values that are not numbers)."""
    return {
        path: {k: v for k, v in values.items() if isinstance(v, int | float | str)}
        for path, values in metrics.items()
    }


def dvc_json(repo: Repo, *args: str) -> Any:
    return json.loads(repo.dvc(*args, "--json").stdout)


def test_stage_names_are_dvc_stage_list(repo: Repo, reader: Repository) -> None:
    names = repo.dvc("stage", "list", "--name-only").stdout.split()
    stages = Revision(reader, reader.resolve("workspace")).pipeline.stages
    assert list(stages) == names
    assert names == [
        "train@small",
        "train@big",
        "tune@small-1",
        "tune@small-2",
        "tune@big-1",
        "tune@big-2",
        "report@test",
        "report@valid",
    ]


@pytest.mark.parametrize("name", REVS)
def test_metrics_files_and_values_are_dvc_metrics_show(
    repo: Repo, reader: Repository, name: str
) -> None:
    rev = reader.resolve(name)
    if rev.commit is None:  # the workspace alone, under the name ""
        [shown] = dvc_json(repo, "metrics", "show").values()
    else:
        shown = dvc_json(repo, "metrics", "show", "-A")[rev.commit]
    by_dvc = shown["data"]
    ours = Revision(reader, rev).metrics()
    assert list(ours) == list(by_dvc)
    assert shown_by_dvc(ours) == {path: flatten(entry["data"]) for path, entry in by_dvc.items()}
    assert len(ours) == 9 and "reports/valid.yaml" in ours


def test_params_are_dvc_params_diff(repo: Repo, reader: Repository) -> None:
    diff = dvc_json(repo, "params", "diff", "--all", "v1", "HEAD")
    old, new = (Revision(reader, reader.resolve(n)).params() for n in ("v1", "HEAD"))
    ours = {
        path: {
            key: {"old": as_dvc_writes(old, path, key), "new": as_dvc_writes(new, path, key)}
            for key in dict.fromkeys([*old.get(path, {}), *new.get(path, {})])
        }
        for path in dict.fromkeys([*old, *new])
    }
    assert ours == {
        path: {key: {"old": v["old"], "new": v["new"]} for key, v in keys.items()}
        for path, keys in diff.items()
    }
    assert new["other.yaml"] == {"lr": 0.6}  # only the key a stage tracks
    assert new["reports/params.yaml"] == {"seed": 7}  # relative to the stage's wdir
    assert new["conf/vars.yaml"]["report.dir"] == "reports"  # a vars value a stage used


def as_dvc_writes(params: dict[str, dict[str, Any]], path: str, key: str) -> Any:
    """A param's value as `dvc params diff --json` writes it (a list as its str)."""
    value = params.get(path, {}).get(key)
    return str(value) if isinstance(value, list) else value


def dvc_index_outputs(path: Path, rev: str | None) -> set[tuple[str, str, int | None]]:
    """What DVC's own index says each revision caches (what `remote verify` read before)."""
    from dvc.repo import Repo as DvcRepo

    found = set()
    with DvcRepo(str(path)) as dvc_repo:
        for _ in dvc_repo.brancher(revs=[rev] if rev else None, workspace=rev is None):
            for stage in dvc_repo.index.stages:
                for out in stage.outs:
                    if out.use_cache and out.hash_info and out.hash_info.value:
                        where = out.fs_path.removeprefix(dvc_repo.root_dir).lstrip("/")
                        found.add((where, out.hash_info.value, out.meta.size))
            if rev:
                break
    return found


def cached(reader: Repository, name: str) -> set[tuple[str, str, int | None]]:
    outs = Revision(reader, reader.resolve(name)).cached_outputs()
    return {(o.path, o.md5, o.size) for o in outs}


@pytest.mark.parametrize("name", ["v1", "workspace"])
def test_cached_outputs_are_dvc_index(repo: Repo, reader: Repository, name: str) -> None:
    rev = None if name == "workspace" else name
    assert cached(reader, name) == dvc_index_outputs(repo.path, rev)
    assert {path for path, _, _ in cached(reader, name)} == {"models/small.bin", "models/big.bin"}


def test_unknown_revision_is_one_line(reader: Repository) -> None:
    with pytest.raises(RevError) as caught:
        reader.resolve("nope")
    assert str(caught.value) == (
        "unknown revision 'nope': not a commit, tag, branch or DVC experiment"
    )


def test_many_revisions_one_request(repo: Repo, reader: Repository) -> None:
    """Files of several commits and the workspace in one call (one `git cat-file --batch`)."""
    revs = [reader.resolve(n) for n in REVS] + [Rev("missing", "0" * 40)]
    blobs = reader.blobs([(rev, "metrics/summary.json") for rev in revs])
    assert [b.data for b in blobs] == [b'{"score": 0.5}\n'] * 2 + [b'{"score": 0.75}\n', b""]
    assert [b.kind for b in blobs] == [b"blob"] * 3 + [b"missing"]
    assert Revision(reader, revs[0]).load("nope.json") == Unreadable("missing")


def test_project_pipeline(pipeline_template: Repo, tmp_path: Path) -> None:
    """This project's dvc.yaml (inline vars, no foreach): stages, metrics, params and the cached
    outputs (stages and the snapshots' .dvc files) as DVC reads them, at HEAD."""
    path = shutil.copytree(pipeline_template.path, tmp_path / "repo", symlinks=True)
    project = Repo(path)
    with open_repo(path) as source:
        head = Revision(source, source.resolve("HEAD"))
        assert (
            list(head.pipeline.stages) == project.dvc("stage", "list", "--name-only").stdout.split()
        )
        shown = dvc_json(project, "metrics", "show", "-A")[head.rev.commit]["data"]
        assert shown_by_dvc(head.metrics()) == {p: flatten(e["data"]) for p, e in shown.items()}
        diff = dvc_json(project, "params", "diff", "--all", "HEAD~1", "HEAD")
        params = head.params()
        assert {
            f: {k: as_dvc_writes(params, f, k) for k in keys} for f, keys in params.items()
        } == {
            file: {key: value["new"] for key, value in keys.items()} for file, keys in diff.items()
        }
        ours = {(o.path, o.md5, o.size) for o in head.cached_outputs()}
        assert any(o.declared.endswith(".dvc") for o in head.cached_outputs())
    assert ours == dvc_index_outputs(path, "HEAD")
