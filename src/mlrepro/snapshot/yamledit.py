"""Edit a YAML file as its author wrote it: a ruamel.yaml round trip that keeps comments, blank
lines, quotes, flow or block style, indents and `null`, so that only the edited line changes (or
one line is added). ruamel keeps what follows an entry's line (blank lines, the comments before
the next section) with that entry, and a comment after a value at its column: the edits here
move and shift them so that they stay where they were on the page."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, TypeGuard

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedBase, CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.tokens import CommentToken
from ruamel.yaml.util import load_yaml_guess_indent

NO_WRAP = 1 << 16  # ruamel wraps long lines at 80 columns by default
Line = tuple[CommentedBase, Any]  # a collection and the key (or index) of one of its entries


@dataclass(frozen=True)
class Document:
    root: Any  # CommentedMap, CommentedSeq or a scalar
    lines: list[str]  # the text it was read from
    emitter: YAML  # set to the text's own layout

    def dump(self) -> str:
        out = io.StringIO()
        self.emitter.dump(self.root, out)
        return out.getvalue()


def load(text: str) -> Document:
    """The document, with an emitter that writes it back as `text` is laid out; ValueError (one
    line) when `text` is not YAML."""
    emitter = YAML()
    emitter.preserve_quotes = True
    emitter.width = NO_WRAP
    try:
        root, seq_indent, dash_offset = load_yaml_guess_indent(text, yaml=emitter)
    except Exception as exc:  # ruamel raises its own hierarchy (scanner, parser, composer)
        raise ValueError(" ".join(str(exc).split())) from None
    mapping = _mapping_indent(root)
    emitter.indent(mapping=mapping, sequence=seq_indent or mapping, offset=dash_offset or 0)
    emitter.representer.add_representer(type(None), _null)
    return Document(root, text.splitlines(), emitter)


def is_mapping(node: Any) -> TypeGuard[CommentedMap]:
    return isinstance(node, CommentedMap)


def is_flow(node: CommentedMap) -> bool:
    return bool(node.fa.flow_style())


def block(items: dict[str, Any]) -> CommentedMap:
    """A new block-style mapping."""
    return CommentedMap(items)


def replace(doc: Document, mapping: CommentedMap, key: str, value: Any) -> None:
    """Set `mapping[key]` on its line: a scalar in place of the old one (its quotes kept), or a
    block mapping in place of a scalar or an empty flow mapping. A comment after the value keeps
    its distance from it."""
    token, old = _comment(mapping, key), mapping[key]
    key_col = int(mapping.lc.key(key)[1])
    mapping[key] = value
    if not isinstance(value, CommentedMap):
        _shift(token, len(str(value)) - len(str(old)))
        return
    _move_trailing((mapping, key), _last_line(value))  # the block's last line is now the last
    if token is not None and not token.value.startswith("\n"):  # the line ends at the colon
        line = doc.lines[token.start_mark.line][: token.column]
        token.column = key_col + len(key) + 1 + max(1, len(line) - len(line.rstrip()))


def append(mapping: CommentedMap, key: str, value: Any) -> None:
    """Add `key: value` at the end of a block mapping, right after its last line."""
    before = _last_line(mapping)
    mapping[key] = value
    if before is not None:
        _move_trailing(before, _last_line(mapping))


def append_flow(parent: CommentedMap, key: str, name: str, value: str) -> None:
    """Add `name: value` at the end of the flow mapping `parent[key]` (`{a: 1}` -> `{a: 1,
    name: value}`); a comment after it moves as far right as the line grows."""
    _shift(_comment(parent, key), len(f", {name}: {value}"))
    parent[key][name] = value


def _mapping_indent(root: Any) -> int:
    """How far the file indents a nested block mapping (2 when it has none)."""
    for value in root.values() if isinstance(root, CommentedMap) else ():
        if isinstance(value, CommentedMap) and value and not value.fa.flow_style():
            return int(value.lc.key(next(iter(value)))[1])
    return 2


def _null(representer: RoundTripRepresenter, data: None) -> Any:
    """`null` as YAML files write it (ruamel writes an empty value)."""
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def _shift(token: CommentToken | None, columns: int) -> None:
    if token is not None and not token.value.startswith("\n"):
        token.column += columns


def _move_trailing(source: Line | None, target: Line | None) -> None:
    """Move what follows the `source` entry's line (blank lines, comments) after `target`, the
    entry now written last; the comment on the line itself stays."""
    token = _comment(*source) if source else None
    if source is None or target is None or token is None:
        return
    own, _, rest = token.value.partition("\n")
    if not rest:
        return
    if own.strip():
        token.value = own + "\n"
    else:
        _set_comment(*source, None)
    _set_comment(*target, CommentToken("\n" + rest, CommentMark(0)))


def _last_line(node: Any) -> Line | None:
    """The collection and key (or index) of the entry written on the last line of `node`:
    its last entry, or the last entry of that entry's block mapping or sequence."""
    if not isinstance(node, CommentedMap | CommentedSeq) or not node or node.fa.flow_style():
        return None
    last = next(reversed(node)) if isinstance(node, CommentedMap) else len(node) - 1
    return _last_line(node[last]) or (node, last)


def _slot(node: CommentedBase) -> int:
    """Where ruamel keeps the comment after an entry: [2] for a mapping's, [0] for a list's."""
    return 2 if isinstance(node, CommentedMap) else 0


def _comment(node: CommentedBase, key: Any) -> CommentToken | None:
    item = node.ca.items.get(key)
    token = item[_slot(node)] if item else None
    return token if isinstance(token, CommentToken) else None


def _set_comment(node: CommentedBase, key: Any, token: CommentToken | None) -> None:
    item = node.ca.items.setdefault(key, [None, None, None, None])
    item[_slot(node)] = token
