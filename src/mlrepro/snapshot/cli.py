"""`mlrepro snapshot take|list|show|diff|pin|verify|repair|unprotect`: parse, call the library,
render.

Exit codes: 0 fine, 1 verify found damage (repair: something could not be repaired), 2 usage or
input error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlrepro.commands import noun
from mlrepro.core.params import PARAMS_FILE, load_params
from mlrepro.snapshot import layout
from mlrepro.snapshot.integrity import find_damage, repair_command
from mlrepro.snapshot.pins import write_pin
from mlrepro.snapshot.progress import Progress
from mlrepro.snapshot.render import (
    render_diff,
    render_json,
    render_list,
    render_pin,
    render_repair,
    render_show,
    render_take,
    render_unprotect,
    render_unprotect_all,
    render_verify,
    render_verify_json,
)


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
def progress_bar(label: str) -> Iterator[Progress | None]:
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
    print(render_take(result))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    params = load_params(PARAMS_FILE)
    names = [args.source] if args.source else [s.name for s in params.ingest.sources]
    rows = []
    for name in names:
        params.ingest.source(name)
        for m in layout.list_snapshots(Path.cwd(), name):
            rows.append({**m.summary(), "pinned": params.ingest.pins.get(name) == m.id})
    print(render_json(rows) if args.json else render_list(rows))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    params = load_params(PARAMS_FILE)
    m = layout.resolve_ref(Path.cwd(), args.ref, params.ingest.pins)
    print(render_json(m.as_dict()) if args.json else render_show(m))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from mlrepro.snapshot.changes import diff_snapshots

    params = load_params(PARAMS_FILE)
    repo = Path.cwd()
    a = layout.resolve_ref(repo, args.a, params.ingest.pins)
    b = layout.resolve_ref(repo, args.b, params.ingest.pins)
    key = args.key.split(",") if args.key else list(params.ingest.source(a.source).key)
    result = diff_snapshots(
        a, layout.data_dir(repo, a.source, a.id), b, layout.data_dir(repo, b.source, b.id), key
    )
    print(render_json(result.as_dict()) if args.json else render_diff(result))
    return 0


def cmd_pin(args: argparse.Namespace) -> int:
    params = load_params(PARAMS_FILE)
    m = layout.resolve_ref(Path.cwd(), args.ref, params.ingest.pins)
    old = write_pin(Path(PARAMS_FILE), m.source, m.id)
    print(render_pin(m.source, m.id, old, PARAMS_FILE))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    params = load_params(PARAMS_FILE)
    repo = Path.cwd()
    names = [args.source] if args.source else [s.name for s in params.ingest.sources]
    manifests = []
    for name in names:
        params.ingest.source(name)
        if args.all:
            manifests += layout.list_snapshots(repo, name)
        elif name in params.ingest.pins:
            manifests.append(layout.resolve_ref(repo, f"{name}@pinned", params.ingest.pins))
    problems = []
    with progress_bar("verify") as progress:
        if progress:
            nbytes = sum(m.bytes for m in manifests)
            progress.start(sum(len(m.files) for m in manifests), nbytes)
        for m in manifests:
            problems += find_damage(repo, m, progress=progress)
    repairs = [repair_command(ref) for ref in dict.fromkeys(p.snapshot for p in problems)]
    render = render_verify_json if args.json else render_verify
    print(render(manifests, problems, repairs))
    return 1 if problems else 0


def cmd_repair(args: argparse.Namespace) -> int:
    from mlrepro.snapshot.repair import repair

    params = load_params(PARAMS_FILE)
    repo = Path.cwd()
    m = layout.resolve_ref(repo, args.ref, params.ingest.pins)
    source = next((s for s in params.ingest.sources if s.name == m.source), None)
    result = repair(repo, m, source)
    print(render_json(result.as_dict()) if args.json else render_repair(result))
    return 0 if result.ok else 1


def cmd_unprotect(args: argparse.Namespace) -> int:
    from mlrepro.snapshot.repair import unprotect_all, unprotect_snapshot

    repo = Path.cwd()
    if args.all:
        count = unprotect_all(repo)
        print(render_unprotect_all(count, layout.SNAPSHOTS))
        return 0
    params = load_params(PARAMS_FILE)
    m = layout.resolve_ref(repo, args.ref, params.ingest.pins)
    count = unprotect_snapshot(repo, m)
    print(render_unprotect(f"{m.source}@{m.id}", count))
    return 0
