"""`mlrepro report A B -o DIR`: one Markdown report for a pull request, with the diff of metrics,
params, pinned snapshots and stages, and PNG plots of A and B overlaid (matplotlib: no Node
toolchain, no image host). Starts with a hidden marker so CI updates one comment per PR."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git
import yaml

from mlrepro.core.files import atomic_path
from mlrepro.diff.core import RevDiff, diff_revs
from mlrepro.report.render import render_report
from mlrepro.revisions import DVC_YAML, Rev, open_repo, read_bytes, resolve_rev

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
    images: tuple[Path, ...]
    diff: RevDiff


def curves(dvc_yaml: Any) -> list[Curve]:
    """The x/y curve plots declared in dvc.yaml (ROC, precision-recall, calibration, ...)."""
    out = []
    for entry in (dvc_yaml or {}).get("plots") or []:
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


def curve_points(repo: git.Repo, rev: Rev, file: str, x: str, y: str) -> list[tuple[float, float]]:
    data = read_bytes(repo, rev, file)
    if data is None:
        return []
    try:
        rows = json.loads(data)
    except ValueError:
        return []
    return [(float(r[x]), float(r[y])) for r in rows if isinstance(r, dict) and x in r and y in r]


def overlay_png(repo: git.Repo, curve: Curve, a: Rev, b: Rev, path: Path) -> bool:
    """Old (dashed) and new (solid) series of one curve in one PNG; False if neither has data."""
    from mlrepro.pipeline.plots import figure, save_png

    fig, ax = figure(5.5, 4.2)
    drawn = False
    for index, (file, y) in enumerate(sorted(curve.ys.items())):
        label = Path(file).parent.name or Path(file).stem
        for rev, style in ((a, "--"), (b, "-")):
            points = curve_points(repo, rev, file, curve.x, y)
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, style, color=f"C{index}", label=f"{label} ({rev.name})")
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
    result = diff_revs(repo_path, a, b)
    out_dir.mkdir(parents=True, exist_ok=True)
    images = []
    with open_repo(repo_path) as repo:
        rev_a, rev_b = resolve_rev(repo, a or result.a.name), resolve_rev(repo, b)
        spec = yaml.safe_load(read_bytes(repo, rev_b, DVC_YAML) or b"{}")
        for curve in curves(spec):
            path = out_dir / f"{_slug(curve.title)}.png"
            if overlay_png(repo, curve, rev_a, rev_b, path):
                images.append(path)
            else:
                path.unlink(missing_ok=True)
    text = render_report(result, [p.name for p in images])
    markdown = out_dir / "report.md"
    with atomic_path(markdown) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Report(markdown, tuple(images), result)


def _slug(title: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in title.lower()).strip("_") or "plot"
