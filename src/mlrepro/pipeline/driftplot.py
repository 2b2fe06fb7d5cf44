"""The drift PNG: one panel per feature, the most drifted first, with the reference's shares and
each compared table's side by side; the bars are the shares that PSI (quantile bins of the
reference) or Jensen-Shannon (categories) compared.

Drawn with Pillow, not matplotlib, for the check's cost: importing matplotlib and drawing six
panels took 0.7 s of the drift stage's 1.1 s (the issue's budget for all checks is 3 s);
Pillow imports in 0.04 s and draws the same bars, labels and legend in a few hundredths. The
text is set in DejaVu Sans, the font the other PNGs use, read from matplotlib's installed data
(found, not imported). The bytes depend only on the results and the pinned Pillow and FreeType
(no metadata, fixed zlib level).
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from mlrepro.core.files import atomic_path
from mlrepro.pipeline.drift import MISSING, DatasetDrift, FeatureDrift

MAX_BARS = 12  # categories shown per panel, largest first; the rest are summed as "other"
COLUMNS = 3  # panels per row
PANEL = (380, 300)  # pixels per panel, width and height
LEGEND = 30  # pixels above the panels
LABELS = 118  # pixels left of each panel's bars, for the bin or category labels
TITLE_LINES = 3  # the feature, then one line per compared table
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")  # matplotlib's tab:blue, orange, ...
INK, GRID = "#262626", "#b0b0b0"
SIZES = {"title": 12, "label": 10}  # pixels


@cache
def _font(size: int, *, bold: bool = False) -> ImageFont.FreeTypeFont:
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("matplotlib is not installed: its DejaVu Sans font draws the drift PNG")
    folder = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf"
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(str(folder / name), size)


def most_drifted(results: Sequence[DatasetDrift], top: int) -> list[str]:
    """The `top` features with the largest severity in any of the results, largest first."""
    worst: dict[str, float] = {}
    for result in results:
        for feature in result.features:
            worst[feature.feature] = max(worst.get(feature.feature, 0.0), feature.severity)
    return sorted(worst, key=lambda name: (-worst[name], name))[:top]


def panel_bars(features: Sequence[FeatureDrift]) -> tuple[list[str], list[list[float]]]:
    """Labels, and the shares of the reference then of each compared table (all measured on the
    reference's bins, or over the categories of all of them): every bin, or the MAX_BARS largest
    categories, "other" and missing; a label no side holds any of is left out."""
    first = features[0]
    labels = list(first.labels)
    sides = [list(first.shares_ref), *(list(f.shares_cur) for f in features)]
    if first.kind == "categorical":
        labels = sorted({label for f in features for label in f.labels[:-1]})
        sides = [_shares(first, labels, ref=True), *(_shares(f, labels) for f in features)]
        labels.append(MISSING)
    if len(labels) > MAX_BARS + 1:
        order = sorted(range(len(labels) - 1), key=lambda i: (-max(s[i] for s in sides), labels[i]))
        keep, rest = sorted(order[:MAX_BARS]), order[MAX_BARS:]
        labels = [*(labels[i] for i in keep), "other", MISSING]
        sides = [[*(s[i] for i in keep), sum(s[i] for i in rest), s[-1]] for s in sides]
    shown = [i for i in range(len(labels)) if any(s[i] > 0 for s in sides)]
    return [labels[i] for i in shown], [[s[i] for i in shown] for s in sides]


def _shares(feature: FeatureDrift, labels: list[str], *, ref: bool = False) -> list[float]:
    shares = feature.shares_ref if ref else feature.shares_cur
    by_label = dict(zip(feature.labels, shares, strict=True))
    return [*(by_label.get(label, 0.0) for label in labels), shares[-1]]


def drift_png(results: Sequence[DatasetDrift], top: int, path: str | Path) -> None:
    """The `top` most drifted features of `results` (comparisons with one reference)."""
    names = most_drifted(results, top)
    rows, cols = max(math.ceil(len(names) / COLUMNS), 1), min(max(len(names), 1), COLUMNS)
    image = Image.new("RGB", (PANEL[0] * cols, LEGEND + PANEL[1] * rows), "white")
    draw = ImageDraw.Draw(image)
    tables = [results[0].reference, *(r.current for r in results)] if results else []
    if names:
        _legend(draw, tables, image.width)
    for index, name in enumerate(names):
        corner = ((index % cols) * PANEL[0], LEGEND + (index // cols) * PANEL[1])
        _panel(draw, corner, [_feature(r, name) for r in results], results)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", compress_level=6)


def _feature(result: DatasetDrift, name: str) -> FeatureDrift:
    return next(f for f in result.features if f.feature == name)


def _legend(draw: ImageDraw.ImageDraw, tables: list[str], width: int) -> None:
    font = _font(SIZES["title"])
    items = [(table, COLORS[i % len(COLORS)]) for i, table in enumerate(tables)]
    widths = [22 + draw.textlength(table, font=font) for table, _ in items]
    x = (width - sum(widths) - 18 * (len(items) - 1)) / 2
    for (table, color), item in zip(items, widths, strict=True):
        draw.rectangle((x, 10, x + 14, 22), fill=color)
        draw.text((x + 20, 16), table, fill=INK, font=font, anchor="lm")
        x += item + 18


def _panel(
    draw: ImageDraw.ImageDraw,
    corner: tuple[int, int],
    features: list[FeatureDrift],
    results: Sequence[DatasetDrift],
) -> None:
    """Title lines, then horizontal bars: a slot per label, a bar per table in it."""
    x0, y0 = corner
    verdicts = [
        f"{r.current} {_measures(f)} {f.verdict}" for r, f in zip(results, features, strict=True)
    ]
    draw.text(
        (x0 + 8, y0 + 4), features[0].feature, fill=INK, font=_font(SIZES["title"], bold=True)
    )
    for i, line in enumerate(verdicts[: TITLE_LINES - 1], start=1):
        draw.text((x0 + 8, y0 + 4 + 15 * i), line, fill=INK, font=_font(SIZES["label"]))
    left, right = x0 + LABELS, x0 + PANEL[0] - 16
    top, bottom = y0 + 8 + 15 * TITLE_LINES, y0 + PANEL[1] - 44
    labels, sides = panel_bars(features)
    widest = max((max(s) for s in sides if s), default=0.0)
    ticks = _ticks(widest or 1.0)
    scale = (right - left) / ticks[-1]
    font = _font(SIZES["label"])
    for tick in ticks:
        x = left + tick * scale
        draw.line((x, top, x, bottom), fill=GRID if tick else INK)
        draw.text((x, bottom + 4), _number(tick), fill=INK, font=font, anchor="mt")
    draw.text(((left + right) / 2, bottom + 20), "share of rows", fill=INK, font=font, anchor="mt")
    slot = (bottom - top) / max(len(labels), 1)
    bar = slot * 0.8 / max(len(sides), 1)
    for row, label in enumerate(labels):
        middle = top + slot * (row + 0.5)
        draw.text(
            (left - 5, middle), _fit(draw, label, LABELS - 12), fill=INK, font=font, anchor="rm"
        )
        for i, shares in enumerate(sides):
            y = middle - bar * len(sides) / 2 + bar * i
            if shares[row] > 0:
                width = max(shares[row] * scale, 1.0)
                draw.rectangle((left, y, left + width, y + bar - 1), fill=COLORS[i % len(COLORS)])
    draw.line((left, bottom, right, bottom), fill=INK)


def _ticks(limit: float) -> list[float]:
    """0 and 2 to 4 round steps (1, 2, 2.5 or 5 times a power of ten), the last at or past
    `limit`: the axis ends on a tick."""
    raw = limit / 3
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    count = math.ceil(round(limit / step, 9))
    return [round(step * k, 12) for k in range(count + 1)]


def _number(value: float) -> str:
    return f"{value:g}"


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int) -> str:
    """`text`, cut with "…" where it is wider than `width` pixels."""
    font = _font(SIZES["label"])
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _measures(feature: FeatureDrift) -> str:
    return " ".join(f"{m.method} {m.value:.3g}" for m in feature.measures if m.value is not None)
