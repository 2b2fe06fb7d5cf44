"""Render a `DatasetDrift` as a terminal table (most drifted column first) or JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlrepro.core.params import DriftParams
    from mlrepro.pipeline.drift import DatasetDrift, FeatureDrift, Measure


def as_data(result: DatasetDrift, params: DriftParams) -> dict[str, Any]:
    from mlrepro.pipeline.drift import methods_record

    return {"current": result.current, **result.as_dict(), "method": methods_record(params)}


def render_json(result: DatasetDrift, params: DriftParams) -> str:
    return json.dumps(as_data(result, params), indent=2, sort_keys=True, ensure_ascii=False)


def render_text(result: DatasetDrift, params: DriftParams) -> str:
    from mlrepro.pipeline.drift import EPSILON

    header = ["column", "kind", "bins", "measures", "missing ref -> cur", "verdict"]
    grid = [header, *(_cells(f) for f in result.ranked())]
    widths = [max(len(row[i]) for row in grid) for i in range(len(header))]
    lines = [
        f"{result.reference} ({result.rows_ref:,} rows) -> {result.current} "
        f"({result.rows_cur:,} rows)",
        "",
        *("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in grid),
        "",
        f"dataset: {len(result.failed)} of {len(result.features)} columns fail (share "
        f"{result.share:g}; dataset drift from {result.dataset_share:g}): {result.verdict}",
        f"numeric: PSI (ln) over at most {params.bins} quantile bins of REF and missing, an "
        f"empty bin as {EPSILON:g}; Wasserstein distance / std of REF",
        "categorical: Jensen-Shannon distance (ln) and L-infinity over the categories and missing",
    ]
    return "\n".join(lines)


def _cells(feature: FeatureDrift) -> list[str]:
    measures = "  ".join(
        f"{m.method} {'—' if m.value is None else format(m.value, '.4g')}"
        + ("" if m.verdict in (None, "ok") else f" ({m.verdict} from {_limit(m)})")
        for m in feature.measures
    )
    if feature.unseen:
        measures += f"  unseen {feature.unseen:.2%}"
    missing = f"{feature.missing_ref:.2%} -> {feature.missing_cur:.2%}"
    return [feature.feature, feature.kind, str(feature.bins), measures, missing, feature.verdict]


def _limit(measure: Measure) -> str:
    return f"{measure.fail:g}" if measure.verdict == "fail" else f"{measure.warn:g}"
