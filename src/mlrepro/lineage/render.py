"""Render lineage results as terminal text or JSON (each a string ending in a newline). The
Mermaid text and the PNG are in `graph`, the OpenLineage events in `openlineage`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mlrepro.lineage.find import Found, Match
from mlrepro.lineage.records import Entry, StageRecord
from mlrepro.lineage.upstream import Snapshot, Upstream
from mlrepro.lineage.usedby import Use, UsedBy

INDENT = "    "


def to_json(result: Upstream | UsedBy | Found) -> str:
    return json.dumps(result.as_dict(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def upstream_text(lineage: Upstream) -> str:
    """The target, the evidence, each snapshot, then each stage with its command, params, deps
    and outs (sources first)."""
    at = lineage.rev if lineage.commit is None else f"{lineage.rev} ({lineage.commit[:7]})"
    lines = [
        f"{lineage.target} at {at}: made by stage {lineage.stage}, {_hash(lineage.md5)}",
        f"evidence: {_evidence(lineage)}",
        "",
        f"snapshots ({len(lineage.snapshots)})",
    ]
    lines += [line for s in lineage.snapshots for line in _snapshot(s)]
    lines += ["", f"stages ({len(lineage.steps)}, sources first)"]
    for step in lineage.steps:
        lines += _stage(step.record, step.snapshots)
        lines += [f"{INDENT}STALE   {line}" for line in step.stale]
    stale = [s.record.name for s in lineage.steps if s.stale]
    if stale:
        lines += [
            "",
            f"warning: dvc.lock at this revision is stale for {', '.join(stale)}: the code or "
            "params there differ from what made the outputs (lines marked STALE; dvc repro)",
        ]
    return "\n".join(lines) + "\n"


def _evidence(lineage: Upstream) -> str:
    lock, manifests = lineage.evidence[0], len(lineage.evidence) - 1
    return f"{lock}; the {manifests} snapshot manifest(s) named below, at the same revision"


def _snapshot(snapshot: Snapshot) -> list[str]:
    head = f"  {snapshot.ref}  read by {', '.join(snapshot.read_by)}  ({snapshot.manifest})"
    if snapshot.problem:
        return [head, f"{INDENT}{snapshot.problem}"]
    commit = (snapshot.git_commit or "no commit")[:7]
    return [
        head,
        f"{INDENT}taken {snapshot.taken_at} at commit {commit}; "
        f"{_count(snapshot.rows, 'row')}, {_count(snapshot.bytes, 'byte')}",
        f"{INDENT}content sha256 {snapshot.content_sha256}",
        f"{INDENT}source {json.dumps(snapshot.definition, sort_keys=True)}",
    ]


def _stage(record: StageRecord, snapshots: Sequence[str]) -> list[str]:
    lines = [f"  {record.name}", f"{INDENT}cmd     {record.cmd}"]
    for file, values in record.params.items():
        lines += [f"{INDENT}param   {file}: {k} = {_value(v)}" for k, v in values.items()]
    lines += [f"{INDENT}reads   {ref}" for ref in snapshots]
    lines += [f"{INDENT}dep     {_entry(d)}" for d in record.deps]
    lines += [f"{INDENT}out     {_entry(o)}" for o in record.outs]
    return lines


def used_by_text(result: UsedBy, metrics: Sequence[str] = ()) -> str:
    """One line per commit that read the snapshot: commit, date, refs, the stages that read it,
    the models made after it, and the chosen metrics."""
    ref = f"{result.source}@{result.id}"
    head = [
        f"{ref}: read at {len(result.uses)} of {result.scanned} commits "
        f"({result.scope.describe()}); evidence: each commit's dvc.lock",
    ]
    if result.snapshot is not None and not result.snapshot.problem:
        s = result.snapshot
        head.append(f"manifest {s.manifest}: taken {s.taken_at}, content sha256 {s.content_sha256}")
    head += [f"warning: {result.missing}"] if result.missing else []
    if not result.uses:
        return "\n".join([*head, "no commit in scope read it"]) + "\n"
    header = ["commit", "date (UTC)", "refs", "read by", "models", *metrics]
    rows = [_use_row(use, metrics) for use in result.uses]
    return "\n".join([*head, "", *_table(header, rows)]) + "\n"


def _use_row(use: Use, metrics: Sequence[str]) -> list[str]:
    refs = ", ".join(use.commit.refs) or f"on {', '.join(use.commit.on) or '-'}"
    models = ", ".join(f"{m.path} {_short(m.md5)}" for m in use.models) or "-"
    values = [_metric(use, key) for key in metrics]
    return [
        use.commit.sha[:7],
        _date(use.commit.date),
        refs,
        ", ".join(use.read_by),
        models,
        *values,
    ]


def _metric(use: Use, key: str) -> str:
    for values in use.metrics.values():
        if key in values:
            value = values[key]
            return f"{value:.6g}" if isinstance(value, float) else str(value)
    return "-"


def found_text(result: Found) -> str:
    """Each thing with the hash: what and where, which stage made it, since which commit, and
    the commits (and refs) that have it."""
    hashes = sorted(result.query.md5 | result.query.sha256) or [result.query.git_object or ""]
    scanned = f"{result.scanned} commits scanned ({result.scope.describe()})"
    lines = [f"{result.query.text}: {', '.join(hashes)}; {scanned}"]
    lines += [f"warning: {result.missing}"] if result.missing else []
    if not result.matches:
        return (
            "\n".join([*lines, "not found: no commit in scope made anything with this hash"]) + "\n"
        )
    for match in result.matches:
        lines += ["", *_match(match)]
    return "\n".join(lines) + "\n"


def _match(match: Match) -> list[str]:
    made = f", made by stage {match.stage}" if match.stage else ""
    since = match.since
    lines = [
        f"{match.path} ({match.kind}{made}), {match.hash}",
        f"{INDENT}evidence: {match.evidence}" + (f" (via {match.via})" if match.via else ""),
        f"{INDENT}since {since.sha[:7]} {_date(since.date)} {_subject(since.subject)}; "
        f"{len(match.commits)} commit(s), newest {match.commits[0].sha[:7]}",
    ]
    refs = sorted({r for c in match.commits for r in c.refs})
    on = sorted({r for c in match.commits for r in c.on})
    lines.append(f"{INDENT}refs at these commits: {', '.join(refs) or '-'}; on: {', '.join(on)}")
    return lines


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def _entry(entry: Entry) -> str:
    files = f" ({entry.nfiles} files)" if entry.nfiles is not None else ""
    return f"{entry.path}  {_hash(entry.md5)}{files}"


def _hash(md5: str | None) -> str:
    return "md5 unknown (not in the local DVC cache)" if md5 is None else f"md5 {md5}"


def _short(md5: str | None) -> str:
    return "?" if md5 is None else md5[:8]


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _count(n: int | None, unit: str) -> str:
    return f"? {unit}s" if n is None else f"{n:,} {unit}{'' if n == 1 else 's'}"


def _subject(subject: str, width: int = 60) -> str:
    return repr(subject if len(subject) <= width else subject[: width - 1] + "…")


def _date(iso: str) -> str:
    return iso.replace("T", " ")[:16]
