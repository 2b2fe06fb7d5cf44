"""DVC's interpolation rules on tiny dvc.yaml documents (`mlrepro.revisions`), files from a dict;
tests/e2e/test_revisions.py checks the same reader against real `dvc` on real repos."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from mlrepro.core.params import PARAMS_FILE
from mlrepro.revisions import InterpolationError, Pipeline, Unreadable, parse, resolve_pipeline
from mlrepro.revisions.interpolate import PARAMS_FILE as DVC_PARAMS_FILE
from mlrepro.revisions.interpolate import as_arguments

PARAMS = {"train": {"lr": 0.1, "layers": [8, 16], "early": True}, "models": ["a", "b"]}


def resolve(text: str, files: dict[str, Any] | None = None) -> Pipeline:
    files = {"params.yaml": PARAMS} if files is None else files
    return resolve_pipeline(
        yaml.safe_load(text), lambda path: files.get(path, Unreadable("missing"))
    )


def stages(text: str, files: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    return resolve(text, files).stages


def test_references_dotted_indexed_spaced_and_escaped() -> None:
    got = stages(r"""
stages:
  s:
    cmd: run ${train.lr} ${train.layers[1]} ${ train.early } \${literal}
    outs: ["${train.lr}"]
""")
    assert got == {"s": {"cmd": "run 0.1 16 true ${literal}", "outs": [0.1]}}


def test_params_yaml_is_the_default_and_naming_it_again_changes_nothing() -> None:
    text = "stages: {s: {cmd: 'fit ${train.lr}'}}\n"
    assert stages(text) == stages(f"vars: [params.yaml]\n{text}") == {"s": {"cmd": "fit 0.1"}}


def test_vars_entries_in_order_inline_files_and_keys() -> None:
    files = {
        "params.yaml": PARAMS,
        "conf/paths.yaml": {"paths": {"out": "results"}, "other": 1},
        "more.yaml": {"x": 1, "y": 2, "z": 3},
    }
    got = stages(
        """
vars:
  - conf/paths.yaml:paths
  - more.yaml:x,y
  - {name: m, paths: {log: logs}}
stages: {s: {cmd: "${paths.out}/${name} ${paths.log} ${x}${y}"}}
""",
        files,
    )
    assert got == {"s": {"cmd": "results/m logs 12"}}
    with pytest.raises(InterpolationError, match=r"cannot resolve \$\{other\}: no 'other'"):
        stages("vars: [conf/paths.yaml:paths]\nstages: {s: {cmd: '${other}'}}", files)


REDEFINED = "cannot redefine 'train.lr' from an inline vars mapping as it already exists in"
WHOLE = "cannot load 'params.yaml:train': 'params.yaml' is loaded whole already"
PARTLY = "cannot load 'm.yaml': 'm.yaml' is partly loaded already"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("vars: [nope.yaml]", "vars: 'nope.yaml' does not exist"),
        ("vars: [{train: {lr: 1}}]", f"vars: {REDEFINED} 'params.yaml'"),
        ("vars: ['${x}.yaml']", "vars: interpolating is not allowed"),
        ("vars: [m.yaml:nope]", "vars: could not find 'nope' in 'm.yaml'"),
        ("vars: [params.yaml:train]", f"vars: {WHOLE}"),
        ("vars: [m.yaml:a]\nstages: {s: {cmd: x, vars: [m.yaml]}}", f"stages.s: vars: {PARTLY}"),
    ],
)
def test_bad_vars_are_one_line(text: str, message: str) -> None:
    files = {"m.yaml": {"a": 1, "b": 2}} if "m.yaml" in text else {"params.yaml": PARAMS}
    with pytest.raises(InterpolationError) as caught:
        resolve(text, files)
    assert str(caught.value) == message


def test_foreach_list_dict_composite_list_and_reference() -> None:
    got = stages("""
stages:
  plain: {foreach: [1, true], do: {cmd: "fit ${item}"}}
  ref: {foreach: "${models}", do: {cmd: "fit ${item}"}}
  mapping:
    foreach: {small: {n: 1}, big: {n: 9}}
    do: {cmd: "fit ${key} ${item.n}"}
  composite: {foreach: [{n: 1}, {n: 2}], do: {cmd: "fit ${item.n}"}}
""")
    assert got == {
        "plain@1": {"cmd": "fit 1"},
        "plain@true": {"cmd": "fit true"},
        "ref@a": {"cmd": "fit a"},
        "ref@b": {"cmd": "fit b"},
        "mapping@small": {"cmd": "fit small 1"},
        "mapping@big": {"cmd": "fit big 9"},
        "composite@0": {"cmd": "fit 1"},
        "composite@1": {"cmd": "fit 2"},
    }
    with pytest.raises(InterpolationError, match=r"stages.l@1.cmd: cannot resolve \$\{key\}"):
        stages("stages: {l: {foreach: [1], do: {cmd: '${key}'}}}")


def test_matrix_names_items_and_keys() -> None:
    got = stages("""
stages:
  fit:
    matrix: {model: "${models}", opt: [{lr: 1}, {lr: 2}]}
    cmd: "fit ${item.model} ${item.opt.lr} ${key}"
""")
    assert got == {
        "fit@a-opt0": {"cmd": "fit a 1 a-opt0"},
        "fit@a-opt1": {"cmd": "fit a 2 a-opt1"},
        "fit@b-opt0": {"cmd": "fit b 1 b-opt0"},
        "fit@b-opt1": {"cmd": "fit b 2 b-opt1"},
    }


def test_stage_vars_are_its_own_and_relative_to_its_wdir() -> None:
    files = {"params.yaml": PARAMS, "sub/local.yaml": {"depth": 3}}
    text = """
stages:
  a: {cmd: "fit ${depth}", wdir: sub, vars: [local.yaml, {k: v}]}
  b: {cmd: "fit ${k}"}
"""
    with pytest.raises(InterpolationError, match=r"stages.b.cmd: cannot resolve \$\{k\}"):
        stages(text, files)
    assert stages(text.replace("${k}", "x"), files)["a"] == {"cmd": "fit 3", "wdir": "sub"}


def test_metrics_stages_first_then_top_level_paths_from_the_repo() -> None:
    got = resolve("""
vars: [{out: results}]
stages:
  a:
    cmd: x
    wdir: sub
    metrics: ["../${out}/m.json", {scores.yaml: {cache: false}}]
    outs: [model.bin]
  b: {foreach: [1, 2], do: {cmd: x, metrics: ["${item}.json"]}}
metrics: [top.json, "${out}/m.json"]
""")
    assert got.metrics == ("results/m.json", "sub/scores.yaml", "1.json", "2.json", "top.json")
    assert [(o.stage, o.kind, o.path, o.cache) for o in got.outs()] == [
        ("a", "outs", "sub/model.bin", True),
        ("a", "metrics", "results/m.json", True),
        ("a", "metrics", "sub/scores.yaml", False),
        ("b@1", "metrics", "1.json", True),
        ("b@2", "metrics", "2.json", True),
    ]


def test_params_files_and_keys_merge_as_dvc_does() -> None:
    got = resolve("""
params: [extra.yaml]
stages:
  a: {cmd: x, params: [train.lr, {other.yaml: [lr, opt.beta]}]}
  b: {cmd: x, wdir: sub, params: [seed, {other.yaml: [lr]}, {all.yaml: }]}
""")
    assert got.params == {
        "params.yaml": None,  # it exists: shown whole
        "other.yaml": ("lr", "opt.beta"),
        "sub/params.yaml": ("seed",),
        "sub/other.yaml": ("lr",),  # relative to the stage's wdir
        "sub/all.yaml": None,
        "extra.yaml": None,
    }
    assert resolve("stages: {a: {cmd: x}}", {}).params == {}


def test_values_from_vars_files_that_stages_use_are_tracked() -> None:
    files = {"params.yaml": PARAMS, "conf.yaml": {"paths": {"out": "o", "unused": 1}}}
    got = resolve(
        """
vars: [conf.yaml, {inline: 1}]
stages:
  a: {cmd: "fit ${paths.out} ${inline} ${train.lr}", outs: ["${paths.out}"]}
  b: {foreach: "${models}", do: {cmd: "fit ${item}"}}
metrics: ["${paths.out}/top.json"]
""",
        files,
    )
    assert got.used_vars == {
        "conf.yaml": {"paths.out": "o"},
        "params.yaml": {"train.lr": 0.1, "models.0": "a", "models.1": "b"},
    }


def test_what_a_stage_field_can_take() -> None:
    with pytest.raises(InterpolationError, match=r"stages.s.outs: cannot interpolate .*a list"):
        stages("stages: {s: {cmd: x, outs: ['${models}']}}")
    got = stages("stages: {s: {cmd: 'fit ${train}'}}")
    assert got["s"]["cmd"] == "fit --lr 0.1 --layers 8 16 --early"
    assert as_arguments({"a": False, "b": "x y", "c": {"d": []}, "e": None}) == "--b 'x y' --e None"


def test_dvc_default_params_file_is_the_project_params_file() -> None:
    assert DVC_PARAMS_FILE == PARAMS_FILE


def test_parse_by_suffix_as_dvc() -> None:
    assert parse("m.json", b'{"a": 1}') == {"a": 1}
    assert parse("m.toml", b"a = 1\n") == {"a": 1}
    assert parse("m.txt", b"a: 1\n") == {"a": 1}  # any other suffix is YAML
    assert parse("m.json", b"{") == Unreadable(
        "invalid", "JSON", "Expecting property name enclosed in double quotes (line 1)"
    )
    assert str(Unreadable("missing")) == "not found"
