"""lineage.graph: the upstream graph as Mermaid text and as a PNG, from hand-built pictures.

The Mermaid text is checked against the rules it relies on here; `test_mermaid_parses` also
runs it through Mermaid's own parser under node when MLREPRO_MERMAID_MODULES names a
node_modules folder holding `mermaid` and `jsdom` (`npm install mermaid jsdom`); it is skipped
otherwise, so the suite needs neither node nor the network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from itertools import combinations, pairwise
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from mlrepro.lineage.graph import (
    CAP,
    SLANT,
    draw,
    figure,
    mermaid,
    mermaid_escape,
)
from mlrepro.lineage.layered import GAP, crossings, layers, layout, pack
from mlrepro.lineage.upstream import Node, Picture


def picture(*edges: str, kinds: dict[str, str] | None = None) -> Picture:
    """A picture from edges "a>b"; nodes in order of first mention, stages unless `kinds`."""
    pairs = [tuple(edge.split(">")) for edge in edges]
    names = dict.fromkeys(name for pair in pairs for name in pair)
    kind = kinds or {}
    nodes = [Node(n, kind.get(n, "stage"), n, f"detail of {n}") for n in names]
    return Picture(tuple(nodes), tuple((a, b) for a, b in pairs))


def project() -> Picture:
    """The shape of this project's graph of evaluate/metrics.json: 5 snapshots, 7 stages, the
    data between them, three edges that skip layers."""
    snapshots = ["airlines", "airports", "flights", "planes", "weather"]
    chain = [
        ("ingest", "data/ingest"),
        ("validate", "data/validate"),
        ("split", "data/split"),
        ("featurize", "data/featurize"),
        ("leakage", "reports/leakage_passed.json"),
        ("train", "models/model.skops"),
        ("evaluate", "evaluate/metrics.json"),
    ]
    nodes = [Node(f"snapshot:{s}@1", "snapshot", s, "20261123T030454Z-5c39846f") for s in snapshots]
    for stage, data in chain:
        nodes.append(Node(f"stage:{stage}", "stage", stage, f"mlrepro.stages.{stage}"))
        nodes.append(Node(f"data:{data}", "data", data, "md5 839ac75c"))
    edges = [(f"snapshot:{s}@1", "stage:ingest") for s in snapshots]
    edges += [(f"stage:{stage}", f"data:{data}") for stage, data in chain]
    reads = [
        ("data/ingest", "validate"),
        ("data/validate", "split"),
        ("data/split", "featurize"),
        ("data/validate", "featurize"),
        ("data/featurize", "leakage"),
        ("data/split", "leakage"),
        ("data/featurize", "train"),
        ("reports/leakage_passed.json", "train"),
        ("data/featurize", "evaluate"),
        ("models/model.skops", "evaluate"),
    ]
    edges += [(f"data:{data}", f"stage:{stage}") for data, stage in reads]
    return Picture(tuple(nodes), tuple(edges))


# -- Mermaid ---------------------------------------------------------------------------------


def test_mermaid_of_a_small_picture() -> None:
    pic = Picture(
        (
            Node("snapshot:flights@20261123T030448Z-880b80b7", "snapshot", "flights", "20261123"),
            Node("stage:ingest", "stage", "ingest", "mlrepro.stages.ingest"),
            Node("data:data/ingest", "data", "data/ingest", "md5 839ac75c"),
        ),
        (
            ("snapshot:flights@20261123T030448Z-880b80b7", "stage:ingest"),
            ("stage:ingest", "data:data/ingest"),
        ),
    )
    text = mermaid(pic, title="data/ingest at HEAD (6fb3d6b)")
    assert text == (
        "---\n"
        'title: "data/ingest at HEAD (6fb3d6b)"\n'
        "---\n"
        "flowchart TD\n"
        '  n0[("flights<br>20261123")]\n'
        '  n1("ingest<br>mlrepro.stages.ingest")\n'
        '  n2[/"data/ingest<br>md5 839ac75c"/]\n'
        "  n0 --> n1\n"
        "  n1 --> n2\n"
        "  classDef snapshot fill:#dbe9f6,stroke:#3a6ea5,color:#222222\n"
        "  classDef stage fill:#fde8c8,stroke:#c07a1e,color:#222222\n"
        "  classDef data fill:#e2f0d9,stroke:#4f8a3a,color:#222222\n"
        "  class n0 snapshot\n"
        "  class n1 stage\n"
        "  class n2 data\n"
    ), text


NASTY = [
    'say "hi"',
    "a#b; #quot;",
    "<b>bold</b> & <br>",
    "`code`",
    "two\nlines",
    "end",
    "graph",
    "ünïcödé → ✓",
    "data/a.b@c:d[e]{f}(g)|h|",
]


def nasty() -> Picture:
    nodes = [
        Node(f"{kind}:{text}", kind, text, text)
        for text, kind in zip(NASTY, ["snapshot", "stage", "data"] * 3, strict=True)
    ]
    edges = [(a.id, b.id) for a, b in pairwise(nodes)]
    return Picture(tuple(nodes), tuple(edges))


def node_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if re.match(r"  n\d+[\[(]", line)]


def test_mermaid_ids_are_safe_and_every_node_and_edge_appears() -> None:
    pic = project()
    text = mermaid(pic)
    lines = node_lines(text)
    assert [re.match(r"n\d+", line)[0] for line in lines] == [  # type: ignore[index]
        f"n{i}" for i in range(len(pic.nodes))
    ]
    ids = {node.id: f"n{i}" for i, node in enumerate(pic.nodes)}
    for node, line in zip(pic.nodes, lines, strict=True):
        assert f"{node.label}<br>{node.detail}" in line, line
    edges = re.findall(r"^  (n\d+) --> (n\d+)$", text, flags=re.M)
    assert edges == [(ids[a], ids[b]) for a, b in pic.edges], text


SHAPE = {
    "snapshot": r'n\d+\[\("(?P<text>[^"]*)"\)\]',
    "stage": r'n\d+\("(?P<text>[^"]*)"\)',
    "data": r'n\d+\[/"(?P<text>[^"]*)"/\]',
}


def test_mermaid_labels_are_quoted_and_escaped() -> None:
    """One quoted string per node, in its kind's shape; inside it no quote, no HTML but the
    line break, no `#` but Mermaid's entity codes, no backtick (a markdown string) and no
    newline; the entity codes give back the text."""
    pic = nasty()
    lines = node_lines(mermaid(pic))
    entities = {"#35;": "#", "#quot;": '"', "#amp;": "&", "#lt;": "<", "#gt;": ">", "#96;": "`"}
    for node, line in zip(pic.nodes, lines, strict=True):
        match = re.fullmatch(SHAPE[node.kind], line)
        assert match, line
        label, detail = match["text"].split("<br>")
        assert label == detail, line
        assert not re.search(r"[<>`\n]|#(?!35;|quot;|amp;|lt;|gt;|96;)", label), line
        back = re.sub(r"#\w+;", lambda m: entities[m[0]], label)
        assert back == node.label.replace("\n", " "), line


def test_mermaid_escape() -> None:
    assert mermaid_escape('a "b" #1 <c> & `d`') == (
        "a #quot;b#quot; #35;1 #lt;c#gt; #amp; #96;d#96;"
    )
    assert mermaid_escape("data/split@v1.2") == "data/split@v1.2"


def test_mermaid_without_detail_or_title_and_of_nothing() -> None:
    pic = Picture((Node("stage:a", "stage", "a", ""),), ())
    assert mermaid(pic).splitlines()[:2] == ["flowchart TD", '  n0("a")']
    assert mermaid(Picture((), ())).splitlines()[0] == "flowchart TD"


def test_mermaid_title_is_one_yaml_string() -> None:
    text = mermaid(picture("a>b"), title='x: "y"\n# z')
    assert text.splitlines()[:3] == ["---", r'title: "x: \"y\"\n# z"', "---"], text


def test_mermaid_is_deterministic() -> None:
    assert mermaid(project(), title="t") == mermaid(project(), title="t")
    assert mermaid(nasty()) == mermaid(nasty())


PARSE = """
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { readFileSync } from "node:fs";
const modules = process.argv[2];
const require = createRequire(modules + "/");
const { JSDOM } = require("jsdom");
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const url = pathToFileURL(modules + "/mermaid/dist/mermaid.core.mjs").href;
const { default: mermaid } = await import(url);
mermaid.initialize({ startOnLoad: false });
for (const file of process.argv.slice(3)) {
  try {
    const result = await mermaid.parse(readFileSync(file, "utf8"));
    console.log(file, "ok", result.diagramType);
  } catch (error) {
    console.log(file, "error", String(error.message || error).split("\\n").join(" | "));
  }
}
"""


@pytest.fixture
def mermaid_parser(tmp_path: Path) -> Iterator[Any]:
    modules = os.environ.get("MLREPRO_MERMAID_MODULES")
    node = shutil.which("node")
    if not node or not modules or not (Path(modules) / "mermaid" / "package.json").exists():
        pytest.skip("needs node and MLREPRO_MERMAID_MODULES: a node_modules with mermaid, jsdom")
    script = tmp_path / "parse.mjs"
    script.write_text(PARSE)

    def parse(texts: list[str]) -> list[str]:
        files = []
        for index, text in enumerate(texts):
            files.append(tmp_path / f"{index}.mmd")
            files[-1].write_text(text)
        args = [node, str(script), modules, *map(str, files)]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return [line.split(" ", 1)[1] for line in done.stdout.splitlines()]

    yield parse


def test_mermaid_parses(mermaid_parser: Any) -> None:
    texts = [mermaid(project(), title="evaluate/metrics.json at HEAD"), mermaid(nasty(), title='"')]
    broken = 'flowchart TD\n  n0[("a"b")] --> n1\n'  # the parser does reject bad text
    results = mermaid_parser([*texts, broken])
    assert results[:2] == ["ok flowchart-v2", "ok flowchart-v2"], results
    assert results[2].startswith("error"), results


# -- Layout ----------------------------------------------------------------------------------


def test_layers_of_a_chain() -> None:
    assert layers(picture("a>b", "b>c", "c>d")) == {"a": 0, "b": 1, "c": 2, "d": 3}


def test_layers_of_a_diamond() -> None:
    assert layers(picture("a>b", "a>c", "b>d", "c>d")) == {"a": 0, "b": 1, "c": 1, "d": 2}


def test_layers_put_a_node_below_its_deepest_parent() -> None:
    pic = picture("a>b", "b>c", "c>d", "a>d", "e>d")
    assert layers(pic) == {"a": 0, "b": 1, "c": 2, "d": 3, "e": 0}


def test_layers_of_the_project() -> None:
    layer = layers(project())
    assert {n: k for n, k in layer.items() if k == 0} == dict.fromkeys(
        [f"snapshot:{s}@1" for s in ["airlines", "airports", "flights", "planes", "weather"]], 0
    )
    assert layer["stage:featurize"] == 7  # below data/split (6), not data/validate (4)
    assert layer["data:evaluate/metrics.json"] == max(layer.values()) == 14


def test_a_long_edge_passes_a_waypoint_in_each_layer_it_crosses() -> None:
    placed = layout(picture("a>b", "b>c", "c>d", "a>d"), dict.fromkeys("abcd", 1.0))
    assert placed.routes[:3] == (("a", "b"), ("b", "c"), ("c", "d"))
    a, *via, d = placed.routes[3]
    assert (a, d, len(via)) == ("a", "d", 2)
    assert [[n for n in row if n in via] for row in placed.rows] == [[], [via[0]], [via[1]], []]


def test_ordering_removes_a_crossing() -> None:
    pic = picture("a>d", "b>c")  # layer 0: a, b; layer 1: c, d: crossed as given
    placed = layout(pic, dict.fromkeys("abcd", 1.0))
    downs = {"a": ["d"], "b": ["c"]}
    assert crossings([["a", "b"], ["c", "d"]], downs) == 1
    assert crossings(placed.rows, downs) == 0, placed.rows


def test_pack_keeps_order_and_room_and_stays_near_wanted() -> None:
    widths = {"a": 1.0, "b": 1.0, "c": 2.0}
    assert pack(["a", "b"], widths, [0.0, 5.0]) == {"a": 0.0, "b": 5.0}
    assert pack(["a", "b"], widths, [0.0, 0.0]) == pytest.approx({"a": -0.65, "b": 0.65})
    placed = pack(["a", "b", "c"], widths, [3.0, 0.0, 0.0])
    assert placed["b"] - placed["a"] == pytest.approx(1.0 + GAP)
    assert placed["c"] - placed["b"] == pytest.approx(1.5 + GAP)
    heavy = pack(["a", "b"], widths, [0.0, 0.0], [1.0, 0.0])
    assert heavy == pytest.approx({"a": 0.0, "b": 1.3})


def test_no_two_boxes_of_a_layer_overlap() -> None:
    pic = project()
    widths = {node.id: 1.0 + len(node.label) / 10 for node in pic.nodes}
    placed = layout(pic, widths)
    for row in placed.rows:
        for a, b in pairwise(row):
            room = (widths.get(a, 0.1) + widths.get(b, 0.1)) / 2 + GAP
            assert placed.x[b] - placed.x[a] >= room - 1e-9, (a, b)
    assert crossings(placed.rows, downs_of(placed.routes)) == 0


def downs_of(routes: tuple[tuple[str, ...], ...]) -> dict[str, list[str]]:
    downs: dict[str, list[str]] = {}
    for route in routes:
        for a, b in pairwise(route):
            downs.setdefault(a, []).append(b)
    return downs


# -- PNG -------------------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG"
        return image.size


def test_draw_writes_a_png_and_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "lineage.png"
    draw(project(), out, title="evaluate/metrics.json at HEAD (6fb3d6b)")
    width, height = png_size(out)
    assert height > width > 500, (width, height)
    assert [p.name for p in tmp_path.iterdir()] == ["lineage.png"]


def test_draw_is_byte_identical(tmp_path: Path) -> None:
    draw(project(), tmp_path / "a.png", title="t")
    draw(project(), tmp_path / "b.png", title="t")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert b"Software" not in (tmp_path / "a.png").read_bytes()


def test_the_png_grows_with_layers_and_with_the_widest_layer(tmp_path: Path) -> None:
    shapes = {
        "short": picture("a>b"),
        "long": picture("a>b", "b>c", "c>d", "d>e"),
        "wide": picture("a>e", "b>e", "c>e", "d>e"),
    }
    size = {}
    for name, pic in shapes.items():
        draw(pic, tmp_path / f"{name}.png")
        size[name] = png_size(tmp_path / f"{name}.png")
    assert size["long"][1] > size["short"][1], size
    assert size["wide"][0] > size["short"][0], size
    assert size["wide"][1] == size["short"][1], size


def test_draw_of_a_single_node_and_of_nothing(tmp_path: Path) -> None:
    draw(Picture((Node("stage:a", "stage", "a", ""),), ()), tmp_path / "one.png")
    draw(Picture((), ()), tmp_path / "none.png", title="nothing")
    assert png_size(tmp_path / "one.png")[1] > png_size(tmp_path / "none.png")[1]


def boxes(fig: Any) -> tuple[dict[str, Any], dict[str, list[Any]], Any]:
    """Each node's outline (its first patch) and texts, as window extents on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    ax = fig.axes[0]
    outline: dict[str, Any] = {}
    for patch in ax.patches:
        if patch.get_gid() and patch.get_gid() not in outline:
            outline[patch.get_gid()] = patch.get_window_extent(renderer)
    texts: dict[str, list[Any]] = {}
    for text in ax.texts:
        if text.get_gid():
            texts.setdefault(text.get_gid(), []).append(text.get_window_extent(renderer))
    return outline, texts, fig.dpi


def test_text_stays_inside_its_box_and_boxes_do_not_overlap() -> None:
    pic = project()
    outline, texts, dpi = boxes(figure(pic, title="t"))
    kinds = {node.id: node.kind for node in pic.nodes}
    assert set(outline) == set(texts) == set(kinds)
    for node, box in outline.items():
        lean = SLANT * dpi if kinds[node] == "data" else 0.0  # inside the parallelogram
        caps = (CAP * dpi, 2 * CAP * dpi) if kinds[node] == "snapshot" else (0.0, 0.0)
        for text in texts[node]:
            assert box.x0 + lean <= text.x0 and text.x1 <= box.x1 - lean, (node, box, text)
            assert box.y0 + caps[0] <= text.y0 and text.y1 <= box.y1 - caps[1], (node, box, text)
    for (a, box_a), (b, box_b) in combinations(outline.items(), 2):
        assert not box_a.overlaps(box_b), (a, b)


def test_every_edge_is_an_arrow() -> None:
    from matplotlib.patches import FancyArrowPatch

    pic = project()
    arrows = [p for p in figure(pic).axes[0].patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == len(pic.edges)


def test_the_users_matplotlibrc_does_not_reach_the_png(tmp_path: Path) -> None:
    import matplotlib

    draw(project(), tmp_path / "a.png")
    rc = {"patch.antialiased": False, "text.antialiased": False, "font.family": "serif"}
    with matplotlib.rc_context(rc):
        draw(project(), tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
