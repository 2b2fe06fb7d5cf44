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
