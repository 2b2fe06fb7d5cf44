"""`mlrepro snapshot take|list|show|diff|pin|verify|repair|unprotect`: parse, call the library,
render.

Exit codes: 0 fine, 1 verify found damage (repair: something could not be repaired), 2 usage or
input error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrepro.commands import noun
from mlrepro.core.params import PARAMS_FILE, load_params
from mlrepro.snapshot import store
from mlrepro.snapshot.integrity import find_damage, raw_copies, repair_command
from mlrepro.snapshot.pins import write_pin

if TYPE_CHECKING:
    from mlrepro.snapshot.repair import RepairResult


def add_commands(nouns: Any) -> None:
    verb = noun(nouns, "snapshot", "immutable, verifiable snapshots of raw sources")

    cmd = verb("take", "snapshot a declared source now", "mlrepro snapshot take flights")
    cmd.add_argument("source", help="a source declared in params.yaml ingest.sources")
    cmd.set_defaults(func=cmd_take)

    cmd = verb(
        "list",
        "list snapshots: id, time, rows, bytes, sha256, pinned",
        "mlrepro snapshot list flights --json",
    )
    cmd.add_argument("source", nargs="?", help="default: every declared source")
    cmd.add_argument("--json", action="store_true", help="print JSON")
    cmd.set_defaults(func=cmd_list)

    cmd = verb("show", "print a snapshot's manifest", "mlrepro snapshot show flights@pinned --json")
    cmd.add_argument("ref", help="SOURCE@ID (a unique prefix), SOURCE@latest or SOURCE@pinned")
    cmd.add_argument("--json", action="store_true", help="print JSON")
    cmd.set_defaults(func=cmd_show)

    cmd = verb(
        "diff",
        "rows added, removed and changed by key, and schema changes, between two snapshots",
        "mlrepro snapshot diff flights@pinned flights@latest",
    )
    cmd.add_argument("a", help="SOURCE@ID")
    cmd.add_argument("b", help="SOURCE@ID")
    cmd.add_argument("--key", help="comma-separated key columns (default: the source's key)")
    cmd.add_argument("--json", action="store_true", help="print JSON")
    cmd.set_defaults(func=cmd_diff)

    cmd = verb(
        "pin",
        "make the pipeline use this snapshot (edits params.yaml ingest.pins)",
        "mlrepro snapshot pin flights@latest",
    )
    cmd.add_argument("ref", help="SOURCE@ID (a unique prefix) or SOURCE@latest")
    cmd.set_defaults(func=cmd_pin)

    cmd = verb(
        "verify",
        "check every byte of the pinned (or all) snapshots against their manifests",
        "mlrepro snapshot verify --all",
    )
    cmd.add_argument("source", nargs="?", help="default: every pinned snapshot")
    cmd.add_argument("--all", action="store_true", help="every snapshot, not only the pinned")
    cmd.add_argument("--json", action="store_true", help="print JSON")
    cmd.set_defaults(func=cmd_verify)

    cmd = verb(
        "repair",
        "restore a snapshot's damaged copies from an intact one, a DVC remote or the source",
        "mlrepro snapshot repair flights@pinned",
    )
    cmd.add_argument("ref", help="SOURCE@ID (a unique prefix), SOURCE@latest or SOURCE@pinned")
    cmd.add_argument("--json", action="store_true", help="print JSON")
    cmd.set_defaults(func=cmd_repair)

    cmd = verb(
        "unprotect",
        "clear the immutable flag of a snapshot's files, to remove them or run dvc gc",
        "mlrepro snapshot unprotect flights@20240101T000000Z-1a2b3c4d",
    )
    which = cmd.add_mutually_exclusive_group(required=True)
    which.add_argument("ref", nargs="?", help="SOURCE@ID (a unique prefix) or SOURCE@latest")
    which.add_argument(
        "--all", action="store_true", help="every file under data/snapshots and in the DVC cache"
    )
    cmd.set_defaults(func=cmd_unprotect)


class Bar:
    """A progress bar on stderr: bytes, with the files done beside them."""

    def __init__(self, label: str) -> None:
        from tqdm import tqdm

        self.files, self.total_files = 0, 0
        try:  # a terminal that reports no width (some CI ptys) would get an empty bar
            width = os.get_terminal_size(sys.stderr.fileno()).columns
        except OSError:
            width = 0
        self.bar = tqdm(
            desc=label,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            leave=False,
            ncols=None if width else 80,
        )

    def start(self, files: int, nbytes: int) -> None:
        self.total_files, self.bar.total = files, nbytes
        self._files()
        self.bar.refresh()

    def advance(self, nbytes: int, files: int = 0) -> None:
        if files:
            self.files += files
            self._files()
        self.bar.update(nbytes)

    def _files(self) -> None:
        self.bar.set_postfix_str(f"{self.files}/{self.total_files} files", refresh=False)

    def close(self) -> None:
        self.bar.close()


@contextmanager
def progress_bar(label: str) -> Iterator[store.Progress | None]:
    """A progress bar (files and bytes) on stderr when it is a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    bar = Bar(label)
    try:
        yield bar
    finally:
        bar.close()


def cmd_take(args: argparse.Namespace) -> int:
    from mlrepro.snapshot.take import take

    params = load_params(PARAMS_FILE)
    source = params.ingest.source(args.source)
    with progress_bar(f"take {source.name}") as progress:
        result = take(source, Path.cwd(), progress=progress)
    m = result.manifest
    if result.reused:
        print(f"{source.name}: content identical to {source.name}@{m.id}; reusing it")
    else:
        print(f"took {source.name}@{m.id}: {len(m.files)} file(s), {m.rows} rows, {m.bytes} bytes")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    params = load_params(PARAMS_FILE)
    names = [args.source] if args.source else [s.name for s in params.ingest.sources]
    rows = []
    for name in names:
        params.ingest.source(name)
        for m in store.list_snapshots(Path.cwd(), name):
            rows.append({**m.summary(), "pinned": params.ingest.pins.get(name) == m.id})
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True))
        return 0
    header = f"{'source':<10} {'id':<26} {'taken (UTC)':<21} {'rows':>10} {'bytes':>12}  sha256"
    print(header)
    for r in rows:
        pin = "  pinned" if r["pinned"] else ""
        print(
            f"{r['source']:<10} {r['id']:<26} {r['taken_at']:<21} {_n(r['rows']):>10} "
            f"{r['bytes']:>12}  {r['sha256'][:12]}{pin}"
        )
    return 0


def _n(value: int | None) -> str:
    return "—" if value is None else str(value)


def cmd_show(args: argparse.Namespace) -> int:
    params = load_params(PARAMS_FILE)
    m = store.resolve_ref(Path.cwd(), args.ref, params.ingest.pins)
    if args.json:
        print(json.dumps(m.as_dict(), indent=2, sort_keys=True))
        return 0
    print(f"{m.source}@{m.id}  taken {m.taken_at}  commit {m.git_commit or '—'}")
    print(f"source: {json.dumps(m.definition, sort_keys=True)}")
    print(f"content sha256: {m.content_sha256}")
    for f in m.files:
        print(f"  {f.path}  {f.bytes} B  {_n(f.rows)} rows  sha256 {f.sha256}")
        for column, dtype in (f.columns or {}).items():
            print(f"      {column}: {dtype}")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from mlrepro.snapshot.changes import diff_snapshots, render_text

    params = load_params(PARAMS_FILE)
    repo = Path.cwd()
    a = store.resolve_ref(repo, args.a, params.ingest.pins)
    b = store.resolve_ref(repo, args.b, params.ingest.pins)
    key = args.key.split(",") if args.key else list(params.ingest.source(a.source).key)
    result = diff_snapshots(
        a, store.data_dir(repo, a.source, a.id), b, store.data_dir(repo, b.source, b.id), key
    )
    print(
        json.dumps(result.as_dict(), indent=2, sort_keys=True) if args.json else render_text(result)
    )
    return 0


def cmd_pin(args: argparse.Namespace) -> int:
    params = load_params(PARAMS_FILE)
    m = store.resolve_ref(Path.cwd(), args.ref, params.ingest.pins)
    old = write_pin(Path(PARAMS_FILE), m.source, m.id)
    if old == m.id:
        print(f"{m.source} is already pinned to {m.id}")
    else:
        print(f"pinned {m.source}@{m.id} (was {old or 'unpinned'}) in {PARAMS_FILE}; commit it")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    params = load_params(PARAMS_FILE)
    repo = Path.cwd()
    names = [args.source] if args.source else [s.name for s in params.ingest.sources]
    manifests = []
    for name in names:
        params.ingest.source(name)
        if args.all:
            manifests += store.list_snapshots(repo, name)
        elif name in params.ingest.pins:
            manifests.append(store.resolve_ref(repo, f"{name}@pinned", params.ingest.pins))
    problems = []
    with progress_bar("verify") as progress:
        if progress:
            nbytes = sum(m.bytes * (2 if raw_copies(repo, m) else 1) for m in manifests)
            progress.start(sum(len(m.files) for m in manifests), nbytes)
        for m in manifests:
            problems += find_damage(repo, m, progress=progress)
    repairs = [repair_command(ref) for ref in dict.fromkeys(p.snapshot for p in problems)]
    if args.json:
        report = {"checked": [f"{m.source}@{m.id}" for m in manifests], "ok": not problems}
        problem_dicts = [p.as_dict() for p in problems]
        print(json.dumps({**report, "problems": problem_dicts, "repair": repairs}, indent=2))
    else:
        for p in problems:
            print(p.line())
        for command in repairs:
            print(f"repair: {command}")
        print(f"verified {len(manifests)} snapshot(s): {'damage found' if problems else 'ok'}")
    return 1 if problems else 0


def cmd_repair(args: argparse.Namespace) -> int:
    from mlrepro.snapshot.repair import repair

    params = load_params(PARAMS_FILE)
    repo = Path.cwd()
    m = store.resolve_ref(repo, args.ref, params.ingest.pins)
    source = next((s for s in params.ingest.sources if s.name == m.source), None)
    result = repair(repo, m, source)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, sort_keys=True))
    else:
        print(render_repair(result))
    return 0 if result.ok else 1


ORIGINS = {
    "DVC cache": "the DVC cache",
    "work tree": "the work tree",
    "data/raw": "ingest's copy in data/raw",
    "DVC remote": "the DVC remote",
    "source": "a new take of the source (exact sha256)",
}


def render_repair(result: RepairResult) -> str:
    """One line per damaged file (which copies, and where the intact bytes came from, or why
    none were found), one per extra file removed, and a summary."""
    lines = []
    for f in result.files:
        copies = ", ".join(f.damaged)
        if f.origin is None:
            lines.append(f"{result.snapshot}: {f.file}: cannot repair ({copies}): {result.why}")
        else:
            lines.append(f"{result.snapshot}: {f.file}: {copies} restored from {ORIGINS[f.origin]}")
    lines += [f"{result.snapshot}: {name}: extra file removed" for name in result.extras]
    if not result.ok:
        failed = sum(1 for f in result.files if f.origin is None)
        lines.append(f"{result.snapshot}: {failed} file(s) could not be repaired")
        return "\n".join(lines)
    done = f"repaired {len(result.files)} file(s)" if result.files or result.extras else "intact"
    guard = "immutable" if result.immutable else "read-only (no immutable flag on this platform)"
    lines.append(f"{result.snapshot}: {done}; files {guard}")
    return "\n".join(lines)


def cmd_unprotect(args: argparse.Namespace) -> int:
    from mlrepro.snapshot.repair import unprotect_all, unprotect_snapshot

    repo = Path.cwd()
    if args.all:
        count = unprotect_all(repo)
        print(
            f"cleared the immutable flag of {count} file(s) under {store.SNAPSHOTS} and "
            ".dvc/cache; mlrepro snapshot repair SOURCE@ID sets it again"
        )
        return 0
    params = load_params(PARAMS_FILE)
    m = store.resolve_ref(repo, args.ref, params.ingest.pins)
    count = unprotect_snapshot(repo, m)
    ref = f"{m.source}@{m.id}"
    print(
        f"unprotected {ref}: {count} file(s) and their DVC cache objects can be removed; "
        f"mlrepro snapshot repair {ref} protects them again"
    )
    return 0
