"""Keep the docs honest: the README opens with the two commands, documents every CLI command with
its help text, and the CLI's default paths match dvc.yaml."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import yaml

from mlrepro import cli
from mlrepro.metrics.cli import METRICS_FILE

PROJECT = Path(__file__).resolve().parents[1]
README = (PROJECT / "README.md").read_text()


def commands() -> dict[str, tuple[str, argparse.ArgumentParser]]:
    """'noun verb' (or 'noun') -> (its one-line help, its parser), for every `mlrepro` command."""
    found = {}
    nouns = next(a for a in cli.build_parser()._actions if a.dest == "noun")
    noun_helps = {c.dest: c.help for c in nouns._choices_actions}  # type: ignore[attr-defined]
    for noun, noun_parser in nouns.choices.items():  # type: ignore[union-attr]
        verbs = next((a for a in noun_parser._actions if a.dest == "verb"), None)
        if verbs is None:  # a command with no verb, like `mlrepro diff`
            found[noun] = (noun_helps[noun], noun_parser)
            continue
        helps = {c.dest: c.help for c in verbs._choices_actions}  # type: ignore[attr-defined]
        for verb, parser in verbs.choices.items():  # type: ignore[union-attr]
            found[f"{noun} {verb}"] = (helps[verb], parser)
    return found


def test_readme_opens_with_the_two_commands() -> None:
    first_block = README.split("```bash\n", 1)[1].split("```", 1)[0]
    assert first_block.splitlines()[0].startswith("make repro"), first_block
    assert first_block.splitlines()[1].startswith("make test"), first_block


def test_every_command_is_in_the_readme_with_its_help() -> None:
    assert commands(), "no commands found"
    for name, (help_text, parser) in commands().items():
        rows = [line for line in README.splitlines() if line.startswith(f"| `mlrepro {name}`")]
        row = rows[0] if rows else ""
        assert help_text in row, f"README has no row for mlrepro {name} saying: {help_text}"
        assert (parser.epilog or "").startswith("Example: mlrepro "), f"{name}: no example"


def test_metrics_default_matches_dvc_yaml() -> None:
    dvc = yaml.safe_load((PROJECT / "dvc.yaml").read_text())
    paths = next(v["paths"] for v in dvc["vars"] if "paths" in v)
    assert paths["metrics"] == METRICS_FILE


def test_make_lists_the_documented_targets() -> None:
    out = subprocess.run(["make", "-s", "help"], cwd=PROJECT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for target in ("repro", "test", "bench"):
        assert f"make {target}" in out.stdout, out.stdout
        assert f"make {target}" in README, target
