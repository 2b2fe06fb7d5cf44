"""The grid of `mlrepro sweep`: `-S` read and expanded as `dvc exp run -S ... --queue` does, with
the keys given twice, bad syntax and globs refused in one line; names from commit and overrides."""

from __future__ import annotations

import re

import pytest

from mlrepro.sweep.grid import Config, SweepError, check_prefix, expand, names

COMMIT = "eb84db6b371716b1674086cc382d1cff571c3b4c"


def labels(sets: list[str]) -> list[str]:
    return [c.label for c in expand(sets)]


def test_the_product_of_two_keys_in_dvcs_order() -> None:
    got = labels(["train.learning_rate=0.05,0.1", "train.max_leaf_nodes=15,31,63"])
    assert got == [
        "train.learning_rate=0.05 train.max_leaf_nodes=15",
        "train.learning_rate=0.05 train.max_leaf_nodes=31",
        "train.learning_rate=0.05 train.max_leaf_nodes=63",
        "train.learning_rate=0.1 train.max_leaf_nodes=15",
        "train.learning_rate=0.1 train.max_leaf_nodes=31",
        "train.learning_rate=0.1 train.max_leaf_nodes=63",
    ]


def test_one_value_is_one_configuration() -> None:
    assert expand(["train.max_iter=15"]) == [Config(("train.max_iter=15",))]


def test_hydra_sweep_functions_and_a_list_value() -> None:
    assert labels(["train.max_iter=range(10,30,10)"]) == ["train.max_iter=10", "train.max_iter=20"]
    assert labels(["seed=choice(1,2)", "train.max_iter=5"]) == [
        "seed=1 train.max_iter=5",
        "seed=2 train.max_iter=5",
    ]
    assert labels(["featurize.numeric=[distance,temp]"]) == ["featurize.numeric=[distance,temp]"]


def test_another_params_file_keeps_its_prefix() -> None:
    assert labels(["other.yaml:a=1,2", "b=3"]) == ["other.yaml:a=1 b=3", "other.yaml:a=2 b=3"]
    assert expand(["other.yaml:a=1"])[0].by_file() == {"other.yaml": ["a=1"]}


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        ([], "nothing to sweep: give at least one -S KEY=VALUE[,VALUE...]"),
        (["train.max_iter"], "-S 'train.max_iter': missing EQUAL at '<EOF>'"),
        (["train.max_iter=1,"], "-S 'train.max_iter=1,': mismatched input '<EOF>' expecting"),
        (["a=1,2", "a=3"], "-S: a is given twice; list its values once: a=1,2"),
        (["x.yaml:a=1", "x.yaml:a=2"], "-S: x.yaml:a is given twice"),
        (["a=glob(*)"], "-S: Glob override 'a=glob(*)' is not supported."),
        (["a=1,1"], "-S: 'a=1' repeats 'a=1'"),
    ],
)
def test_refused_before_anything_starts(sets: list[str], message: str) -> None:
    with pytest.raises(SweepError) as caught:
        names(expand(sets), COMMIT)
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


def test_names_come_from_the_commit_and_the_sorted_overrides() -> None:
    one = Config(("train.max_iter=15", "train.learning_rate=0.1"))
    same = Config(("train.learning_rate=0.1", "train.max_iter=15"))
    assert one.name(COMMIT) == same.name(COMMIT)
    assert re.fullmatch(r"sweep-[0-9a-f]{8}", one.name(COMMIT))
    assert one.name(COMMIT) != one.name("0" * 40)
    assert one.name(COMMIT, "lr") == "lr-" + one.name(COMMIT).split("-")[1]
    grid = expand(["train.max_iter=15,25", "train.learning_rate=0.1,0.2"])
    assert len(set(names(grid, COMMIT))) == 4


@pytest.mark.parametrize("prefix", ["", "-x", "a/b", "a b", "x..y", "x.lock", "é"])
def test_a_name_prefix_must_be_a_plain_ref_part(prefix: str) -> None:
    with pytest.raises(SweepError, match="--name"):
        check_prefix(prefix)
    assert check_prefix("lr-sweep_2.1") == "lr-sweep_2.1"
