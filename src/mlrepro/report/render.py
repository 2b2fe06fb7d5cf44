"""report.md: a hidden marker (CI updates one comment per pull request), the diff, the plots."""

from __future__ import annotations

from pathlib import Path

from mlrepro.diff.core import RevDiff
from mlrepro.diff.render import render_markdown

MARKER = "<!-- mlrepro-report -->"


def render_report(result: RevDiff, images: list[str]) -> str:
    lines = [MARKER, "## mlrepro report", "", render_markdown(result), ""]
    if images:
        lines += ["### Plots", "", f"Dashed: `{result.a.name}`; solid: `{result.b.name}`.", ""]
        lines += [f"![{Path(name).stem}]({name})" for name in images]
    return "\n".join(lines) + "\n"
