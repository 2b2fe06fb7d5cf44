"""`mlrepro report A B -o DIR`: one Markdown report for a pull request, with the diff of metrics,
params, pinned snapshots and stages, PNG plots of A and B overlaid (matplotlib: no Node
toolchain, no image host), and the images dvc.yaml declares (drift, ROC, calibration) of B beside
A's (`images`). Starts with a hidden marker so CI updates one comment per PR."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrepro.core.files import atomic_path
from mlrepro.diff.core import RevDiff, compare, revision_pair
from mlrepro.report.images import Images, copy_images
from mlrepro.report.render import render_report
from mlrepro.revisions import DvcYamlError, Revision, open_repo

CURVE_TEMPLATES = {"simple", "linear", "scatter", "smooth"}


@dataclass(frozen=True)
class Curve:
    """One plot from dvc.yaml's top-level `plots:`: x field, and file -> y field."""

    title: str
    x: str
    ys: dict[str, str]
    x_label: str
    y_label: str


@dataclass(frozen=True)
class Report:
    markdown: Path
    plots: tuple[Path, ...]  # the curves of A and B overlaid
    images: Images  # the declared images, copied from the DVC cache
    diff: RevDiff


def curves(plots: Sequence[Any]) -> list[Curve]:
    """The x/y curve plots among dvc.yaml's top-level `plots:` (resolved): ROC,
    precision-recall, calibration, ..."""
    out = []
    for entry in plots:
        if not isinstance(entry, dict):
            continue
        for title, spec in entry.items():
            spec = spec or {}
            ys, x = spec.get("y"), spec.get("x")
            if spec.get("template", "linear") in CURVE_TEMPLATES and isinstance(ys, dict) and x:
                x_label, y_label = spec.get("x_label", x), spec.get("y_label", "")
                out.append(
                    Curve(
                        title,
                        str(x),
                        {str(f): str(y) for f, y in ys.items()},
                        str(x_label),
                        str(y_label or next(iter(ys.values()))),
                    )
                )
    return out


def curve_points(revision: Revision, file: str, x: str, y: str) -> list[tuple[float, float]]:
    data = revision.read(file)
    if data is None:
        return []
    try:
        rows = json.loads(data)
    except ValueError:
        return []
    return [(float(r[x]), float(r[y])) for r in rows if isinstance(r, dict) and x in r and y in r]


def overlay_png(curve: Curve, a: Revision, b: Revision, path: Path) -> bool:
    """Old (dashed) and new (solid) series of one curve in one PNG; False if neither has data."""
    from mlrepro.pipeline.plots import figure, save_png

    fig, ax = figure(5.5, 4.2)
    drawn = False
    for index, (file, y) in enumerate(sorted(curve.ys.items())):
        label = Path(file).parent.name or Path(file).stem
        for revision, style in ((a, "--"), (b, "-")):
            points = curve_points(revision, file, curve.x, y)
            if points:
                xs, ys = zip(*points, strict=True)
                name = revision.rev.name
                ax.plot(xs, ys, style, color=f"C{index}", label=f"{label} ({name})")
                drawn = True
    ax.set_xlabel(curve.x_label)
    ax.set_ylabel(curve.y_label)
    ax.set_title(curve.title)
    if drawn:
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, path)
    return drawn


def build_report(repo_path: Path, a: str | None, b: str | None, out_dir: Path) -> Report:
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = []
    with open_repo(repo_path) as repo:
        old, new = revision_pair(repo, a, b)
        result = compare(old, new)
        for curve in curves(_plots(new)):
            path = out_dir / f"{_slug(curve.title)}.png"
            if overlay_png(curve, old, new, path):
                plots.append(path)
            else:
                path.unlink(missing_ok=True)
        images = copy_images(old, new, out_dir)
    text = render_report(result, [p.name for p in plots], images)
    markdown = out_dir / "report.md"
    with atomic_path(markdown) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Report(markdown, tuple(plots), images, result)


def _plots(revision: Revision) -> tuple[Any, ...]:
    """dvc.yaml's top-level plots at the revision; none when dvc.yaml cannot be read (the
    report's notes say why)."""
    try:
        return revision.pipeline.plots
    except DvcYamlError:
        return ()


def _slug(title: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in title.lower()).strip("_") or "plot"
