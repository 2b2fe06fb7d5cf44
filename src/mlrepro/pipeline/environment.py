"""The run-time environment recorded in model cards: Python and the versions of key packages."""

from __future__ import annotations

import importlib.metadata
import platform

PACKAGES = ("dvc", "numpy", "pandas", "pyarrow", "scikit-learn", "scipy", "joblib", "matplotlib")


def environment() -> dict[str, object]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "packages": versions}
