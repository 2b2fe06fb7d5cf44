"""leakage: is the label leaking into a feature, or the test part into training?
(pipeline/leakage.py: label proxy, temporal order, overlap; pipeline/independence.py: fit only
on train, from dvc.yaml and the stages' code.)

Runs after featurize and before train. Writes `--report` (reports/leakage.json, a metrics file:
`mlrepro diff` shows the scores and verdicts next to the model's metrics), which records the
test part's sha256; then, only when no check fails, `--passed`, the file train depends on. It
holds nothing about the data, so a change of the test part alone re-runs this stage but never
train. A failure stops the stage (exit 1) with one line naming the check, and keeps both
reports. `--metrics` (reports/leakage_metrics.json) is what dvc.yaml declares as its metrics:
the verdict, the counts and the highest score of each check, for `mlrepro diff` to compare;
`--report` (reports/leakage.json) has every score.

Each part is read once, only the columns the checks use, as pyarrow Tables: the stage never
imports pandas (0.3 s), since its cost is a budget (README "Performance").
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlrepro.core.errors import ValidationFailed
from mlrepro.core.files import sha256_file, write_json
from mlrepro.core.params import PARTS, Params, load_params
from mlrepro.core.shell import run_stage
from mlrepro.pipeline.arrow import read_table
from mlrepro.pipeline.independence import Independence, check_independence, stage_module
from mlrepro.pipeline.leakage import (
    Finding,
    Overlap,
    Proxy,
    Temporal,
    findings,
    label_proxies,
    overlap,
    temporal,
)
from mlrepro.revisions import WORKSPACE, Repository, Rev, Revision

FIT_CHECK = "fit only on train"


@dataclass(frozen=True)
class DataChecks:
    train_rows: int
    proxies: tuple[Proxy, ...]
    temporal: Temporal
    overlap: Overlap


def pipeline_stages() -> dict[str, dict[str, Any]]:
    """dvc.yaml's stages as DVC resolves them, read by the project's one reader."""
    return Revision(Repository(Path.cwd()), Rev(WORKSPACE, None)).pipeline.stages


def project_sources(stages: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Module name -> source of every module in the packages the stages run, found under the
    folders their cmd puts on PYTHONPATH (the repository when none)."""
    sources: dict[str, str] = {}
    for stage in stages.values():
        module = stage_module(stage.get("cmd"))
        if module is None:
            continue
        root = Path(_pythonpath(str(stage.get("cmd"))))
        for file in sorted((root / module.partition(".")[0]).rglob("*.py")):
            name = ".".join(file.relative_to(root).with_suffix("").parts)
            sources[name.removesuffix(".__init__")] = file.read_text(encoding="utf-8")
    return sources


def _pythonpath(cmd: str) -> str:
    for word in cmd.split():
        if word.startswith("PYTHONPATH="):
            return word.partition("=")[2].split(":")[0] or "."
    return "."


def data_checks(
    parts: Mapping[str, Any], features: Mapping[str, Any], params: Params
) -> DataChecks:
    """Label proxy on the train features, temporal order on the split parts, overlap."""
    spec = params.featurize
    key = params.ingest.source(params.ingest.main).key
    return DataChecks(
        len(features["train"]),
        label_proxies(features["train"], spec, params.leakage, params.seed),
        temporal(parts, params.split.time_column, spec.joins),
        overlap(features, parts, [*spec.features, spec.label], key, params.leakage.overlap_max),
    )


def all_findings(checks: DataChecks, fit: Independence, params: Params) -> list[Finding]:
    found = findings(checks.proxies, checks.temporal, checks.overlap, params.leakage)
    found += [Finding(FIT_CHECK, "fail", problem) for problem in fit.problems]
    found += [Finding(FIT_CHECK, "warn", note) for note in fit.notes]
    return sorted(found, key=lambda f: f.level != "fail")


def report(
    checks: DataChecks,
    fit: Independence,
    found: Sequence[Finding],
    test_part: dict[str, Any],
    params: Params,
) -> dict[str, Any]:
    """The metrics file: nested mappings of numbers and words, no lists."""
    rows, spec = checks.overlap, params.leakage
    failed = sum(f.level == "fail" for f in found)
    return {
        "verdict": "fail" if failed else "warn" if found else "pass",
        "failed": failed,
        "warned": len(found) - failed,
        "label_proxy": {
            "method": f"out-of-fold target rate ({spec.folds} folds, {spec.bins} quantile bins)",
            "rows": checks.train_rows,
            "warn_auc": spec.warn_auc,
            "fail_auc": spec.fail_auc,
            "features": {p.feature: p.as_dict() for p in checks.proxies},
        },
        "temporal": _temporal_dict(checks.temporal),
        "overlap": {
            "test_rows": rows.test_rows,
            "identical_to_train": rows.identical,
            "share": rows.share,
            "max_share": rows.max_share,
            "key": ",".join(rows.key) or None,
            "key_in_train": rows.by_key,
            "verdict": rows.verdict,
        },
        FIT_CHECK.replace(" ", "_"): {
            "stages": {u.stage: u.as_dict() for u in fit.stages},
            "verdict": "fail" if fit.problems else "warn" if fit.notes else "pass",
        },
        "test_part": test_part,
    }


def summary(checks: DataChecks, found: Sequence[Finding], verdict: str) -> dict[str, Any]:
    """The metrics file: what a reviewer compares across commits (the report has the rest)."""
    top = checks.proxies[0] if checks.proxies else None  # highest first
    rows, t = checks.overlap, checks.temporal
    failed = sum(f.level == "fail" for f in found)
    return {
        "verdict": verdict,
        "failed": failed,
        "warned": len(found) - failed,
        "label_proxy": {"feature": top.feature, "auc": top.auc} if top else {},
        "overlap": {"identical_to_train": rows.identical, "share": rows.share},
        "temporal": {"violations": None if t.time_column is None else t.violations},
    }


def _temporal_dict(t: Temporal) -> dict[str, Any]:
    if t.time_column is None:
        return {"time_column": None, "verdict": "not applicable (random split)"}
    joins = {j.table: {"time_key": j.key, "after_example_time": j.after_example} for j in t.joins}
    verdict = "fail" if t.violations else "pass"
    return {"time_column": t.time_column, **t.earlier, "joins": joins, "verdict": verdict}


def read_inputs(
    split: str, data: str, params: Params
) -> tuple[dict[str, pa.Table], dict[str, pa.Table]]:
    """The split parts (time column, join keys, the main table's key) and the train and test
    feature tables (features and label)."""
    spec = params.featurize
    keys = [*(k for j in spec.joins for k in j.keys), *params.ingest.source(params.ingest.main).key]
    on_split = [c for c in [params.split.time_column, *keys] if c is not None]
    parts = {p: read_table(Path(split) / f"{p}.parquet", on_split) for p in PARTS}
    wanted = [*spec.features, spec.label]
    features = {p: read_table(Path(data) / f"{p}.parquet", wanted) for p in ("train", "test")}
    return parts, features


def _run(args: argparse.Namespace) -> None:
    params = load_params()
    parts, features = read_inputs(args.split, args.data, params)
    checks = data_checks(parts, features, params)
    stages = pipeline_stages()
    fit = check_independence(stages, project_sources(stages), [args.split, args.data])
    found = all_findings(checks, fit, params)
    test_path = Path(args.split) / "test.parquet"
    digest = sha256_file(test_path)
    test_part = {"path": test_path.as_posix(), "sha256": digest, "rows": len(parts["test"])}
    data = report(checks, fit, found, test_part, params)
    write_json(args.report, data)
    write_json(args.metrics, summary(checks, found, data["verdict"]))
    for finding in found:
        print(f"leakage: {finding.level}: {finding.check}: {finding.message}")
    failures = [f for f in found if f.level == "fail"]
    if failures:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise ValidationFailed(
            f"{failures[0].check}: {failures[0].message}{more} (report: {args.report})",
            [f.message for f in failures],
        )
    write_json(args.passed, {"passed": True})
    print(
        f"leakage: passed ({len(found)} warnings): {len(checks.proxies)} features, "
        f"test part sha256 {digest[:12]}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_stage(
        "leakage", _run, argv, inputs=["split", "data"], outputs=["report", "metrics", "passed"]
    )


if __name__ == "__main__":
    sys.exit(main())
