"""Render the results of `mlrepro remote` commands as terminal text or JSON (strings without a
final newline)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlrepro.remote.audit import Audit
    from mlrepro.remote.core import RemoteInfo
    from mlrepro.remote.transfer import PullResult, PushResult


def render_json(data: Any) -> str:
    """A result's `as_dict()`, indented, keys sorted."""
    return json.dumps(data, indent=2, sort_keys=True)


def render_add(info: RemoteInfo) -> str:
    return (
        f"added {info.where()} as the default remote in .dvc/config; commit it\n"
        "credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or dvc remote modify --local"
    )


def render_push(result: PushResult) -> str:
    """The corrupt cache objects that refused the push, or what was hashed and sent."""
    check = result.check
    lines = [p.line() for p in check.problems]
    if check.problems:
        lines.append(
            f"refused to push to {result.remote}: {len(check.problems)} corrupt object(s) in "
            "the local cache; nothing was sent"
        )
        return "\n".join(lines)
    lines.append(f"hashed {check.objects} object(s), {check.bytes} bytes, before sending: ok")
    if result.stale_aborted:
        lines.append(f"aborted {result.stale_aborted} multipart upload(s) older than a day")
    lines.append(result.summary or "pushed")
    return "\n".join(lines)


def render_pull(result: PullResult) -> str:
    """One line per damaged file removed, dvc's error when nothing else explains it, a summary."""
    lines = [p.line() for p in result.problems]
    if result.dvc_error and not result.problems:
        lines.append(f"{result.remote}: dvc pull failed: {result.dvc_error}")
    state = "ok" if not result.problems and not result.dvc_error else "failed"
    lines.append(f"pulled and checked {result.files} file(s) from {result.remote}: {state}")
    return "\n".join(lines)


def render_audit(report: Audit) -> str:
    """`remote verify`: one line per missing or corrupt object, and a summary."""
    lines = [p.line() for p in report.problems]
    state = "damage found" if report.problems else "ok"
    lines.append(
        f"verified {report.objects} object(s), {report.bytes} bytes of {report.rev} "
        f"on {report.remote}: {state}"
    )
    return "\n".join(lines)
