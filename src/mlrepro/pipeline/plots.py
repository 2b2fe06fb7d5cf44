"""PNG renderings of evaluation results, byte-identical for identical inputs (no timestamps or
version strings in the file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from mlrepro.core.files import atomic_path

DPI = 100


def figure(width: float, height: float) -> tuple[Any, Any]:
    """A new figure and axes on the Agg backend (no display needed)."""
    return plt.subplots(figsize=(width, height))


def save_png(fig: Any, path: str | Path) -> None:
    """Save `fig` as a PNG with no run-time metadata, atomically, and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)


def confusion_png(counts: dict[str, int], title: str, path: str | Path) -> None:
    grid = [[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]]
    fig, ax = plt.subplots(figsize=(4, 3.6))
    ax.imshow(grid, cmap="Blues")
    for i in range(2):
        for j in range(2):
            ax.text(j, i, f"{grid[i][j]:,}", ha="center", va="center", color="black")
    ax.set_xticks([0, 1], ["0", "1"])
    ax.set_yticks([0, 1], ["0", "1"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title)
    fig.tight_layout()
    save_png(fig, path)


def importance_png(rows: list[dict[str, Any]], path: str | Path) -> None:
    rows = rows[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.28 * len(rows) + 1.2))
    ax.barh(
        [r["feature"] for r in rows],
        [r["importance_mean"] for r in rows],
        xerr=[r["importance_std"] for r in rows],
        color="tab:blue",
    )
    ax.set_xlabel("drop in ROC AUC when the feature is permuted")
    ax.set_title("Permutation feature importance (valid)")
    fig.tight_layout()
    save_png(fig, path)


def roc_png(
    curves: dict[str, list[dict[str, float]]], aucs: dict[str, Any], path: str | Path
) -> None:
    """ROC curves of the parts (`roc_points` rows) with the chance line of a random score."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance (AUC 0.5)")
    for index, (part, rows) in enumerate(curves.items()):
        label = f"{part} (AUC {aucs[part]})" if aucs.get(part) is not None else part
        xs, ys = [r["fpr"] for r in rows], [r["tpr"] for r in rows]
        ax.plot(xs, ys, color=f"C{index}", label=label)
    _unit_square(ax, "false positive rate", "true positive rate")
    ax.set_title("ROC")
    ax.legend(loc="lower right")
    fig.tight_layout()
    save_png(fig, path)


def calibration_png(
    rows: list[dict[str, float]],
    title: str,
    path: str | Path,
    *,
    label: str = "positive",
    note: str = "",
) -> None:
    """A reliability diagram (`calibration_curve` rows: equal-mass bins) with the diagonal of
    perfect calibration; the flights per bin and `note` are written in the empty corner (the
    equal-mass bins hold about as many each, so a label at every point would only crowd)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    xs, ys = [r["mean_predicted"] for r in rows], [r["fraction_positive"] for r in rows]
    ax.plot(xs, ys, marker="o", color="C0", label=f"{len(rows)} equal-mass bins")
    counts = sorted(int(r["count"]) for r in rows)
    each = f"{counts[0]:,}" if counts[0] == counts[-1] else f"{counts[0]:,} to {counts[-1]:,}"
    lines = [f"{each} rows per bin", note] if note else [f"{each} rows per bin"]
    ax.text(0.97, 0.03, "\n".join(lines), ha="right", va="bottom", fontsize=9)
    _unit_square(ax, "mean predicted probability", f"fraction {label}")
    ax.set_title(title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    save_png(fig, path)


def _unit_square(ax: Any, xlabel: str, ylabel: str) -> None:
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
