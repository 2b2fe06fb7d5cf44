"""Fit only on train: which stages read the test part, and that none of them fits anything,
checked from dvc.yaml's resolved stages and the stages' Python source, not assumed. Pure: the
caller reads the files.

- A stage touches the parts when a dep is a folder of parts (split's, featurize's output), a
  file inside one, or a folder above one.
- It reads the test part when a dep or its cmd names the test file (`.../test.parquet`); when
  its module names the test part (the string "test" or "test.parquet", or a module-level tuple
  of part names holding "test", such as `PARTS`); or when its module names no part at all, since
  it may then read the whole folder. A stage whose module names parts, none of them test (train:
  "train.parquet"), reads only those. Only the stage's own module counts here: it is where a
  stage chooses its inputs (`main()` reads them); elsewhere "train" is also a params key.
- It fits when its module, or a project module it imports (transitively), calls `.fit`,
  `.fit_transform`, `.fit_predict` or `.partial_fit`, a `...CV` estimator (calibration and
  threshold tuning: `CalibratedClassifierCV`, `TunedThresholdClassifierCV`) or `cross_val_*`.
- A stage that reads the test part and fits is a failure; a stage that touches the parts and
  whose code cannot be read (not `python -m MODULE`, or a module not found) is a note.

Static, so it has limits: a threshold computed by hand from test predictions, or a file opened
under a name built at run time, is not seen. The decision threshold (`evaluate.threshold`) is a
param: no stage chooses it from data.
"""

from __future__ import annotations

import ast
import posixpath
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PART = re.compile(r"^(train|valid|test)(\.parquet)?$")
TEST = "test"
FIT_METHODS = frozenset({"fit", "fit_transform", "fit_predict", "partial_fit"})
MODULE = re.compile(r"(?:^|\s)-m\s+([A-Za-z_][\w.]*)")


@dataclass(frozen=True)
class StageUse:
    """How one stage that touches the parts uses them."""

    stage: str
    reads_test: bool
    why: str  # what shows it reads the test part, or only the other parts
    fits: str | None  # where it fits ("mlrepro/stages/train.py:38 .fit"), None: nowhere

    def as_dict(self) -> dict[str, Any]:
        return {"reads_test": self.reads_test, "fits": self.fits is not None, "why": self.why}


@dataclass(frozen=True)
class Independence:
    stages: tuple[StageUse, ...]  # the stages that touch the parts, in dvc.yaml order
    problems: tuple[str, ...]  # a stage that reads the test part and fits: fails the check
    notes: tuple[str, ...]  # what could not be checked: a warning


@dataclass(frozen=True)
class _Code:
    """What the code a stage runs says: part names it mentions, and its first fit call."""

    names: dict[str, str]  # part name -> where it is mentioned first
    fits: str | None
    missing: tuple[str, ...]  # project modules it imports that were not found


def stage_module(cmd: Any) -> str | None:
    """The module a stage runs (`python -m MODULE ...`), None for any other command."""
    text = " ".join(cmd) if isinstance(cmd, list) else str(cmd or "")
    found = MODULE.search(text)
    return found.group(1) if found else None


def check_independence(
    stages: Mapping[str, Mapping[str, Any]], sources: Mapping[str, str], parts: Sequence[str]
) -> Independence:
    """`stages`: dvc.yaml resolved (name -> cmd, deps, ...); `sources`: module name -> source of
    the project's modules; `parts`: the folders that hold train.parquet, valid.parquet and
    test.parquet (repo-relative)."""
    folders = [posixpath.normpath(p) for p in parts]
    modules = _Modules(sources)
    uses, problems, notes = [], [], []
    for name, stage in stages.items():
        deps = [posixpath.normpath(str(d)) for d in stage.get("deps") or []]
        if not any(_touches(d, folders) for d in deps):
            continue
        module = stage_module(stage.get("cmd"))
        code = _code(module, modules) if module is not None and module in sources else None
        if code is None:
            why = f"module {module} not found" if module else "not python -m MODULE"
            notes.append(f"stage {name}: touches {', '.join(folders)}; code not checked ({why})")
        else:
            notes += [f"stage {name}: imports {m}, which was not found" for m in code.missing]
        use = _use(name, deps, _tokens(stage.get("cmd")), folders, code)
        uses.append(use)
        if use.reads_test and use.fits:
            problems.append(
                f"stage {name} reads the test part ({use.why}) and fits ({use.fits}): only "
                "the train part may be fitted on; the test part is for scoring alone"
            )
    return Independence(tuple(uses), tuple(problems), tuple(notes))


def _touches(dep: str, folders: Sequence[str]) -> bool:
    return any(dep == f or _inside(dep, f) or _inside(f, dep) or dep == "." for f in folders)


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/")


def _names_test(path: str, folders: Sequence[str]) -> bool:
    stem = posixpath.basename(path).partition(".")[0]
    return stem == TEST and any(_inside(path, f) for f in folders)


def _tokens(cmd: Any) -> list[str]:
    text = " ".join(cmd) if isinstance(cmd, list) else str(cmd or "")
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    return [posixpath.normpath(w.rpartition("=")[2]) for w in words if w.rpartition("=")[2]]


def _use(
    name: str, deps: list[str], tokens: list[str], folders: list[str], code: _Code | None
) -> StageUse:
    fits = code.fits if code else None
    direct = [p for p in [*deps, *tokens] if _names_test(p, folders)]
    if direct:
        return StageUse(name, True, f"names {direct[0]}", fits)
    whole = [d for d in deps if any(d == f or _inside(f, d) or d == "." for f in folders)]
    if code is None or not code.names:
        why = "its code is not checked" if code is None else "its code names no part"
        return StageUse(name, bool(whole), why if whole else "depends on other parts only", fits)
    if TEST in code.names:
        return StageUse(name, True, f"names the test part at {code.names[TEST]}", fits)
    return StageUse(name, False, f"names only {', '.join(sorted(code.names))}", fits)


@dataclass(frozen=True)
class _Module:
    """One module's facts, found in one parse: its project imports, part-name tuples, first
    call that fits."""

    tree: ast.Module
    imports: tuple[str, ...]
    tuples: dict[str, set[str]]
    fit: str | None


class _Modules:
    """The project's modules, each parsed once however many stages run it."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self.sources = sources
        self._found: dict[str, _Module] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.sources

    def get(self, name: str) -> _Module:
        if name not in self._found:
            tree = ast.parse(self.sources[name], filename=name)
            imports: list[str] = []
            fit = None
            for node in ast.walk(tree):  # one walk: imports and the first call that fits
                imports += _imports(node, name, self.sources)
                call = None if fit else _fit_call(node)
                fit = f"{_where(name, node)} {call}" if call else fit
            root = name.partition(".")[0]
            ours = tuple(m for m in imports if m.partition(".")[0] == root)
            self._found[name] = _Module(tree, ours, _part_tuples(tree), fit)
        return self._found[name]


def _code(module: str, modules: _Modules) -> _Code:
    reach, missing = _reachable(module, modules)
    tuples = {n: v for m in reach for n, v in modules.get(m).tuples.items()}
    tree = modules.get(module).tree
    definitions = {id(c) for node in _tuple_values(tree) for c in ast.walk(node)}
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        for part in _mentions(node, tuples, definitions):
            names.setdefault(part, _where(module, node))
    fits = next((f for m in reach if (f := modules.get(m).fit)), None)
    return _Code(names, fits, tuple(missing))


def _where(module: str, node: ast.AST) -> str:
    return f"{module.replace('.', '/')}.py:{getattr(node, 'lineno', 0)}"


def _reachable(module: str, modules: _Modules) -> tuple[list[str], list[str]]:
    """The module and every project module it imports, transitively, in the order found; and
    the project modules it imports that are not among `modules`."""
    found: list[str] = []
    missing: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in found or name in missing:
            continue
        if name not in modules:
            missing.add(name)
            continue
        found.append(name)
        todo += reversed(modules.get(name).imports)
    return found, sorted(missing)


def _imports(node: ast.AST, module: str, sources: Mapping[str, str]) -> list[str]:
    """The modules an import statement names (`from a import b`: a.b when it is a module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        package = module.rpartition(".")[0].split(".")
        up = package[: len(package) - node.level + 1]
        base = ".".join([*up, base] if base else up)
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in sources else base for a in node.names]


def _part_tuples(tree: ast.Module) -> dict[str, set[str]]:
    """Module-level names bound to tuples or lists of part names: PARTS = ("train", ...)."""
    found: dict[str, set[str]] = {}
    for target, value in _assignments(tree):
        names = _part_strings(value)
        if isinstance(target, ast.Name) and names:
            found[target.id] = names
    return found


def _tuple_values(tree: ast.Module) -> list[ast.expr]:
    return [value for target, value in _assignments(tree) if _part_strings(value)]


def _assignments(tree: ast.Module) -> Iterable[tuple[ast.expr, ast.expr]]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
            if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
                yield from zip(target.elts, value.elts, strict=False)
            else:
                yield target, value


def _part_strings(value: ast.expr) -> set[str]:
    if not isinstance(value, ast.Tuple | ast.List) or not value.elts:
        return set()
    items = [e.value if isinstance(e, ast.Constant) else None for e in value.elts]
    if not all(isinstance(i, str) and PART.match(i) for i in items):
        return set()
    return {str(i).partition(".")[0] for i in items}


def _mentions(node: ast.AST, tuples: Mapping[str, set[str]], skip: set[int]) -> set[str]:
    if id(node) in skip:
        return set()
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and PART.match(node.value):
        return {node.value.partition(".")[0]}
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        return tuples.get(node.id, set())
    if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
        return tuples.get(node.attr, set())
    return set()


def _fit_call(node: ast.AST) -> str | None:
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if isinstance(func, ast.Attribute) and name in FIT_METHODS:
        return f".{name}"
    if (name.endswith("CV") and name[:1].isupper()) or name.startswith("cross_val"):
        return name
    return None
