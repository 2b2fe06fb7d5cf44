"""Shared by the `mlrepro <noun> <verb>` command modules. Not in core/: no stage runs it, so
editing a help text re-runs nothing."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

VerbAdder = Callable[[str, str, str], argparse.ArgumentParser]


def noun(nouns: Any, name: str, help_text: str) -> VerbAdder:
    """Add `mlrepro <name>`; return a function that adds one of its verbs from (name, one-line
    help, example), the help capitalised as the description and the example as the epilog."""
    verbs = nouns.add_parser(name, help=help_text).add_subparsers(
        dest="verb", metavar="VERB", required=True
    )

    def verb(verb_name: str, verb_help: str, example: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = verbs.add_parser(
            verb_name,
            help=verb_help,
            description=verb_help[0].upper() + verb_help[1:] + ".",
            epilog=f"Example: {example}",
        )
        return sub

    return verb
