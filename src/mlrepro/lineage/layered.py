"""The layered layout of a lineage picture (Sugiyama style, no graphviz), top to bottom:
`layers` puts each node below its deepest parent, a long edge passes through a waypoint in every
layer it crosses, barycenter sweeps order each layer to cut crossings, and a least-squares
placement lines boxes up under their parents (`pack` keeps them apart). Pure functions of the
picture and the box widths; `graph.draw` turns the `Layout` into a PNG.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from graphlib import TopologicalSorter
from itertools import accumulate, combinations, pairwise

from mlrepro.lineage.upstream import Picture

SWEEPS = 4  # barycenter sweeps (down and up) when ordering the layers
PASSES = 4  # placement passes (down and up) when lining boxes up
GAP = 0.3  # inches between neighbouring boxes (or edges) of a layer
WAYPOINT = "~"  # the start of a waypoint's id (a node's is its kind and a colon)
WAYPOINT_WIDTH = 0.1  # inches a long edge takes in a layer it crosses
WAYPOINT_WEIGHT = 0.1  # how much a waypoint's wanted x counts against a box's


@dataclass(frozen=True)
class Layout:
    """Where everything goes: the ids of each layer in order (waypoints of long edges too), the
    center x of each (inches), and each edge as the ids it passes, one per layer."""

    rows: tuple[tuple[str, ...], ...]
    x: dict[str, float]
    routes: tuple[tuple[str, ...], ...]


def layers(picture: Picture) -> dict[str, int]:
    """Each node's layer: the length of the longest path to it from a node without parents."""
    parents: dict[str, list[str]] = {node.id: [] for node in picture.nodes}
    for a, b in picture.edges:
        parents[b].append(a)
    layer: dict[str, int] = {}
    for node in TopologicalSorter(parents).static_order():
        layer[node] = max((layer[p] + 1 for p in parents[node]), default=0)
    return {node.id: layer[node.id] for node in picture.nodes}


def layout(picture: Picture, widths: Mapping[str, float]) -> Layout:
    """Lay `picture` out in layers, boxes `widths` inches wide (by node id)."""
    routes, rank = _routes(picture, layers(picture))
    ups, downs = _neighbours(routes)
    rows = _order(rank, ups, downs)
    every = {**dict.fromkeys(rank, WAYPOINT_WIDTH), **widths}
    x = _straighten(rows, _columns(rows, every, ups, downs), every, routes)
    return Layout(tuple(map(tuple, rows)), x, tuple(routes))


def _routes(
    picture: Picture, layer: Mapping[str, int]
) -> tuple[list[tuple[str, ...]], dict[str, int]]:
    """Each edge as the ids it passes, a waypoint in each layer it crosses; the layer of each."""
    rank, routes = dict(layer), []
    for a, b in picture.edges:
        via = {f"{WAYPOINT}{a}>{b}#{k}": k for k in range(layer[a] + 1, layer[b])}
        rank.update(via)
        routes.append((a, *via, b))
    return routes, rank


def _neighbours(
    routes: Iterable[Sequence[str]],
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The ids one layer up and one layer down from each id, along the routes."""
    ups: dict[str, list[str]] = defaultdict(list)
    downs: dict[str, list[str]] = defaultdict(list)
    for route in routes:
        for a, b in pairwise(route):
            downs[a].append(b)
            ups[b].append(a)
    return ups, downs


def _order(
    rank: Mapping[str, int], ups: Mapping[str, list[str]], downs: Mapping[str, list[str]]
) -> list[list[str]]:
    """The layers, each ordered by the barycenter of its neighbours in the layer before it,
    sweeping down then up; the sweep with the fewest crossings wins (ties: the earliest)."""
    rows: list[list[str]] = [[] for _ in range(max(rank.values(), default=-1) + 1)]
    for node, k in rank.items():
        rows[k].append(node)
    best, fewest = [list(row) for row in rows], crossings(rows, downs)
    for _ in range(SWEEPS):
        for k in range(1, len(rows)):
            rows[k] = _by_barycenter(rows[k], rows[k - 1], ups)
        for k in reversed(range(len(rows) - 1)):
            rows[k] = _by_barycenter(rows[k], rows[k + 1], downs)
        if (count := crossings(rows, downs)) < fewest:
            best, fewest = [list(row) for row in rows], count
    return best


def _by_barycenter(
    row: list[str], fixed: Sequence[str], neighbours: Mapping[str, list[str]]
) -> list[str]:
    where = {node: index for index, node in enumerate(fixed)}

    def barycenter(item: tuple[int, str]) -> float:
        near = [where[n] for n in neighbours.get(item[1], ()) if n in where]
        return sum(near) / len(near) if near else float(item[0])

    return [node for _, node in sorted(enumerate(row), key=barycenter)]


def crossings(rows: Sequence[Sequence[str]], downs: Mapping[str, list[str]]) -> int:
    """How many pairs of edges cross between neighbouring layers."""
    total = 0
    for upper, lower in pairwise(rows):
        where = {node: index for index, node in enumerate(lower)}
        ends = [(i, where[n]) for i, node in enumerate(upper) for n in downs.get(node, ())]
        total += sum((a - c) * (b - d) < 0 for (a, b), (c, d) in combinations(ends, 2))
    return total


def _columns(
    rows: Sequence[Sequence[str]],
    widths: Mapping[str, float],
    ups: Mapping[str, list[str]],
    downs: Mapping[str, list[str]],
) -> dict[str, float]:
    """The x of each id: each layer centered, then each box pulled under its parents (down)
    and over its children (up), a few times."""
    x: dict[str, float] = {}
    for row in rows:
        x.update(pack(row, widths, [0.0] * len(row)))
    for _ in range(PASSES):
        for row in rows[1:]:
            x.update(pack(row, widths, _wanted(row, x, ups), _weights(row)))
        for row in reversed(rows[:-1]):
            x.update(pack(row, widths, _wanted(row, x, downs), _weights(row)))
    return x


def _wanted(
    row: Sequence[str], x: Mapping[str, float], neighbours: Mapping[str, list[str]]
) -> list[float]:
    near = [[x[n] for n in neighbours.get(node, ())] for node in row]
    return [sum(xs) / len(xs) if xs else x[node] for node, xs in zip(row, near, strict=True)]


def _weights(row: Sequence[str]) -> list[float]:
    """Boxes hold their place, a long edge's waypoints give way to them."""
    return [WAYPOINT_WEIGHT if node.startswith(WAYPOINT) else 1.0 for node in row]


def _straighten(
    rows: Sequence[Sequence[str]],
    x: dict[str, float],
    widths: Mapping[str, float],
    routes: Iterable[Sequence[str]],
) -> dict[str, float]:
    """Each long edge straight down where it can be: all its waypoints at the x of one of them
    (the median first), if no layer gets too tight for it."""
    for route in routes:
        via = route[1:-1]
        xs = sorted(x[node] for node in via)
        for candidate in dict.fromkeys([*xs[len(xs) // 2 :][:1], *xs]):
            trial = {**x, **dict.fromkeys(via, candidate)}
            if all(_fits(row, trial, widths) for row in rows):
                x = trial
                break
    return x


def _fits(row: Sequence[str], x: Mapping[str, float], widths: Mapping[str, float]) -> bool:
    return all(x[b] - x[a] >= (widths[a] + widths[b]) / 2 + GAP - 1e-9 for a, b in pairwise(row))


def pack(
    row: Sequence[str],
    widths: Mapping[str, float],
    wanted: Sequence[float],
    weights: Sequence[float] | None = None,
) -> dict[str, float]:
    """The x of each id of `row`: in order, GAP apart edge to edge, and as near `wanted` as can
    be (weighted least squares: pool adjacent violators on x less the room the boxes before
    need)."""
    room = [(widths[a] + widths[b]) / 2 + GAP for a, b in pairwise(row)]
    offsets = list(accumulate(room, initial=0.0))
    blocks: list[tuple[float, float, int]] = []  # (mean, weight, count) of runs that move as one
    for want, offset, weight in zip(wanted, offsets, weights or [1.0] * len(row), strict=True):
        blocks.append((want - offset, weight, 1))
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m2, w2, n2), (m1, w1, n1) = blocks.pop(), blocks.pop()
            blocks.append(((m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2))
    shifted = [mean for mean, _, count in blocks for _ in range(count)]
    return {node: s + o for node, s, o in zip(row, shifted, offsets, strict=True)}
