"""The upstream graph of `mlrepro lineage PATH` as Mermaid text (`mermaid`) or as a PNG (`draw`).

Both read top to bottom: the project's graph is a chain of about 15 layers, one to five boxes
wide, which left to right would be a banner too wide to read. The PNG's boxes are placed by
`layered` (layers, waypoints, barycenter sweeps); this module sizes, draws and writes them. Bytes
are a function of the picture alone. matplotlib loads only when a PNG is drawn.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any

from mlrepro.core.files import atomic_path
from mlrepro.lineage.layered import WAYPOINT_WIDTH, Layout, layout
from mlrepro.lineage.upstream import Node, Picture

Point = tuple[float, float]

KINDS = ("snapshot", "stage", "data")
COLORS = {  # kind -> (fill, stroke)
    "snapshot": ("#dbe9f6", "#3a6ea5"),
    "stage": ("#fde8c8", "#c07a1e"),
    "data": ("#e2f0d9", "#4f8a3a"),
}
INK = "#222222"

# -- Mermaid ---------------------------------------------------------------------------------

MERMAID_SHAPES = {"snapshot": ('[("', '")]'), "stage": ('("', '")'), "data": ('[/"', '"/]')}
# Mermaid's entity codes for what would end a quoted label or read as HTML or markup in one.
MERMAID_ESCAPES = {
    "#": "#35;",
    '"': "#quot;",
    "&": "#amp;",
    "<": "#lt;",
    ">": "#gt;",
    "`": "#96;",
    "\n": " ",
}


def mermaid(picture: Picture, *, title: str | None = None) -> str:
    """A Mermaid `flowchart TD`: nodes `n0`, `n1`, ... in the picture's order, one shape and
    color per kind, label and detail on two lines."""
    ids = {node.id: f"n{index}" for index, node in enumerate(picture.nodes)}
    lines = [*_front_matter(title), "flowchart TD"]
    lines += [f"  {ids[node.id]}{_mermaid_box(node)}" for node in picture.nodes]
    lines += [f"  {ids[a]} --> {ids[b]}" for a, b in picture.edges]
    lines += [f"  classDef {kind} {_mermaid_style(kind)}" for kind in KINDS]
    lines += _mermaid_classes(picture.nodes, ids)
    return "\n".join(lines) + "\n"


def _front_matter(title: str | None) -> list[str]:
    # JSON's double-quoted string is YAML's too
    return [] if title is None else ["---", f"title: {json.dumps(title)}", "---"]


def _mermaid_box(node: Node) -> str:
    start, end = MERMAID_SHAPES[node.kind]
    text = "<br>".join(mermaid_escape(line) for line in (node.label, node.detail) if line)
    return f"{start}{text}{end}"


def mermaid_escape(text: str) -> str:
    """`text` safe inside a quoted Mermaid label."""
    return "".join(MERMAID_ESCAPES.get(char, char) for char in text)


def _mermaid_style(kind: str) -> str:
    fill, stroke = COLORS[kind]
    return f"fill:{fill},stroke:{stroke},color:{INK}"


def _mermaid_classes(nodes: Iterable[Node], ids: Mapping[str, str]) -> list[str]:
    members: dict[str, list[str]] = defaultdict(list)
    for node in nodes:
        members[node.kind].append(ids[node.id])
    return [f"  class {','.join(members[kind])} {kind}" for kind in KINDS if members[kind]]


# -- PNG -------------------------------------------------------------------------------------

DPI = 100
FONT = "DejaVu Sans"  # ships with matplotlib: the same glyphs on every machine
LABEL_SIZE = 10.0  # points
DETAIL_SIZE = 8.5
TITLE_SIZE = 12.0
PAD = 0.14  # inches of box on each side of the longest line
BOX_HEIGHT = 0.6
LAYER_GAP = 0.42  # inches between layers, for the arrows
MARGIN = 0.3
HEADER = 0.75  # the band above the graph: the title and legend, and room below them
SLANT = 0.14  # how far a data box leans
CAP = 0.05  # half the height of a snapshot's (cylinder's) end
PORT_STEP = 0.16  # inches between edges leaving or entering a box
EDGE_COLOR = "#666666"
DETAIL_COLOR = "#555555"


def draw(picture: Picture, path: str | Path, *, title: str | None = None) -> None:
    """Write the graph as a PNG at `path` (atomically): boxes by kind, top to bottom. The
    user's matplotlibrc does not reach the bytes (matplotlib's defaults are in force)."""
    from matplotlib import style

    with style.context("default"), atomic_path(path) as tmp:
        fig = figure(picture, title=title)
        fig.savefig(tmp, format="png", dpi=DPI, facecolor="white", metadata={"Software": None})


def figure(picture: Picture, *, title: str | None = None) -> Any:
    """The matplotlib Figure `draw` saves; a box's patch and texts carry its node id as gid."""
    from matplotlib.figure import Figure

    widths = {node.id: box_width(node) for node in picture.nodes}
    placed = layout(picture, widths)
    size = _size(placed, widths, title)
    fig = Figure(figsize=size, dpi=DPI)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0.0, size[0])
    ax.set_ylim(0.0, size[1])
    ax.set_axis_off()
    _draw_graph(ax, picture, placed, widths, size)
    _header(ax, title, size)
    return fig


def box_width(node: Node) -> float:
    """Inches: the longer of the two lines, padding, and a data box's lean."""
    text = max(_text_width(node.label, LABEL_SIZE, _weight(node)), _text_width(node.detail))
    return text + 2 * PAD + (SLANT if node.kind == "data" else 0.0)


def _text_width(text: str, size: float = DETAIL_SIZE, weight: str = "normal") -> float:
    """Inches `text` takes in FONT at `size` points, from the font's advance widths."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    prop = FontProperties(family=FONT, weight=weight, size=size)
    width, _, _ = text_to_path.get_text_width_height_descent(text, prop, ismath=False)
    return float(width) / 72


def _weight(node: Node) -> str:
    return "bold" if node.kind == "stage" else "normal"


def _size(placed: Layout, widths: Mapping[str, float], title: str | None) -> tuple[float, float]:
    """Figure inches: the widest layer (or the header) and the layers, with margins."""
    left, right = _span(placed, widths)
    depth = max(len(placed.rows) * (BOX_HEIGHT + LAYER_GAP) - LAYER_GAP, 0.0)
    return (max(right - left, _header_width(title)) + 2 * MARGIN, depth + HEADER + 2 * MARGIN)


def _span(placed: Layout, widths: Mapping[str, float]) -> tuple[float, float]:
    """The left edge of the leftmost box and the right edge of the rightmost (layout inches)."""
    half = {node: widths.get(node, WAYPOINT_WIDTH) / 2 for node in placed.x}
    lefts = [x - half[node] for node, x in placed.x.items()]
    rights = [x + half[node] for node, x in placed.x.items()]
    return min(lefts, default=0.0), max(rights, default=0.0)


def _draw_graph(
    ax: Any,
    picture: Picture,
    placed: Layout,
    widths: Mapping[str, float],
    size: tuple[float, float],
) -> None:
    """The edges, then the boxes over their ends; the graph centered under the header."""
    left, right = _span(placed, widths)
    shift = (size[0] - right - left) / 2
    rank = {node: k for k, row in enumerate(placed.rows) for node in row}
    top = size[1] - MARGIN - HEADER - BOX_HEIGHT / 2

    def at(node: str) -> Point:
        return placed.x[node] + shift, top - rank[node] * (BOX_HEIGHT + LAYER_GAP)

    for route, ports in zip(placed.routes, _ports(placed, widths), strict=True):
        _edge(ax, _stops([at(node) for node in route], ports))
    for node in picture.nodes:
        _box(ax, node, at(node.id), widths[node.id])


def _ports(placed: Layout, widths: Mapping[str, float]) -> list[tuple[float, float]]:
    """For each route, where it leaves its first box and enters its last (x from their centers):
    a box's edges spread along its side in the order of what is at their other ends."""
    outs: dict[str, list[tuple[float, int]]] = defaultdict(list)
    ins: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for index, route in enumerate(placed.routes):
        outs[route[0]].append((placed.x[route[1]], index))
        ins[route[-1]].append((placed.x[route[-2]], index))
    start = {i: dx for node, ends in outs.items() for i, dx in _spread(ends, widths[node]).items()}
    end = {i: dx for node, ends in ins.items() for i, dx in _spread(ends, widths[node]).items()}
    return [(start[index], end[index]) for index in range(len(placed.routes))]


def _spread(ends: list[tuple[float, int]], width: float) -> dict[int, float]:
    step = min(PORT_STEP, 0.6 * width / max(len(ends) - 1, 1))
    middle = (len(ends) - 1) / 2
    return {index: (j - middle) * step for j, (_, index) in enumerate(sorted(ends))}


def _stops(points: list[Point], ports: tuple[float, float]) -> list[Point]:
    """Where an edge goes: out of the bottom of its first box (from under it), down each layer
    it crosses beside the boxes there, into the top of its last box."""
    half = BOX_HEIGHT / 2
    (x0, y0), (x1, y1) = points[0], points[-1]
    stops = [(x0 + ports[0], y0 - half + CAP)]
    for x, y in points[1:-1]:
        stops += [(x, y + half), (x, y - half)]
    return [*stops, (x1 + ports[1], y1 + half)]


def _edge(ax: Any, stops: list[Point]) -> None:
    """An arrow through `stops`: S-curves across the gaps between layers (leaving and entering
    upright), straight down through a layer."""
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path as Curve

    verts, codes = [stops[0]], [Curve.MOVETO]
    for index, (p, q) in enumerate(pairwise(stops)):
        if index % 2:
            verts, codes = [*verts, q], [*codes, Curve.LINETO]
            continue
        middle = (p[1] + q[1]) / 2
        verts += [(p[0], middle), (q[0], middle), q]
        codes += [Curve.CURVE4] * 3
    arrow = FancyArrowPatch(path=Curve(verts, codes), arrowstyle="-|>", mutation_scale=12)
    arrow.set(color=EDGE_COLOR, linewidth=1.0, zorder=1)
    ax.add_patch(arrow)


def _box(ax: Any, node: Node, center: Point, width: float) -> None:
    """A node's shape in its kind's colors, its label over its detail."""
    for patch in _shape(node.kind, center, width, BOX_HEIGHT):
        patch.set_gid(node.id)
        ax.add_patch(patch)
    x, y = center[0], center[1] - (CAP if node.kind == "snapshot" else 0.0)
    lines = [(node.label, LABEL_SIZE, _weight(node), INK)]
    if node.detail:
        lines.append((node.detail, DETAIL_SIZE, "normal", DETAIL_COLOR))
    for (text, size, weight, color), dy in zip(lines, LINE_OFFSETS[len(lines)], strict=True):
        _write(ax, (x, y + dy), text, size, fontweight=weight, color=color, gid=node.id)


def _write(ax: Any, at: Point, text: str, size: float, **style: Any) -> None:
    """`text` in FONT, centered on `at` unless `style` says otherwise."""
    style = {"ha": "center", "va": "center", "color": INK, "zorder": 3, **style}
    ax.text(*at, text, fontsize=size, fontfamily=FONT, **style)


def _shape(kind: str, center: Point, width: float, height: float) -> list[Any]:
    """The patches of a kind's shape: a cylinder (snapshot), a rounded box (stage) or a leaning
    box (data), filled and stroked in the kind's colors."""
    patches = SHAPES[kind](center, width, height)
    fill, stroke = COLORS[kind]
    for patch in patches:
        patch.set(facecolor=fill, edgecolor=stroke, linewidth=1.2, zorder=2)
    return patches


def _rounded(center: Point, width: float, height: float) -> list[Any]:
    from matplotlib.patches import FancyBboxPatch

    (x, y), style = center, f"round,pad=0,rounding_size={min(0.1, height / 3)}"
    return [FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle=style)]


def _leaning(center: Point, width: float, height: float) -> list[Any]:
    from matplotlib.patches import Polygon

    (x, y), a, s, h = center, (width - SLANT) / 2, SLANT / 2, height / 2
    return [
        Polygon([(x - a - s, y - h), (x + a - s, y - h), (x + a + s, y + h), (x - a + s, y + h)])
    ]


def _cylinder(center: Point, width: float, height: float) -> list[Any]:
    """A body (a bottom half-ellipse up to a top half-ellipse) and the front rim of its top."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as Curve
    from matplotlib.transforms import Affine2D

    def arc(start: float, stop: float, y: float) -> Any:
        return Curve.arc(start, stop).transformed(
            Affine2D().scale(width / 2, CAP).translate(center[0], y)
        )

    bottom, top = center[1] - height / 2 + CAP, center[1] + height / 2 - CAP
    lower, upper = arc(180, 360, bottom), arc(0, 180, top)
    verts = [*lower.vertices, *upper.vertices, lower.vertices[0]]
    codes = [*lower.codes, Curve.LINETO, *upper.codes[1:], Curve.CLOSEPOLY]
    rim = PathPatch(arc(180, 360, top), fill=False)
    return [PathPatch(Curve(verts, codes)), rim]


SHAPES = {"snapshot": _cylinder, "stage": _rounded, "data": _leaning}
LINE_OFFSETS = {1: (0.0,), 2: (0.09, -0.12)}  # inches from a box's center: label, detail
LEGEND_SIZE = 9.0
SAMPLE = (0.36, 0.24)  # a legend sample's width and height
SAMPLE_GAP = 0.08  # between a sample and its name
LEGEND_GAP = 0.28  # between one kind and the next, and between the title and the legend


def _header(ax: Any, title: str | None, size: tuple[float, float]) -> None:
    """The title on the left, a sample box of each kind on the right."""
    y = size[1] - MARGIN - SAMPLE[1] / 2
    if title:
        _write(ax, (MARGIN, y), title, TITLE_SIZE, ha="left", fontweight="bold")
    x = size[0] - MARGIN - _legend_width()
    for kind in KINDS:
        for patch in _shape(kind, (x + SAMPLE[0] / 2, y), *SAMPLE):
            ax.add_patch(patch)
        _write(ax, (x + SAMPLE[0] + SAMPLE_GAP, y), kind, LEGEND_SIZE, ha="left")
        x += SAMPLE[0] + SAMPLE_GAP + _text_width(kind, LEGEND_SIZE) + LEGEND_GAP


def _legend_width() -> float:
    names = sum(_text_width(kind, LEGEND_SIZE) for kind in KINDS)
    return len(KINDS) * (SAMPLE[0] + SAMPLE_GAP + LEGEND_GAP) - LEGEND_GAP + names


def _header_width(title: str | None) -> float:
    titled = _text_width(title, TITLE_SIZE, "bold") + LEGEND_GAP if title else 0.0
    return titled + _legend_width()
