"""The images dvc.yaml declares as plots (the drift PNG, evaluate's ROC and calibration images),
at B and, beside it, at A: copied from the local DVC cache by the md5 that each revision's
dvc.lock records (`Revision.cached_files`), checked before they are written. An image that the
cache lacks (a commit never pulled here) is a note in the report, not a failure.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrepro.core.files import atomic_path
from mlrepro.revisions import DvcYamlError, Out, Revision

IMAGE_SUFFIXES = (".gif", ".jpeg", ".jpg", ".png", ".svg")  # what DVC renders as an image plot
FOLDER = "images"  # in the report folder: images/a/<path>, images/b/<path>


@dataclass(frozen=True)
class Image:
    path: str  # in the repository
    md5_a: str | None  # as A's dvc.lock records it; None: not an image there
    md5_b: str
    a: str | None  # the copy of A's, relative to the report folder; None: none shown
    b: str  # the copy of B's

    @property
    def same(self) -> bool:
        """A's is B's: one copy, B's."""
        return self.md5_a == self.md5_b


@dataclass(frozen=True)
class Images:
    images: tuple[Image, ...]
    notes: tuple[str, ...]  # what could not be shown, and why

    @property
    def files(self) -> int:
        return sum(1 + (i.a is not None) for i in self.images)


def declared_images(plots: Sequence[Any], outs: Iterable[Out]) -> list[str]:
    """The paths of image plots: top-level `plots:` entries that name a path (a string, or a
    mapping key without `y`) and stage `plots:` outputs; each a file or a folder."""
    paths = []
    for entry in plots:
        if isinstance(entry, str):
            paths.append(entry)
        elif isinstance(entry, dict):
            paths += [str(k) for k, spec in entry.items() if not (spec or {}).get("y")]
    paths += [out.path for out in outs if out.kind == "plots"]
    return list(dict.fromkeys(posixpath.normpath(p) for p in paths))


def copy_images(a: Revision, b: Revision, out_dir: Path) -> Images:
    """B's declared images and A's of the same paths, written under `out_dir`/images."""
    notes: list[str] = []
    try:
        declared = declared_images(b.pipeline.plots, b.pipeline.outs())
    except DvcYamlError:
        return Images((), ())  # the diff's notes say why
    found_b = _md5s(b, declared, notes)
    found_a = _md5s(a, declared, notes)
    images = []
    for path, md5 in found_b.items():
        written_b = _write(b, path, md5, out_dir / FOLDER / "b", notes)
        if written_b is None:
            continue
        old = found_a.get(path)
        written_a = None
        if old is not None and old != md5:
            written_a = _write(a, path, old, out_dir / FOLDER / "a", notes)
        copy_a = None if written_a is None else written_a.relative_to(out_dir).as_posix()
        copy_b = written_b.relative_to(out_dir).as_posix()
        images.append(Image(path, old, md5, copy_a, copy_b))
    return Images(tuple(images), tuple(notes))


def _md5s(revision: Revision, declared: list[str], notes: list[str]) -> dict[str, str]:
    """Image path -> md5 of every image file at or under the declared paths."""
    name = revision.rev.name
    found: dict[str, str] = {}
    for path in declared:
        try:
            cached = revision.cached_files(path)
        except DvcYamlError as exc:
            notes.append(f"{name}: no images: {exc}")
            return {}
        for out in cached.unlisted:
            notes.append(f"{out.path} at {name}: its folder listing is not in the local DVC cache")
        for file in cached.files:
            if file.path.lower().endswith(IMAGE_SUFFIXES) and _inside(file.path):
                found.setdefault(file.path, file.md5)
    return found


def _write(revision: Revision, path: str, md5: str, folder: Path, notes: list[str]) -> Path | None:
    data = revision.cached_bytes(md5)
    if data is None:
        notes.append(
            f"{path} at {revision.rev.name}: not in the local DVC cache (md5 {md5}; "
            "`dvc pull` or `dvc fetch` brings it)"
        )
        return None
    target = folder / path
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return target


def _inside(path: str) -> bool:
    """A path that stays in the folder it is written under (dvc.lock is the PR's to write)."""
    normal = posixpath.normpath(path)
    return not (posixpath.isabs(normal) or normal == ".." or normal.startswith("../"))
