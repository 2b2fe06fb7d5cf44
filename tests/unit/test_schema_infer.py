"""`schema infer` semantics on tiny text tables: dtype, nullable, range, the 100-value domain
cut-off; its YAML is deterministic, loads as a schema and accepts the data it came from."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlrepro.pipeline.anomalies import check_table
from mlrepro.pipeline.schema import load_schema, parse_table
from mlrepro.schema.infer import MAX_DOMAIN, infer_column, infer_table
from mlrepro.schema.render import schema_yaml


def text(*cells: str) -> pd.Series:
    return pd.Series(cells, dtype="string")


@pytest.mark.parametrize(
    ("cells", "entry"),
    [
        (("1", " 2", "-3"), {"dtype": "int", "nullable": False, "min": -3, "max": 2}),
        (("1", "NA", "2.5"), {"dtype": "float", "nullable": True, "min": 1.0, "max": 2.5}),
        (("true", "No", ""), {"dtype": "bool", "nullable": True}),
        (("0", "1", "1"), {"dtype": "int", "nullable": False, "min": 0, "max": 1}),
        (("2013-01-05", "2013-12-31"), {"dtype": "date", "nullable": False}),
        (("2013-01-05", "2013-01-05 05:00:00"), {"dtype": "datetime", "nullable": False}),
        (
            ("2013-02-30", "2013-01-05"),  # no such day: not a date, a string (of 2 values)
            {"dtype": "string", "nullable": False, "allowed": ["2013-01-05", "2013-02-30"]},
        ),
        (("b", "a", "b", ""), {"dtype": "string", "nullable": True, "allowed": ["a", "b"]}),
        (("", "NA"), {"dtype": "string", "nullable": True}),
        (("1", "x"), {"dtype": "string", "nullable": False, "allowed": ["1", "x"]}),
    ],
)
def test_infer_column(cells: tuple[str, ...], entry: dict[str, object]) -> None:
    assert infer_column(text(*cells)) == entry


def test_a_categorical_domain_only_up_to_100_values() -> None:
    names = [f"v{i:03d}" for i in range(MAX_DOMAIN + 1)]
    assert len(infer_column(text(*names[:MAX_DOMAIN]))["allowed"]) == MAX_DOMAIN
    assert "allowed" not in infer_column(text(*names))


RAW = pd.DataFrame(
    {
        "id": ["1", "2", "3"],
        "species": ["Adelie", "Gentoo", "yes"],  # `yes` must come back quoted, as a string
        "mass": ["3750", "", "4250.5"],
        "seen": ["2007-11-11", "2007-11-16", "2008-11-01"],
    },
    dtype="string",
)


def test_the_yaml_is_deterministic_loads_and_accepts_its_data(tmp_path: Path) -> None:
    inferred = infer_table(RAW, "penguins", "penguins@20260101T000000Z-00000000")
    text_a = schema_yaml(inferred)
    assert text_a == schema_yaml(infer_table(RAW.copy(), "penguins", inferred.snapshot))
    assert text_a.splitlines()[4:] == [
        "tables:",
        "  penguins:",
        "    columns:",
        "      id: {dtype: int, nullable: false, min: 1, max: 3}",
        "      species: {dtype: string, nullable: false, allowed: [Adelie, Gentoo, 'yes']}",
        "      mass: {dtype: float, nullable: true, min: 3750.0, max: 4250.5}",
        "      seen: {dtype: date, nullable: false}",
    ]
    path = tmp_path / "schema.yaml"
    path.write_text(text_a)
    spec = load_schema(path)["penguins"]
    species = spec.column("species")
    assert species is not None and species.allowed == ("Adelie", "Gentoo", "yes")
    assert check_table(parse_table(RAW, spec, file="penguins.csv"), spec) == []


def test_a_long_category_list_goes_one_value_a_line() -> None:
    words = [f"a rather long category name {i}" for i in range(5)]
    inferred = infer_table(pd.DataFrame({"c": words}, dtype="string"), "t", "t@x")
    lines = schema_yaml(inferred).splitlines()
    assert lines[lines.index("      c:") :] == [
        "      c:",
        "        dtype: string",
        "        nullable: false",
        "        allowed:",
        *(f"          - {w}" for w in words),
    ]
