"""report.md: a hidden marker (CI updates one comment per pull request), the diff, the plots of
A and B overlaid, and the declared images, B's beside A's."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from mlrepro.diff.core import RevDiff
from mlrepro.diff.render import render_markdown
from mlrepro.report.images import Image, Images

MARKER = "<!-- mlrepro-report -->"


def render_report(result: RevDiff, plots: list[str], images: Images) -> str:
    lines = [MARKER, "## mlrepro report", "", render_markdown(result), ""]
    if plots:
        lines += ["### Plots", "", f"Dashed: `{result.a.name}`; solid: `{result.b.name}`.", ""]
        lines += [f"![{Path(name).stem}]({name})" for name in plots]
        lines.append("")
    if images.images or images.notes:
        lines += ["### Images", ""]
        for image in images.images:
            lines += _image(result, image)
        lines += [f"- note: {note}" for note in images.notes]
    return "\n".join(lines).rstrip("\n") + "\n"


def _image(result: RevDiff, image: Image) -> list[str]:
    """One image: B's and A's side by side, or B's alone (the same at A, or none shown there)."""
    a_name, b_name = result.a.name, result.b.name
    b = f"![{image.path} at {b_name}]({quote(image.b)})"
    if image.a is not None:
        a = f"![{image.path} at {a_name}]({quote(image.a)})"
        table = [f"| `{a_name}` | `{b_name}` |", "| --- | --- |", f"| {a} | {b} |"]
        return [f"**`{image.path}`**", "", *table, ""]
    if image.same:
        where = f"the same at `{a_name}` and `{b_name}`"
    elif image.md5_a is None:
        where = f"new at `{b_name}`"
    else:
        where = f"at `{b_name}` (`{a_name}`'s: see the notes)"
    return [f"**`{image.path}`**, {where}", "", b, ""]
