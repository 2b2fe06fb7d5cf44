"""Render `VerifyResult.as_dict()` as terminal text or JSON: both from the same dict, so the text
never says what the JSON does not."""

from __future__ import annotations

import json
from typing import Any

SHOWN = 8  # changes printed per output on the terminal (--json has them all)


def render_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True)


def render_text(data: dict[str, Any]) -> str:
    """The terminal text: one line per stage and per output, the changes under a difference."""
    what = f"stage {data['stage']} of " if data["stage"] else ""
    lines = [f"verify {what}{data['rev']} ({data['commit'][:12]})"]
    for snap in data["snapshots"]:
        lines.append(f"snapshot {snap['source']}@{snap['id']}: from the {snap['origin']}")
    lines += [f"note: {note}" for note in data["notes"]]
    for run in data["runs"]:
        env = ", ".join(f"{k}={v}" for k, v in run["environment"].items())
        lines.append(f"{run['run']} against {run['against']} ({env})")
        for stage in run["stages"]:
            lines += render_stage(stage)
    lines.append(summary(data))
    if data["kept"]:
        lines.append(f"kept: {data['kept']} (remove it when done)")
    return "\n".join(lines)


def render_stage(stage: dict[str, Any]) -> list[str]:
    took = "" if stage["seconds"] is None else f" ({stage['seconds']} s)"
    if stage["error"]:
        return [f"  stage {stage['stage']}: FAILED{took}: {stage['error']}"]
    state = "identical" if stage["identical"] else "DIFFERS"
    lines = [f"  stage {stage['stage']}: {state}{took}"]
    for out in stage["outputs"]:
        if out["identical"]:
            lines.append(f"    {out['path']}: identical {out['expected']}")
            continue
        lines.append(
            f"    {out['path']}: differs: expected {out['expected']}, actual {out['actual']}"
        )
        lines += render_changes(out)
    return lines


def render_changes(out: dict[str, Any]) -> list[str]:
    lines = [
        f"      {c['key']}: {_value(c['old'])} -> {_value(c['new'])}"
        for c in out["changes"][:SHOWN]
    ]
    if out["changed"] > SHOWN:
        lines.append(f"      ... {out['changed'] - SHOWN} more (--json lists them)")
    model = out["model"]
    if model is not None and model["same_predictions"]:
        lines.append(
            f"      different bytes, same model: equal predictions on all {model['rows']} rows "
            f"of {model['data']}"
        )
    elif model is not None:
        lines.append(
            f"      different model: predictions differ on {model['differing']} of "
            f"{model['rows']} rows of {model['data']} (max |difference| "
            f"{model['max_difference']:.3g})"
        )
    if out["detail"]:
        lines.append(f"      ({out['detail']})")
    return lines


def _value(value: Any) -> str:
    return "(absent)" if value is None else json.dumps(value)


def summary(data: dict[str, Any]) -> str:
    outputs = [o for r in data["runs"] for s in r["stages"] for o in s["outputs"]]
    failed = [s["stage"] for r in data["runs"] for s in r["stages"] if s["error"]]
    differ = [o for o in outputs if not o["identical"]]
    if data["identical"]:
        return f"result: identical: every output hash matches ({len(outputs)} checks)"
    parts = []
    if differ:
        parts.append(f"{len(differ)} of {len(outputs)} output checks differ")
    if failed:
        parts.append(f"stages failed or not run: {', '.join(dict.fromkeys(failed))}")
    return "result: NOT reproduced: " + "; ".join(parts)
